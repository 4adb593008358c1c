#pragma once

// Repeated trials: every row of a run or an experiment repeated N times, interleaved
// (A, B, C, A, B, C…) so that drift on the machine hits every row alike, and each row summed up
// as the median of its trials with a distribution-free 95 % interval (store/stats.h: the order
// statistics of the median, as benchstat). The unit of replication is the whole run.

#include <cstddef>
#include <functional>
#include <span>
#include <stop_token>
#include <string>
#include <vector>

#include "core/histogram.h"
#include "lab/report.h"
#include "store/stats.h"

namespace iolab {

/// One row repeated: each trial's row, in the order they ran. Every trial has the same label.
struct TrialRow {
  std::vector<ReportRow> trials;

  /// The row's label (the first trial's); empty without trials.
  std::string label() const { return trials.empty() ? std::string() : trials.front().label; }
};

/// One row's trials with `trials` == 1 each: today's rows, one trial apiece.
std::vector<TrialRow> single_trials(std::vector<ReportRow> rows);

/// Runs `rows` rows `trials` times each, interleaved: run(0, 0), run(1, 0), …, run(rows − 1, 0),
/// run(0, 1), … Stops before the next run once `stop` is requested; the rows then hold the
/// trials that ran. Blocks the calling thread; `run` may throw, which ends the loop.
std::vector<TrialRow> run_interleaved(size_t rows, int trials,
                                      const std::function<ReportRow(size_t row, int trial)>& run,
                                      std::stop_token stop = {});

/// A row's trials summed up.
struct TrialSummary {
  std::string label;
  size_t trials = 0;
  MedianCi rps;     ///< Answers per second of each trial.
  MedianCi p50_ms;  ///< Each trial's own p50, in ms.
  MedianCi p99_ms;  ///< Each trial's own p99, in ms.
  /// Every trial's latency merged: its percentiles weigh each answer alike (a trial with more
  /// answers counts more), unlike the medians above, which weigh each trial alike.
  LatencyHistogram merged;
  uint64_t requests = 0;  ///< Answers over all trials.
  uint64_t errors = 0;    ///< Errors over all trials.
  double elapsed_s = 0;   ///< Measured seconds over all trials.
};

/// The median of one measure over a row's trials with its interval at `confidence`; with too
/// few trials for one but `fewest_for_widest` or more, [min, max] at the coverage it has.
MedianCi trials_interval(std::span<const double> samples, double confidence = 0.95,
                         size_t fewest_for_widest = 5);

/// The summary of `row` at `confidence` (0.95: the table's intervals). Pure. Where the trials
/// are too few for an interval at `confidence` but `fewest_for_widest` or more, each interval is
/// the widest there is, [min, max], at the coverage it has (`confidence` < the one asked for):
/// 5 trials give 93.75 %, which the table marks, rather than nothing.
TrialSummary summarize_trials(const TrialRow& row, double confidence = 0.95,
                              size_t fewest_for_widest = 5);

/// The row's trials as one row: latency histograms merged, counts and measured time summed,
/// usage and bound from the first trial. The one trial itself when there is one. For charts.
ReportRow merged_row(const TrialRow& row);

/// The three measures of one trial that trials and compare are about.
struct TrialMeasures {
  double rps = 0;
  double p50_ms = 0;
  double p99_ms = 0;
  uint64_t requests = 0;
};
TrialMeasures measures_of(const ReportRow& row);

}  // namespace iolab
