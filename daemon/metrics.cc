#include "daemon/metrics.h"

#include <prometheus/counter.h>
#include <prometheus/family.h>
#include <prometheus/gauge.h>
#include <prometheus/metric_family.h>
#include <prometheus/registry.h>
#include <prometheus/text_serializer.h>

#include <limits>
#include <sstream>

namespace iolab {
namespace {

using prometheus::ClientMetric;
using prometheus::MetricFamily;
using prometheus::MetricType;

constexpr RunState kAllStates[] = {RunState::kQueued, RunState::kRunning,   RunState::kDone,
                                   RunState::kFailed, RunState::kCancelled, RunState::kInterrupted};

ClientMetric::Label label(std::string name, std::string value) {
  return ClientMetric::Label{std::move(name), std::move(value)};
}

ClientMetric histogram_metric(const CoarseHistogram& h, std::vector<ClientMetric::Label> labels) {
  ClientMetric m;
  m.label = std::move(labels);
  uint64_t cumulative = 0;
  for (size_t i = 0; i < kMetricBuckets; ++i) {
    cumulative += h.buckets[i];
    const double bound = i < kMetricBucketBounds.size() ? kMetricBucketBounds[i]
                                                        : std::numeric_limits<double>::infinity();
    m.histogram.bucket.push_back({cumulative, bound});
  }
  m.histogram.sample_count = cumulative;
  m.histogram.sample_sum = static_cast<double>(h.sum_ns) / 1e9;
  return m;
}

ClientMetric value_metric(MetricType type, double value, std::vector<ClientMetric::Label> labels) {
  ClientMetric m;
  m.label = std::move(labels);
  if (type == MetricType::Counter) m.counter.value = value;
  if (type == MetricType::Gauge) m.gauge.value = value;
  return m;
}

MetricFamily family(std::string name, std::string help, MetricType type) {
  MetricFamily f;
  f.name = std::move(name);
  f.help = std::move(help);
  f.type = type;
  return f;
}

/// Counts runs entering each state, passing every call through to the wrapped store.
class CountingRunStore : public RunStore {
 public:
  CountingRunStore(std::unique_ptr<RunStore> inner, DaemonMetrics& metrics)
      : inner_(std::move(inner)), metrics_(metrics) {}

  int64_t add_run(const RunRecord& run) override {
    const int64_t id = inner_->add_run(run);
    note(id, run.state);
    return id;
  }
  bool update_run(const RunRecord& run) override {
    const bool found = inner_->update_run(run);
    if (found) note(run.id, run.state);
    return found;
  }
  std::optional<RunRecord> run(int64_t id) const override { return inner_->run(id); }
  std::vector<RunRecord> runs(const RunQuery& query) const override { return inner_->runs(query); }
  size_t interrupt_unfinished(const std::string& now) override {
    // Runs of a previous daemon: counted by that daemon's metrics, not ours.
    return inner_->interrupt_unfinished(now);
  }
  int64_t add_experiment(const ExperimentRecord& experiment) override {
    return inner_->add_experiment(experiment);
  }
  std::optional<ExperimentRecord> experiment(int64_t id) const override {
    return inner_->experiment(id);
  }

 private:
  void note(int64_t id, RunState state) {
    {
      const std::lock_guard lock(mutex_);
      const auto it = last_.find(id);
      if (it != last_.end() && it->second == state) return;
      if (is_final(state)) {
        if (it != last_.end()) last_.erase(it);
      } else {
        last_[id] = state;
      }
    }
    metrics_.count_run(state);
  }

