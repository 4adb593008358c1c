#pragma once

#include <algorithm>
#include <array>
#include <chrono>
#include <cstdint>

#include "core/log_linear_buckets.h"

namespace iolab {

/// A small log-linear histogram for one second of the timeline: 128 buckets per power of two
/// (any value read back is within 1/128 of a recorded one), 0 to 2^42 ns, 18 KiB of plain
/// counters. Small enough that every load thread keeps a few, and that resetting one each second
/// costs nothing; LatencyHistogram (270 KiB, 0.1 %) stays the histogram of record.
///
/// Thread safety: none. One writer at a time; the engine hands it between threads through an
/// acquire/release flag.
class IntervalHistogram {
 public:
  /// 128 buckets per power of two, up to 2^42 ns.
  using Buckets = LogLinearBuckets<7, 42>;
  static constexpr int64_t kHighest = Buckets::kHighest;
  static constexpr size_t kBucketCount = Buckets::kBucketCount;

  /// Records one value; negative values count as 0, values above kHighest as kHighest.
  void record(int64_t value_ns) noexcept {
    const int64_t v = std::clamp<int64_t>(value_ns, 0, kHighest);
    ++counts_[index_of(v)];
    ++total_;
  }

  /// Adds every count of `other`.
  void add(const IntervalHistogram& other) noexcept {
    if (other.total_ == 0) return;
    for (size_t i = 0; i < kBucketCount; ++i) counts_[i] += other.counts_[i];
    total_ += other.total_;
  }

  void reset() noexcept {
    if (total_ == 0) return;
    counts_.fill(0);
    total_ = 0;
  }

  uint64_t count() const noexcept { return total_; }

  /// The highest value equivalent to the bucket holding percentile `p` (nearest rank); zero when
  /// empty.
  std::chrono::nanoseconds percentile(double p) const noexcept {
    if (total_ == 0) return std::chrono::nanoseconds(0);
    const uint64_t rank = nearest_rank(p, total_);
    uint64_t seen = 0;
    for (size_t i = 0; i < kBucketCount; ++i) {
      seen += counts_[i];
      if (seen >= rank) return std::chrono::nanoseconds(highest_of(i));
    }
    return std::chrono::nanoseconds(kHighest);
  }

  static size_t index_of(int64_t value_ns) noexcept { return Buckets::index_of(value_ns); }
  static int64_t highest_of(size_t index) noexcept { return Buckets::highest_of(index); }

 private:
  std::array<uint32_t, kBucketCount> counts_{};
  uint64_t total_ = 0;
};

}  // namespace iolab
