// The nightly judgement: change points over a scenario's nights, not "10 % below the
// median of 7 nights". The cases of the old rule keep their intent: noise is not a regression,
// a real drop or rise is, one wild night is not, histories are kept apart, a recovery clears
// the flag, the policy sets the thresholds. What changed: a change is declared once a second
// night confirms it (a single latest night might revert), and a p99 from few answers is
// "insufficient", never a regression.
#include "store/regression.h"

#include <gtest/gtest.h>

#include <cstdint>
#include <vector>

namespace iolab {
namespace {

// ±3 % of deterministic noise around `level` (a fixed linear congruential sequence).
std::vector<double> noisy(double level, size_t n, uint32_t seed = 7) {
  std::vector<double> out;
  uint32_t x = seed;
  for (size_t i = 0; i < n; ++i) {
    x = x * 1664525u + 1013904223u;
    const double u = static_cast<double>(x >> 8) / static_cast<double>(1u << 24);  // [0, 1)
    out.push_back(level * (1 + 0.06 * (u - 0.5)));
  }
  return out;
}

NightResult night(const std::string& scenario, const std::string& variant, double rps,
                  double p99_s, int64_t run_id, uint64_t answers = 100000) {
  NightResult n;
  n.scenario = scenario;
  n.variant = variant;
  n.run_id = run_id;
  n.measure = {rps, p99_s, answers, 1};
  return n;
}

std::vector<NightResult> series(const std::vector<double>& rps, const std::vector<double>& p99_s,
                                uint64_t answers = 100000) {
  std::vector<NightResult> out;
  for (size_t i = 0; i < rps.size(); ++i) {
    out.push_back(night("seed", "async", rps[i], p99_s[i], static_cast<int64_t>(i + 1), answers));
  }
  return out;
}

std::vector<double> operator+(std::vector<double> a, const std::vector<double>& b) {
  a.insert(a.end(), b.begin(), b.end());
  return a;
}

TEST(MedianTest, TakesTheMiddleOrTheMeanOfTheMiddleTwo) {
  EXPECT_EQ(median({}), 0);
  EXPECT_EQ(median({3}), 3);
  EXPECT_EQ(median({5, 1, 3}), 3);
  EXPECT_EQ(median({4, 1, 3, 2}), 2.5);
}

TEST(RegressionTest, WithoutHistoryNothingIsJudged) {
  const auto judged = judge_history(series({10}, {10}));
  ASSERT_EQ(judged.size(), 1u);
  EXPECT_FALSE(judged[0].verdict.throughput.judged);
  EXPECT_FALSE(judged[0].verdict.regressed());
}

TEST(RegressionTest, AShortHistoryIsNotJudgedEvenOnAHugeDrop) {
  const auto judged = judge_history(series({1000, 10}, {0.1, 5.0}));
  EXPECT_FALSE(judged[1].verdict.throughput.judged);
  EXPECT_FALSE(judged[1].verdict.regressed());
}

TEST(RegressionTest, NoiseIsNotARegression) {
  const auto judged = judge_history(series(noisy(1000, 40), noisy(0.1, 40, 11)));
  for (const auto& j : judged) {
    EXPECT_FALSE(j.verdict.regressed()) << j.night.run_id;
    EXPECT_FALSE(j.verdict.throughput.change) << j.night.run_id;
    EXPECT_FALSE(j.verdict.p99.change) << j.night.run_id;
  }
  EXPECT_TRUE(judged.back().verdict.throughput.judged);
  EXPECT_NEAR(judged.back().verdict.throughput.level, 1000, 20);
}

TEST(RegressionTest, ARealThroughputDropIsFlaggedOnceASecondNightConfirmsIt) {
  const auto rps = noisy(1000, 10) + noisy(850, 2, 3);
  const auto judged = judge_history(series(rps, noisy(0.1, 12, 5)));
  // The first low night alone might be an outlier that reverts; the second confirms it.
  EXPECT_FALSE(judged[10].verdict.regressed());
  EXPECT_TRUE(judged[11].verdict.throughput.regressed);
  EXPECT_FALSE(judged[11].verdict.p99.regressed);
  const auto& alert = *judged[11].verdict.throughput.alert;
  EXPECT_EQ(alert.run_id, 11);
  EXPECT_NEAR(alert.change.relative_change, -0.15, 0.03);
  EXPECT_LE(alert.change.p, 0.001);
  // In hindsight the change begins at the first low night.
  EXPECT_TRUE(judged[10].verdict.throughput.change);
}

TEST(RegressionTest, ARealP99RiseIsFlagged) {
  const auto judged = judge_history(series(noisy(1000, 12), noisy(0.1, 10) + noisy(0.125, 2)));
  EXPECT_FALSE(judged[11].verdict.throughput.regressed);
  EXPECT_TRUE(judged[11].verdict.p99.regressed);
}

TEST(RegressionTest, AP99FromTooFewAnswersIsInsufficientNeverARegression) {
  const auto judged = judge_history(series(noisy(1000, 12), noisy(0.1, 10) + noisy(1.0, 2), 9999));
  for (const auto& j : judged) {
    EXPECT_TRUE(j.verdict.p99.insufficient);
    EXPECT_FALSE(j.verdict.p99.judged);
    EXPECT_FALSE(j.verdict.p99.regressed);
  }
}

TEST(RegressionTest, ASingleNightThatRevertsIsAnOutlier) {
  auto rps = noisy(1000, 16);
  rps[8] = 10;
  const auto judged = judge_history(series(rps, noisy(0.1, 16)));
  for (const auto& j : judged) {
    EXPECT_FALSE(j.verdict.regressed()) << j.night.run_id;
    EXPECT_FALSE(j.verdict.throughput.change) << j.night.run_id;
  }
}

TEST(RegressionTest, HistoryIsKeptPerScenarioAndVariant) {
  std::vector<NightResult> all;
  int64_t id = 1;
  const auto quiet = noisy(1, 8);
  for (size_t i = 0; i < 8; ++i) {
    all.push_back(night("seed", "async", 1000 * quiet[i], 0.1, id++));
    all.push_back(night("seed", "threads:100", 500 * quiet[i], 0.1, id++));
    all.push_back(night("plaintext", "async", 50000 * quiet[i], 0.001, id++));
  }
  for (int i = 0; i < 2; ++i) {
    all.push_back(night("seed", "async", 700 + i, 0.1, id++));  // dropped 30 %
    all.push_back(night("seed", "threads:100", 500 * quiet[i], 0.1, id++));
    all.push_back(night("plaintext", "async", 50000 * quiet[i + 1], 0.001, id++));
  }
  const auto judged = judge_history(all);
  ASSERT_EQ(judged.size(), all.size());
  for (size_t i = 0; i < 24; ++i) EXPECT_FALSE(judged[i].verdict.regressed()) << i;
  const auto flags = current_regressions(judged);
  ASSERT_EQ(flags.size(), 1u);
  EXPECT_EQ(flags[0].scenario, "seed");
  EXPECT_EQ(flags[0].variant, "async");
  EXPECT_EQ(flags[0].measure, "throughput");
  EXPECT_NEAR(flags[0].value, 700.5, 1e-9);
  EXPECT_NEAR(flags[0].before, 1000, 20);
  EXPECT_EQ(flags[0].run_id, 28);
  EXPECT_EQ(flags[0].since_run_id, 25);
}

TEST(RegressionTest, ARecoveryClearsTheCurrentFlag) {
  auto rps = noisy(1000, 10) + noisy(500, 2);
  EXPECT_EQ(current_regressions(judge_history(series(rps, noisy(0.1, 12)))).size(), 1u);
  rps = rps + noisy(1000, 2, 9);
  EXPECT_TRUE(current_regressions(judge_history(series(rps, noisy(0.1, 14)))).empty());
}

TEST(RegressionTest, AnOldChangeIsTheNewNormalAfterAlertNights) {
  RegressionPolicy policy;
  policy.alert_nights = 3;
  auto nights = series(noisy(1000, 10) + noisy(500, 4, 3), noisy(0.1, 14));
  for (auto& n : nights) n.policy = policy;
  auto judged = judge_history(nights);
  EXPECT_TRUE(judged[11].verdict.throughput.regressed);
  EXPECT_TRUE(judged[12].verdict.throughput.regressed);
  EXPECT_FALSE(judged[13].verdict.throughput.regressed);
}

TEST(RegressionTest, ThresholdsComeFromThePolicy) {
  RegressionPolicy policy;
  policy.throughput_drop = 0.5;
  policy.p99_rise = 1.0;
  auto nights = series(noisy(1000, 10) + noisy(600, 2), noisy(0.1, 10) + noisy(0.19, 2));
  for (auto& n : nights) n.policy = policy;
  EXPECT_FALSE(judge_history(nights).back().verdict.regressed());
  nights = series(noisy(1000, 10) + noisy(400, 2), noisy(0.1, 10) + noisy(0.21, 2));
  for (auto& n : nights) n.policy = policy;
  const auto v = judge_history(nights).back().verdict;
  EXPECT_TRUE(v.throughput.regressed);
  EXPECT_TRUE(v.p99.regressed);
}

TEST(RegressionTest, AFlagReadsAsOneLine) {
  EXPECT_EQ(describe({"seed", "async", "throughput", 812, 1020, 812.0 / 1020 - 1, 2.1e-5, 42, 40}),
            "REGRESSION seed async throughput: 812.0 req/s against 1020.0 req/s before (-20.4 %, "
            "p = 2.1e-05, since run 40; run 42)");
  EXPECT_EQ(describe({"seed", "threads:100", "p99", 0.25, 0.1, 1.5, 3e-4, 7, 6}),
            "REGRESSION seed threads:100 p99: 250.000 ms against 100.000 ms before (+150.0 %, "
            "p = 0.0003, since run 6; run 7)");
}

}  // namespace
}  // namespace iolab
