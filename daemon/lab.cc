#include "daemon/lab.h"

#include <unistd.h>

#include <condition_variable>
#include <cstdio>
#include <mutex>
#include <thread>

#include "core/duration.h"
#include "daemon/process_usage.h"
#include "daemon/supervisor.h"

namespace iolab {
namespace {

using Clock = std::chrono::steady_clock;

}  // namespace

Lab::Lab(StubProfile upstream, std::string executable)
    : profile_(upstream), executable_(std::move(executable)), stub_(upstream) {
  stub_.start(Endpoint{"127.0.0.1", 0});
}

Lab::~Lab() { stub_.stop(); }

ReportRow Lab::run_variant(const VariantSpec& variant, LoadSpec load, const std::string& path,
                           std::stop_token stop, const ProgressFn& progress) {
  WorkerSetSpec workers;
  workers.executable = executable_;
  workers.variant = variant;
  workers.upstream.url = *parse_url("http://127.0.0.1:" + std::to_string(stub_.port()) + "/");
  workers.upstream.timeout = std::max<std::chrono::nanoseconds>(10s, profile_.delay * 2);
  workers.listen = Endpoint{"127.0.0.1", 0};
  Supervisor supervisor(workers);
  const uint16_t port = supervisor.start();

  load.target.endpoint = Endpoint{"127.0.0.1", port};
  load.target.host_header = load.target.endpoint.to_string();
  load.target.target = path;
  const double bound = path == "/remote" ? load.connections / to_seconds(profile_.delay) : 0.0;
  const ProcessUsage before = read_usage(supervisor.pids());
  ReportRow row = measure(variant.name(), load, bound, stop, progress);
  ProcessUsage after = read_usage(supervisor.pids());
  // A worker restarted meanwhile starts its CPU count afresh; never report less than zero.
  after.cpu_seconds = std::max(0.0, after.cpu_seconds - before.cpu_seconds);
  row.usage = after;
  supervisor.stop();
  return row;
}

ReportRow Lab::run_target(LoadSpec load, std::stop_token stop, const ProgressFn& progress) {
  const std::string label = load.target.to_string();
  return measure(label, std::move(load), 0.0, stop, progress);
}

std::vector<ReportRow> Lab::run_experiment(const ExperimentSpec& experiment, std::stop_token stop,
                                           const ProgressFn& progress) {
  std::vector<ReportRow> rows;
  for (const VariantSpec& variant : experiment.variants) {
    if (stop.stop_requested()) break;
    rows.push_back(run_variant(variant, experiment.load, experiment.path, stop, progress));
  }
  return rows;
}

ReportRow Lab::measure(const std::string& label, LoadSpec load, double bound_rps,
                       std::stop_token stop, const ProgressFn& progress) {
  LoadProgress live;
  std::jthread reporter;
  if (progress) {
    const auto total = load.warmup + load.duration;
    reporter = std::jthread([&, total](std::stop_token token) {
      const auto started = Clock::now();
      std::mutex m;
      std::condition_variable_any cv;
      std::unique_lock lock(m);
      while (!cv.wait_for(lock, token, 1s, [&token] { return token.stop_requested(); })) {
        progress(label, Clock::now() - started, total, live);
      }
    });
  }
  ReportRow row{label, run_load(load, stop, &live), bound_rps, std::nullopt};
  reporter = {};
  return row;
}

ProgressFn stderr_progress() {
  const bool tty = ::isatty(STDERR_FILENO) != 0;
  return [tty](const std::string& label, std::chrono::nanoseconds elapsed,
               std::chrono::nanoseconds total, const LoadProgress& p) {
    std::fprintf(stderr, "%s%-14s %5.0fs/%.0fs %10llu answers %8llu errors%s", tty ? "\r" : "",
                 label.c_str(), to_seconds(elapsed), to_seconds(total),
                 static_cast<unsigned long long>(p.requests()),
                 static_cast<unsigned long long>(p.errors()), tty ? "" : "\n");
    std::fflush(stderr);
  };
}

}  // namespace iolab
