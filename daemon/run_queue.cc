#include "daemon/run_queue.h"

#include <malloc.h>

#include <cmath>
#include <iostream>

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

void RunQueue::submit(int64_t id, Job job, std::chrono::nanoseconds length) {
  {
    const std::lock_guard lock(mutex_);
    if (stopped_) {
      mark_cancelled(id);
      return;
    }
    queue_.push_back(Entry{id, std::move(job), length});
  }
  wake_.notify_all();
}

std::pair<size_t, std::chrono::nanoseconds> RunQueue::queued() const {
  const std::lock_guard lock(mutex_);
  std::chrono::nanoseconds total{};
  for (const Entry& e : queue_) total += e.length;
  return {queue_.size(), total};
}

int RunQueue::seconds_to_next_end() const {
  const std::lock_guard lock(mutex_);
  if (!running_id_) return 1;
  const auto left = running_length_ - (std::chrono::steady_clock::now() - running_since_);
  return std::max(1, static_cast<int>(std::ceil(to_seconds(left))));
}

std::vector<int64_t> RunQueue::cancel_queued() {
  const std::lock_guard lock(mutex_);
  std::vector<int64_t> ids;
  for (const Entry& e : queue_) {
    ids.push_back(e.id);
    mark_cancelled(e.id);
  }
  queue_.clear();
  return ids;
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

std::optional<RunRecord> RunQueue::unsaved(int64_t id) const {
  const std::lock_guard lock(unsaved_mutex_);
  const auto it = unsaved_.find(id);
  if (it == unsaved_.end()) return std::nullopt;
  return it->second.run;
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
  flush_unsaved();
  const std::lock_guard lock(unsaved_mutex_);
  for (const auto& [id, held] : unsaved_) {
    std::cerr << "iolab: run " << id << ": not stored, the run store still has no room ("
              << held.why << "); its result is lost with this process\n";
  }
}

void RunQueue::mark_cancelled(int64_t id) {
  std::optional<RunRecord> run;
  try {
    run = store_.run(id);
  } catch (const std::exception&) {
    return;
  }
  if (!run || is_final(run->state)) return;
  run->state = RunState::kCancelled;
  run->finished_at = utc_now();
  if (auto why = try_store(*run)) hold(*run, *why);
}

std::optional<std::string> RunQueue::try_store(const RunRecord& run) {
  try {
    store_.update_run(run);
    return std::nullopt;
  } catch (const std::exception& e) {
    return e.what();
  }
}

void RunQueue::hold(RunRecord run, const std::string& why) {
  if (run.state == RunState::kDone) run.state = RunState::kFailed;
  const std::string original = run.error.empty() ? "" : " (" + run.error + ")";
  run.error = why + ": the run's end could not be stored" + original +
              "; it is held in memory and stored once the store has room again";
  std::cerr << "iolab: run " << run.id << ": " << run.error << "\n";
  const std::lock_guard lock(unsaved_mutex_);
  unsaved_[run.id] = Held{std::move(run), why};
}

bool RunQueue::has_unsaved() const {
  const std::lock_guard lock(unsaved_mutex_);
  return !unsaved_.empty();
}

void RunQueue::flush_unsaved() {
  const std::lock_guard lock(unsaved_mutex_);
  for (auto it = unsaved_.begin(); it != unsaved_.end();) {
    RunRecord run = it->second.run;
    run.error = "the run store had no room when the run ended (" + it->second.why +
                "); its result was held in memory and stored at " + utc_now();
    if (try_store(run)) return;  // Still no room: the rest waits too.
    std::cerr << "iolab: run " << run.id << ": stored, the run store has room again\n";
    it = unsaved_.erase(it);
  }
}

void RunQueue::loop(std::stop_token stop) {
  // How often runs the store refused are written again.
  constexpr auto kStoreRetry = std::chrono::seconds(1);
  while (!stop.stop_requested()) {
    flush_unsaved();
    Entry entry;
    {
      std::unique_lock lock(mutex_);
      const auto ready = [this] { return !queue_.empty(); };
      if (has_unsaved()) {
        if (!wake_.wait_for(lock, stop, kStoreRetry, ready)) continue;
      } else if (!wake_.wait(lock, stop, ready)) {
        return;
      }
      if (stop.stop_requested()) return;
      entry = std::move(queue_.front());
      queue_.pop_front();
      running_id_ = entry.id;
      running_length_ = entry.length;
      running_since_ = std::chrono::steady_clock::now();
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

  std::optional<RunRecord> record;
  try {
    record = store_.run(entry.id);
  } catch (const std::exception& e) {
    std::cerr << "iolab: run " << entry.id << ": not started, the run store failed: " << e.what()
              << "\n";
    return;
  }
  if (!record) return;
  record->state = RunState::kRunning;
  record->started_at = utc_now();
  // A run whose start cannot be stored does not start: its result would have nowhere to go.
  if (auto why = try_store(*record)) {
    record->state = RunState::kFailed;
    record->finished_at = utc_now();
    hold(*record, *why);
    return;
  }

  try {
    record->result = entry.job(run_stop.get_token(), live_, *record);
    record->state = run_stop.stop_requested() ? RunState::kCancelled : RunState::kDone;
  } catch (const std::exception& e) {
    record->state = run_stop.stop_requested() ? RunState::kCancelled : RunState::kFailed;
    record->error = e.what();
  }
  record->finished_at = utc_now();
  if (auto why = try_store(*record)) hold(*record, *why);
}

}  // namespace iolab
