#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "store/stats.h"
#include "workers/process_usage.h"
#include "loadgen/engine.h"

namespace iolab {

/// One row of the seed's table: what was loaded and what the load engine measured.
struct ReportRow {
  std::string label;  ///< Variant name ("threads:10") or target URL.
  LoadResult result;
  double bound_rps = 0;  ///< Little's-law bound, connections / upstream delay; 0 when unknown.
  /// The variant's workers: peak RSS and threads at the end, CPU used during the run (warm-up
  /// included). Absent for a --target run.
  std::optional<ProcessUsage> usage;
  /// Workers that died and were restarted during the run.
  uint64_t worker_restarts = 0;

  /// Achieved rate as a percentage of bound_rps; nullopt when the bound is unknown.
  std::optional<double> bound_percent() const;
};

enum class ReportFormat { kRst, kCsv, kJson };

/// "rst", "csv" or "json"; nullopt for anything else.
std::optional<ReportFormat> parse_report_format(std::string_view text);

/// The table: `rst` is the seed's table, same columns and order (times in ms, duration in s);
/// `wide` adds rps, errors, bound%, rss_mb and cpu_s. csv and json always carry every column.
std::string render_report(const std::vector<ReportRow>& rows, ReportFormat format, bool wide);

struct TrialRow;

/// "1234.5 [1200.1, 1250.3]": a median with its interval; "1234.5 ±∞" when the samples are too
/// few for one; "-" when there are none.
std::string median_ci_text(const MedianCi& median, int decimals);

/// The columns `text` (UTF-8) takes on a terminal: "±∞" is five bytes and two columns.
size_t display_width(std::string_view text);

/// The table of rows repeated in trials (lab/trials.h). With one trial per row it is exactly
/// render_report() of those rows. Otherwise, per row: the trials, the median of the trials'
/// req/s, p50 and p99 with its 95 % interval (order statistics; with 5 trials [min, max], 93.8 %,
/// marked), beside the percentiles of the histogram merged over every trial. csv: the intervals'
/// coverage, each interval as two columns (empty without one).
/// json: every trial's row as render_report() gives it, with `trial` (0-based) and `trials`.
std::string render_trials_report(const std::vector<TrialRow>& rows, ReportFormat format,
                                 bool wide);

}  // namespace iolab
