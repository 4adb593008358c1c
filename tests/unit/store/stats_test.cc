#include "store/stats.h"

#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <cstdio>
#include <limits>
#include <numbers>
#include <random>
#include <vector>

// Reference values come from exact enumeration over all rank permutations, exact binomial sums
// and numerical integration of the t density, in Python (fractions, no scipy); the figures
// agree with scipy.stats where scipy's method is the same. Simulations use fixed seeds and
// their own normal generator (std::normal_distribution differs between standard libraries), so
// every figure printed here is the same on every run.

namespace iolab {
namespace {

constexpr double kInf = std::numeric_limits<double>::infinity();

/// Deterministic N(0, 1) draws: mt19937_64 (specified bit for bit) and Box–Muller.
class Noise {
 public:
  explicit Noise(uint64_t seed) : engine_(seed) {}

  double uniform() { return static_cast<double>(engine_() >> 11) * 0x1.0p-53; }

  double normal() {
    const double radius = std::sqrt(-2 * std::log(1 - uniform()));
    return radius * std::cos(2 * std::numbers::pi * uniform());
  }

  /// `n` draws of mean × (1 + cv · N(0, 1)).
  std::vector<double> sample(size_t n, double mean, double cv) {
    std::vector<double> out(n);
    for (double& v : out) v = mean * (1 + cv * normal());
    return out;
  }

