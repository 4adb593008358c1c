#include "store/regression.h"

#include <gtest/gtest.h>

#include <vector>

namespace iolab {
namespace {

std::vector<NightMeasure> nights(const std::vector<double>& rps, double p99_s = 0.1) {
  std::vector<NightMeasure> out;
  for (const double r : rps) out.push_back({r, p99_s});
  return out;
}

TEST(MedianTest, TakesTheMiddleOrTheMeanOfTheMiddleTwo) {
  EXPECT_EQ(median({}), 0);
  EXPECT_EQ(median({3}), 3);
  EXPECT_EQ(median({5, 1, 3}), 3);
  EXPECT_EQ(median({4, 1, 3, 2}), 2.5);
}

TEST(RegressionTest, WithoutHistoryNothingIsJudged) {
  const auto v = judge_night({}, {10, 10}, RegressionPolicy{});
  EXPECT_FALSE(v.judged);
  EXPECT_EQ(v.history, 0u);
  EXPECT_FALSE(v.regressed());
}

TEST(RegressionTest, AShortHistoryIsNotJudgedEvenOnAHugeDrop) {
  const auto v = judge_night(nights({1000, 1000}), {10, 5.0}, RegressionPolicy{});
  EXPECT_FALSE(v.judged);
  EXPECT_EQ(v.history, 2u);
  EXPECT_FALSE(v.regressed());
}

TEST(RegressionTest, NoiseWithinTheThresholdsIsNotARegression) {
  const RegressionPolicy policy;  // 10 % each way
  const auto history = nights({1000, 960, 1040, 990, 1010, 1030, 970}, 0.100);
  const auto v = judge_night(history, {920, 0.108}, policy);
  EXPECT_TRUE(v.judged);
  EXPECT_EQ(v.median_rps, 1000);
  EXPECT_DOUBLE_EQ(v.median_p99_s, 0.100);
  EXPECT_FALSE(v.throughput);
  EXPECT_FALSE(v.p99);
}

TEST(RegressionTest, ARealThroughputDropIsFlagged) {
  const auto v = judge_night(nights({1000, 1000, 1000}), {850, 0.1}, RegressionPolicy{});
  EXPECT_TRUE(v.throughput);
  EXPECT_FALSE(v.p99);
}

TEST(RegressionTest, ARealP99RiseIsFlagged) {
  const auto v = judge_night(nights({1000, 1000, 1000}, 0.100), {1000, 0.125}, RegressionPolicy{});
  EXPECT_FALSE(v.throughput);
  EXPECT_TRUE(v.p99);
}

TEST(RegressionTest, OnlyTheLastKNightsCount) {
  RegressionPolicy policy;
  policy.nights = 3;
  // Old nights were much faster; the last three set the median.
  const auto v = judge_night(nights({5000, 5000, 5000, 900, 1000, 1100}), {950, 0.1}, policy);
  EXPECT_EQ(v.history, 3u);
  EXPECT_EQ(v.median_rps, 1000);
  EXPECT_FALSE(v.throughput);
}

TEST(RegressionTest, OneOutlierNightDoesNotMoveTheMedian) {
  const auto v = judge_night(nights({1000, 1000, 10, 1000, 1000}), {950, 0.1}, RegressionPolicy{});
  EXPECT_EQ(v.median_rps, 1000);
  EXPECT_FALSE(v.regressed());
}

TEST(RegressionTest, ThresholdsComeFromThePolicy) {
  RegressionPolicy policy;
  policy.throughput_drop = 0.5;
  policy.p99_rise = 1.0;
  const auto v = judge_night(nights({1000, 1000, 1000}, 0.1), {600, 0.19}, policy);
  EXPECT_FALSE(v.regressed());
  EXPECT_TRUE(judge_night(nights({1000, 1000, 1000}, 0.1), {400, 0.21}, policy).throughput);
  EXPECT_TRUE(judge_night(nights({1000, 1000, 1000}, 0.1), {400, 0.21}, policy).p99);
}

NightResult night(const std::string& scenario, const std::string& variant, double rps,
                  int64_t run_id) {
  NightResult n;
  n.scenario = scenario;
  n.variant = variant;
  n.run_id = run_id;
  n.measure = {rps, 0.1};
  return n;
}

TEST(RegressionTest, HistoryIsKeptPerScenarioAndVariant) {
  std::vector<NightResult> all;
  int64_t id = 1;
  for (int i = 0; i < 3; ++i) {
    all.push_back(night("seed", "async", 1000, id++));
    all.push_back(night("seed", "threads:100", 500, id++));
    all.push_back(night("plaintext", "async", 50000, id++));
  }
  all.push_back(night("seed", "async", 700, id++));        // dropped 30 %
  all.push_back(night("seed", "threads:100", 490, id++));  // noise
  all.push_back(night("plaintext", "async", 51000, id++));

  const auto judged = judge_history(all);
  ASSERT_EQ(judged.size(), all.size());
  for (size_t i = 0; i < 9; ++i) EXPECT_FALSE(judged[i].verdict.regressed()) << i;
  const auto flags = current_regressions(judged);
  ASSERT_EQ(flags.size(), 1u);
  EXPECT_EQ(flags[0].scenario, "seed");
  EXPECT_EQ(flags[0].variant, "async");
  EXPECT_EQ(flags[0].measure, "throughput");
  EXPECT_EQ(flags[0].value, 700);
  EXPECT_EQ(flags[0].median, 1000);
  EXPECT_EQ(flags[0].run_id, 10);
}

TEST(RegressionTest, ARecoveredNightClearsTheCurrentFlag) {
  std::vector<NightResult> all;
  for (int i = 0; i < 3; ++i) all.push_back(night("seed", "async", 1000, i + 1));
  all.push_back(night("seed", "async", 500, 4));
  EXPECT_EQ(current_regressions(judge_history(all)).size(), 1u);
  all.push_back(night("seed", "async", 1000, 5));
  EXPECT_TRUE(current_regressions(judge_history(all)).empty());
}

TEST(RegressionTest, AFlagReadsAsOneLine) {
  EXPECT_EQ(describe({"seed", "async", "throughput", 812, 1020, 42}),
            "REGRESSION seed async throughput: 812.0 req/s against a median of 1020.0 req/s "
            "(run 42)");
  EXPECT_EQ(describe({"seed", "threads:100", "p99", 0.25, 0.1, 7}),
            "REGRESSION seed threads:100 p99: 250.000 ms against a median of 100.000 ms (run 7)");
}

}  // namespace
}  // namespace iolab
