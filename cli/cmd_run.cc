// `iolab run`: one embedded run (stub, variant and load, then the table), or load on a URL.

#include <CLI/CLI.hpp>
#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <cstdint>
#include <iostream>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

#include "cli/commands.h"
#include "cli/flags.h"
#include "cli/stop_signals.h"
#include "lab/experiment.h"
#include "lab/lab.h"
#include "lab/report.h"
#include "lab/report_charts.h"
#include "lab/trials.h"
#include "core/duration.h"
#include "core/endpoint.h"
#include "loadgen/load_spec.h"
#include "loadgen/segment.h"
#include "loadgen/request.h"
#include "variants/stub.h"
#include "variants/variant.h"

namespace iolab {
namespace {

constexpr int kMaxConnections = 100000;

struct RunFlags {
  std::string variant;
  std::string target;
  int connections = 400;
  int threads = 2;
  std::string duration = "10s";
  std::string warmup = "1s";
  std::string timeout = "10s";
  std::string upstream_delay = "100ms";
  int workers = 2;
  std::string path = "/remote";
  uint64_t requests = 0;
  double rate = 0;
  std::string method = "GET";
  std::vector<std::string> headers;
  std::string body;
  int pipeline = 1;
  uint64_t max_head = LoadSpec{}.max_head_bytes;
  std::string format = "rst";
  bool wide = false;
  int trials = 1;
  SegmentFlags segments;
  std::string start_at;
  std::string source;
};

// How far ahead --start-at may be: a typo should not leave a process waiting for days.
constexpr auto kMaxStartWait = std::chrono::hours(24);

// --segment, --segments, --segment-sequence, --start-at and --source applied to `load` (a
// --target run's whole spec); says on stderr which share this process takes.
void apply_spread_flags(const RunFlags& f, LoadSpec& load) {
  std::optional<SegmentChoice> choice;
  try {
    choice = choose_segment(f.segments, [](const char* name) { return std::getenv(name); });
  } catch (const std::invalid_argument& e) {
    throw UsageError(e.what());
  }
  if (choice) {
    if (f.target.empty()) {
      throw UsageError("--segment needs --target: the segments load one server together");
    }
    const LoadSpec whole = load;
    try {
      load = segment_spec(whole, choice->segment);
    } catch (const RunError& e) {
      throw UsageError(e.what());
    }
    std::cerr << "iolab run: segment " << choice->segment.to_string() << " (from "
              << choice->rank_from << "): " << load.connections << " of " << whole.connections
              << " connections";
    if (whole.rate > 0) std::cerr << ", " << load.rate << " of " << whole.rate << " req/s";
    if (whole.max_requests > 0) {
      std::cerr << ", " << load.max_requests << " of " << whole.max_requests << " requests";
    }
    std::cerr << "\n";
  }
  if (!f.start_at.empty()) {
    const auto at = parse_wall_time(f.start_at);
    if (!at) {
      throw UsageError("--start-at '" + f.start_at +
                       "' is neither seconds since the epoch nor RFC 3339 "
                       "(2026-12-02T06:00:00Z)");
    }
    if (*at - std::chrono::system_clock::now() > kMaxStartWait) {
      throw UsageError("--start-at '" + f.start_at + "' is more than 24 hours away");
    }
    load.start_at = *at;
  }
  if (!f.source.empty()) {
    if (!Endpoint{f.source, 0}.sockaddr()) {
      throw UsageError("--source '" + f.source + "' is not an IPv4 address");
    }
    load.source = f.source;
  }
}

int cmd_run(const RunFlags& f) {
  LoadSpec load;
  require_range("-c", f.connections, 1, kMaxConnections);
  require_range("-t", f.threads, 1, 256);
  require_variant_range("--workers", VariantField::kWorkers, f.workers);
  load.connections = f.connections;
  load.threads = std::min(f.threads, f.connections);
  load.duration = duration_flag("-d", f.duration);
  load.warmup = duration_flag("--warmup", f.warmup, true);
  load.timeout = duration_flag("--timeout", f.timeout);
  load.max_requests = f.requests;
  if (!(f.rate >= 0 && f.rate <= 1e9)) {
    throw UsageError("--rate must be between 0 (closed loop) and 1e9 requests/s");
  }
  load.rate = f.rate;
  require_range("--pipeline", f.pipeline, 1, 1024);
  if (f.pipeline > 1 && f.rate > 0) {
    throw UsageError(
        "--pipeline applies to the closed loop; with --rate each connection keeps "
        "one request in flight");
  }
  load.pipeline = f.pipeline;
  if (f.max_head < 64 || f.max_head > (uint64_t{64} << 20)) {
    throw UsageError("--max-head must be between 64 bytes and 64 MiB (67108864)");
  }
  load.max_head_bytes = f.max_head;
  load.method = f.method;
  load.headers = f.headers;
  load.body = body_flag(f.body);
  try {
    (void)build_request(load);  // Names a bad method or header now, as a usage error.
  } catch (const RunError& e) {
    throw UsageError(e.what());
  }
  const OutputFormat format = output_format_flag(f.format);
  require_range("--trials", f.trials, 1, kMaxTrials);
  StubProfile profile;
  profile.delay = duration_flag("--upstream-delay", f.upstream_delay, true);
  if (f.path.empty() || f.path.front() != '/') throw UsageError("--path must start with '/'");

  apply_spread_flags(f, load);
  std::optional<VariantSpec> variant;
  if (!f.target.empty()) {
    load.target = admitted_url("--target", f.target);
  } else {
    if (f.variant.empty()) throw UsageError("give --variant KIND or --target URL");
    std::string error;
    variant = parse_variant(f.variant, &error);
    if (!variant) throw UsageError("--variant: " + error);
    variant->workers = f.workers;
  }

  StopSignals signals;
  const std::stop_token stop = signals.watch();
  raise_fd_limit();
  Lab lab(profile, self_executable());
  const auto rows = run_interleaved(
      1, f.trials,
      [&](size_t, int trial) {
        const ProgressFn progress = trial_progress(stderr_progress(), trial, f.trials);
        return variant ? lab.run_variant(*variant, load, f.path, stop, progress)
                       : lab.run_target(load, stop, progress);
      },
      stop);
  if (format.chart) {
    const std::string title =
        "iolab run " + (variant ? variant->name() + " " + f.path : load.target.to_string());
    std::cout << render_trials_charts(rows, *format.chart, title) << std::flush;
  } else {
    std::cout << render_trials_report(rows, *format.table, f.wide) << std::flush;
  }
  return stop.stop_requested() ? kExitFailure : 0;
}

}  // namespace

Command add_run_command(CLI::App& app) {
  auto flags = std::make_shared<RunFlags>();
  RunFlags& run = *flags;
  auto* run_cmd =
      app.add_subcommand("run", "one embedded run: stub, variant and load, then the table");
  run_cmd->add_option("--variant", run.variant, "variant to start, as threads:100");
  run_cmd->add_option("--target", run.target, "load this http:// URL instead (loopback only)");
  run_cmd->add_option("-c,--connections", run.connections, "connections in all")
      ->capture_default_str();
  run_cmd->add_option("-t,--threads", run.threads, "load threads")->capture_default_str();
  run_cmd->add_option("-d,--duration", run.duration, "measured duration")->capture_default_str();
  run_cmd->add_option("--warmup", run.warmup, "unrecorded load before")->capture_default_str();
  run_cmd->add_option("--timeout", run.timeout, "per-request timeout")->capture_default_str();
  run_cmd->add_option("--upstream-delay", run.upstream_delay, "stub delay")->capture_default_str();
  run_cmd->add_option("--workers", run.workers, "variant worker processes")->capture_default_str();
  run_cmd->add_option("--path", run.path, "path loaded on the variant")->capture_default_str();
  run_cmd->add_option("-n,--requests", run.requests, "stop after this many requests (0: no limit)");
  run_cmd->add_option("--rate", run.rate,
                      "open loop: requests/s in all on a fixed schedule (0: closed loop)");
  run_cmd->add_option("-m,--method", run.method, "request method")->capture_default_str();
  run_cmd->add_option("-H,--header", run.headers, "extra header 'Name: value' (repeatable)")
      ->allow_extra_args(false);
  run_cmd->add_option("--body", run.body, "request body, or @FILE for a file's bytes");
  run_cmd->add_option("--pipeline", run.pipeline, "closed loop: requests in flight per connection")
      ->capture_default_str();
  run_cmd
      ->add_option("--max-head", run.max_head,
                   "bytes an answer's head may take (status line, headers); more is a "
                   "protocol error")
      ->capture_default_str();
  run_cmd->add_option("--format", run.format, "rst, csv, json (the table), svg or html (charts)")
      ->capture_default_str();
  run_cmd->add_flag("--wide", run.wide, "add rps, errors, bound%");
  run_cmd
      ->add_option("--trials", run.trials,
                   "repeat the run N times: the table shows the median of the trials with a "
                   "95 % interval")
      ->capture_default_str();
  run_cmd->add_option("--segment", run.segments.segment,
                      "run this share of the load: I/N (0-based) or a:b (fractions)");
  run_cmd->add_option("--segments", run.segments.segments,
                      "N or auto: take the segment index from the engine (Kubernetes Indexed "
                      "Job, Slurm, Open MPI)");
  run_cmd->add_option("--segment-sequence", run.segments.sequence,
                      "unequal shares, as 0,1/4,1: the engine's rank i runs [s_i, s_i+1)");
  run_cmd->add_option("--start-at", run.start_at,
                      "start the warm-up at this wall-clock time (epoch seconds or RFC 3339)");
  run_cmd->add_option("--source", run.source, "bind the load's sockets to this local address");
  return {run_cmd, [flags] { return cmd_run(*flags); }};
}

}  // namespace iolab
