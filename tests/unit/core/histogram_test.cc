#include "core/histogram.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <random>
#include <thread>
#include <vector>

namespace iolab {
namespace {

using std::chrono::nanoseconds;

constexpr double kRelativeError = 0.001;  // the promise: within 0.1 %

// Nearest-rank percentile of sorted samples: the definition the histogram follows.
int64_t exact_percentile(const std::vector<int64_t>& sorted, double p) {
  const auto n = static_cast<double>(sorted.size());
  const auto rank = std::max<size_t>(1, static_cast<size_t>(std::ceil(p / 100.0 * n - 1e-9)));
  return sorted[rank - 1];
}

void expect_percentiles_match(std::vector<int64_t> samples) {
  LatencyHistogram h;
  for (int64_t v : samples) ASSERT_TRUE(h.record(nanoseconds(v)));
  std::sort(samples.begin(), samples.end());
  for (double p : {0.0, 1.0, 10.0, 25.0, 50.0, 75.0, 90.0, 99.0, 99.9, 99.99, 100.0}) {
    const auto exact = static_cast<double>(exact_percentile(samples, p));
    const auto got = static_cast<double>(h.percentile(p).count());
    EXPECT_LE(std::abs(got - exact), exact * kRelativeError) << "p" << p;
  }
  EXPECT_EQ(h.count(), samples.size());
  EXPECT_EQ(h.min().count(), samples.front());
  EXPECT_EQ(h.max().count(), samples.back());
  long double sum = 0;
  for (int64_t v : samples) sum += v;
  const auto mean = static_cast<double>(sum / samples.size());
  EXPECT_NEAR(static_cast<double>(h.mean().count()), mean, 1.0);
}

TEST(LatencyHistogramTest, MatchesExactPercentilesOfUniformSamples) {
  std::mt19937_64 rng(1);
  std::uniform_int_distribution<int64_t> dist(1'000, 10'000'000'000);  // 1 us .. 10 s
  std::vector<int64_t> samples(200'000);
  for (auto& s : samples) s = dist(rng);
  expect_percentiles_match(std::move(samples));
}

TEST(LatencyHistogramTest, MatchesExactPercentilesOfExponentialSamples) {
  std::mt19937_64 rng(2);
  std::exponential_distribution<double> dist(1.0 / 100e6);  // mean 100 ms
  std::vector<int64_t> samples(200'000);
  for (auto& s : samples) s = 1'000 + static_cast<int64_t>(dist(rng));
  expect_percentiles_match(std::move(samples));
}

TEST(LatencyHistogramTest, MatchesExactPercentilesOfASpike) {
  // 99 % at 100 ms, 1 % stalled at 1 s: p99 must stay on the base, p99.9 must show the stall.
  std::vector<int64_t> samples;
  std::mt19937_64 rng(3);
  std::normal_distribution<double> base(100e6, 1e6);
  for (int i = 0; i < 99'000; ++i) samples.push_back(static_cast<int64_t>(base(rng)));
  for (int i = 0; i < 1'000; ++i) samples.push_back(1'000'000'000 + i);
  expect_percentiles_match(samples);
  LatencyHistogram h;
  for (int64_t v : samples) h.record(nanoseconds(v));
  EXPECT_LT(h.percentile(99).count(), 200'000'000);
  EXPECT_GE(h.percentile(99.9).count(), 999'000'000);
}

TEST(LatencyHistogramTest, KeepsOneMicrosecondToOneHourWithinTheBound) {
  for (int64_t v = 1'000; v <= int64_t{3'600} * 1'000'000'000; v = v * 3 + 7) {
    LatencyHistogram h;
    ASSERT_TRUE(h.record(nanoseconds(v)));
    const size_t i = LatencyHistogram::index_of(v);
    EXPECT_LE(LatencyHistogram::lowest_of(i), v);
    EXPECT_GE(LatencyHistogram::highest_of(i), v);
    EXPECT_LE(static_cast<double>(LatencyHistogram::highest_of(i) - LatencyHistogram::lowest_of(i)),
              static_cast<double>(v) * kRelativeError);
  }
}

TEST(LatencyHistogramTest, RejectsValuesOutOfRange) {
  LatencyHistogram h;
  EXPECT_FALSE(h.record(nanoseconds(-1)));
  EXPECT_FALSE(h.record(nanoseconds(LatencyHistogram::kHighestTrackable + 1)));
  EXPECT_TRUE(h.record(nanoseconds(LatencyHistogram::kHighestTrackable)));
  EXPECT_EQ(h.count(), 1u);
  EXPECT_EQ(h.out_of_range(), 2u);
}

TEST(LatencyHistogramTest, IsEmptyAfterReset) {
  LatencyHistogram h;
  h.record(nanoseconds(5'000));
  h.reset();
  EXPECT_EQ(h.count(), 0u);
  EXPECT_EQ(h.percentile(50).count(), 0);
  EXPECT_EQ(h.min().count(), 0);
  EXPECT_EQ(h.max().count(), 0);
}

TEST(LatencyHistogramTest, MergeEqualsRecordingEverythingInOne) {
  std::mt19937_64 rng(4);
  std::uniform_int_distribution<int64_t> dist(1'000, 5'000'000'000);
  LatencyHistogram a;
  LatencyHistogram b;
  LatencyHistogram all;
  for (int i = 0; i < 50'000; ++i) {
    const auto v = nanoseconds(dist(rng));
    (i % 3 == 0 ? a : b).record(v);
    all.record(v);
  }
  LatencyHistogram merged;
  merged.merge(a);
  merged.merge(b);
  EXPECT_EQ(merged.count(), all.count());
  EXPECT_EQ(merged.min(), all.min());
  EXPECT_EQ(merged.max(), all.max());
  EXPECT_EQ(merged.mean(), all.mean());
  for (double p : {1.0, 50.0, 99.0, 99.9}) EXPECT_EQ(merged.percentile(p), all.percentile(p));
  const LatencyHistogram copy = merged;
  EXPECT_EQ(copy.percentile(99), all.percentile(99));
}

TEST(LatencyHistogramTest, RecordsFromManyThreadsWithoutLosingCounts) {
  LatencyHistogram h;
  constexpr int kThreads = 4;
  constexpr int kPerThread = 200'000;
  {
    std::vector<std::jthread> threads;
    for (int t = 0; t < kThreads; ++t) {
      threads.emplace_back([&h, t] {
        for (int i = 0; i < kPerThread; ++i) h.record(nanoseconds(1'000 + (i % 1000) * 1'000 + t));
      });
    }
  }
  EXPECT_EQ(h.count(), static_cast<uint64_t>(kThreads) * kPerThread);
  EXPECT_EQ(h.min().count(), 1'000);
  EXPECT_EQ(h.max().count(), 1'000 + 999 * 1'000 + kThreads - 1);
}

}  // namespace
}  // namespace iolab