 private:
  std::mt19937_64 engine_;
};

// ---- Median with interval -------------------------------------------------------------------

TEST(StatsMedianTest, TakesTheMiddleOrTheMeanOfTheMiddleTwo) {
  EXPECT_EQ(median_with_ci(std::vector<double>{5, 1, 3}).median, 3);
  EXPECT_EQ(median_with_ci(std::vector<double>{4, 1, 3, 2}).median, 2.5);
  const MedianCi empty = median_with_ci({});
  EXPECT_EQ(empty.median, 0);
  EXPECT_EQ(empty.n, 0u);
  EXPECT_FALSE(empty.has_interval);
}

TEST(StatsMedianTest, TenSamplesSpanTheSecondToTheNinthOrderStatistic) {
  const MedianCi ci = median_with_ci(std::vector<double>{7, 1, 9, 3, 5, 2, 8, 4, 6, 10});
  EXPECT_EQ(ci.median, 5.5);
  EXPECT_TRUE(ci.has_interval);
  EXPECT_EQ(ci.low, 2);
  EXPECT_EQ(ci.high, 9);
  EXPECT_DOUBLE_EQ(ci.confidence, 0.978515625);  // 1 − 2·11/1024
}

TEST(StatsMedianTest, SixSamplesAreTheFewestForANinetyFivePercentInterval) {
  const MedianCi six = median_with_ci(std::vector<double>{6, 1, 5, 2, 4, 3});
  EXPECT_TRUE(six.has_interval);
  EXPECT_EQ(six.low, 1);
  EXPECT_EQ(six.high, 6);
  EXPECT_DOUBLE_EQ(six.confidence, 0.96875);  // 1 − 2/64

  const MedianCi five = median_with_ci(std::vector<double>{1, 2, 3, 4, 5});
  EXPECT_FALSE(five.has_interval);
  EXPECT_EQ(five.median, 3);
  EXPECT_EQ(five.low, -kInf);
  EXPECT_EQ(five.high, kInf);

  EXPECT_EQ(min_samples_for_interval(0.95), 6u);
  EXPECT_EQ(min_samples_for_interval(0.99), 8u);
}

TEST(StatsMedianTest, AHigherConfidenceWidensTheInterval) {
  std::vector<double> twenty;
  for (int i = 1; i <= 20; ++i) twenty.push_back(i);
  const MedianCi at95 = median_with_ci(twenty, 0.95);
  EXPECT_EQ(at95.low, 6);
  EXPECT_EQ(at95.high, 15);
  EXPECT_NEAR(at95.confidence, 0.9586105346679688, 1e-12);
  const MedianCi at99 = median_with_ci(twenty, 0.99);
  EXPECT_EQ(at99.low, 4);
  EXPECT_EQ(at99.high, 17);
  EXPECT_NEAR(at99.confidence, 0.9974231719970703, 1e-12);
}

TEST(StatsMedianTest, TheIntervalCoversTheTrueMedianAtLeastAsOftenAsItSays) {
  Noise noise(14);
  int covered = 0;
  constexpr int kSamples = 1000;
  for (int i = 0; i < kSamples; ++i) {
    const MedianCi ci = median_with_ci(noise.sample(10, 100, 0.1));
    covered += ci.low <= 100 && 100 <= ci.high;
  }
  // Nominal 97.9 % at n = 10; the binomial sd of the estimate over 1000 draws is 0.5 %.
  EXPECT_GE(covered, 960);
  std::printf("[ figures  ] median CI n=10: covered the true median %d/%d times\n", covered,
              kSamples);
}

// ---- Mann–Whitney U -------------------------------------------------------------------------

TEST(StatsMannWhitneyTest, SeparatedSamplesOfFiveGiveTheSmallestExactP) {
  const MannWhitney mw =
      mann_whitney(std::vector<double>{1, 2, 3, 4, 5}, std::vector<double>{6, 7, 8, 9, 10});
  EXPECT_TRUE(mw.exact);
  EXPECT_EQ(mw.u, 25);
  EXPECT_NEAR(mw.p, 2.0 / 252, 1e-12);
  EXPECT_TRUE(mw.significant);
  EXPECT_FALSE(mw.too_few_to_detect);
}

TEST(StatsMannWhitneyTest, InterleavedSamplesAreNotDifferent) {
  const MannWhitney mw =
      mann_whitney(std::vector<double>{1, 3, 5, 7, 9}, std::vector<double>{2, 4, 6, 8, 10});
  EXPECT_EQ(mw.u, 15);
  EXPECT_NEAR(mw.p, 0.6904761904761905, 1e-12);
  EXPECT_FALSE(mw.significant);
}

TEST(StatsMannWhitneyTest, TiesAreCountedExactlyWithMidRanks) {
  const MannWhitney mw =
      mann_whitney(std::vector<double>{1, 2, 2, 3, 3}, std::vector<double>{2, 3, 3, 4, 5});
  EXPECT_TRUE(mw.exact);
  EXPECT_EQ(mw.u, 20);
  EXPECT_NEAR(mw.p, 0.19047619047619047, 1e-12);

  const MannWhitney uneven = mann_whitney(std::vector<double>{10, 10, 11, 12, 12, 12, 13},
                                          std::vector<double>{12, 13, 13, 14});
  EXPECT_EQ(uneven.u, 24.5);
  EXPECT_NEAR(uneven.p, 0.051515151515151514, 1e-12);
  EXPECT_FALSE(uneven.significant);
}

TEST(StatsMannWhitneyTest, SwappingTheSidesKeepsThePAndMirrorsU) {
  const std::vector<double> a = {10, 10, 11, 12, 12, 12, 13};
  const std::vector<double> b = {12, 13, 13, 14};
  const MannWhitney ab = mann_whitney(a, b);
  const MannWhitney ba = mann_whitney(b, a);
  EXPECT_DOUBLE_EQ(ab.p, ba.p);
  EXPECT_EQ(ab.u + ba.u, 28);
}

TEST(StatsMannWhitneyTest, ThreeTrialsASideCannotFindADifferenceButFourCan) {
  const MannWhitney three =
      mann_whitney(std::vector<double>{1, 2, 3}, std::vector<double>{4, 5, 6});
  EXPECT_NEAR(three.p, 0.1, 1e-12);
  EXPECT_FALSE(three.significant);
  EXPECT_TRUE(three.too_few_to_detect);

  const MannWhitney four =
      mann_whitney(std::vector<double>{1, 2, 3, 4}, std::vector<double>{5, 6, 7, 8});
  EXPECT_NEAR(four.p, 2.0 / 70, 1e-12);
  EXPECT_TRUE(four.significant);
  EXPECT_FALSE(four.too_few_to_detect);

  // 3 against 4 still falls short: the most extreme split has p = 2/35 > 0.05.
  EXPECT_TRUE(mann_whitney(std::vector<double>{1, 2, 3}, std::vector<double>{4, 5, 6, 7})
                  .too_few_to_detect);
}

TEST(StatsMannWhitneyTest, LargeSamplesUseTheTieCorrectedNormalApproximation) {
  std::vector<double> base;
  std::vector<double> next;
  for (int i = 0; i < 35; ++i) {
    base.push_back(100 + (i * 37) % 41);
    next.push_back(104 + (i * 53) % 43);
  }
  const MannWhitney mw = mann_whitney(base, next);
  EXPECT_FALSE(mw.exact);
  EXPECT_EQ(mw.u, 727);
  EXPECT_NEAR(mw.p, 0.18046139951587156, 1e-9);
  // The exact p of these samples (with their ties) is 0.180654: the approximation is close.
  EXPECT_NEAR(mw.p, 0.18065361927937362, 1e-3);
}

TEST(StatsMannWhitneyTest, EmptyOrAllTiedSamplesShowNoDifference) {
  const MannWhitney empty = mann_whitney({}, std::vector<double>{1, 2, 3});
  EXPECT_EQ(empty.p, 1);
  EXPECT_TRUE(empty.too_few_to_detect);
  const MannWhitney tied = mann_whitney(std::vector<double>(40, 7), std::vector<double>(40, 7));
  EXPECT_EQ(tied.p, 1);
  EXPECT_FALSE(tied.significant);
  EXPECT_EQ(mann_whitney(std::vector<double>(5, 7), std::vector<double>(5, 7)).p, 1);
}

TEST(StatsMannWhitneyTest, IdenticalDistributionsAreSignificantInAtMostFivePercentOfPairs) {
  // The exact test's true level at n = 10 is 4.33 % (summed over the null distribution of U),
  // and about 4.55 % with the heavy ties below (10^5 simulated pairs). Over 200 pairs the sd of
  // the rate is 1.4 %, so 200 pairs alone would pass or fail by the seed; 20,000 pairs (sd
  // 0.15 %) decide. The first 200 are the figure asked for.
  Noise noise(1);
  constexpr int kPairs = 20000;
  constexpr int kReported = 200;
  int positives = 0;
  int positives_reported = 0;
  int tied_positives = 0;
  for (int i = 0; i < kPairs; ++i) {
    auto base = noise.sample(10, 1000, 0.1);
    auto next = noise.sample(10, 1000, 0.1);
    const bool significant = mann_whitney(base, next).significant;
    positives += significant;
    if (i < kReported) positives_reported += significant;
    // Coarsely rounded values tie often: the exact conditional test must stay valid.
    for (double& v : base) v = std::round(v / 50) * 50;
    for (double& v : next) v = std::round(v / 50) * 50;
    tied_positives += mann_whitney(base, next).significant;
  }
  EXPECT_LE(positives, kPairs * 5 / 100);
  EXPECT_LE(tied_positives, kPairs * 5 / 100);
  EXPECT_LE(positives_reported, kReported * 10 / 100);
  std::printf(
      "[ figures  ] compare A/A at n=10: %d of the first %d pairs significant (%.1f %%); "
      "%.2f %% of %d pairs, %.2f %% with heavy ties\n",
      positives_reported, kReported, 100.0 * positives_reported / kReported,
      100.0 * positives / kPairs, kPairs, 100.0 * tied_positives / kPairs);
}

TEST(StatsMannWhitneyTest, FindsATenPercentShiftAtTenTrials) {
  Noise noise(2);
  constexpr int kPairs = 200;
  int found_cv5 = 0;
  int found_cv10 = 0;
  for (int i = 0; i < kPairs; ++i) {
    found_cv5 +=
        mann_whitney(noise.sample(10, 1000, 0.05), noise.sample(10, 900, 0.05)).significant;
    found_cv10 +=
        mann_whitney(noise.sample(10, 1000, 0.10), noise.sample(10, 900, 0.10)).significant;
  }
  // A 10 % shift is 2σ at 5 % noise (power ≈ 0.98) and 1σ at 10 % noise (≈ 0.55).
  EXPECT_GE(found_cv5, kPairs * 90 / 100);
  EXPECT_GE(found_cv10, kPairs * 40 / 100);
  std::printf(
      "[ figures  ] compare power, 10 %% shift at n=10: %.1f %% with 5 %% noise, "
      "%.1f %% with 10 %% noise\n",
      100.0 * found_cv5 / kPairs, 100.0 * found_cv10 / kPairs);
}

// ---- Ratio of medians -----------------------------------------------------------------------

TEST(StatsRatioTest, GivesTheHodgesLehmannIntervalOfTheRatio) {
  const std::vector<double> base = {100, 104, 98, 101, 103, 99, 102, 97};
  const std::vector<double> next = {90, 93, 88, 92, 91, 94, 89, 95};
  const RatioCi ci = ratio_with_ci(base, next);
  EXPECT_TRUE(ci.valid);
  EXPECT_TRUE(ci.has_interval);
  EXPECT_NEAR(ci.ratio, 91.5 / 100.5, 1e-12);
  EXPECT_NEAR(ci.low, 0.883495145631068, 1e-12);
  EXPECT_NEAR(ci.high, 0.9387755102040817, 1e-12);
  EXPECT_NEAR(ci.confidence, 0.9501165501165502, 1e-12);
}

TEST(StatsRatioTest, NeedsFourTrialsASideForAnInterval) {
  const RatioCi four =
      ratio_with_ci(std::vector<double>{10, 11, 12, 13}, std::vector<double>{20, 21, 22, 23});
  EXPECT_TRUE(four.has_interval);
  EXPECT_NEAR(four.low, 20.0 / 13, 1e-12);
  EXPECT_NEAR(four.high, 23.0 / 10, 1e-12);
  EXPECT_NEAR(four.confidence, 1 - 2.0 / 70, 1e-12);

  const RatioCi three =
      ratio_with_ci(std::vector<double>{10, 11, 12}, std::vector<double>{20, 21, 22});
  EXPECT_TRUE(three.valid);
  EXPECT_FALSE(three.has_interval);
  EXPECT_NEAR(three.ratio, 21.0 / 11, 1e-12);
  EXPECT_EQ(three.high, kInf);
}

TEST(StatsRatioTest, ZeroNegativeOrMissingValuesHaveNoRatio) {
  EXPECT_FALSE(
      ratio_with_ci(std::vector<double>{0, 1, 2, 3}, std::vector<double>{1, 2, 3, 4}).valid);
  EXPECT_FALSE(
      ratio_with_ci(std::vector<double>{1, 2, 3, 4}, std::vector<double>{-1, 2, 3, 4}).valid);
  EXPECT_FALSE(ratio_with_ci({}, std::vector<double>{1, 2, 3, 4}).valid);
}

TEST(StatsRatioTest, TheIntervalExcludesOneExactlyWhenTheTestIsSignificant) {
  Noise noise(3);
  int significant = 0;
  for (int i = 0; i < 300; ++i) {
    const size_t n_base = 4 + i % 9;
    const size_t n_next = 4 + (i / 9) % 9;
    const double shift = 1 + 0.02 * (i % 7);
    const auto base = noise.sample(n_base, 100, 0.05);
    const auto next = noise.sample(n_next, 100 * shift, 0.05);
    const RatioCi ci = ratio_with_ci(base, next);
    const MannWhitney mw = mann_whitney(base, next);
    ASSERT_EQ(ci.low > 1 || ci.high < 1, mw.significant) << "pair " << i << " p " << mw.p;
    significant += mw.significant;
  }
  EXPECT_GT(significant, 50);  // the property was exercised on both sides
}

TEST(StatsRatioTest, CoversATrueTenPercentChangeAtLeastNinetyFivePercentOfTheTime) {
  Noise noise(4);
  constexpr int kPairs = 400;
  int covered_small = 0;
  int covered_large = 0;
  for (int i = 0; i < kPairs; ++i) {
    // A multiplicative change: every value of `next` is 1.1 × a value from base's law.
    auto base = noise.sample(10, 100, 0.1);
    auto next = noise.sample(10, 100, 0.1);
    for (double& v : next) v *= 1.1;
    const RatioCi small = ratio_with_ci(base, next);
    covered_small += small.low <= 1.1 && 1.1 <= small.high;

    base = noise.sample(40, 100, 0.1);
    next = noise.sample(40, 100, 0.1);
    for (double& v : next) v *= 1.1;
    const RatioCi large = ratio_with_ci(base, next);  // N = 80: normal cut-off
    covered_large += large.low <= 1.1 && 1.1 <= large.high;
  }
  // Nominal 95 %; the binomial sd of a rate over 400 pairs is 1.1 %.
  EXPECT_GE(covered_small, kPairs * 92 / 100);
  EXPECT_GE(covered_large, kPairs * 92 / 100);
  std::printf(
      "[ figures  ] ratio CI coverage of a true +10 %%: %.1f %% at n=10, %.1f %% at "
      "n=40\n",
      100.0 * covered_small / kPairs, 100.0 * covered_large / kPairs);
}

// ---- Student's t-test -----------------------------------------------------------------------

TEST(StatsTTest, MatchesTheClosedFormsForOneAndTwoDegreesOfFreedom) {
  // df = 1: p = 1 − (2/π)·atan|t|; here t = 2/√3.
  EXPECT_NEAR(student_t_test(std::vector<double>{0}, std::vector<double>{1, 3}),
              1 - 2 / std::numbers::pi * std::atan(2 / std::sqrt(3.0)), 1e-12);
  // df = 2: p = 1 − |t|/√(2 + t²); here t = 3/√2.
  const double t = 3 / std::sqrt(2.0);
  EXPECT_NEAR(student_t_test(std::vector<double>{0, 2}, std::vector<double>{3, 5}),
              1 - t / std::sqrt(2 + t * t), 1e-12);
}

TEST(StatsTTest, MatchesTheTDistributionAtMoreDegreesOfFreedom) {
  EXPECT_NEAR(student_t_test(std::vector<double>{1, 2, 3, 4}, std::vector<double>{3, 4, 5, 6}),
              0.07098765432, 1e-9);
  // Twenty points at ±1 against twelve at d: df = 30, pooled variance 20/30, and
  // t = d / √(20/30 · (1/20 + 1/12)); t = 3.6459586 is the two-sided 0.001 point at df = 30.
  std::vector<double> a(20);
  for (size_t i = 0; i < a.size(); ++i) a[i] = i % 2 == 0 ? -1 : 1;
  const double scale = std::sqrt(20.0 / 30 * (1.0 / 20 + 1.0 / 12));
  const std::vector<double> b(12, 3.6459586 * scale);
  EXPECT_NEAR(student_t_test(a, b), 0.001, 1e-8);
}

TEST(StatsTTest, WithoutSpreadOnlyTheMeansDecide) {
  EXPECT_EQ(student_t_test(std::vector<double>{1, 1}, std::vector<double>{1, 1}), 1);
  EXPECT_EQ(student_t_test(std::vector<double>{1, 1}, std::vector<double>{2, 2}), 0);
  EXPECT_EQ(student_t_test(std::vector<double>{1}, std::vector<double>{2}), 1);  // df = 0
}

// ---- Change points --------------------------------------------------------------------------

std::vector<double> level(Noise& noise, size_t n, double mean, double sd) {
  std::vector<double> out(n);
  for (double& v : out) v = mean + sd * noise.normal();
  return out;
}

std::vector<double> join(std::vector<double> a, const std::vector<double>& b) {
  a.insert(a.end(), b.begin(), b.end());
  return a;
}

TEST(StatsChangePointTest, AFlatSeriesHasNone) {
  const ChangePoints cps = change_points(std::vector<double>(60, 100));
  EXPECT_TRUE(cps.changes.empty());
  EXPECT_TRUE(cps.outliers.empty());
  EXPECT_TRUE(change_points({}).changes.empty());
  EXPECT_TRUE(change_points(std::vector<double>{1, 2}).changes.empty());
}

TEST(StatsChangePointTest, FindsTwoStepsWithTheirMagnitudeAndP) {
  Noise noise(5);
  const auto series =
      join(join(level(noise, 40, 100, 1), level(noise, 40, 110, 1)), level(noise, 40, 100, 1));
  const ChangePoints cps = change_points(series);
  ASSERT_EQ(cps.changes.size(), 2u);
  EXPECT_EQ(cps.changes[0].index, 40u);
  EXPECT_EQ(cps.changes[1].index, 80u);
  EXPECT_NEAR(cps.changes[0].relative_change, 0.10, 0.01);
  EXPECT_NEAR(cps.changes[1].relative_change, -0.0909, 0.01);
  EXPECT_LT(cps.changes[0].p, 1e-10);
  EXPECT_NEAR(cps.changes[0].mean_before, 100, 0.5);
  EXPECT_NEAR(cps.changes[0].mean_after, 110, 0.5);
  EXPECT_TRUE(cps.outliers.empty());
}

TEST(StatsChangePointTest, AThreeSigmaStepIsFlaggedWithinThreeNights) {
  Noise noise(6);
  const auto series = join(level(noise, 30, 100, 1), level(noise, 3, 97, 1));
  const ChangePoints cps = change_points(series);
  ASSERT_EQ(cps.changes.size(), 1u);
  EXPECT_NEAR(static_cast<double>(cps.changes[0].index), 30, 1);  // noise may blur the edge
  EXPECT_LT(cps.changes[0].relative_change, -0.02);
  EXPECT_LE(cps.changes[0].p, 0.001);
}

TEST(StatsChangePointTest, DetectsMostThreeSigmaStepsWithinThreeNights) {
  // The ceiling: a t-test told where the step is reaches p ≤ 0.001 with 3 nights after 30 in
  // about 89 % of series (the 3σ step is 2.2 standard errors of a 30-vs-3 difference at the
  // critical t). The search must come close to it without knowing where to look.
  Noise noise(7);
  constexpr int kSeries = 1000;
  int found[5] = {};  // by nights after the step
  int ceiling = 0;
  int elsewhere = 0;
  for (int i = 0; i < kSeries; ++i) {
    const auto history = level(noise, 30, 100, 1);
    const auto after = level(noise, 4, i % 2 == 0 ? 103 : 97, 1);
    ceiling += student_t_test(history, std::span(after).first(3)) <= 0.001;
    for (size_t nights = 2; nights <= 4; ++nights) {
      const auto series = join(
          history,
          std::vector<double>(after.begin(), after.begin() + static_cast<std::ptrdiff_t>(nights)));
      bool near = false;
      for (const ChangePoint& c : change_points(series).changes) {
        near = near || (c.index + 1 >= 30 && c.index <= 31);
        elsewhere += nights == 3 && !(c.index + 1 >= 30 && c.index <= 31);
      }
      found[nights] += near;
    }
  }
  EXPECT_GE(found[3], kSeries * 82 / 100);
  EXPECT_GE(found[3], ceiling - kSeries * 5 / 100);
  EXPECT_GE(found[4], kSeries * 90 / 100);
  EXPECT_LE(elsewhere, kSeries * 5 / 100);
  std::printf(
      "[ figures  ] 3σ step after 30 nights, flagged within ±1 night: %.1f %% by night 2, "
      "%.1f %% by night 3 (a t-test told the step: %.1f %%), %.1f %% by night 4; %d "
      "misplaced at night 3\n",
      100.0 * found[2] / kSeries, 100.0 * found[3] / kSeries, 100.0 * ceiling / kSeries,
      100.0 * found[4] / kSeries, elsewhere);
}

TEST(StatsChangePointTest, HundredIidNightsHaveNoChangePoint) {
  Noise noise(8);
  const ChangePoints cps = change_points(level(noise, 100, 1000, 30));
  EXPECT_TRUE(cps.changes.empty());
}

TEST(StatsChangePointTest, FalseAlarmsStayBelowOnePerHundredNights) {
  Noise noise(9);
  constexpr int kSeries = 200;
  constexpr size_t kNights = 100;
  size_t alarms = 0;
  for (int i = 0; i < kSeries; ++i)
    alarms += change_points(level(noise, kNights, 1000, 30)).changes.size();
  const double per_hundred = 100.0 * static_cast<double>(alarms) / (kSeries * kNights);
  EXPECT_LE(per_hundred, 1.0);
  std::printf(
      "[ figures  ] A/A change points: %zu over %d series of %zu i.i.d. nights "
      "(%.3f per 100 nights)\n",
      alarms, kSeries, kNights, per_hundred);
}

TEST(StatsChangePointTest, ANightThatRevertsIsNotAChange) {
  Noise noise(10);
  auto series = level(noise, 40, 100, 1);
  series[20] = 2000;  // a 20× slower night, then back to normal
  EXPECT_TRUE(change_points(series).changes.empty());
}

TEST(StatsChangePointTest, ANightThatRevertsTheNextNightIsAnOutlier) {
  // 30 vs {50, 100} passes the t-test (p ≈ 1e-5) and the last segment has two points; but only
  // one of them sits at the new level.
  std::vector<double> series(30);
  for (size_t i = 0; i < series.size(); ++i) series[i] = 99 + static_cast<double>(i % 3);
  series.push_back(50);
  series.push_back(100);
  const ChangePoints cps = change_points(series);
  EXPECT_TRUE(cps.changes.empty());
  EXPECT_EQ(cps.outliers, std::vector<size_t>{30});
}

TEST(StatsChangePointTest, AStepIsFoundDespiteAnOutlierAfterIt) {
  Noise noise(11);
  auto series = join(level(noise, 30, 100, 1), level(noise, 30, 90, 1));
  series[45] = 5;
  const ChangePoints cps = change_points(series);
  ASSERT_EQ(cps.changes.size(), 1u);
  EXPECT_EQ(cps.changes[0].index, 30u);
  for (const size_t i : cps.outliers) EXPECT_EQ(i, 45u);
}

TEST(StatsChangePointTest, TheLatestNightAloneIsPendingUntilTheNextConfirmsIt) {
  Noise noise(12);
  auto series = level(noise, 30, 100, 1);
  series.push_back(50);  // 20× slower: half the throughput
  const ChangePoints tonight = change_points(series);
  EXPECT_TRUE(tonight.changes.empty());
  EXPECT_EQ(tonight.outliers, std::vector<size_t>{30});

  series.push_back(51);
  const ChangePoints tomorrow = change_points(series);
  ASSERT_EQ(tomorrow.changes.size(), 1u);
  EXPECT_EQ(tomorrow.changes[0].index, 30u);
  EXPECT_NEAR(tomorrow.changes[0].relative_change, -0.5, 0.02);
  EXPECT_TRUE(tomorrow.outliers.empty());
}

TEST(StatsChangePointTest, AMinimumRelativeChangeDropsSmallButSignificantSteps) {
  Noise noise(13);
  const auto series = join(level(noise, 40, 100, 0.2), level(noise, 40, 101, 0.2));
  ASSERT_EQ(change_points(series).changes.size(), 1u);
  ChangePointOptions options;
  options.min_relative_change = 0.05;
  EXPECT_TRUE(change_points(series, options).changes.empty());
}

TEST(StatsChangePointTest, AStepInALongSeriesIsFoundThroughTheSlidingWindows) {
  Noise noise(15);
  const auto series = join(level(noise, 150, 100, 1), level(noise, 50, 95, 1));
  const ChangePoints cps = change_points(series);
  ASSERT_EQ(cps.changes.size(), 1u);
  EXPECT_EQ(cps.changes[0].index, 150u);
}

}  // namespace
}  // namespace iolab
