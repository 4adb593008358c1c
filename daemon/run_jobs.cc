#include "daemon/run_jobs.h"

#include <algorithm>
#include <limits>
#include <map>
#include <stdexcept>

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

namespace iolab {
namespace {

// Run `run`'s job again from what it stored: its request, or its experiment's row.
std::pair<RunQueue::Job, std::chrono::nanoseconds> rebuild_job(
    ApiContext& api, const RunRecord& run,
    std::map<int64_t, std::shared_ptr<const ExperimentSpec>>& experiments) {
  if (!run.experiment_id) {
    nlohmann::json body = nlohmann::json::object();
    for (const auto& [key, value] : run.spec.items()) {
      if (!value.is_null()) body[key] = value;
    }
    const RunBody request =
        run_from_body(JsonBody(body.dump(), {"target", "path", "connections", "threads", "duration",
                                             "warmup", "rate", "timeout"}),
                      api.config());
    return {adhoc_run_job(api, request), request.load.warmup + request.load.duration};
  }
  auto& spec = experiments[*run.experiment_id];
  if (!spec) {
    const auto e = api.store.experiment(*run.experiment_id);
    if (!e) throw std::runtime_error("its experiment is not in the store");
    const auto first = e->source.find_first_not_of(" \t\r\n");
    const bool is_json = first != std::string::npos && e->source[first] == '{';
    spec = std::make_shared<const ExperimentSpec>(
        experiment_from_body(e->source, is_json, api.config()));
  }
  const int64_t row = run.spec.value("row", int64_t{-1});
  if (row < 0 || static_cast<size_t>(row) >= spec->variants.size()) {
    throw std::runtime_error("its row is not in its experiment");
  }
  return {experiment_row_job(api, spec, static_cast<size_t>(row)),
          spec->load.warmup + spec->load.duration};
}

}  // namespace

std::vector<std::string> recover_runs(ApiContext& api) {
  std::vector<std::string> log;
  RunQuery query;
  query.limit = std::numeric_limits<size_t>::max();
  query.state = RunState::kRunning;
  for (RunRecord run : api.store.runs(query)) {
    run.state = RunState::kInterrupted;
    run.finished_at = utc_now();
    run.error = "the daemon stopped (killed or crashed) while this run was in progress";
    api.store.update_run(run);
    log.push_back("run " + std::to_string(run.id) +
                  ": interrupted, it was running when the daemon stopped");
  }
  query.state = RunState::kQueued;
  std::vector<RunRecord> queued = api.store.runs(query);
  std::reverse(queued.begin(), queued.end());  // oldest first: the order they were queued in
  std::map<int64_t, std::shared_ptr<const ExperimentSpec>> experiments;
  for (RunRecord& run : queued) {
    try {
      auto [job, length] = rebuild_job(api, run, experiments);
      api.queue.submit(run.id, std::move(job), length);
      log.push_back("run " + std::to_string(run.id) +
                    ": queued again, it had not started when the daemon stopped");
    } catch (const std::exception& e) {
      run.state = RunState::kFailed;
      run.finished_at = utc_now();
      run.error = std::string("not queued again after the daemon restarted: ") + e.what();
      api.store.update_run(run);
      log.push_back("run " + std::to_string(run.id) + ": failed, " + run.error);
    }
  }
  return log;
}

}  // namespace iolab
