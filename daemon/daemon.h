#pragma once

#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>

#include "daemon/config.h"
#include "daemon/run_queue.h"
#include "daemon/run_store.h"
#include "daemon/supervisor.h"
#include "variants/stub.h"

namespace httplib {
class Server;
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
};

}  // namespace iolab
