#pragma once

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <mutex>
#include <nlohmann/json.hpp>
#include <optional>
#include <stop_token>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "loadgen/engine.h"
#include "store/run_store.h"

namespace iolab {

/// The live view of the run in progress, written by its job about once a second and read by
/// the REST handlers. Thread-safe.
class LiveRun {
 public:
  /// Job side: the run has gone `elapsed` of `total`; `progress` is the engine's live view.
  void update(std::chrono::nanoseconds elapsed, std::chrono::nanoseconds total,
              const LoadProgress& progress);
  /// `{"elapsed_s","total_s","requests","errors","current_rps","p99_ms"}`: counts include the
  /// warm-up; current_rps and p99_ms are those of the last complete second (p99 null before
  /// the first).
  nlohmann::json to_json() const;
  /// Back to nothing measured, for the next run.
  void reset();

 private:
  mutable std::mutex mutex_;
  double elapsed_s_ = 0;
  double total_s_ = 0;
  uint64_t requests_ = 0;
  uint64_t errors_ = 0;
  std::optional<TimelinePoint> last_second_;
};

/// Runs stored runs one at a time, in the order they were submitted, on its own thread, and
/// records each one's state changes in the store: `queued → running → done | failed |
/// cancelled`. Thread-safe.
class RunQueue {
 public:
  /// What a run does when its turn comes. Blocks until the run ends; returns the result JSON,
  /// or throws (any std::exception) to fail the run with that message. It may set the record's
  /// label and environment. When `stop` is requested (cancel, shutdown) it returns promptly with
  /// what it measured so far, and the run is stored `cancelled` with that partial result.
  using Job = std::function<nlohmann::json(std::stop_token stop, LiveRun& live, RunRecord& run)>;

  enum class Cancel { kCancelled, kStopping, kNotActive };

  explicit RunQueue(RunStore& store);
  ~RunQueue();
  RunQueue(const RunQueue&) = delete;
  RunQueue& operator=(const RunQueue&) = delete;

  /// Appends the stored, queued run `id`, which loads for `length` (warm-up included). Runs
  /// after every run submitted before it. After stop(), the run is stored `cancelled` at once.
  void submit(int64_t id, Job job, std::chrono::nanoseconds length = {});
  /// Held by a client while it checks the queue's bounds, stores its runs and submits them, so
  /// that two clients cannot both take the last place.
  [[nodiscard]] std::unique_lock<std::mutex> admission() { return std::unique_lock(admission_); }
  /// The queued runs (not the running one) and their total length.
  std::pair<size_t, std::chrono::nanoseconds> queued() const;
  /// Seconds until the running run ends (at least 1): when a place may free up.
  int seconds_to_next_end() const;
  /// Cancels every queued run at once (stored `cancelled`); the running one goes on. Returns
  /// their ids, in queue order.
  std::vector<int64_t> cancel_queued();
  /// A queued run is cancelled at once (kCancelled); the running one is asked to stop and is
  /// stored `cancelled` when its job returns (kStopping); any other id gives kNotActive.
  Cancel cancel(int64_t id);
  /// The running run's id, if one runs.
  std::optional<int64_t> running() const;
  /// The live view of run `id` while it runs; nullopt otherwise.
  std::optional<nlohmann::json> progress(int64_t id) const;
  /// Run `id` as it ended when the store could not take it (its disk full): `failed`, with its
  /// result and an error saying so. It is held in memory and written again about once a second
  /// until the store takes it; nullopt for any other run.
  std::optional<RunRecord> unsaved(int64_t id) const;
  /// Cancels every queued run, stops the running one, waits until its partial result is
  /// stored, and ends the thread. Idempotent; the destructor calls it.
  void stop();

 private:
  struct Entry {
    int64_t id = 0;
    Job job;
    std::chrono::nanoseconds length{};
  };

  // An ended run the store refused, and why.
  struct Held {
    RunRecord run;
    std::string why;
  };

  void loop(std::stop_token stop);
  void execute(Entry entry, std::stop_token shutdown);
  void mark_cancelled(int64_t id);
  // Writes `run`; the store's refusal, if it refused.
  std::optional<std::string> try_store(const RunRecord& run);
  // Keeps the ended `run` the store refused for `why`, to store it once it has room.
  void hold(RunRecord run, const std::string& why);
  // Writes the held runs the store now takes.
  void flush_unsaved();
  bool has_unsaved() const;

  RunStore& store_;
  std::mutex admission_;
  mutable std::mutex mutex_;
  std::condition_variable_any wake_;
  std::deque<Entry> queue_;
  bool stopped_ = false;
  std::optional<int64_t> running_id_;
  std::chrono::nanoseconds running_length_{};
  std::chrono::steady_clock::time_point running_since_;
  std::stop_source running_stop_;
  LiveRun live_;
  // After mutex_ when both are taken.
  mutable std::mutex unsaved_mutex_;
  std::map<int64_t, Held> unsaved_;
  std::jthread thread_;
};

}  // namespace iolab
