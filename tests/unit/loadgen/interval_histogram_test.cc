#include "loadgen/interval_histogram.h"

#include <gtest/gtest.h>

#include <random>

namespace iolab {
namespace {

TEST(IntervalHistogramTest, ReadsBackWithinOnePartIn128) {
  IntervalHistogram h;
  std::mt19937_64 random(7);
  std::vector<int64_t> values;
  for (int i = 0; i < 10000; ++i) {
    values.push_back(static_cast<int64_t>(random() % 10'000'000'000ULL));
    h.record(values.back());
  }
  std::sort(values.begin(), values.end());
  for (const double p : {1.0, 50.0, 90.0, 99.0, 99.9, 100.0}) {
    const auto rank = static_cast<size_t>(std::ceil(p / 100.0 * values.size()));
    const int64_t exact = values[rank - 1];
    const int64_t read = h.percentile(p).count();
    EXPECT_GE(read, exact) << p;
    EXPECT_LE(read, exact + exact / 128 + 1) << p;
  }
  EXPECT_EQ(h.count(), 10000u);
}

TEST(IntervalHistogramTest, AddsAndResets) {
  IntervalHistogram a;
  IntervalHistogram b;
  a.record(100);
  b.record(1'000'000);
  b.record(-5);                // counts as 0
  b.record(int64_t{1} << 50);  // counts as the highest value
  a.add(b);
  EXPECT_EQ(a.count(), 4u);
  EXPECT_EQ(a.percentile(25).count(), 0);
  EXPECT_EQ(a.percentile(50).count(), 100);
  EXPECT_EQ(a.percentile(100).count(), IntervalHistogram::kHighest);
  a.reset();
  EXPECT_EQ(a.count(), 0u);
  EXPECT_EQ(a.percentile(50).count(), 0);
}

TEST(IntervalHistogramTest, BucketsTileTheRange) {
  for (size_t i = 1; i < IntervalHistogram::kBucketCount; ++i) {
    const int64_t low = IntervalHistogram::highest_of(i - 1) + 1;
    ASSERT_EQ(IntervalHistogram::index_of(low), i);
    ASSERT_EQ(IntervalHistogram::index_of(IntervalHistogram::highest_of(i)), i);
  }
  EXPECT_EQ(IntervalHistogram::highest_of(IntervalHistogram::kBucketCount - 1),
            IntervalHistogram::kHighest);
}

}  // namespace
}  // namespace iolab
