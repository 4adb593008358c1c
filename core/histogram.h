#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <memory>

#include "core/log_linear_buckets.h"

namespace iolab {

/// A log-linear latency histogram in the manner of HdrHistogram.
///
/// Values are nanoseconds from 0 to kHighestTrackable (about 73 minutes). Values below 2048 ns
/// are kept exactly; above, each power of two is split into 1024 equal buckets, so any value read
/// back (a percentile, min, max) is within 1/1024 (< 0.1 %) of a recorded sample. Memory is fixed
/// at construction (about 270 KiB) whatever is recorded.
///
/// Thread safety: record() may be called from any number of threads at once; it is lock-free,
/// never allocates and never throws. Readers (count(), percentile(), merge() as source) may run
/// concurrently with writers and see a slightly stale but consistent-enough view; for an exact
/// view, read after the writers have stopped.
class LatencyHistogram {
 public:
  /// 1024 buckets per power of two, up to 2^42 ns.
  using Buckets = LogLinearBuckets<10, 42>;
  static constexpr int kSubBucketHalfBits = Buckets::kSubBucketHalfBits;
  static constexpr int64_t kSubBucketHalf = Buckets::kSubBucketHalf;    // 1024
  static constexpr int64_t kSubBucketCount = Buckets::kSubBucketCount;  // 2048
  static constexpr int kMaxMagnitude = Buckets::kMaxMagnitude;
  /// The largest value record() accepts, in nanoseconds (2^42 - 1 ns, about 73 min).
  static constexpr int64_t kHighestTrackable = Buckets::kHighest;
  static constexpr size_t kBucketCount = Buckets::kBucketCount;

  LatencyHistogram();
  // Copies only: a moved-from histogram with no buckets would crash its next record(). (The
  // atomics made a defaulted move deleted anyway; clang said so.)
  LatencyHistogram(const LatencyHistogram& other);
  LatencyHistogram& operator=(const LatencyHistogram& other);
  ~LatencyHistogram() = default;

  /// Records one value. Returns false (and counts it in out_of_range()) for a negative value or
  /// one above kHighestTrackable. Lock-free, allocation-free, noexcept.
  bool record(std::chrono::nanoseconds value) noexcept { return record_n(value.count(), 1); }

  /// Records `count` occurrences of `value_ns`. Same guarantees as record().
  bool record_n(int64_t value_ns, uint64_t count) noexcept;

  /// Adds every count of `other` into this histogram. Safe while others record into either.
  void merge(const LatencyHistogram& other) noexcept;

  /// Forgets everything recorded. Not safe concurrently with record().
  void reset() noexcept;

  uint64_t count() const noexcept { return total_.load(std::memory_order_relaxed); }
  uint64_t out_of_range() const noexcept { return out_of_range_.load(std::memory_order_relaxed); }
  /// Smallest and largest recorded value (exact); zero when empty.
  std::chrono::nanoseconds min() const noexcept;
  std::chrono::nanoseconds max() const noexcept;
  /// Exact arithmetic mean of the recorded values; zero when empty.
  std::chrono::nanoseconds mean() const noexcept;
  /// The value at percentile `p` in [0, 100] (nearest rank): the highest value equivalent to the
  /// bucket holding that rank, clamped to [min, max]. Zero when empty.
  std::chrono::nanoseconds percentile(double p) const noexcept;

  /// Calls fn(lowest_ns, highest_ns, count) for every non-empty bucket in increasing order.
  template <typename Fn>
  void for_each_bucket(Fn&& fn) const {
    for (size_t i = 0; i < kBucketCount; ++i) {
      const uint64_t n = counts_[i].load(std::memory_order_relaxed);
      if (n != 0) fn(lowest_of(i), highest_of(i), n);
    }
  }

  /// Bucket index of a value in [0, kHighestTrackable].
  static size_t index_of(int64_t value_ns) noexcept { return Buckets::index_of(value_ns); }
  /// Lowest and highest value that map to bucket `index`.
  static int64_t lowest_of(size_t index) noexcept { return Buckets::lowest_of(index); }
  static int64_t highest_of(size_t index) noexcept { return Buckets::highest_of(index); }

 private:
  std::unique_ptr<std::atomic<uint64_t>[]> counts_;
  std::atomic<uint64_t> total_{0};
  std::atomic<uint64_t> out_of_range_{0};
  std::atomic<int64_t> sum_ns_{0};
  std::atomic<int64_t> min_ns_;
  std::atomic<int64_t> max_ns_{0};
};

}  // namespace iolab
