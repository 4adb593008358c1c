#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "loadgen/engine.h"
#include "store/stats.h"
#include "workers/process_usage.h"

namespace iolab {

/// One layer of the server's time, as the variant's workers measured their own answers: how
/// many they timed and the total. `count` 0: the variant does not measure this layer.
struct ServerLayer {
  uint64_t count = 0;
  uint64_t sum_ns = 0;

  bool measured() const { return count > 0; }
  /// The mean in ms; 0 when not measured.
  double mean_ms() const;
  ServerLayer& operator+=(const ServerLayer& o);
};

/// Where a variant's time went, from its workers' own histograms over the whole run (warm-up
/// included): `total` from reading a request's head to writing its answer, which holds
/// `pool_wait` (for a pooled upstream connection, async only) and `upstream` (the call itself);
/// `queue_wait` precedes it (the connection readable until the handler starts; not measured by
/// threads:N). What the load engine saw beyond queue wait + total was spent outside the
/// handlers: the kernel's queues, accept, and (threads:N) waiting for a free thread.
struct ServerLayers {
  ServerLayer total, queue_wait, upstream, pool_wait;

  ServerLayers& operator+=(const ServerLayers& o);
};

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
  /// The variant's own measure of where its time went. Absent for a --target run, and for a
  /// result written before iolab kept it.
  std::optional<ServerLayers> server{};

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
std::string render_trials_report(const std::vector<TrialRow>& rows, ReportFormat format, bool wide);

}  // namespace iolab
