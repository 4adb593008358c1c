// "Measured, not assumed": the nightly judgement and compare on real noise recorded
// on this machine (tests/data/verdicts_noise.csv, bench/record_noise.sh), resampled with a fixed
// seed. bench/verdicts.sh prints the same figures with more resamples.
#include "tests/verdicts_harness.h"

#include <gtest/gtest.h>

namespace iolab::harness {
namespace {

const std::string kFixture = IOLAB_SOURCE_DIR "/tests/data/verdicts_noise.csv";

Settings quick() {
  Settings s;
  s.histories = 10;
  s.steps = 20;
  s.pairs = 200;
  return s;
}

TEST(VerdictsHarnessTest, TheFixtureHoldsFiftyRunsOfEachRow) {
  const Fixture f = read_fixture(kFixture);
  ASSERT_GE(f.size(), 4u);
  for (const auto& [row, runs] : f) {
    EXPECT_GE(runs.size(), 50u) << row;
    for (const Trial& t : runs) EXPECT_GT(t.rps, 0) << row;
  }
}

TEST(VerdictsHarnessTest, NoiseRaisesAtMostOneAlarmPer100MetricNights) {
  const Settings s = quick();
  std::mt19937_64 rng(s.seed);
  AlarmRate now;
  AlarmRate old;
  for (const auto& [row, runs] : read_fixture(kFixture)) {
    aa_alarms(runs, Measure::kRps, s, rng, now, old);
    aa_alarms(runs, Measure::kP99, s, rng, now, old);
  }
  ASSERT_GT(now.metric_nights, 400u);
  EXPECT_LE(now.per_100(), 1.0) << now.alarms << " alarms in " << now.metric_nights;
  // The rule it replaces cried wolf on the same nights: the reason change points replaced it.
  EXPECT_GT(old.per_100(), now.per_100());
}

TEST(VerdictsHarnessTest, PersistentStepsOfThreeSigmaAreFlaggedWithinThreeNights) {
  const Settings s = quick();
  std::mt19937_64 rng(s.seed + 1);
  Detection d;
  for (const auto& [row, runs] : read_fixture(kFixture)) {
    const double sigma = night_sigma(runs, Measure::kRps, s, rng);
    const double level = draw_night(runs, 101, rng).rps;
    detect_steps(runs, Measure::kRps, 1 - 3 * sigma / level, s, rng, d);
  }
  // The aim is 90 %. On this fixture's noise (heavy tails: remote async's runs range
  // 3,848–5,730 req/s around 5,050) the change points flag 86 % of these steps within 3 nights,
  // 80–100 % by row (bench/verdicts.sh); the bound guards that figure against erosion.
  EXPECT_GE(d.share(), 0.8) << d.detected << " of " << d.steps;
}

TEST(VerdictsHarnessTest, CompareCallsFewIdenticalPairsDifferent) {
  const Settings s = quick();
  std::mt19937_64 rng(s.seed + 2);
  CompareRates r;
  for (const auto& [row, runs] : read_fixture(kFixture)) {
    compare_pairs(runs, Measure::kRps, 0.9, s, rng, r);
  }
  // α = 0.05 over 200 pairs a row: the share stays near 5 %; 7 % allows the resampling's spread.
  EXPECT_LE(r.fp_share(), 0.07) << r.false_positives << " of " << r.pairs;
}

}  // namespace
}  // namespace iolab::harness
