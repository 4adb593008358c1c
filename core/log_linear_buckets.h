#pragma once

#include <algorithm>
#include <bit>
#include <cmath>
#include <cstddef>
#include <cstdint>

namespace iolab {

/// The bucket arithmetic of a log-linear histogram in the manner of HdrHistogram, shared by
/// LatencyHistogram (the histogram of record) and IntervalHistogram (the timeline's seconds).
///
/// Values run from 0 to kHighest = 2^MaxMagnitude - 1. Values below kSubBucketCount =
/// 2^(SubBucketHalfBits + 1) have a bucket each; above, each power of two [2^m, 2^(m+1)) is split
/// into kSubBucketHalf equal buckets, so a bucket is never wider than 1/kSubBucketHalf of the
/// values it holds. The buckets tile the range: bucket i + 1 starts where bucket i ends.
///
/// Pure arithmetic: no state, constexpr, noexcept, branch-light; any thread.
template <int SubBucketHalfBits, int MaxMagnitude>
struct LogLinearBuckets {
  static_assert(SubBucketHalfBits >= 1 && MaxMagnitude > SubBucketHalfBits + 1 &&
                MaxMagnitude <= 62);

  static constexpr int kSubBucketHalfBits = SubBucketHalfBits;
  static constexpr int64_t kSubBucketHalf = int64_t{1} << kSubBucketHalfBits;
  static constexpr int64_t kSubBucketCount = kSubBucketHalf * 2;
  static constexpr int kMaxMagnitude = MaxMagnitude;
  /// The largest value that has a bucket.
  static constexpr int64_t kHighest = (int64_t{1} << kMaxMagnitude) - 1;
  static constexpr size_t kBucketCount = static_cast<size_t>(
      kSubBucketCount + (kMaxMagnitude - kSubBucketHalfBits - 1) * kSubBucketHalf);

  /// Bucket index of a value in [0, kHighest]. Callers reject or clamp other values first: the
  /// hot paths that call this have already checked the range once.
  static constexpr size_t index_of(int64_t value) noexcept {
    if (value < kSubBucketCount) return static_cast<size_t>(value);
    const int magnitude = std::bit_width(static_cast<uint64_t>(value)) - 1;  // > SubBucketHalfBits
    const int64_t sub = value >> (magnitude - kSubBucketHalfBits);           // In [half, 2 * half).
    return static_cast<size_t>(kSubBucketCount +
                               (magnitude - kSubBucketHalfBits - 1) * kSubBucketHalf +
                               (sub - kSubBucketHalf));
  }

  /// Lowest value that maps to bucket `index` (< kBucketCount).
  static constexpr int64_t lowest_of(size_t index) noexcept {
    const auto i = static_cast<int64_t>(index);
    if (i < kSubBucketCount) return i;
    const int64_t sub = kSubBucketHalf + (i - kSubBucketCount) % kSubBucketHalf;
    return sub << shift_of(i);
  }

  /// Highest value that maps to bucket `index` (< kBucketCount).
  static constexpr int64_t highest_of(size_t index) noexcept {
    const auto i = static_cast<int64_t>(index);
    if (i < kSubBucketCount) return i;
    return lowest_of(index) + (int64_t{1} << shift_of(i)) - 1;
  }

 private:
  // log2 of the width of bucket i >= kSubBucketCount.
  static constexpr int64_t shift_of(int64_t i) noexcept {
    const int64_t magnitude = kSubBucketHalfBits + 1 + (i - kSubBucketCount) / kSubBucketHalf;
    return magnitude - kSubBucketHalfBits;
  }
};

/// The nearest rank (1-based) of percentile `p` among `total` values, `p` clamped to [0, 100];
/// at least 1, so percentile 0 reads the smallest value. `total` must not be zero.
inline uint64_t nearest_rank(double p, uint64_t total) noexcept {
  p = std::clamp(p, 0.0, 100.0);
  // The epsilon keeps a product that is whole but for rounding error from reading a rank too far.
  return std::max<uint64_t>(
      1, static_cast<uint64_t>(std::ceil(p / 100.0 * static_cast<double>(total) - 1e-9)));
}

}  // namespace iolab
