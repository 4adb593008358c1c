#include "daemon/variant_host.h"

#include <algorithm>

#include "core/errors.h"
#include "daemon/api_error.h"
#include "daemon/metrics.h"
#include "workers/process_usage.h"

namespace iolab {

VariantHost::VariantHost(const DaemonConfig& config, std::string executable, DaemonMetrics& metrics)
    : config_(config),
      executable_(std::move(executable)),
      metrics_(metrics),
      profile_(config.upstream_profile) {}

VariantHost::~VariantHost() { stop(); }

void VariantHost::start() {
  if (!config_.upstream_url) {
    auto stub = std::make_unique<UpstreamStub>(profile_);
    const uint16_t port = stub->start(config_.upstream_listen);
    const std::lock_guard lock(mutex_);
    stub_ = std::move(stub);
    stub_port_ = port;
  }
  if (config_.variant_default) {
    auto workers = start_workers(*config_.variant_default);
    const std::lock_guard lock(mutex_);
    supervisor_ = std::move(workers);
    active_ = config_.variant_default;
  }
}

void VariantHost::stop() {
  const std::lock_guard writer(switch_mutex_);
  std::unique_ptr<Supervisor> workers;
  std::unique_ptr<UpstreamStub> stub;
  {
    const std::lock_guard lock(mutex_);
    workers = std::move(supervisor_);
    stub = std::move(stub_);
    active_.reset();
  }
  if (workers) workers->stop();
  if (stub) stub->stop();
}

std::optional<VariantHost::Active> VariantHost::active() const {
  const std::lock_guard lock(mutex_);
  if (!active_ || !supervisor_) return std::nullopt;
  return Active{*active_, supervisor_->port(), in_use_, supervisor_->restarts(),
                supervisor_->pids()};
}

VariantHost::Readiness VariantHost::readiness() const {
  const std::lock_guard lock(mutex_);
  Readiness r;
  r.upstream_up = config_.upstream_url || (stub_ && stub_port_ != 0);
  r.variant = switching_ ? "switching" : active_ ? "up" : "none";
  return r;
}

UpstreamRoute VariantHost::upstream_locked() const {
  if (config_.upstream_url) return UpstreamRoute{*config_.upstream_url, std::nullopt};
  // A stub bound to every address is still reached over loopback.
  const std::string host = config_.upstream_listen.is_loopback() ? config_.upstream_listen.host
                                                                 : std::string("127.0.0.1");
  return UpstreamRoute{*parse_url("http://" + host + ":" + std::to_string(stub_port_) + "/"),
                       profile_};
}

UpstreamRoute VariantHost::upstream() const {
  const std::lock_guard lock(mutex_);
  return upstream_locked();
}

std::unique_ptr<Supervisor> VariantHost::start_workers(const VariantSpec& spec) const {
  UpstreamRoute route;
  {
    const std::lock_guard lock(mutex_);
    route = upstream_locked();
  }
  WorkerSetSpec workers = worker_set(executable_, spec, route, config_.variant_listen);
  workers.stats = metrics_.region_for(spec.name());
  auto supervisor = std::make_unique<Supervisor>(workers);
  supervisor->start();
  return supervisor;
}

VariantHost::Active VariantHost::switch_to(const VariantSpec& spec) {
  const std::unique_lock writer(switch_mutex_, std::try_to_lock);
  if (!writer.owns_lock()) {
    throw ApiError(409, "variant_in_use", "another variant switch is in progress", "kind");
  }
  std::optional<VariantSpec> previous;
  std::unique_ptr<Supervisor> old;
  {
    const std::lock_guard lock(mutex_);
    if (in_use_) {
      throw ApiError(409, "variant_in_use", "a run is loading the active variant", "kind");
    }
    previous = active_;
    old = std::move(supervisor_);
    active_.reset();
    switching_ = true;
  }
  // Whatever happens below, readers and waiting runs see the switch end.
  struct EndSwitch {
    VariantHost& host;
    ~EndSwitch() {
      {
        const std::lock_guard lock(host.mutex_);
        host.switching_ = false;
      }
      host.switched_.notify_all();
    }
  } end_switch{*this};
  if (old) old->stop();
  old.reset();
  std::unique_ptr<Supervisor> next;
  std::string error;
  try {
    next = start_workers(spec);
  } catch (const std::exception& e) {
    error = e.what();
    // Nothing half-applied: bring the previous variant back.
    if (previous) {
      try {
        next = start_workers(*previous);
      } catch (const std::exception&) {
        previous.reset();
      }
    }
  }
  const std::lock_guard lock(mutex_);
  supervisor_ = std::move(next);
  active_ = error.empty() ? std::optional<VariantSpec>(spec) : previous;
  if (!error.empty()) {
    throw ApiError(500, "start_failed", "the variant did not start: " + error, "kind");
  }
  return Active{*active_, supervisor_->port(), false, supervisor_->restarts(), supervisor_->pids()};
}

void VariantHost::remove() {
  const std::unique_lock writer(switch_mutex_, std::try_to_lock);
  if (!writer.owns_lock()) {
    throw ApiError(409, "variant_in_use", "a variant switch is in progress");
  }
  std::unique_ptr<Supervisor> old;
  {
    const std::lock_guard lock(mutex_);
    if (in_use_) throw ApiError(409, "variant_in_use", "a run is loading the active variant");
    old = std::move(supervisor_);
    active_.reset();
  }
  if (old) old->stop();
}

std::unique_ptr<UpstreamStub> VariantHost::start_stub(const StubProfile& profile) const {
  auto stub = std::make_unique<UpstreamStub>(profile);
  stub->start(Endpoint{config_.upstream_listen.host, stub_port_});
  return stub;
}

void VariantHost::set_profile(const StubProfile& profile) {
  if (config_.upstream_url) {
    throw ApiError(409, "external_upstream",
                   "upstream.url names an external upstream; its profile is not ours to set");
  }
  const std::lock_guard writer(switch_mutex_);
  // The variant's workers hold the stub's URL: the new stub takes the same port. The old one
  // stays visible to readers until the new one serves (a stub stops in milliseconds).
  std::unique_ptr<UpstreamStub> old;
  StubProfile current;
  {
    const std::lock_guard lock(mutex_);
    old = std::move(stub_);
    current = profile_;
  }
  if (old) old->stop();
  std::unique_ptr<UpstreamStub> next;
  std::string error;
  try {
    next = start_stub(profile);
  } catch (const std::exception& e) {
    error = e.what();
    next = start_stub(current);
  }
  const std::lock_guard lock(mutex_);
  stub_ = std::move(next);
  if (!error.empty()) {
    throw ApiError(500, "start_failed", "the stub did not restart: " + error);
  }
  profile_ = profile;
}

VariantHost::Scrape VariantHost::scrape() const {
  Scrape s;
  const std::lock_guard lock(mutex_);
  if (active_ && supervisor_) {
    s.active = active_->name();
    s.pids = supervisor_->pids();
  }
  if (stub_) {
    s.stub = coarsen(stub_->latency());
    s.stub_delays = coarsen(stub_->delays());
    for (size_t i = 0; i < kStubFaultCount; ++i) {
      s.stub_faults[i] = stub_->faults(static_cast<StubFault>(i));
    }
  }
  return s;
}

void VariantHost::check_connections(int connections) const {
  std::optional<VariantSpec> spec;
  {
    const std::lock_guard lock(mutex_);
    spec = active_;
  }
  if (!spec) {
    throw ApiError(409, "no_variant",
                   "no target given and no variant active (PUT /api/v1/variant first)", "target");
  }
  check_open_files(*spec, connections);
}

std::unique_ptr<VariantHost::Lease> VariantHost::lease(int connections) {
  std::unique_lock lock(mutex_);
  switched_.wait(lock, [this] { return !switching_; });
  if (!active_ || !supervisor_) throw RunError("no variant is active");
  // POST checked the variant then; a switch while the run was queued may need more. Before
  // any load, a run that cannot hold its connections fails whole, with the reason.
  check_open_files(*active_, connections);
  in_use_ = true;
  return std::unique_ptr<Lease>(new Lease(*this, *active_, *supervisor_, upstream_locked()));
}

VariantHost::Lease::~Lease() {
  const std::lock_guard lock(host_.mutex_);
  host_.in_use_ = false;
}

}  // namespace iolab
