#include "lab/lab.h"

#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <optional>
#include <thread>

#include "core/duration.h"
#include "workers/process_usage.h"
#include "workers/supervisor.h"

namespace iolab {
namespace {

using Clock = std::chrono::steady_clock;

// Each worker's share of the connections is uneven: SO_REUSEPORT hashes them. Measured spread at
// 400 connections over 2 workers was within 10 %; a worker is given room for 25 % more than its
// even share.
constexpr double kWorkerShareSlack = 1.25;
constexpr uint64_t kWorkerSpareFds = 64;

// A worker publishes its stats every 100 ms; after the load ends, this long at most is waited
// for the answers the load saw to appear in them.
constexpr auto kPublishWait = std::chrono::seconds(2);
constexpr auto kPublishPoll = std::chrono::milliseconds(20);

ServerLayer layer_since(const CoarseHistogram& now, const CoarseHistogram& before) {
  // A worker restarted meanwhile starts from its slot's counts, so these never go back.
  return ServerLayer{now.count() - std::min(now.count(), before.count()),
                     now.sum_ns - std::min(now.sum_ns, before.sum_ns)};
}

// What `workers` published about their own answers since `before`, once it covers the
// `answered` answers the load saw (every one of them was written by a worker), or after
// kPublishWait: the workers publish every 100 ms.
std::optional<ServerLayers> server_layers_since(const Supervisor& workers,
                                                const WorkerStatsValues& before,
                                                uint64_t answered) {
  const auto deadline = Clock::now() + kPublishWait;
  std::optional<WorkerStatsValues> now = workers.published_stats();
  while (now && now->total.count() - before.total.count() < answered && Clock::now() < deadline) {
    std::this_thread::sleep_for(kPublishPoll);
    now = workers.published_stats();
  }
  if (!now) return std::nullopt;
  return ServerLayers{
      layer_since(now->total, before.total), layer_since(now->queue_wait, before.queue_wait),
      layer_since(now->upstream, before.upstream), layer_since(now->pool_wait, before.pool_wait)};
}

}  // namespace

uint64_t upstream_connections_at_most(const VariantSpec& variant, int connections) {
  const auto c = static_cast<uint64_t>(connections);
  const auto workers = static_cast<uint64_t>(std::max(1, variant.workers));
  // A thread holds one upstream connection; a capped async pool holds pool_size per worker.
  if (variant.kind == "threads")
    return std::min(c, static_cast<uint64_t>(variant.threads) * workers);
  if (variant.kind == "async" && variant.pool_size > 0) {
    return std::min(c, static_cast<uint64_t>(variant.pool_size) * workers);
  }
  return c;
}

void check_open_files(const VariantSpec& variant, int connections) {
  // This process: the load's sockets and the stub's ends of the workers' upstream connections.
  reserve_open_files(connections, upstream_connections_at_most(variant, connections),
                     "the upstream stub's side");
  // Each worker, which raises its own soft limit to the same hard limit: its share of the load's
  // connections, and as many upstream connections again at most.
  const uint64_t limit = raise_open_file_limit();
  const auto workers = static_cast<uint64_t>(std::max(1, variant.workers));
  const auto share = static_cast<uint64_t>(std::ceil(
      static_cast<double>(connections) / static_cast<double>(workers) * kWorkerShareSlack));
  const uint64_t upstream = std::min(share, upstream_connections_at_most(variant, connections));
  const uint64_t needed = share + upstream + kWorkerSpareFds;
  if (needed > limit) {
    throw RunError("connections: " + std::to_string(connections) + " over " +
                   std::to_string(workers) + " worker(s) need up to " + std::to_string(needed) +
                   " open files in a worker (" + std::to_string(share) + " clients, " +
                   std::to_string(upstream) + " upstream) but RLIMIT_NOFILE allows " +
                   std::to_string(limit) +
                   "; use fewer connections, more workers or raise the limit (ulimit -n, "
                   "systemd LimitNOFILE=)");
  }
}

Lab::Lab(StubProfile upstream, std::string executable)
    : profile_(upstream), executable_(std::move(executable)), stub_(upstream) {
  stub_.start(Endpoint{"127.0.0.1", 0});
}

Lab::~Lab() { stub_.stop(); }

WorkerSetSpec worker_set(std::string executable, const VariantSpec& variant,
                         const UpstreamRoute& upstream, const Endpoint& listen) {
  WorkerSetSpec workers;
  workers.executable = std::move(executable);
  workers.variant = variant;
  workers.upstream.url = upstream.url;
  // Twice a long delay, so that a slow tail is measured rather than cut off.
  const auto delay =
      upstream.builtin ? upstream.builtin->delays().quantile(0.999) : std::chrono::nanoseconds{0};
  workers.upstream.timeout = std::max<std::chrono::nanoseconds>(10s, delay * 2);
  workers.listen = listen;
  return workers;
}

ReportRow load_variant(const VariantSpec& variant, const Supervisor& workers,
                       const UpstreamRoute& upstream, LoadSpec load, const std::string& path,
                       std::stop_token stop, LoadProgress& live) {
  load.target.endpoint = Endpoint{"127.0.0.1", workers.port()};
  load.target.host_header = load.target.endpoint.to_string();
  load.target.target = path;
  double bound_rps = 0;
  if (path == "/remote" && upstream.builtin && upstream.builtin->mean_delay().count() > 0) {
    bound_rps = load.connections / to_seconds(upstream.builtin->mean_delay());
  }
  const ProcessUsage before = read_usage(workers.pids());
  const uint64_t restarts_before = workers.restarts();
  const std::optional<WorkerStatsValues> stats_before = workers.published_stats();
  ReportRow row{variant.name(), run_load(load, stop, &live), bound_rps, std::nullopt};
  if (stats_before) {
    uint64_t answered = 0;
    for (const TimelinePoint& p : row.result.timeline) answered += p.requests;
    row.server = server_layers_since(workers, *stats_before, answered);
  }
  ProcessUsage after = read_usage(workers.pids());
  // A worker restarted meanwhile starts its CPU count afresh; never report less than zero.
  after.cpu_seconds = std::max(0.0, after.cpu_seconds - before.cpu_seconds);
  row.usage = after;
  row.worker_restarts = workers.restarts() - restarts_before;
  return row;
}

ReportRow load_target(LoadSpec load, std::stop_token stop, LoadProgress& live) {
  std::string label = load.target.to_string();
  return ReportRow{std::move(label), run_load(load, stop, &live), 0.0, std::nullopt};
}

namespace {

// The engine hands over each second of its timeline as it ends: that is the progress line.
LoadProgress progress_of(const std::string& label, const LoadSpec& load, const ProgressFn& progress,
                         const LoadProgress*& self) {
  const auto total = load.warmup + load.duration;
  return LoadProgress([&progress, &self, label, total](const TimelinePoint& point) {
    if (!progress) return;
    const auto elapsed = std::chrono::seconds(point.second + 1);
    progress(label, std::min<std::chrono::nanoseconds>(elapsed, total), total, *self);
  });
}

}  // namespace

ReportRow Lab::run_variant(const VariantSpec& variant, LoadSpec load, const std::string& path,
                           std::stop_token stop, const ProgressFn& progress) {
  // Up front: a run that cannot hold its connections fails before anything starts.
  check_open_files(variant, load.connections);
  const UpstreamRoute upstream{*parse_url("http://127.0.0.1:" + std::to_string(stub_.port()) + "/"),
                               profile_};
  WorkerSetSpec spec = worker_set(executable_, variant, upstream, Endpoint{"127.0.0.1", 0});
  // The workers always publish their stats: the report's time decomposition reads them.
  spec.stats = stats_regions ? stats_regions(variant.name()) : StatsRegion::create();
  Supervisor workers(spec);
  workers.start();
  const LoadProgress* self = nullptr;
  LoadProgress live = progress_of(variant.name(), load, progress, self);
  self = &live;
  ReportRow row = load_variant(variant, workers, upstream, std::move(load), path, stop, live);
  workers.stop();
  return row;
}

ReportRow Lab::run_target(LoadSpec load, std::stop_token stop, const ProgressFn& progress) {
  const LoadProgress* self = nullptr;
  LoadProgress live = progress_of(load.target.to_string(), load, progress, self);
  self = &live;
  return load_target(std::move(load), stop, live);
}

ReportRow Lab::run_experiment_row(const ExperimentSpec& experiment, size_t i, std::stop_token stop,
                                  const ProgressFn& progress) {
  LoadSpec load = experiment.load;
  std::string path = experiment.path;
  if (i < experiment.points.size()) {
    load.rate = experiment.points[i].rate;
    path = experiment.points[i].path;
  }
  return run_variant(experiment.variants.at(i), load, path, stop, progress);
}

std::vector<TrialRow> Lab::run_experiment_trials(const ExperimentSpec& experiment, int trials,
                                                 std::stop_token stop, const ProgressFn& progress) {
  return run_interleaved(
      experiment.variants.size(), trials,
      [&](size_t row, int trial) {
        return run_experiment_row(experiment, row, stop, trial_progress(progress, trial, trials));
      },
      stop);
}

std::vector<ReportRow> Lab::run_experiment(const ExperimentSpec& experiment, std::stop_token stop,
                                           const ProgressFn& progress) {
  std::vector<ReportRow> rows;
  for (auto& row : run_experiment_trials(experiment, 1, stop, progress)) {
    if (!row.trials.empty()) rows.push_back(std::move(row.trials.front()));
  }
  return rows;
}

ProgressFn trial_progress(const ProgressFn& progress, int trial, int trials) {
  if (trials <= 1 || !progress) return progress;
  const std::string mark = " #" + std::to_string(trial + 1) + "/" + std::to_string(trials);
  return [progress, mark](const std::string& label, std::chrono::nanoseconds elapsed,
                          std::chrono::nanoseconds total,
                          const LoadProgress& p) { progress(label + mark, elapsed, total, p); };
}

ProgressFn stderr_progress() {
  const bool tty = ::isatty(STDERR_FILENO) != 0;
  // A run's first protocol error is named once: runs of an experiment differ by their label
  // (a trial's includes its number).
  return [tty, told = std::string()](const std::string& label, std::chrono::nanoseconds elapsed,
                                     std::chrono::nanoseconds total,
                                     const LoadProgress& p) mutable {
    const ProtocolError error = p.protocol_error();
    if (told != label && !error.reason.empty()) {
      told = label;
      std::fprintf(stderr, "%s%s: first protocol error: %s\n", tty ? "\r\033[K" : "", label.c_str(),
                   error.to_string().c_str());
    }
    const auto second = p.last_second().value_or(TimelinePoint{});
    std::fprintf(stderr,
                 "%s%-14s %5.0fs/%.0fs %10llu answers %8llu errors | this second%s: %8llu answers "
                 "%6llu errors p50 %8.3f ms p99 %8.3f ms%s",
                 tty ? "\r" : "", label.c_str(), to_seconds(elapsed), to_seconds(total),
                 static_cast<unsigned long long>(p.requests()),
                 static_cast<unsigned long long>(p.errors()), second.warmup ? " (warm-up)" : "",
                 static_cast<unsigned long long>(second.requests),
                 static_cast<unsigned long long>(second.errors), to_ms(second.p50),
                 to_ms(second.p99), tty ? "" : "\n");
    std::fflush(stderr);
  };
}

}  // namespace iolab
