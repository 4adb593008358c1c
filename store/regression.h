#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace iolab {

/// How a nightly result is judged against its history: the median of the last `nights` results
/// of the same scenario and variant. An experiment file's `regression:` sets it.
struct RegressionPolicy {
  int nights = 7;                ///< K: how many previous nights the median spans.
  int min_nights = 3;            ///< Fewer previous nights than this: not judged (too little).
  double throughput_drop = 0.1;  ///< Flag when rps < median × (1 − this).
  double p99_rise = 0.1;         ///< Flag when p99 > median × (1 + this).

  bool operator==(const RegressionPolicy&) const = default;
};

/// The two measures a night is judged on.
struct NightMeasure {
  double rps = 0;    ///< Achieved requests/s.
  double p99_s = 0;  ///< p99 latency in seconds.
};

/// The verdict on one night.
struct RegressionVerdict {
  size_t history = 0;   ///< Previous nights the median was taken over (≤ policy.nights).
  bool judged = false;  ///< False when history < policy.min_nights.
  double median_rps = 0;
  double median_p99_s = 0;
  bool throughput = false;  ///< rps dropped by more than policy.throughput_drop.
  bool p99 = false;         ///< p99 rose by more than policy.p99_rise.

  bool regressed() const { return throughput || p99; }
};

/// The median of `values` (mean of the middle two for an even count); 0 when empty.
double median(std::vector<double> values);

/// Judges `now` against `previous` (oldest first; only the last policy.nights count). Pure.
RegressionVerdict judge_night(const std::vector<NightMeasure>& previous, const NightMeasure& now,
                              const RegressionPolicy& policy);

/// One stored night of one scenario and variant.
struct NightResult {
  std::string scenario;
  std::string variant;  ///< As "threads:100".
  std::string night;    ///< When it ran, ISO 8601 UTC.
  int64_t run_id = 0;
  int64_t experiment_id = 0;
  NightMeasure measure;
  RegressionPolicy policy;  ///< The policy of the experiment the night belongs to.
};

/// A night with its verdict.
struct JudgedNight {
  NightResult night;
  RegressionVerdict verdict;
};

/// Judges every night of `nights` (oldest first, any mix of scenarios and variants) against the
/// nights before it of the same scenario and variant, with each night's own policy. Pure.
std::vector<JudgedNight> judge_history(const std::vector<NightResult>& nights);

/// A measure flagged as regressed: the series `iolab_regression{scenario,variant,measure}`.
struct RegressionFlag {
  std::string scenario;
  std::string variant;
  std::string measure;  ///< "throughput" or "p99".
  double value = 0;     ///< The night's rps or p99 in seconds.
  double median = 0;    ///< The median it was judged against.
  int64_t run_id = 0;

  bool operator==(const RegressionFlag&) const = default;
};

/// The flags of the latest night of each scenario and variant in `judged`: what is regressed
/// now. Sorted by scenario, variant, measure.
std::vector<RegressionFlag> current_regressions(const std::vector<JudgedNight>& judged);

/// One line for a report: "REGRESSION seed async throughput: 812.0 req/s against a median of
/// 1020.0 req/s (run 42)".
std::string describe(const RegressionFlag& flag);

/// The flags of one judged night (none, one or two).
std::vector<RegressionFlag> flags_of(const JudgedNight& judged);

}  // namespace iolab
