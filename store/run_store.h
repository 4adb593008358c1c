#pragma once

#include <cstdint>
#include <memory>
#include <mutex>
#include <nlohmann/json.hpp>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

struct sqlite3;

namespace iolab {

/// Where a run is: `queued → running → done | failed | cancelled | interrupted`.
enum class RunState { kQueued, kRunning, kDone, kFailed, kCancelled, kInterrupted };

/// "queued", "running", ...
std::string_view to_string(RunState state);
/// The inverse of to_string(); nullopt for anything else.
std::optional<RunState> parse_run_state(std::string_view text);
/// True for done, failed, cancelled and interrupted: the run will not change again.
bool is_final(RunState state);

/// One run as the store keeps it. The JSON fields are opaque to the store.
struct RunRecord {
  int64_t id = 0;  ///< Assigned by RunStore::add_run(), from 1, never reused.
  RunState state = RunState::kQueued;
  std::string label;                               ///< Variant name ("threads:100") or target URL.
  std::optional<int64_t> experiment_id;            ///< Set when the run is a row of an experiment.
  nlohmann::json spec = nlohmann::json::object();  ///< What was asked.
  nlohmann::json result;       ///< Null until the run ends with a result (histograms, timeline).
  nlohmann::json environment;  ///< Host, kernel, CPU, iolab version and revision.
  std::string error;           ///< Why it failed; empty otherwise.
  std::string created_at;      ///< ISO 8601 UTC, as "2024-05-01T12:00:00Z".
  std::string started_at;      ///< Empty until it starts.
  std::string finished_at;     ///< Empty until it ends.

  bool operator==(const RunRecord&) const = default;
};

/// An experiment: a named matrix whose rows are runs (RunRecord::experiment_id).
struct ExperimentRecord {
  int64_t id = 0;  ///< Assigned by RunStore::add_experiment(), from 1.
  std::string name;
  std::string source;      ///< The YAML or JSON text it was created from.
  std::string created_at;  ///< ISO 8601 UTC.

  bool operator==(const ExperimentRecord&) const = default;
};

/// Which runs RunStore::runs() lists.
struct RunQuery {
  size_t limit = 100;                    ///< At most this many, newest first.
  std::string label;                     ///< Only runs with this label; empty: any.
  std::optional<int64_t> experiment_id;  ///< Only this experiment's runs, oldest first.
  std::optional<RunState> state;         ///< Only runs in this state; nullopt: any.
  bool in_experiment = false;            ///< Only runs that are rows of some experiment.
  /// Each result cut down to what a history reads, `{"measured": {"rps", "requests",
  /// "latency_ms"}}` (absent members left out), instead of whole histograms and timelines: a
  /// history of thousands of nights then reads kilobytes, not the results' megabytes.
  bool summary = false;
};

/// The part of a stored result that a RunQuery with `summary` keeps (null stays null).
nlohmann::json result_summary(const nlohmann::json& result);

/// A write the backing store has no room for (SQLite's SQLITE_FULL: the disk, or the database's
/// size limit, is full). Nothing stored before is harmed; the same write succeeds once there is
/// room again.
class StoreFullError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

/// Durable record of every run and experiment. All methods are thread-safe; records are
/// returned by value. Failures of the backing store throw std::runtime_error (StoreFullError
/// when it has no room).
class RunStore {
 public:
  virtual ~RunStore() = default;

  /// Stores a new run, assigns and returns its id (`run.id` is ignored).
  virtual int64_t add_run(const RunRecord& run) = 0;
  /// Replaces the run with `run.id`. Returns false when there is no such run.
  virtual bool update_run(const RunRecord& run) = 0;
  /// The run, or nullopt.
  virtual std::optional<RunRecord> run(int64_t id) const = 0;
  /// Runs as `query` selects: newest first, or in id order for one experiment.
  virtual std::vector<RunRecord> runs(const RunQuery& query) const = 0;
  /// Every run still queued or running becomes interrupted, with `finished_at` set. Called when
  /// a store is opened by a daemon that just started: such runs belonged to a process that
  /// died. Returns how many changed.
  virtual size_t interrupt_unfinished(const std::string& now) = 0;

  /// Stores a new experiment, assigns and returns its id.
  virtual int64_t add_experiment(const ExperimentRecord& experiment) = 0;
  /// The experiment, or nullopt.
  virtual std::optional<ExperimentRecord> experiment(int64_t id) const = 0;
};

/// Runs in memory, gone with the object: for tests.
class InMemoryRunStore : public RunStore {
 public:
  int64_t add_run(const RunRecord& run) override;
  bool update_run(const RunRecord& run) override;
  std::optional<RunRecord> run(int64_t id) const override;
  std::vector<RunRecord> runs(const RunQuery& query) const override;
  size_t interrupt_unfinished(const std::string& now) override;
  int64_t add_experiment(const ExperimentRecord& experiment) override;
  std::optional<ExperimentRecord> experiment(int64_t id) const override;

 private:
  mutable std::mutex mutex_;
  std::vector<RunRecord> runs_;
  std::vector<ExperimentRecord> experiments_;
};

/// Runs in `DIR/runs.db`, SQLite in WAL mode, one connection behind a mutex. Each call is one
/// transaction, durable when it returns (synchronous=FULL), so a SIGKILL loses nothing written.
class SqliteRunStore : public RunStore {
 public:
  /// Opens (creating if needed) the directory and the database. Throws std::runtime_error.
  explicit SqliteRunStore(const std::string& dir);
  ~SqliteRunStore() override;
  SqliteRunStore(const SqliteRunStore&) = delete;
  SqliteRunStore& operator=(const SqliteRunStore&) = delete;

  int64_t add_run(const RunRecord& run) override;
  bool update_run(const RunRecord& run) override;
  std::optional<RunRecord> run(int64_t id) const override;
  std::vector<RunRecord> runs(const RunQuery& query) const override;
  size_t interrupt_unfinished(const std::string& now) override;
  int64_t add_experiment(const ExperimentRecord& experiment) override;
  std::optional<ExperimentRecord> experiment(int64_t id) const override;

 private:
  class Statement;

  mutable std::mutex mutex_;
  sqlite3* db_ = nullptr;
  /// Fault injection for tests: IOLAB_FAULT=kill-in-store-write at construction (see update_run).
  bool kill_in_result_write_ = false;
};

/// Now, as ISO 8601 UTC with seconds: "2024-05-01T12:00:00Z".
std::string utc_now();

}  // namespace iolab
