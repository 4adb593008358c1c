#include "store/run_store.h"

#include <signal.h>
#include <sqlite3.h>

#include <algorithm>
#include <array>
#include <cstdlib>
#include <ctime>
#include <filesystem>
#include <stdexcept>

namespace iolab {
namespace {

constexpr std::array<std::string_view, 6> kStateNames = {"queued", "running",   "done",
                                                         "failed", "cancelled", "interrupted"};

}  // namespace

std::string_view to_string(RunState state) { return kStateNames[static_cast<size_t>(state)]; }

std::optional<RunState> parse_run_state(std::string_view text) {
  for (size_t i = 0; i < kStateNames.size(); ++i) {
    if (kStateNames[i] == text) return static_cast<RunState>(i);
  }
  return std::nullopt;
}

bool is_final(RunState state) { return state != RunState::kQueued && state != RunState::kRunning; }

std::string utc_now() {
  const std::time_t now = std::time(nullptr);
  std::tm tm{};
  ::gmtime_r(&now, &tm);
  char text[32];
  std::strftime(text, sizeof text, "%Y-%m-%dT%H:%M:%SZ", &tm);
  return text;
}

// ---------------------------------------------------------------------------------------------
// InMemoryRunStore

int64_t InMemoryRunStore::add_run(const RunRecord& run) {
  const std::lock_guard lock(mutex_);
  runs_.push_back(run);
  runs_.back().id = static_cast<int64_t>(runs_.size());
  return runs_.back().id;
}

bool InMemoryRunStore::update_run(const RunRecord& run) {
  const std::lock_guard lock(mutex_);
  if (run.id < 1 || run.id > static_cast<int64_t>(runs_.size())) return false;
  runs_[static_cast<size_t>(run.id - 1)] = run;
  return true;
}

std::optional<RunRecord> InMemoryRunStore::run(int64_t id) const {
  const std::lock_guard lock(mutex_);
  if (id < 1 || id > static_cast<int64_t>(runs_.size())) return std::nullopt;
  return runs_[static_cast<size_t>(id - 1)];
}

nlohmann::json result_summary(const nlohmann::json& result) {
  if (!result.is_object()) return result;
  nlohmann::json measured = nlohmann::json::object();
  const auto m = result.find("measured");
  if (m != result.end() && m->is_object()) {
    for (const char* key : {"rps", "requests", "latency_ms"}) {
      if (const auto v = m->find(key); v != m->end()) measured[key] = *v;
    }
  }
  return {{"measured", measured}};
}

std::vector<RunRecord> InMemoryRunStore::runs(const RunQuery& query) const {
  const std::lock_guard lock(mutex_);
  std::vector<RunRecord> out;
  const auto admit = [&](const RunRecord& r) {
    if (query.experiment_id && r.experiment_id != query.experiment_id) return false;
    if (query.state && r.state != *query.state) return false;
    if (query.in_experiment && !r.experiment_id) return false;
    return query.label.empty() || r.label == query.label;
  };
  const auto take = [&](const RunRecord& r) {
    out.push_back(r);
    if (query.summary) out.back().result = result_summary(r.result);
  };
  if (query.experiment_id) {
    for (auto it = runs_.begin(); it != runs_.end() && out.size() < query.limit; ++it) {
      if (admit(*it)) take(*it);
    }
  } else {
    for (auto it = runs_.rbegin(); it != runs_.rend() && out.size() < query.limit; ++it) {
      if (admit(*it)) take(*it);
    }
  }
  return out;
}

size_t InMemoryRunStore::interrupt_unfinished(const std::string& now) {
  const std::lock_guard lock(mutex_);
  size_t changed = 0;
  for (auto& r : runs_) {
    if (is_final(r.state)) continue;
    r.state = RunState::kInterrupted;
    r.finished_at = now;
    ++changed;
  }
  return changed;
}

int64_t InMemoryRunStore::add_experiment(const ExperimentRecord& experiment) {
  const std::lock_guard lock(mutex_);
  experiments_.push_back(experiment);
  experiments_.back().id = static_cast<int64_t>(experiments_.size());
  return experiments_.back().id;
}

std::optional<ExperimentRecord> InMemoryRunStore::experiment(int64_t id) const {
  const std::lock_guard lock(mutex_);
  if (id < 1 || id > static_cast<int64_t>(experiments_.size())) return std::nullopt;
  return experiments_[static_cast<size_t>(id - 1)];
}

// ---------------------------------------------------------------------------------------------
// SqliteRunStore

namespace {

constexpr const char* kSchema = R"sql(
CREATE TABLE IF NOT EXISTS runs (
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  state TEXT NOT NULL,
  label TEXT NOT NULL,
  experiment_id INTEGER,
  spec TEXT NOT NULL,
  result TEXT NOT NULL,
  environment TEXT NOT NULL,
  error TEXT NOT NULL,
  created_at TEXT NOT NULL,
  started_at TEXT NOT NULL,
  finished_at TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS runs_by_label ON runs(label);
CREATE INDEX IF NOT EXISTS runs_by_experiment ON runs(experiment_id);
CREATE TABLE IF NOT EXISTS experiments (
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  name TEXT NOT NULL,
  source TEXT NOT NULL,
  created_at TEXT NOT NULL
);
)sql";

constexpr const char* kRunColumns =
    "id, state, label, experiment_id, spec, result, environment, error, created_at, started_at, "
    "finished_at";

}  // namespace

/// A prepared statement, finalized on destruction. Binds are 1-based, columns 0-based.
class SqliteRunStore::Statement {
 public:
  Statement(sqlite3* db, const std::string& sql) : db_(db) {
    if (sqlite3_prepare_v2(db, sql.c_str(), -1, &stmt_, nullptr) != SQLITE_OK) {
      throw std::runtime_error(std::string("run store: ") + sqlite3_errmsg(db));
    }
  }
  ~Statement() { sqlite3_finalize(stmt_); }
  Statement(const Statement&) = delete;
  Statement& operator=(const Statement&) = delete;

