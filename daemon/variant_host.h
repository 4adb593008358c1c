#pragma once

#include <sys/types.h>

#include <condition_variable>
#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "daemon/config.h"
#include "lab/lab.h"
#include "variants/stub.h"
#include "variants/variant.h"
#include "workers/shared_stats.h"
#include "workers/supervisor.h"

namespace iolab {

class DaemonMetrics;

/// What the daemon hosts for its runs: the built-in upstream stub (or an external upstream's
/// URL) and at most one variant's worker set.
///
/// Thread safety: every method from any thread. Readers (active(), ready(), a /metrics scrape)
/// take the state lock only to copy; a variant switch stops the old workers (up to 5 s) and
/// starts the new ones (up to 10 s) under a separate switch lock that only writers take, so
/// readers never wait for a switch.
class VariantHost {
 public:
  /// `metrics` gives each variant its stats region; it must outlive this.
  VariantHost(const DaemonConfig& config, std::string executable, DaemonMetrics& metrics);
  ~VariantHost();
  VariantHost(const VariantHost&) = delete;
  VariantHost& operator=(const VariantHost&) = delete;

  /// Starts the stub (unless upstream.url names an external upstream) and config's default
  /// variant. Throws StartError.
  void start();
  /// Stops the workers and the stub. Idempotent; the destructor calls it.
  void stop();

  /// The active variant as the API shows it.
  struct Active {
    VariantSpec spec;
    uint16_t port = 0;
    bool in_use = false;  ///< A run is loading it.
    uint64_t restarts = 0;
    std::vector<pid_t> pids;
  };
  /// The active variant; nullopt when there is none (or a switch is between two).
  std::optional<Active> active() const;
  /// Whether the upstream is up and the active variant (if any) serves; "none" when no variant
  /// is active, "switching" while a switch is in progress.
  struct Readiness {
    bool upstream_up = false;
    std::string variant;  ///< "up", "none" or "switching".
  };
  Readiness readiness() const;

  /// Replaces the active variant by `spec`. Throws ApiError: 409 variant_in_use while a run
  /// loads the variant or another switch is in progress, 500 start_failed when `spec` does not
  /// start (the previous variant is started again: nothing is half-applied).
  Active switch_to(const VariantSpec& spec);
  /// Stops the active variant. Throws ApiError 409 variant_in_use while a run loads it.
  void remove();

  /// The upstream's URL and, for the built-in stub, its profile.
  UpstreamRoute upstream() const;
  /// Restarts the built-in stub with `profile` on the same port (the workers keep its URL).
  /// Throws ApiError 409 external_upstream when the upstream is not ours, 500 start_failed
  /// when the new stub does not start (the previous one is started again).
  void set_profile(const StubProfile& profile);

  /// For a /metrics scrape: the active variant's name and workers, and the stub's latency.
  struct Scrape {
    std::optional<std::string> active;
    std::vector<pid_t> pids;
    std::optional<CoarseHistogram> stub;
    std::optional<CoarseHistogram> stub_delays;           ///< The delays the stub served.
    std::array<uint64_t, kStubFaultCount> stub_faults{};  ///< Its answers by StubFault.
  };
  Scrape scrape() const;

  /// A run's hold on the active variant: while a lease lives, switches are refused.
  class Lease {
   public:
    ~Lease();
    Lease(const Lease&) = delete;
    Lease& operator=(const Lease&) = delete;

    const VariantSpec& spec() const { return spec_; }
    const Supervisor& workers() const { return workers_; }
    const UpstreamRoute& upstream() const { return upstream_; }

   private:
    friend class VariantHost;
    Lease(VariantHost& host, VariantSpec spec, const Supervisor& workers, UpstreamRoute upstream)
        : host_(host), spec_(std::move(spec)), workers_(workers), upstream_(std::move(upstream)) {}

    VariantHost& host_;
    VariantSpec spec_;
    const Supervisor& workers_;
    UpstreamRoute upstream_;
  };
  /// Takes the active variant for a run, after a switch in progress ends. Throws RunError when
  /// no variant is active, or when it could not hold `connections` (check_open_files()).
  std::unique_ptr<Lease> lease(int connections);
  /// Throws RunError when the active variant could not hold `connections`; ApiError 409
  /// no_variant when none is active or a switch is in progress.
  void check_connections(int connections) const;

 private:
  UpstreamRoute upstream_locked() const;
  std::unique_ptr<Supervisor> start_workers(const VariantSpec& spec) const;
  std::unique_ptr<UpstreamStub> start_stub(const StubProfile& profile) const;

  const DaemonConfig config_;
  const std::string executable_;
  DaemonMetrics& metrics_;

  // Taken by writers (switch, remove, set_profile, stop) for the whole change; never by readers.
  std::mutex switch_mutex_;
  // Guards what follows; held only to read or swap, never across a start or a stop.
  mutable std::mutex mutex_;
  std::condition_variable switched_;
  StubProfile profile_;
  std::unique_ptr<UpstreamStub> stub_;
  uint16_t stub_port_ = 0;
  std::optional<VariantSpec> active_;
  std::unique_ptr<Supervisor> supervisor_;
  bool switching_ = false;
  bool in_use_ = false;
};

}  // namespace iolab
