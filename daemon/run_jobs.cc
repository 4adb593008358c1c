#include "daemon/run_jobs.h"

#include <algorithm>

#include "daemon/api_views.h"
#include "lab/environment.h"
#include "lab/lab.h"

namespace iolab {
namespace {

// Ends the load series a run began in /metrics, also when the run throws.
class MetricsLoad {
 public:
  MetricsLoad(DaemonMetrics& metrics, const std::string& scenario, const std::string& target,
              const LoadProgress& progress)
      : metrics_(metrics), progress_(progress) {
    metrics_.begin_load(scenario, target, &progress_);
  }
  ~MetricsLoad() {
    if (!ended_) metrics_.end_load(nullptr, progress_);
  }
  MetricsLoad(const MetricsLoad&) = delete;
  MetricsLoad& operator=(const MetricsLoad&) = delete;

  void end(const LoadResult& result) {
    metrics_.end_load(&result, progress_);
    ended_ = true;
  }

 private:
  DaemonMetrics& metrics_;
  const LoadProgress& progress_;
  bool ended_ = false;
};

}  // namespace

RunQueue::Job adhoc_run_job(ApiContext& api, RunBody request) {
  return [&api, request](std::stop_token stop, LiveRun& live, RunRecord& record) {
    LoadSpec load = request.load;
    std::unique_ptr<VariantHost::Lease> lease;
    if (request.target) {
      load.target = *request.target;
    } else {
      lease = api.host.lease(load.connections);
      record.label = lease->spec().name();
      record.spec["variant"] = variant_json(lease->spec());
    }
    record.environment = run_environment();
    api.store.update_run(record);

    const auto total = load.warmup + load.duration;
    LoadProgress progress([&](const TimelinePoint& point) {
      const auto elapsed = std::chrono::seconds(point.second + 1);
      live.update(std::min<std::chrono::nanoseconds>(elapsed, total), total, progress);
    });
    // By host and port: a label per URL would grow with every path a client makes up.
    MetricsLoad metrics(api.metrics, "adhoc",
                        request.target ? request.target->endpoint.to_string() : record.label,
                        progress);
    const ReportRow row = lease ? load_variant(lease->spec(), lease->workers(), lease->upstream(),
                                               load, request.path, stop, progress)
                                : load_target(load, stop, progress);
    metrics.end(row.result);
    return row_to_json(row);
  };
}

RunQueue::Job experiment_row_job(ApiContext& api, std::shared_ptr<const ExperimentSpec> shared,
                                 size_t i) {
  return [&api, shared = std::move(shared), i](std::stop_token stop, LiveRun& live,
                                               RunRecord& record) {
    const ExperimentSpec& spec = *shared;
    record.environment = run_environment();
    Lab lab(spec.upstream, api.executable);
    // /metrics: the workers publish into the variant's region; the load series of the
    // scenario count the run's measured window when it ends.
    lab.stats_regions = [&api](const std::string& name) { return api.metrics.region_for(name); };
    const std::string scenario =
        spec.points[i].scenario.empty() ? spec.name : spec.points[i].scenario;
    api.metrics.begin_load(scenario, spec.variants[i].name(), nullptr);
    LoadSpec load = spec.load;
    load.rate = spec.points[i].rate;
    const ReportRow row =
        lab.run_variant(spec.variants[i], load, spec.points[i].path, stop,
                        [&live](const std::string&, std::chrono::nanoseconds elapsed,
                                std::chrono::nanoseconds total,
                                const LoadProgress& p) { live.update(elapsed, total, p); });
    api.metrics.end_load(&row.result, row.result.requests, row.result.errors.total());
    return row_to_json(row);
  };
}

}  // namespace iolab
