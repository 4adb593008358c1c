#pragma once

#include <string>
#include <vector>

#include "lab/report.h"

namespace iolab {

/// Two charts as one standalone SVG document: requests per variant (bars), and latency
/// percentiles per variant (p50, p99, p99.9, max in ms) on a log axis. Labels are escaped.
std::string render_svg_report(const std::vector<ReportRow>& rows);

/// A self-contained HTML page (no script, no external resource): `title`, the wide table and
/// the charts of render_svg_report().
std::string render_html_report(const std::vector<ReportRow>& rows, const std::string& title);

}  // namespace iolab
