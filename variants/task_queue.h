#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <mutex>
#include <thread>
#include <vector>

#include "core/histogram.h"

namespace iolab {

/// threads:N's pool: N threads take tasks in the order they became ready. Each task carries the
/// moment it became ready (its connection readable), so the wait until a thread starts it is
/// recorded, and the number of threads running a task is kept as a gauge.
///
/// Thread safety: push() and waiting() from any thread; shutdown() from the owner.
class TaskQueue {
 public:
  using Clock = std::chrono::steady_clock;
  using Task = std::function<void()>;

  /// Starts `threads` threads. `queue_wait`, `busy` and `queued` (tasks not yet started) must
  /// outlive the queue.
  TaskQueue(int threads, LatencyHistogram& queue_wait, std::atomic<int64_t>& busy,
            std::atomic<int64_t>& queued);
  ~TaskQueue() { shutdown(); }
  TaskQueue(const TaskQueue&) = delete;
  TaskQueue& operator=(const TaskQueue&) = delete;

  /// Queues `task`, ready since `ready_at`. After shutdown() the task is dropped unrun.
  void push(Task task, Clock::time_point ready_at);
  /// Tasks queued and not yet started.
  size_t waiting() const;
  /// Runs no task not yet started (they are destroyed unrun, in this thread), lets the running
  /// ones end, and joins the threads. Idempotent.
  void shutdown();

 private:
  struct Entry {
    Task task;
    Clock::time_point ready_at;
  };
  void run();

  LatencyHistogram& queue_wait_;
  std::atomic<int64_t>& busy_;
  std::atomic<int64_t>& queued_;
  mutable std::mutex mutex_;
  std::condition_variable ready_;
  std::deque<Entry> tasks_;  // Guarded by mutex_.
  bool stopping_ = false;    // Guarded by mutex_.
  std::vector<std::jthread> threads_;
};

}  // namespace iolab
