#include "core/log_linear_buckets.h"

#include <gtest/gtest.h>

#include <cstdint>

namespace iolab {
namespace {

// A scheme small enough to walk every value of: 4 buckets per power of two, up to 2^10 - 1.
using Small = LogLinearBuckets<2, 10>;

TEST(LogLinearBucketsTest, KeepsSmallValuesExactly) {
  for (int64_t v = 0; v < Small::kSubBucketCount; ++v) {
    EXPECT_EQ(Small::index_of(v), static_cast<size_t>(v));
    EXPECT_EQ(Small::lowest_of(Small::index_of(v)), v);
    EXPECT_EQ(Small::highest_of(Small::index_of(v)), v);
  }
}

TEST(LogLinearBucketsTest, PutsEveryValueInTheBucketThatHoldsIt) {
  for (int64_t v = 0; v <= Small::kHighest; ++v) {
    const size_t i = Small::index_of(v);
    ASSERT_LT(i, Small::kBucketCount) << v;
    EXPECT_LE(Small::lowest_of(i), v);
    EXPECT_GE(Small::highest_of(i), v);
    // No bucket is wider than 1/kSubBucketHalf of the values it holds.
    EXPECT_LE((Small::highest_of(i) - Small::lowest_of(i)) * Small::kSubBucketHalf, v);
  }
  EXPECT_EQ(Small::index_of(Small::kHighest), Small::kBucketCount - 1);
}

template <typename Buckets>
void expect_tiles_the_range() {
  EXPECT_EQ(Buckets::lowest_of(0), 0);
  for (size_t i = 1; i < Buckets::kBucketCount; ++i) {
    ASSERT_EQ(Buckets::lowest_of(i), Buckets::highest_of(i - 1) + 1) << i;
    ASSERT_EQ(Buckets::index_of(Buckets::lowest_of(i)), i);
    ASSERT_EQ(Buckets::index_of(Buckets::highest_of(i)), i);
  }
  EXPECT_EQ(Buckets::highest_of(Buckets::kBucketCount - 1), Buckets::kHighest);
}

TEST(LogLinearBucketsTest, TilesTheRangeOfEachSchemeInUse) {
  expect_tiles_the_range<Small>();
  expect_tiles_the_range<LogLinearBuckets<7, 42>>();   // IntervalHistogram
  expect_tiles_the_range<LogLinearBuckets<10, 42>>();  // LatencyHistogram
}

TEST(LogLinearBucketsTest, KeepsTheBucketCountsOfBothHistograms) {
  // Recorded results (result JSON) name buckets by these; they must not move.
  static_assert(LogLinearBuckets<10, 42>::kBucketCount == 33'792);
  static_assert(LogLinearBuckets<7, 42>::kBucketCount == 4'608);
  // 1 ms lies in [2^19, 2^20), split into buckets of 2^9 ns: after the 2048 exact buckets and
  // 8 powers of 1024, it is the 929th (1'000'000 >> 9 = 1953 = 1024 + 929).
  EXPECT_EQ((LogLinearBuckets<10, 42>::index_of(1'000'000)), 11'169u);
  EXPECT_EQ((LogLinearBuckets<10, 42>::lowest_of(11'169)), 1953 * 512);
}

TEST(LogLinearBucketsTest, ReadsTheNearestRank) {
  EXPECT_EQ(nearest_rank(0, 10), 1u);
  EXPECT_EQ(nearest_rank(50, 10), 5u);
  EXPECT_EQ(nearest_rank(51, 10), 6u);
  EXPECT_EQ(nearest_rank(99.9, 1000), 999u);
  EXPECT_EQ(nearest_rank(100, 10), 10u);
  EXPECT_EQ(nearest_rank(250, 10), 10u);
  EXPECT_EQ(nearest_rank(-5, 10), 1u);
}

}  // namespace
}  // namespace iolab