  std::unique_ptr<RunStore> inner_;
  DaemonMetrics& metrics_;
  std::mutex mutex_;
  std::map<int64_t, RunState> last_;  // Runs not yet final.
};

}  // namespace

namespace {

// The families present, in order.
std::vector<MetricFamily> present(std::initializer_list<MetricFamily*> families) {
  std::vector<MetricFamily> out;
  for (auto* f : families) {
    if (!f->metric.empty()) out.push_back(std::move(*f));
  }
  return out;
}

// What the variants' workers recorded, and their processes' usage.
std::vector<MetricFamily> variant_families(const MetricsSnapshot& s) {
  auto total =
      family("iolab_server_request_duration_seconds",
             "Server-side time from request head read to answer written.", MetricType::Histogram);
  auto queue = family("iolab_server_queue_wait_seconds",
                      "Time from connection readable to handler start.", MetricType::Histogram);
  auto upstream = family("iolab_upstream_request_duration_seconds",
                         "The variant's upstream call, pool wait excluded.", MetricType::Histogram);
  auto pool = family("iolab_upstream_pool_wait_seconds", "Wait for a pooled upstream connection.",
                     MetricType::Histogram);
  auto requests = family("iolab_server_requests_total", "Requests answered by the variant.",
                         MetricType::Counter);
  auto inflight =
      family("iolab_server_inflight_requests", "Requests being handled now.", MetricType::Gauge);
  auto connections =
      family("iolab_server_open_connections", "Client connections open now.", MetricType::Gauge);
  auto pool_threads =
      family("iolab_server_pool_threads",
             "threads:N's pool threads, by state (busy: running a request).", MetricType::Gauge);
  auto rss = family("iolab_variant_resident_memory_bytes",
                    "Resident memory of the active variant's workers.", MetricType::Gauge);
  auto threads = family("iolab_variant_threads", "Threads of the active variant's workers.",
                        MetricType::Gauge);
  auto cpu = family("iolab_variant_cpu_seconds_total",
                    "User and system CPU time of the variant's workers.", MetricType::Counter);
  auto restarts = family("iolab_variant_restarts_total",
                         "Worker processes that died and were restarted.", MetricType::Counter);
  for (const VariantMetrics& v : s.variants) {
    const auto by_variant = [&v] { return std::vector{label("variant", v.variant)}; };
    for (size_t r = 0; r < kRouteCount; ++r) {
      const std::string route(kRouteNames[r]);
      total.metric.push_back(histogram_metric(
          v.stats.route_total[r], {label("route", route), label("variant", v.variant)}));
      for (size_t c = 0; c < kStatusSlots; ++c) {
        const std::string code =
            c < std::size(kCountedStatuses) ? std::to_string(kCountedStatuses[c]) : "other";
        requests.metric.push_back(value_metric(
            MetricType::Counter, static_cast<double>(v.stats.answers[r][c]),
            {label("code", code), label("route", route), label("variant", v.variant)}));
      }
    }
    queue.metric.push_back(histogram_metric(v.stats.queue_wait, by_variant()));
    upstream.metric.push_back(histogram_metric(v.stats.upstream, by_variant()));
    pool.metric.push_back(histogram_metric(v.stats.pool_wait, by_variant()));
    inflight.metric.push_back(
        value_metric(MetricType::Gauge, static_cast<double>(v.stats.inflight), by_variant()));
    connections.metric.push_back(value_metric(
        MetricType::Gauge, static_cast<double>(v.stats.open_connections), by_variant()));
    if (v.stats.pool_threads > 0) {
      const uint64_t busy = std::min(v.stats.pool_busy, v.stats.pool_threads);
      for (const auto& [state, n] :
           {std::pair{"busy", busy}, std::pair{"idle", v.stats.pool_threads - busy}}) {
        pool_threads.metric.push_back(
            value_metric(MetricType::Gauge, static_cast<double>(n),
                         {label("state", state), label("variant", v.variant)}));
      }
    }
    cpu.metric.push_back(
        value_metric(MetricType::Counter, static_cast<double>(v.stats.cpu_ns) / 1e9, by_variant()));
    restarts.metric.push_back(
        value_metric(MetricType::Counter, static_cast<double>(v.restarts), by_variant()));
    // A variant that is not active has no workers: zero, rather than a series that vanishes.
    const ProcessUsage usage = v.usage.value_or(ProcessUsage{});
    rss.metric.push_back(
        value_metric(MetricType::Gauge, static_cast<double>(usage.rss_bytes), by_variant()));
    threads.metric.push_back(
        value_metric(MetricType::Gauge, static_cast<double>(usage.threads), by_variant()));
  }

  return present({&total, &queue, &upstream, &pool, &requests, &inflight, &connections,
                  &pool_threads, &rss, &threads, &cpu, &restarts});
}

// The load engine's runs, by scenario and target.
std::vector<MetricFamily> load_families(const MetricsSnapshot& s) {
  auto load = family("iolab_load_request_duration_seconds",
                     "Load engine latency of the measured windows of runs that ended.",
                     MetricType::Histogram);
  auto load_requests =
      family("iolab_load_requests_total",
             "Load engine outcomes, warm-up included, live during a run.", MetricType::Counter);
  for (const LoadMetrics& l : s.load) {
    load.metric.push_back(
        histogram_metric(l.latency, {label("scenario", l.scenario), label("target", l.target)}));
    const std::pair<const char*, uint64_t> outcomes[] = {{"response", l.responses},
                                                         {"error", l.errors}};
    for (const auto& [outcome, n] : outcomes) {
      load_requests.metric.push_back(value_metric(
          MetricType::Counter, static_cast<double>(n),
          {label("outcome", outcome), label("scenario", l.scenario), label("target", l.target)}));
    }
  }

  return present({&load, &load_requests});
}

// The built-in stub and the nightly judgement.
std::vector<MetricFamily> lab_families(const MetricsSnapshot& s) {
  auto stub =
      family("iolab_stub_request_duration_seconds",
             "Upstream stub time from request head read to answer written.", MetricType::Histogram);
  if (s.stub) stub.metric.push_back(histogram_metric(*s.stub, {}));
  auto stub_delay = family("iolab_stub_delay_seconds",
                           "The delay the upstream stub gave each request (drawn or asked for).",
                           MetricType::Histogram);
  if (s.stub_delays) stub_delay.metric.push_back(histogram_metric(*s.stub_delays, {}));
  auto stub_answers = family("iolab_stub_answers_total",
                             "Upstream stub requests whose delay ended, by fault (none: answered).",
                             MetricType::Counter);
  if (s.stub) {
    for (size_t i = 0; i < kStubFaultCount; ++i) {
      stub_answers.metric.push_back(
          value_metric(MetricType::Counter, static_cast<double>(s.stub_faults[i]),
                       {label("fault", std::string(kStubFaultNames[i]))}));
    }
  }

  auto regression =
      family("iolab_regression", "1 for a measure the latest night flagged as regressed.",
             MetricType::Gauge);
  for (const auto& r : s.regressions) {
    regression.metric.push_back(value_metric(
        MetricType::Gauge, 1,
        {label("measure", r.measure), label("scenario", r.scenario), label("variant", r.variant)}));
  }

  return present({&stub, &stub_delay, &stub_answers, &regression});
}

}  // namespace

std::vector<MetricFamily> to_families(const MetricsSnapshot& s) {
  std::vector<MetricFamily> out = variant_families(s);
  for (auto* part : {&load_families, &lab_families}) {
    for (auto& f : part(s)) out.push_back(std::move(f));
  }
  return out;
}

std::string serialize(const std::vector<MetricFamily>& families) {
  std::ostringstream out;
  prometheus::TextSerializer().Serialize(out, families);
  return out.str();
}

DaemonMetrics::DaemonMetrics(const std::string& version, const std::string& revision)
    : registry_(std::make_shared<prometheus::Registry>()) {
  prometheus::BuildGauge()
      .Name("iolab_build_info")
      .Help("The iolab build: always 1.")
      .Register(*registry_)
      .Add({{"version", version}, {"revision", revision}})
      .Set(1);
  auto& runs = prometheus::BuildCounter()
                   .Name("iolab_runs_total")
                   .Help("Runs that entered each state.")
                   .Register(*registry_);
  for (RunState state : kAllStates)
    runs_[state] = &runs.Add({{"state", std::string(to_string(state))}});
}

DaemonMetrics::~DaemonMetrics() = default;

std::shared_ptr<StatsRegion> DaemonMetrics::region_for(const std::string& variant) {
  const std::lock_guard lock(mutex_);
  Region& r = regions_[variant];
  if (!r.region) r.region = StatsRegion::create();
  r.used = ++clock_;
  std::shared_ptr<StatsRegion> region = r.region;
  retire();
  return region;
}

void DaemonMetrics::retire() {
  while (regions_.size() > kMaxVariantRegions) {
    auto oldest = regions_.end();
    for (auto it = regions_.begin(); it != regions_.end(); ++it) {
      // Held by a worker set (or being handed to one): still publishing, kept.
      if (it->second.region.use_count() > 1) continue;
      if (oldest == regions_.end() || it->second.used < oldest->second.used) oldest = it;
    }
    if (oldest == regions_.end()) break;
    regions_.erase(oldest);
  }
  while (load_.size() > kMaxLoadSeries) {
    auto oldest = load_used_.end();
    for (auto it = load_used_.begin(); it != load_used_.end(); ++it) {
      if (live_key_ == it->first) continue;
      if (oldest == load_used_.end() || it->second < oldest->second) oldest = it;
    }
    if (oldest == load_used_.end()) break;
    load_.erase(oldest->first);
    load_used_.erase(oldest);
  }
}

std::unique_ptr<RunStore> DaemonMetrics::count_runs(std::unique_ptr<RunStore> store) {
  return std::make_unique<CountingRunStore>(std::move(store), *this);
}

void DaemonMetrics::count_run(RunState state) { runs_.at(state)->Increment(); }

void DaemonMetrics::begin_load(const std::string& scenario, const std::string& target,
                               const LoadProgress* progress) {
  const std::lock_guard lock(mutex_);
  live_key_ = LoadKey{scenario, target};
  live_ = progress;
  auto& l = load_[*live_key_];
  l.scenario = scenario;
  l.target = target;
  load_used_[*live_key_] = ++clock_;
  retire();
}

void DaemonMetrics::end_load(const LoadResult* result, const LoadProgress& progress) {
  end_load(result, progress.requests(), progress.errors());
}

void DaemonMetrics::end_load(const LoadResult* result, uint64_t responses, uint64_t errors) {
  const std::lock_guard lock(mutex_);
  if (!live_key_) return;
  LoadMetrics& l = load_[*live_key_];
  if (result) l.latency += coarsen(result->latency);
  l.responses += responses;
  l.errors += errors;
  live_key_.reset();
  live_ = nullptr;
}

MetricsSnapshot DaemonMetrics::snapshot(const std::optional<std::string>& active,
                                        const std::optional<ProcessUsage>& usage) const {
  MetricsSnapshot s;
  const std::lock_guard lock(mutex_);
  for (const auto& [name, r] : regions_) {
    VariantMetrics v;
    v.variant = name;
    v.stats = r.region->sum();
    v.restarts = r.region->layout().restarts.load(std::memory_order_relaxed);
    if (active == name) v.usage = usage;
    s.variants.push_back(std::move(v));
  }
  for (const auto& [key, l] : load_) {
    LoadMetrics copy = l;
    if (live_key_ == key && live_) {
      copy.responses += live_->requests();
      copy.errors += live_->errors();
    }
    s.load.push_back(std::move(copy));
  }
  return s;
}

std::string DaemonMetrics::render(const MetricsSnapshot& snapshot) const {
  std::vector<MetricFamily> families = to_families(snapshot);
  for (auto& f : registry_->Collect()) families.push_back(std::move(f));
  return serialize(families);
}

}  // namespace iolab
