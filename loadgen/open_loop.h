#pragma once

// Engine internals, not part of the API: the open loop's schedule (a request every
// 1 / rate seconds over all connections, connection i taking slots i, i + N, i + 2N, ...), the
// queue of connections waiting for their next slot, and how late requests leave against it.

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <vector>

#include "loadgen/run_context.h"

namespace iolab::loadgen {

// One worker's share of the schedule. Built on the caller's thread (allocates); the worker's
// calls neither allocate nor throw. Owned and used by one worker thread.
class OpenLoopSchedule {
 public:
  /// Room for `connections` queued at once, in open loop; nothing in closed loop.
  OpenLoopSchedule(const RunContext& context, size_t connections) : context_(context) {
    if (context_.open_loop) queue_.reserve(connections);
  }

  /// When the request of schedule slot `slot` of connection `index` (among all connections of
  /// the run) is due.
  Clock::time_point slot_time(uint64_t index, uint64_t slot) const noexcept {
    const double offset_ns =
        static_cast<double>(index + slot * context_.connections) * context_.ns_per_request;
    return context_.start + std::chrono::nanoseconds(static_cast<int64_t>(offset_ns));
  }

  /// True when no connection waits for its slot.
  bool empty() const noexcept { return queue_.empty(); }
  /// When the first waiting connection is due. Not when empty().
  Clock::time_point next_due() const noexcept { return queue_.front().due; }
  /// Queues connection `index` (of this worker) until `due`. At most once per connection.
  void push(Clock::time_point due, uint32_t index) noexcept {
    queue_.push_back({due, index});
    std::push_heap(queue_.begin(), queue_.end(), later);
  }
  /// Takes the first connection due by `now` into `index`; false when none is.
  bool pop_due(Clock::time_point now, uint32_t& index) noexcept {
    if (queue_.empty() || queue_.front().due > now) return false;
    std::pop_heap(queue_.begin(), queue_.end(), later);
    index = queue_.back().index;
    queue_.pop_back();
    return true;
  }

  /// The coordinated-omission correction in numbers: a request of the window left `lag` late.
  void record_lag(Clock::duration lag) noexcept {
    const int64_t lag_ns = std::chrono::nanoseconds(lag).count();
    lag_max_ns_ = std::max(lag_max_ns_, lag_ns);
    lag_sum_ns_ += lag_ns;
    ++lag_count_;
  }
  int64_t lag_max_ns() const noexcept { return lag_max_ns_; }
  int64_t lag_sum_ns() const noexcept { return lag_sum_ns_; }
  uint64_t lag_count() const noexcept { return lag_count_; }

 private:
  // A connection waiting for its next slot.
  struct QueueEntry {
    Clock::time_point due;
    uint32_t index;
  };
  static bool later(const QueueEntry& a, const QueueEntry& b) { return a.due > b.due; }

  const RunContext& context_;
  std::vector<QueueEntry> queue_;  // A min-heap on due; capacity for every connection.
  int64_t lag_max_ns_ = 0;
  int64_t lag_sum_ns_ = 0;
  uint64_t lag_count_ = 0;
};

}  // namespace iolab::loadgen
