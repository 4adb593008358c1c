#pragma once

#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "daemon/config.h"
#include "store/regression.h"
#include "daemon/run_queue.h"
#include "store/run_store.h"
#include "workers/supervisor.h"
#include "variants/stub.h"

namespace httplib {
class Server;
}

namespace iolab {
class DaemonMetrics;
}

namespace iolab {

/// `iolab daemon`: the REST API v1 of DESIGN.md over an upstream stub, one switchable variant
/// (worker processes under a Supervisor), a run queue and a durable run store.
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

  /// Opens the store (runs left queued or running by a dead daemon become interrupted), reads
  /// the token, starts the stub, the default variant, the run queue and the REST API, and
  /// returns the API's bound port. Throws StartError. Call once.
  uint16_t start();
  /// Cancels the queued runs and the running one (stored `cancelled` with its partial result),
  /// stops the API, the workers and the stub. Idempotent; the destructor calls it.
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
  class Api;
  struct RunRequest;

  nlohmann::json execute_run(const RunRequest& request, std::stop_token stop, LiveRun& live,
                             RunRecord& record);
  Url upstream_url_locked() const;
  void start_variant_locked(const VariantSpec& spec);

  DaemonConfig config_;
  std::string executable_;
  std::string token_;
  // Before the store: the store counts runs into it.
  std::unique_ptr<DaemonMetrics> metrics_;
  std::unique_ptr<RunStore> store_;

  // Guards the stub, the active variant and whether a run uses it.
  mutable std::mutex state_mutex_;
  StubProfile profile_;
  std::unique_ptr<UpstreamStub> stub_;
  uint16_t stub_port_ = 0;
  std::optional<VariantSpec> active_;
  std::unique_ptr<Supervisor> supervisor_;
  bool variant_in_use_ = false;

  std::unique_ptr<RunQueue> queue_;
  std::unique_ptr<Api> api_;
  std::unique_ptr<httplib::Server> server_;
  uint16_t port_ = 0;
  std::jthread server_thread_;
  bool stopped_ = false;

  // The judged history and the newest runs it was read at.
  mutable std::mutex history_mutex_;
  mutable std::string history_key_;
  mutable std::vector<JudgedNight> history_;
};

}  // namespace iolab
