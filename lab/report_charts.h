#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "lab/compare.h"
#include "lab/report.h"
#include "lab/trials.h"

namespace iolab {

/// The chart formats of a report: `svg`, one standalone SVG document with every chart stacked
/// top to bottom; `html`, one self-contained page (no script, no font, nothing fetched) with
/// the table and each chart as an inline SVG figure.
enum class ChartFormat { kSvg, kHtml };

/// "svg" or "html"; nullopt for anything else.
std::optional<ChartFormat> parse_chart_format(std::string_view text);

/// The five charts of a report, one series per row (a variant keeps one colour and dash in all
/// of them): requests per variant (with trials, the median req/s with its 95 % interval as a
/// whisker); latency percentiles per variant (p50, p99, p99.9, max on a log axis; with trials,
/// whiskers on p50 and p99); the percentile spectrum of the merged histogram (latency against
/// percentile on a "nines" axis up to the highest percentile the answers resolve; with trials,
/// whiskers at each whole nine); the timeline (req/s and p99 per second, warm-up shaded; with
/// trials, the per-second median of the trials); and where each variant's mean time went (the
/// workers' own queue wait, pool wait, upstream and handler against the load engine's mean,
/// "not measured" where a variant has no such layer). Labels and titles are escaped.
std::string render_trials_charts(const std::vector<TrialRow>& rows, ChartFormat format,
                                 const std::string& title);

/// render_trials_charts() of rows of one trial each, as SVG.
std::string render_svg_report(const std::vector<ReportRow>& rows);

/// render_trials_charts() of rows of one trial each, as HTML: `title`, the wide table, the
/// charts.
std::string render_html_report(const std::vector<ReportRow>& rows, const std::string& title);

/// A comparison as charts: per row and measure, the change new/base as a dot on a log-ratio
/// axis with its 95 % interval as a whisker, grey with `~` where it is not significant. HTML
/// puts the comparison's table above the chart.
std::string render_comparison_charts(const Comparison& comparison, ChartFormat format,
                                     const std::string& title);

}  // namespace iolab
