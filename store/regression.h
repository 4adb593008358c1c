#pragma once

// The nightly judgement: a night's value per scenario, variant and measure is the
// median of its trials; a change is declared by change points over the series (store/stats.h:
// E-divisive means with a t-test, Apache Otava's method), not by a fixed percentage against a
// median; a night that reverts the next night is an outlier; a p99 is judged only from runs
// that each hold enough answers for a p99 to mean something.

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "store/stats.h"

namespace iolab {

/// How a scenario's nights are judged. An experiment file's `regression:` keys set it (README,
/// "Nightly change detection").
struct RegressionPolicy {
  double max_p = 0.001;  ///< `max_p`: a change needs a t-test p-value ≤ this.
  /// `window` (old name `nights`): nights per window of the search, and the most nights before
  /// a night that its own judgement looks at (≤ 50, as Otava).
  int window = 50;
  int min_nights = 3;  ///< `min_nights`: a series shorter than this is not judged.
  /// `throughput_drop`: a throughput change smaller than this relative change is not declared
  /// (0: any significant change).
  double throughput_drop = 0;
  double p99_rise = 0;  ///< `p99_rise`: the same for the p99.
  /// `min_answers`: a night's p99 is judged only when each of its trials holds at least this
  /// many answers; fewer is "insufficient", never a regression.
  uint64_t min_answers = 10000;
  /// `alert_nights`: a change keeps its alert for this many nights after it began; after that
  /// the new level is the normal (a later change in the same direction alerts again).
  int alert_nights = 7;

  bool operator==(const RegressionPolicy&) const = default;
};

/// The measures of one night (the medians of its trials).
struct NightMeasure {
  double rps = 0;    ///< Achieved requests/s.
  double p99_s = 0;  ///< p99 latency in seconds.
  /// The fewest answers any of the night's trials holds (the p99 needs policy.min_answers).
  uint64_t min_answers = 0;
  size_t trials = 1;
};

/// The median of `values` (mean of the middle two for an even count); 0 when empty.
double median(std::vector<double> values);

/// One stored night of one scenario and variant: the trials of one experiment row.
struct NightResult {
  std::string scenario;
  std::string variant;  ///< As "threads:100".
  std::string night;    ///< When it ran, ISO 8601 UTC.
  int64_t run_id = 0;   ///< The night's first trial.
  int64_t experiment_id = 0;
  NightMeasure measure;
  RegressionPolicy policy;  ///< The policy of the experiment the night belongs to.
};

/// A change point located at a night.
struct NightChange {
  ChangePoint change;   ///< Index into the judged nights of the series.
  int64_t run_id = 0;   ///< The first night of the new level.
  std::string night;    ///< When that night ran.
};

/// The verdict on one measure of one night.
struct MeasureVerdict {
  /// The series up to this night has min_nights nights (with enough answers, for a p99).
  bool judged = false;
  /// p99 only: a trial of this night holds fewer than policy.min_answers answers.
  bool insufficient = false;
  /// In hindsight (over the whole series): the night was set aside as an outlier.
  bool outlier = false;
  /// In hindsight: a change point begins at this night.
  std::optional<ChangePoint> change;
  /// As the night was judged (the nights up to it): the latest change is a regression (a
  /// throughput drop, a p99 rise) that began at most policy.alert_nights nights ago.
  bool regressed = false;
  std::optional<NightChange> alert;  ///< The change behind `regressed`.
  /// The level the night was judged against: the mean of the nights before it since the latest
  /// change (before the alert's change when regressed). 0 when not judged.
  double level = 0;
};

/// The verdict on one night.
struct RegressionVerdict {
  MeasureVerdict throughput;
  MeasureVerdict p99;

  bool regressed() const { return throughput.regressed || p99.regressed; }
};

/// A night with its verdict.
struct JudgedNight {
  NightResult night;
  RegressionVerdict verdict;
};

/// Judges every night of `nights` (oldest first, any mix of scenarios and variants) within the
/// series of its scenario and variant, with the latest night's policy. Pure.
std::vector<JudgedNight> judge_history(const std::vector<NightResult>& nights);

/// A measure flagged as regressed: the series `iolab_regression{scenario,variant,measure}`.
struct RegressionFlag {
  std::string scenario;
  std::string variant;
  std::string measure;         ///< "throughput" or "p99".
  double value = 0;            ///< The new level: mean rps, or p99 in seconds, since the change.
  double before = 0;           ///< The level before the change.
  double relative_change = 0;  ///< value / before − 1.
  double p = 1;                ///< The change's t-test p-value.
  int64_t run_id = 0;          ///< The night judged.
  int64_t since_run_id = 0;    ///< The first night of the new level.

  bool operator==(const RegressionFlag&) const = default;
};

/// The flags of the latest night of each scenario and variant in `judged`: what is regressed
/// now. Sorted by scenario, variant, measure.
std::vector<RegressionFlag> current_regressions(const std::vector<JudgedNight>& judged);

/// One line for a report: "REGRESSION seed async throughput: 812.0 req/s against 1020.0 req/s
/// before (-20.4 %, p = 2.1e-05, since run 40; run 42)".
std::string describe(const RegressionFlag& flag);

/// The flags of one judged night (none, one or two).
std::vector<RegressionFlag> flags_of(const JudgedNight& judged);

/// The options of change_points() a policy asks for, for throughput or (`p99`) the p99.
ChangePointOptions change_point_options(const RegressionPolicy& policy, bool p99);

}  // namespace iolab
