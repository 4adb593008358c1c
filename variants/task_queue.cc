#include "variants/task_queue.h"

namespace iolab {

TaskQueue::TaskQueue(int threads, LatencyHistogram& queue_wait, std::atomic<int64_t>& busy,
                     std::atomic<int64_t>& queued)
    : queue_wait_(queue_wait), busy_(busy), queued_(queued) {
  threads_.reserve(static_cast<size_t>(threads));
  for (int i = 0; i < threads; ++i) threads_.emplace_back([this] { run(); });
}

void TaskQueue::push(Task task, Clock::time_point ready_at) {
  {
    const std::lock_guard lock(mutex_);
    if (stopping_) return;
    tasks_.push_back({std::move(task), ready_at});
    queued_.fetch_add(1, std::memory_order_relaxed);
  }
  ready_.notify_one();
}

size_t TaskQueue::waiting() const {
  const std::lock_guard lock(mutex_);
  return tasks_.size();
}

void TaskQueue::shutdown() {
  std::deque<Entry> dropped;
  {
    const std::lock_guard lock(mutex_);
    stopping_ = true;
    dropped.swap(tasks_);
    queued_.fetch_sub(static_cast<int64_t>(dropped.size()), std::memory_order_relaxed);
  }
  ready_.notify_all();
  dropped.clear();  // outside the lock: a task's destructor may close its connection
  for (auto& t : threads_) {
    if (t.joinable()) t.join();
  }
  threads_.clear();
}

void TaskQueue::run() {
  for (;;) {
    Entry entry;
    {
      std::unique_lock lock(mutex_);
      ready_.wait(lock, [this] { return stopping_ || !tasks_.empty(); });
      if (stopping_) return;
      entry = std::move(tasks_.front());
      tasks_.pop_front();
      // Busy before no longer queued: a reader never sees the task in neither gauge.
      busy_.fetch_add(1, std::memory_order_relaxed);
      queued_.fetch_sub(1, std::memory_order_relaxed);
    }
    queue_wait_.record(Clock::now() - entry.ready_at);
    entry.task();
    busy_.fetch_sub(1, std::memory_order_relaxed);
  }
}

}  // namespace iolab
