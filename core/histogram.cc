#include "core/histogram.h"

#include <algorithm>
#include <limits>

namespace iolab {
namespace {

constexpr int64_t kNoMin = std::numeric_limits<int64_t>::max();

void store_min(std::atomic<int64_t>& target, int64_t value) noexcept {
  int64_t seen = target.load(std::memory_order_relaxed);
  while (value < seen && !target.compare_exchange_weak(seen, value, std::memory_order_relaxed)) {
  }
}

void store_max(std::atomic<int64_t>& target, int64_t value) noexcept {
  int64_t seen = target.load(std::memory_order_relaxed);
  while (value > seen && !target.compare_exchange_weak(seen, value, std::memory_order_relaxed)) {
  }
}

}  // namespace

LatencyHistogram::LatencyHistogram()
    : counts_(std::make_unique<std::atomic<uint64_t>[]>(kBucketCount)), min_ns_(kNoMin) {}

LatencyHistogram::LatencyHistogram(const LatencyHistogram& other) : LatencyHistogram() {
  merge(other);
}

LatencyHistogram& LatencyHistogram::operator=(const LatencyHistogram& other) {
  if (this != &other) {
    if (!counts_) counts_ = std::make_unique<std::atomic<uint64_t>[]>(kBucketCount);
    reset();
    merge(other);
  }
  return *this;
}

bool LatencyHistogram::record_n(int64_t value_ns, uint64_t count) noexcept {
  if (value_ns < 0 || value_ns > kHighestTrackable) {
    out_of_range_.fetch_add(count, std::memory_order_relaxed);
    return false;
  }
  if (count == 0) return true;
  counts_[index_of(value_ns)].fetch_add(count, std::memory_order_relaxed);
  sum_ns_.fetch_add(value_ns * static_cast<int64_t>(count), std::memory_order_relaxed);
  store_min(min_ns_, value_ns);
  store_max(max_ns_, value_ns);
  total_.fetch_add(count, std::memory_order_relaxed);
  return true;
}

void LatencyHistogram::merge(const LatencyHistogram& other) noexcept {
  uint64_t added = 0;
  for (size_t i = 0; i < kBucketCount; ++i) {
    const uint64_t n = other.counts_[i].load(std::memory_order_relaxed);
    if (n == 0) continue;
    counts_[i].fetch_add(n, std::memory_order_relaxed);
    added += n;
  }
  if (added == 0) {
    out_of_range_.fetch_add(other.out_of_range(), std::memory_order_relaxed);
    return;
  }
  sum_ns_.fetch_add(other.sum_ns_.load(std::memory_order_relaxed), std::memory_order_relaxed);
  store_min(min_ns_, other.min_ns_.load(std::memory_order_relaxed));
  store_max(max_ns_, other.max_ns_.load(std::memory_order_relaxed));
  out_of_range_.fetch_add(other.out_of_range(), std::memory_order_relaxed);
  total_.fetch_add(added, std::memory_order_relaxed);
}

void LatencyHistogram::reset() noexcept {
  for (size_t i = 0; i < kBucketCount; ++i) counts_[i].store(0, std::memory_order_relaxed);
  total_.store(0, std::memory_order_relaxed);
  out_of_range_.store(0, std::memory_order_relaxed);
  sum_ns_.store(0, std::memory_order_relaxed);
  min_ns_.store(kNoMin, std::memory_order_relaxed);
  max_ns_.store(0, std::memory_order_relaxed);
}

std::chrono::nanoseconds LatencyHistogram::min() const noexcept {
  const int64_t v = min_ns_.load(std::memory_order_relaxed);
  return std::chrono::nanoseconds(v == kNoMin ? 0 : v);
}

std::chrono::nanoseconds LatencyHistogram::max() const noexcept {
  return std::chrono::nanoseconds(max_ns_.load(std::memory_order_relaxed));
}

std::chrono::nanoseconds LatencyHistogram::mean() const noexcept {
  const uint64_t n = count();
  if (n == 0) return std::chrono::nanoseconds(0);
  return std::chrono::nanoseconds(sum_ns_.load(std::memory_order_relaxed) /
                                  static_cast<int64_t>(n));
}

std::chrono::nanoseconds LatencyHistogram::percentile(double p) const noexcept {
  const uint64_t n = count();
  if (n == 0) return std::chrono::nanoseconds(0);
  const uint64_t rank = nearest_rank(p, n);
  uint64_t seen = 0;
  for (size_t i = 0; i < kBucketCount; ++i) {
    seen += counts_[i].load(std::memory_order_relaxed);
    if (seen >= rank) {
      const int64_t v = std::clamp(highest_of(i), min().count(), max().count());
      return std::chrono::nanoseconds(v);
    }
  }
  return max();
}

}  // namespace iolab
