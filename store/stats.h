#pragma once

// Statistics for verdicts one can trust: the median of repeated trials with a
// distribution-free interval, a two-sided Mann–Whitney U test between two sets of trials, an
// interval for the ratio new/base, and change points in a nightly series. Pure functions on
// plain numbers: no I/O, no clock, no global state; every function is safe to call from any
// thread at once. Modelled on Go's benchstat (golang/perf benchmath) and Apache Otava.

#include <cstddef>
#include <span>
#include <vector>

namespace iolab {

/// A sample's median with a distribution-free confidence interval.
struct MedianCi {
  double median = 0;  ///< Mean of the middle two for an even count; 0 when empty.
  double low = 0;     ///< Lower end; −∞ when !has_interval.
  double high = 0;    ///< Upper end; +∞ when !has_interval.
  /// Coverage the interval actually achieves (≥ the one asked for; order statistics move in
  /// steps). 1 when !has_interval: (−∞, +∞) covers everything.
  double confidence = 0;
  size_t n = 0;
  /// False when n is too small for any interval at the asked confidence (n < 6 at 95 %):
  /// show "±∞" and warn "need ≥ min_samples_for_interval(confidence) samples".
  bool has_interval = false;
};

/// The median of `samples` (finite, any unit, any order) and the interval between two of
/// its order statistics, [x(k), x(n+1−k)] with the largest k for which the binomial coverage
/// 1 − 2·P(Bin(n, ½) < k) is ≥ `confidence` (in (0, 1)). This is the interval benchstat
/// reports; it assumes only independent trials from one continuous distribution.
MedianCi median_with_ci(std::span<const double> samples, double confidence = 0.95);

/// The fewest samples for which median_with_ci() gives a finite interval at `confidence`
/// (6 at 0.95, 8 at 0.99).
size_t min_samples_for_interval(double confidence = 0.95);

/// The outcome of a two-sided Mann–Whitney U test (Wilcoxon rank-sum).
struct MannWhitney {
  double u = 0;  ///< U of `next`: pairs (b, n) with n > b, plus ½ per tie.
  double p = 1;  ///< Two-sided p-value: P(|U − n_b·n_n/2| ≥ |u − n_b·n_n/2|) under H0.
  bool exact = false;        ///< p from the exact permutation distribution (else normal).
  bool significant = false;  ///< p ≤ alpha.
  /// True when even completely separated samples of these sizes could not reach p ≤ alpha
  /// (fewer than 4 per side at 0.05): "need more samples to detect a difference".
  bool too_few_to_detect = false;
};

/// Largest n_base + n_new for which mann_whitney() computes the exact distribution; above it,
/// the normal approximation with tie and continuity corrections is within ~1e-3 of it.
inline constexpr size_t kMannWhitneyExactMaxTotal = 60;

/// Two-sided Mann–Whitney U test of `base` against `next` (any unit, same for both) at level
/// `alpha`. Exact when n_base + n_new ≤ kMannWhitneyExactMaxTotal: the permutation
/// distribution of the mid-rank sum given the observed ties, so tied values (common with
/// rounded latencies) are handled exactly, not approximated. Otherwise the normal approximation
/// with the tie-corrected variance and a continuity correction of ½. An empty side gives p = 1.
MannWhitney mann_whitney(std::span<const double> base, std::span<const double> next,
                         double alpha = 0.05);

/// The change new/base with a confidence interval, for "−12.3 % [−15.1 %, −9.0 %]".
struct RatioCi {
  double ratio = 1;       ///< median(new) / median(base): the point estimate shown.
  double low = 0;         ///< Lower end of the interval of the ratio; 0 when !has_interval.
  double high = 0;        ///< Upper end; +∞ when !has_interval.
  double confidence = 0;  ///< Coverage achieved (≥ the one asked for); 1 without interval.
  /// False when a side has too few samples (fewer than 4 each at 95 %) or a value ≤ 0.
  bool has_interval = false;
  bool valid = true;  ///< False when a sample is empty or holds a value ≤ 0 (no ratio).
};

/// The ratio median(next)/median(base) with the Hodges–Lehmann interval for a multiplicative
/// shift: the order statistics of all n_base·n_new ratios next_j/base_i, cut at the quantiles
/// of the exact null distribution of U. Distribution-free and deterministic; it is the
/// interval that inverts mann_whitney(), so without ties it excludes 1 exactly when that test
/// says significant at 1 − confidence. Values must be > 0 (req/s, seconds).
RatioCi ratio_with_ci(std::span<const double> base, std::span<const double> next,
                      double confidence = 0.95);

/// Settings of change-point detection; an experiment's `regression:` keys map onto these.
struct ChangePointOptions {
  double max_p = 0.001;  ///< A change is declared only with a t-test p-value ≤ this.
  size_t window = 50;    ///< Points per sliding window of the search (Otava: ≤ 50).
  /// A change must be carried by at least this many points after it (points nearer the new
  /// level than the old): a night that reverts the next night is an outlier, never a change,
  /// and the latest night alone is not yet a change. 1 turns outlier handling off.
  size_t min_segment = 2;
  /// Changes smaller than this relative change of the mean are dropped (0: keep all).
  double min_relative_change = 0;
};

/// A change point of a series: the first point of the new level.
struct ChangePoint {
  size_t index = 0;            ///< Index into the series passed in.
  double mean_before = 0;      ///< Mean of the segment before (from the previous change).
  double mean_after = 0;       ///< Mean of the segment after (up to the next change).
  double relative_change = 0;  ///< mean_after / mean_before − 1; 0 when mean_before is 0.
  double p = 1;                ///< Two-sided Student t-test p-value, before vs after.
};

/// Change points of a series and the points set aside as outliers.
struct ChangePoints {
  std::vector<ChangePoint> changes;  ///< Ascending index.
  /// Indices of points set aside because they alone carried a change (fewer than min_segment
  /// of them) or filled a segment shorter than min_segment: outliers, or — at the end of the
  /// series — a change not yet confirmed by enough nights. Only points that the search split
  /// off are listed: a wild night that never looked like a change is not. Ascending.
  std::vector<size_t> outliers;
};

/// Change points of `series` (oldest first, one value per night, any unit) by E-divisive means
/// with a Student t-test, as Apache Otava (Hunter, Fleming et al. 2023): in sliding windows,
/// split where the energy distance between before and after is largest while the split's t-test
/// p-value is ≤ 10·max_p ("weak" points); then drop the weakest point, re-testing its
/// neighbours, until every p ≤ max_p (and |relative_change| ≥ min_relative_change). The
/// t-test instead of a permutation test keeps it deterministic, with no seed, and cheap:
/// O(window³) per window. Then the persistence rule (see min_segment): outliers are set aside
/// and the search runs again without them; means and p-values exclude them.
ChangePoints change_points(std::span<const double> series, const ChangePointOptions& options = {});

/// Two-sided p-value of Student's t-test (pooled variance) between `a` and `b`; 1 when either
/// side is empty or both have no spread and equal means, 0 when no spread and different means.
double student_t_test(std::span<const double> a, std::span<const double> b);

}  // namespace iolab
