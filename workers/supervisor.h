#pragma once

#include <netinet/in.h>
#include <sys/types.h>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "core/endpoint.h"
#include "variants/variant.h"
#include "workers/shared_stats.h"

namespace iolab {

/// What the supervisor runs: `workers` processes of one variant sharing one port.
struct WorkerSetSpec {
  std::string executable = "/proc/self/exe";  ///< The iolab binary; it runs `iolab worker …`.
  VariantSpec variant;
  UpstreamOptions upstream;
  Endpoint listen;  ///< Port 0 picks a free port.
  /// Where the workers publish their ServerStats (worker i in slot i) and the supervisor counts
  /// restarts; none: the workers publish nothing. At most StatsRegion::kMaxSlots workers.
  std::shared_ptr<StatsRegion> stats;
};

/// Starts a variant's worker processes, restarts any that dies, and stops them all.
///
/// With AcceptMode::kShared (the default) the supervisor opens the listening socket and every
/// worker inherits it and accepts from it, as gunicorn's workers do: a worker with a free thread
/// takes the next connection. With kReusePort the port is reserved by a bound (not listening)
/// SO_REUSEPORT socket held here; each worker binds and listens on the same port with
/// SO_REUSEPORT, and the kernel hashes connections over the workers. All spawning happens on the
/// supervisor's own thread, since a worker asks the kernel for SIGTERM when the thread that spawned
/// it ends (PR_SET_PDEATHSIG).
///
/// Thread safety: start() and stop() from the owner; the accessors from any thread.
class Supervisor {
 public:
  explicit Supervisor(WorkerSetSpec spec);
  ~Supervisor();
  Supervisor(const Supervisor&) = delete;
  Supervisor& operator=(const Supervisor&) = delete;

  /// Spawns the workers and waits until each serves (10 s at most). Returns the shared port.
  /// Throws StartError, after stopping what did start, when a worker fails to come up.
  uint16_t start();
  /// SIGTERM to every worker, SIGKILL to those still alive after `grace`; reaps them all.
  void stop(std::chrono::milliseconds grace = std::chrono::milliseconds(5000));

  uint16_t port() const { return port_; }
  /// Workers that died and were restarted since start().
  uint64_t restarts() const { return restarts_.load(std::memory_order_relaxed); }
  /// The live workers' process ids.
  std::vector<pid_t> pids() const;
  /// What this set's workers have published into their slots of the spec's StatsRegion so far
  /// (a slot carries over to a restarted worker's successor); nullopt without a region or
  /// before start(). From the owner, between start() and stop().
  std::optional<WorkerStatsValues> published_stats() const;

 private:
  struct Worker {
    pid_t pid = -1;
    int pidfd = -1;
  };

  void run(std::stop_token stop);
  void reserve_port(const sockaddr_in& addr);
  Worker spawn(int ready_fd, size_t slot);
  std::vector<std::string> worker_args() const;

  WorkerSetSpec spec_;
  int reserve_fd_ = -1;  // kReusePort: holds the port
  int listen_fd_ = -1;   // kShared: the socket every worker accepts from
  int wake_fd_ = -1;
  uint16_t port_ = 0;
  std::atomic<uint64_t> restarts_{0};
  mutable std::mutex mutex_;
  std::vector<Worker> workers_;
  std::string start_error_;
  bool started_ = false;
  std::chrono::milliseconds grace_{5000};
  int first_slot_ = -1;  // of spec_.stats, while started
  std::jthread thread_;
};

/// The body of `iolab worker`: starts the variant on `listen` (or serves on the inherited
/// listening socket `listen_fd`, shared with the other workers), writes one byte to `ready_fd`
/// once it serves, and runs until SIGTERM or SIGINT. With `stats_fd` (a StatsRegion's memfd),
/// publishes its ServerStats into slot `stats_slot` every 100 ms and once more at exit.
/// Returns the process exit code.
int run_worker(const VariantSpec& variant, const UpstreamOptions& upstream, const Endpoint& listen,
               int ready_fd, int stats_fd = -1, int stats_slot = -1, int listen_fd = -1);

}  // namespace iolab