  void bind(int i, const std::string& text) {
    sqlite3_bind_text(stmt_, i, text.data(), static_cast<int>(text.size()), SQLITE_TRANSIENT);
  }
  void bind(int i, int64_t value) { sqlite3_bind_int64(stmt_, i, value); }
  void bind(int i, std::optional<int64_t> value) {
    if (value) {
      bind(i, *value);
    } else {
      sqlite3_bind_null(stmt_, i);
    }
  }
  /// True while there is a row.
  bool step() {
    const int rc = sqlite3_step(stmt_);
    if (rc == SQLITE_ROW) return true;
    if (rc == SQLITE_DONE) return false;
    const std::string message = std::string("run store: ") + sqlite3_errmsg(db_);
    if (rc == SQLITE_FULL) throw StoreFullError(message);
    throw std::runtime_error(message);
  }
  std::string text(int col) const {
    const auto* p = reinterpret_cast<const char*>(sqlite3_column_text(stmt_, col));
    return p ? std::string(p, static_cast<size_t>(sqlite3_column_bytes(stmt_, col))) : "";
  }
  int64_t integer(int col) const { return sqlite3_column_int64(stmt_, col); }
  bool is_null(int col) const { return sqlite3_column_type(stmt_, col) == SQLITE_NULL; }

 private:
  sqlite3* db_;
  sqlite3_stmt* stmt_ = nullptr;
};

namespace {

void exec(sqlite3* db, const char* sql) {
  char* error = nullptr;
  const int rc = sqlite3_exec(db, sql, nullptr, nullptr, &error);
  if (rc != SQLITE_OK) {
    const std::string message = error ? error : "unknown error";
    sqlite3_free(error);
    if (rc == SQLITE_FULL) throw StoreFullError("run store: " + message);
    throw std::runtime_error("run store: " + message);
  }
}

nlohmann::json parse_json(const std::string& text) {
  if (text.empty()) return nullptr;
  return nlohmann::json::parse(text, nullptr, /*allow_exceptions=*/false);
}

std::string dump(const nlohmann::json& j) {
  return j.is_null() ? "" : j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

}  // namespace

SqliteRunStore::SqliteRunStore(const std::string& dir) {
  std::error_code ec;
  std::filesystem::create_directories(dir, ec);
  if (ec) throw std::runtime_error("run store: cannot create " + dir + ": " + ec.message());
  const std::string path = (std::filesystem::path(dir) / "runs.db").string();
  if (sqlite3_open_v2(path.c_str(), &db_, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, nullptr) !=
      SQLITE_OK) {
    const std::string message = db_ ? sqlite3_errmsg(db_) : "out of memory";
    sqlite3_close(db_);
    db_ = nullptr;
    throw std::runtime_error("run store: cannot open " + path + ": " + message);
  }
  try {
    sqlite3_busy_timeout(db_, 5000);
    exec(db_, "PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL;");
    exec(db_, kSchema);
    const char* fault = std::getenv("IOLAB_FAULT");
    kill_in_result_write_ = fault && std::string_view(fault) == "kill-in-store-write";
  } catch (...) {
    sqlite3_close(db_);
    db_ = nullptr;
    throw;
  }
}

SqliteRunStore::~SqliteRunStore() { sqlite3_close(db_); }

namespace {

void bind_run(auto& st, const RunRecord& run) {
  st.bind(1, std::string(to_string(run.state)));
  st.bind(2, run.label);
  st.bind(3, run.experiment_id);
  st.bind(4, dump(run.spec));
  st.bind(5, dump(run.result));
  st.bind(6, dump(run.environment));
  st.bind(7, run.error);
  st.bind(8, run.created_at);
  st.bind(9, run.started_at);
  st.bind(10, run.finished_at);
}

RunRecord read_run(const auto& st) {
  RunRecord r;
  r.id = st.integer(0);
  r.state = parse_run_state(st.text(1)).value_or(RunState::kInterrupted);
  r.label = st.text(2);
  if (!st.is_null(3)) r.experiment_id = st.integer(3);
  r.spec = parse_json(st.text(4));
  if (r.spec.is_null()) r.spec = nlohmann::json::object();
  r.result = parse_json(st.text(5));
  r.environment = parse_json(st.text(6));
  r.error = st.text(7);
  r.created_at = st.text(8);
  r.started_at = st.text(9);
  r.finished_at = st.text(10);
  return r;
}

}  // namespace

int64_t SqliteRunStore::add_run(const RunRecord& run) {
  const std::lock_guard lock(mutex_);
  Statement st(db_,
               "INSERT INTO runs (state, label, experiment_id, spec, result, environment, error, "
               "created_at, started_at, finished_at) VALUES (?,?,?,?,?,?,?,?,?,?)");
  bind_run(st, run);
  st.step();
  return sqlite3_last_insert_rowid(db_);
}

bool SqliteRunStore::update_run(const RunRecord& run) {
  const std::lock_guard lock(mutex_);
  // Fault injection for tests (tests/integration/faults/store_crash_test.cc): with
  // IOLAB_FAULT=kill-in-store-write in the environment when the store was opened, the write of a
  // run's final result dies half-way: the update runs in an open transaction, its pages are
  // written to the WAL without a commit frame, and the process is SIGKILLed before COMMIT.
  const bool die_mid_write = kill_in_result_write_ && is_final(run.state) && !run.result.is_null();
  if (die_mid_write) exec(db_, "BEGIN IMMEDIATE");
  Statement st(db_,
               "UPDATE runs SET state=?, label=?, experiment_id=?, spec=?, result=?, "
               "environment=?, error=?, created_at=?, started_at=?, finished_at=? WHERE id=?");
  bind_run(st, run);
  st.bind(11, run.id);
  st.step();
  if (die_mid_write) {
    sqlite3_db_cacheflush(db_);
    ::raise(SIGKILL);
  }
  return sqlite3_changes(db_) > 0;
}

std::optional<RunRecord> SqliteRunStore::run(int64_t id) const {
  const std::lock_guard lock(mutex_);
  Statement st(db_, std::string("SELECT ") + kRunColumns + " FROM runs WHERE id=?");
  st.bind(1, id);
  if (!st.step()) return std::nullopt;
  return read_run(st);
}

std::vector<RunRecord> SqliteRunStore::runs(const RunQuery& query) const {
  const std::lock_guard lock(mutex_);
  std::string columns = kRunColumns;
  if (query.summary) {
    // SQLite cuts the result down as result_summary() does, so the rest is never parsed.
    columns.replace(columns.find("result"), std::string_view("result").size(),
                    "CASE WHEN json_valid(result) AND json_type(result) = 'object' THEN "
                    "json_object('measured', json_patch('{}', json_object("
                    "'rps', json_extract(result, '$.measured.rps'), "
                    "'requests', json_extract(result, '$.measured.requests'), "
                    "'latency_ms', json(json_extract(result, '$.measured.latency_ms'))))) "
                    "ELSE result END");
  }
  std::string sql = "SELECT " + columns + " FROM runs WHERE (?1 = '' OR label = ?1)";
  if (query.state) sql += " AND state = ?4";
  if (query.in_experiment) sql += " AND experiment_id IS NOT NULL";
  if (query.experiment_id) {
    sql += " AND experiment_id = ?2 ORDER BY id ASC";
  } else {
    sql += " ORDER BY id DESC";
  }
  sql += " LIMIT ?3";
  Statement st(db_, sql);
  st.bind(1, query.label);
  st.bind(2, query.experiment_id);
  st.bind(3, static_cast<int64_t>(std::min<size_t>(query.limit, INT64_MAX)));
  if (query.state) st.bind(4, std::string(to_string(*query.state)));
  std::vector<RunRecord> out;
  while (st.step()) out.push_back(read_run(st));
  return out;
}

size_t SqliteRunStore::interrupt_unfinished(const std::string& now) {
  const std::lock_guard lock(mutex_);
  Statement st(db_,
               "UPDATE runs SET state='interrupted', finished_at=? "
               "WHERE state IN ('queued', 'running')");
  st.bind(1, now);
  st.step();
  return static_cast<size_t>(sqlite3_changes(db_));
}

int64_t SqliteRunStore::add_experiment(const ExperimentRecord& experiment) {
  const std::lock_guard lock(mutex_);
  Statement st(db_, "INSERT INTO experiments (name, source, created_at) VALUES (?,?,?)");
  st.bind(1, experiment.name);
  st.bind(2, experiment.source);
  st.bind(3, experiment.created_at);
  st.step();
  return sqlite3_last_insert_rowid(db_);
}

std::optional<ExperimentRecord> SqliteRunStore::experiment(int64_t id) const {
  const std::lock_guard lock(mutex_);
  Statement st(db_, "SELECT id, name, source, created_at FROM experiments WHERE id=?");
  st.bind(1, id);
  if (!st.step()) return std::nullopt;
  return ExperimentRecord{st.integer(0), st.text(1), st.text(2), st.text(3)};
}

}  // namespace iolab
