#include "daemon/run_queue.h"

#include <malloc.h>

#include "core/duration.h"

namespace iolab {

void LiveRun::update(std::chrono::nanoseconds elapsed, std::chrono::nanoseconds total,
                     const LoadProgress& progress) {
  const std::lock_guard lock(mutex_);
  elapsed_s_ = to_seconds(elapsed);
  total_s_ = to_seconds(total);
  requests_ = progress.requests();
  errors_ = progress.errors();
  last_second_ = progress.last_second();
}

nlohmann::json LiveRun::to_json() const {
  const std::lock_guard lock(mutex_);
  nlohmann::json j = {{"elapsed_s", elapsed_s_},
                      {"total_s", total_s_},
                      {"requests", requests_},
                      {"errors", errors_},
                      {"current_rps", last_second_ ? last_second_->requests : 0},
                      {"p99_ms", nullptr}};
  if (last_second_ && last_second_->requests > 0) j["p99_ms"] = to_ms(last_second_->p99);
  return j;
}

void LiveRun::reset() {
  const std::lock_guard lock(mutex_);
  elapsed_s_ = total_s_ = 0;
  requests_ = errors_ = 0;
  last_second_.reset();
}

RunQueue::RunQueue(RunStore& store)
    : store_(store), thread_([this](std::stop_token stop) { loop(stop); }) {}

RunQueue::~RunQueue() { stop(); }

void RunQueue::submit(int64_t id, Job job) {
  {
    const std::lock_guard lock(mutex_);
    if (stopped_) {
      mark_cancelled(id);
      return;
    }
    queue_.push_back(Entry{id, std::move(job)});
  }
  wake_.notify_all();
}

RunQueue::Cancel RunQueue::cancel(int64_t id) {
  std::unique_lock lock(mutex_);
  if (running_id_ == id) {
    running_stop_.request_stop();
    return Cancel::kStopping;
  }
  for (auto it = queue_.begin(); it != queue_.end(); ++it) {
    if (it->id != id) continue;
    queue_.erase(it);
    // Stored while still holding the lock, so that the run cannot be picked up meanwhile.
    mark_cancelled(id);
    return Cancel::kCancelled;
  }
  return Cancel::kNotActive;
}

std::optional<int64_t> RunQueue::running() const {
  const std::lock_guard lock(mutex_);
  return running_id_;
}

std::optional<nlohmann::json> RunQueue::progress(int64_t id) const {
  const std::lock_guard lock(mutex_);
  if (running_id_ != id) return std::nullopt;
  return live_.to_json();
}

void RunQueue::stop() {
  if (!thread_.joinable()) return;
  {
    const std::lock_guard lock(mutex_);
    stopped_ = true;
    for (const Entry& e : queue_) mark_cancelled(e.id);
    queue_.clear();
  }
  thread_.request_stop();
  wake_.notify_all();
  thread_.join();
}

void RunQueue::mark_cancelled(int64_t id) {
  auto run = store_.run(id);
  if (!run || is_final(run->state)) return;
  run->state = RunState::kCancelled;
  run->finished_at = utc_now();
  store_.update_run(*run);
}

void RunQueue::loop(std::stop_token stop) {
  while (!stop.stop_requested()) {
    Entry entry;
    {
      std::unique_lock lock(mutex_);
      if (!wake_.wait(lock, stop, [this] { return !queue_.empty(); })) return;
      entry = std::move(queue_.front());
      queue_.pop_front();
      running_id_ = entry.id;
      running_stop_ = std::stop_source();
      live_.reset();
    }
    execute(std::move(entry), stop);
    {
      const std::lock_guard lock(mutex_);
      running_id_.reset();
    }
    // A run allocates megabytes for a few seconds (histograms, result JSON), and the daemon
    // runs for months: this gives the freed pages back. bench/soak.sh, 5 min, ~110 runs: RSS
    // 15.5 -> 18.3 MiB with it and the allocator settings of `iolab daemon` (cli.cc), 20.2 ->
    // 26.0 MiB without both.
    ::malloc_trim(0);
  }
}

void RunQueue::execute(Entry entry, std::stop_token shutdown) {
  std::stop_source run_stop;
  {
    const std::lock_guard lock(mutex_);
    run_stop = running_stop_;
  }
  // Shutdown stops the running run the same way a cancel does.
  const std::stop_callback on_shutdown(shutdown, [&run_stop] { run_stop.request_stop(); });

  auto record = store_.run(entry.id);
  if (!record) return;
  record->state = RunState::kRunning;
  record->started_at = utc_now();
  store_.update_run(*record);

  try {
    record->result = entry.job(run_stop.get_token(), live_, *record);
    record->state = run_stop.stop_requested() ? RunState::kCancelled : RunState::kDone;
  } catch (const std::exception& e) {
    record->state = run_stop.stop_requested() ? RunState::kCancelled : RunState::kFailed;
    record->error = e.what();
  }
  record->finished_at = utc_now();
  store_.update_run(*record);
}

}  // namespace iolab
