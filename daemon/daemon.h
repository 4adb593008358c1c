#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "daemon/config.h"
#include "daemon/run_queue.h"
#include "store/history.h"
#include "store/regression.h"
#include "store/run_store.h"
#include "variants/stub.h"

namespace iolab {
class ApiServer;
class DaemonMetrics;
class VariantHost;
struct ApiContext;
}  // namespace iolab

namespace iolab {

/// `iolab daemon`: the REST API v1 (daemon/api*.cc, one file per resource) over a VariantHost
/// (the upstream stub and one switchable variant's worker processes), a run queue and a durable
/// run store.
///
/// Thread safety: start() and stop() from the owner; the REST handlers run on the HTTP
/// server's threads and the runs on the queue's thread.
class Daemon {
 public:
  /// `executable` is the iolab binary the variant workers run as. Without `store`, start()
  /// opens a SqliteRunStore in `config.state_dir`.
  Daemon(DaemonConfig config, std::string executable, std::unique_ptr<RunStore> store = nullptr);
  ~Daemon();
  Daemon(const Daemon&) = delete;
  Daemon& operator=(const Daemon&) = delete;

  /// Opens the store (a run a dead daemon left running becomes interrupted, its queued runs are
  /// queued again: recover_runs(), each logged on stderr), reads
  /// the token, starts the stub, the default variant, the run queue and the REST API, and
  /// returns the API's bound port once the API accepts connections. Throws StartError. Call
  /// once.
  uint16_t start();
  /// Cancels the queued runs and the running one (stored `cancelled` with its partial result),
  /// stops the API, the workers and the stub. Safe at any moment after start() returned (or
  /// threw); returns within the workers' grace. Idempotent; the destructor calls it.
  void stop();

  /// The API's bound port, after start().
  uint16_t port() const { return port_; }
  /// The store, for tests and tools. Valid after start().
  RunStore& store() { return *store_; }

  /// Applies what of `next` can change live (SIGHUP): load.allowed_targets,
  /// load.max_connections, load.max_duration and the built-in stub's upstream.profile (the
  /// profile waits while a run is in progress). Keys that need a restart are kept and named.
  /// Stored runs and the running one are untouched. Returns one line per change or refusal.
  /// Any thread.
  std::vector<std::string> reload(const DaemonConfig& next);
  /// The config in force (a copy). Any thread.
  DaemonConfig config() const;

  /// The finished runs that belong to a scenario (experiment rows), oldest first; only
  /// `scenario`'s when not empty. Any thread, after start().
  std::vector<NightResult> nights(const std::string& scenario = "") const;
  /// The regressions flagged on the latest night of each scenario and variant: the series
  /// `iolab_regression{scenario,variant,measure}` (1 when present). Any thread, after start().
  std::vector<RegressionFlag> regressions() const;
  /// Every night judged against the nights before it (judge_history() over nights()), cached
  /// until the newest runs change. Any thread, after start().
  std::vector<JudgedNight> judged_nights() const;
  /// The regressions of experiment `experiment_id`'s rows against the nights before them.
  std::vector<RegressionFlag> experiment_regressions(int64_t experiment_id) const;

 private:
  // The stub's part of reload(): the line it logs, if the profile changed.
  std::optional<std::string> reload_upstream(const StubProfile& profile);

  DaemonConfig config_;
  std::string executable_;
  std::string token_;
  // Before the store: the store counts runs into it.
  std::unique_ptr<DaemonMetrics> metrics_;
  std::unique_ptr<RunStore> store_;
  std::unique_ptr<History> history_;
  std::unique_ptr<VariantHost> host_;
  std::unique_ptr<RunQueue> queue_;
  std::unique_ptr<ApiContext> api_;
  std::unique_ptr<ApiServer> server_;
  uint16_t port_ = 0;
  bool stopped_ = false;
  // Guards config_ against reload().
  mutable std::mutex config_mutex_;
};

}  // namespace iolab
