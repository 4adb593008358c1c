#include "cli/cli.h"

#include <malloc.h>
#include <signal.h>
#include <sys/resource.h>
#include <unistd.h>

#include <httplib.h>

#include <CLI/CLI.hpp>
#include <climits>
#include <condition_variable>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <iterator>
#include <mutex>
#include <optional>
#include <stop_token>
#include <thread>

#include "core/duration.h"
#include "core/errors.h"
#include "cli/client.h"
#include "cli/flags.h"
#include "cli/stop_signals.h"
#include "daemon/config.h"
#include "daemon/daemon.h"
#include "lab/experiment.h"
#include "lab/lab.h"
#include "daemon/notify.h"
#include "lab/report.h"
#include "workers/supervisor.h"
#include "loadgen/engine.h"
#include "loadgen/request.h"
#include "variants/stub.h"

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
  std::string format = "rst";
  bool wide = false;
};

struct ExperimentFlags {
  std::string file;
  std::string format = "rst";
  bool wide = false;
  std::string out;
};

struct StubFlags {
  std::string listen = "127.0.0.1:0";
  std::string delay = "100ms";
  std::string max_delay = "60s";
  int body_bytes = 612;
};

struct ServeFlags {
  std::string kind;
  std::string listen = "127.0.0.1:0";
  std::string upstream;
  std::string upstream_delay = "100ms";
  std::string upstream_timeout = "10s";
  int workers = 2;
};

struct WorkerFlags {
  std::string variant;
  int pool_size = 0;
  size_t stack_bytes = 64 * 1024;
  std::string listen;
  std::string upstream;
  std::string upstream_timeout = "10s";
  int ready_fd = -1;
  int stats_fd = -1;
  int stats_slot = -1;
};

int cmd_run(const RunFlags& f) {
  LoadSpec load;
  require_range("-c", f.connections, 1, kMaxConnections);
  require_range("-t", f.threads, 1, 256);
  require_range("--workers", f.workers, 1, 64);
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
  load.method = f.method;
  load.headers = f.headers;
  load.body = body_flag(f.body);
  try {
    (void)build_request(load);  // Names a bad method or header now, as a usage error.
  } catch (const RunError& e) {
    throw UsageError(e.what());
  }
  const ReportFormat format = format_flag(f.format);
  StubProfile profile;
  profile.delay = duration_flag("--upstream-delay", f.upstream_delay, true);
  if (f.path.empty() || f.path.front() != '/') throw UsageError("--path must start with '/'");

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
  const ReportRow row = variant ? lab.run_variant(*variant, load, f.path, stop, stderr_progress())
                                : lab.run_target(load, stop, stderr_progress());
  std::cout << render_report({row}, format, f.wide) << std::flush;
  return stop.stop_requested() ? kExitFailure : 0;
}

int cmd_experiment(const ExperimentFlags& f) {
  const ReportFormat format = format_flag(f.format);
  ExperimentSpec experiment;
  try {
    experiment = load_experiment_file(f.file);
  } catch (const ConfigError& e) {
    throw UsageError(e.what());
  }
  StopSignals signals;
  const std::stop_token stop = signals.watch();
  raise_fd_limit();
  std::cerr << "experiment " << experiment.name << ": " << experiment.variants.size()
            << " variants, " << experiment.load.connections << " connections, "
            << format_duration(experiment.load.duration) << " each, upstream "
            << format_duration(experiment.upstream.delay) << "\n";
  Lab lab(experiment.upstream, self_executable());
  const std::vector<ReportRow> rows = lab.run_experiment(experiment, stop, stderr_progress());
  std::cout << render_report(rows, format, f.wide) << std::flush;
  if (!f.out.empty()) {
    std::filesystem::create_directories(f.out);
    for (const auto& [ext, fmt] :
         {std::pair{"rst", ReportFormat::kRst}, std::pair{"csv", ReportFormat::kCsv},
          std::pair{"json", ReportFormat::kJson}}) {
      std::ofstream(std::filesystem::path(f.out) / (experiment.name + "." + ext))
          << render_report(rows, fmt, true);
    }
  }
  if (stop.stop_requested()) {
    std::cerr << "iolab: interrupted after " << rows.size() << " of " << experiment.variants.size()
              << " variants\n";
    return kExitFailure;
  }
  return 0;
}

int cmd_stub(const StubFlags& f) {
  StubProfile profile;
  profile.delay = duration_flag("--delay", f.delay, true);
  profile.max_delay = duration_flag("--max-delay", f.max_delay, true);
  require_range("--body-bytes", f.body_bytes, 0, 16 << 20);
  profile.body_bytes = static_cast<size_t>(f.body_bytes);
  const Endpoint listen = endpoint_flag("--listen", f.listen);
  StopSignals signals;
  raise_fd_limit();
  UpstreamStub stub(profile);
  const uint16_t port = stub.start(listen);
  std::cout << "iolab stub listening on " << listen.host << ":" << port << " (delay "
            << format_duration(profile.delay) << ")" << std::endl;
  signals.wait();
  stub.stop();
  return 0;
}

int cmd_serve(const ServeFlags& f) {
  std::string error;
  auto variant = parse_variant(f.kind, &error);
  if (!variant) throw UsageError(error);
  require_range("--workers", f.workers, 1, 64);
  variant->workers = f.workers;
  WorkerSetSpec spec;
  spec.executable = self_executable();
  spec.variant = *variant;
  spec.listen = endpoint_flag("--listen", f.listen);
  spec.upstream.timeout = duration_flag("--upstream-timeout", f.upstream_timeout);

  StopSignals signals;
  raise_fd_limit();
  std::optional<UpstreamStub> stub;
  if (f.upstream.empty()) {
    StubProfile profile;
    profile.delay = duration_flag("--upstream-delay", f.upstream_delay, true);
    stub.emplace(profile);
    const uint16_t port = stub->start(Endpoint{"127.0.0.1", 0});
    spec.upstream.url = *parse_url("http://127.0.0.1:" + std::to_string(port) + "/");
  } else {
    spec.upstream.url = admitted_url("--upstream", f.upstream);
  }
  Supervisor supervisor(spec);
  const uint16_t port = supervisor.start();
  std::cout << "iolab serving " << variant->name() << " on " << spec.listen.host << ":" << port
            << " (" << variant->workers << " workers), upstream " << spec.upstream.url.to_string()
            << std::endl;
  signals.wait();
  supervisor.stop();
  return 0;
}

int cmd_worker(const WorkerFlags& f) {
  std::string error;
  auto variant = parse_variant(f.variant, &error);
  if (!variant) throw UsageError(error);
  variant->pool_size = f.pool_size;
  variant->stack_bytes = f.stack_bytes;
  UpstreamOptions upstream;
  upstream.url = admitted_url("--upstream", f.upstream);
  upstream.timeout = duration_flag("--upstream-timeout", f.upstream_timeout);
  raise_fd_limit();
  return run_worker(*variant, upstream, endpoint_flag("--listen", f.listen), f.ready_fd, f.stats_fd,
                    f.stats_slot);
}

// True when GET /healthz on the daemon's API answers 200 within `timeout`.
bool api_answers(const Endpoint& listen, uint16_t port, std::chrono::milliseconds timeout) {
  // A wildcard bind is reached over loopback.
  const std::string host =
      listen.host == "0.0.0.0" || listen.host.empty() ? std::string("127.0.0.1") : listen.host;
  httplib::Client client(host, port);
  client.set_connection_timeout(timeout);
  client.set_read_timeout(timeout);
  const auto r = client.Get("/healthz");
  return r && r->status == 200;
}

// Reloads the config file on SIGHUP: a bad file is refused whole and the old config stays.
void reload_daemon(Daemon& daemon, const std::string& config_path) {
  notify_service_manager("RELOADING=1");
  if (config_path.empty()) {
    std::cerr << "iolab: reload: no --config file, nothing to reload\n";
  } else {
    try {
      const DaemonConfig next = load_config_file(config_path);
      for (const auto& line : daemon.reload(next)) std::cerr << "iolab: reload: " << line << "\n";
    } catch (const ConfigError& e) {
      std::cerr << "iolab: reload refused, the old config stays: " << e.what() << "\n";
    }
  }
  std::cerr << std::flush;
  notify_service_manager("READY=1");
}

int cmd_daemon(const std::string& config_path) {
  DaemonConfig config;
  try {
    if (!config_path.empty()) config = load_config_file(config_path);
  } catch (const ConfigError& e) {
    throw UsageError(e.what());
  }
  // SIGHUP (systemctl reload) is taken by the sigwait below, in no other thread.
  sigset_t signal_set;
  sigemptyset(&signal_set);
  sigaddset(&signal_set, SIGHUP);
  pthread_sigmask(SIG_BLOCK, &signal_set, nullptr);
  StopSignals signals;
  sigaddset(&signal_set, SIGINT);
  sigaddset(&signal_set, SIGTERM);
  raise_fd_limit();
  // Each run's load threads are new threads, and glibc gives new threads arenas of their own (up
  // to 8 per core); freed memory then sits resident in many arenas at once. Nothing on the
  // daemon's request or load paths allocates, so two arenas cost no contention. Fixed
  // thresholds: glibc otherwise raises them after the first large free, and a run's histograms
  // then come from an arena top that is never given back. Measured in run_queue.cc.
  ::mallopt(M_ARENA_MAX, 2);
  ::mallopt(M_MMAP_THRESHOLD, 128 * 1024);
  ::mallopt(M_TRIM_THRESHOLD, 128 * 1024);
  Daemon daemon(config, self_executable());
  const uint16_t port = daemon.start();
  // The first line of stdout is the bound address: scripts and tests read the port from it.
  std::cout << "iolab daemon listening on " << config.api_listen.host << ":" << port << std::endl;
  // READY=1 only once the API answers: systemd then starts what depends on it.
  const auto deadline = std::chrono::steady_clock::now() + 30s;
  while (!api_answers(config.api_listen, port, 1000ms)) {
    if (std::chrono::steady_clock::now() > deadline) {
      throw std::runtime_error("the API does not answer on port " + std::to_string(port));
    }
    std::this_thread::sleep_for(10ms);
  }
  notify_service_manager("READY=1\nSTATUS=API on " + config.api_listen.host + ":" +
                         std::to_string(port));
  // The watchdog is fed only while the API answers, so a hung daemon gets restarted.
  std::jthread watchdog;
  if (const auto every = watchdog_interval()) {
    watchdog =
        std::jthread([period = *every, listen = config.api_listen, port](std::stop_token st) {
          std::mutex mutex;
          std::condition_variable_any wake;
          const auto timeout = std::max<std::chrono::milliseconds>(
              std::chrono::duration_cast<std::chrono::milliseconds>(period), 100ms);
          while (!st.stop_requested()) {
            if (api_answers(listen, port, timeout)) notify_service_manager("WATCHDOG=1");
            std::unique_lock lock(mutex);
            wake.wait_for(lock, st, period, [] { return false; });
          }
        });
  }
  while (true) {
    int received = 0;
    sigwait(&signal_set, &received);
    if (received != SIGHUP) break;
    reload_daemon(daemon, config_path);
  }
  notify_service_manager("STOPPING=1");
  std::cerr << "iolab: stopping\n";
  watchdog = std::jthread();
  daemon.stop();
  return 0;
}

int cmd_experiment_on_daemon(const ExperimentFlags& f, const std::string& url) {
  (void)format_flag(f.format);
  StopSignals signals;
  const std::stop_token stop = signals.watch();
  try {
    return run_experiment_on_daemon(DaemonClientOptions{url, f.format, f.wide}, f.file, stop);
  } catch (const std::invalid_argument& e) {
    throw UsageError(e.what());
  }
}

}  // namespace

int run_cli(int argc, char** argv) {
  CLI::App app{"iolab: which concurrency model serves an I/O-bound service best, measured"};
  app.require_subcommand(1);
  app.set_version_flag("--version", std::string(IOLAB_VERSION " (" IOLAB_GIT_REVISION ")"));

  RunFlags run;
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
  run_cmd->add_option("--format", run.format, "rst, csv or json")->capture_default_str();
  run_cmd->add_flag("--wide", run.wide, "add rps, errors, bound%");

  ExperimentFlags exp;
  auto* exp_cmd = app.add_subcommand("experiment", "a matrix of embedded runs from a YAML file");
  exp_cmd->add_option("file", exp.file, "experiment file")->required();
  exp_cmd->add_option("--format", exp.format, "rst, csv or json")->capture_default_str();
  exp_cmd->add_flag("--wide", exp.wide, "add rps, errors, bound%");
  exp_cmd->add_option("--out", exp.out, "also write NAME.rst, .csv and .json here");
  std::string exp_daemon;
  exp_cmd->add_option("--daemon", exp_daemon, "submit to the daemon at this URL instead");

  std::string daemon_config;
  auto* daemon_cmd = app.add_subcommand("daemon", "the long-running service: REST API, run queue");
  daemon_cmd->add_option("--config", daemon_config, "config file (default: built-in defaults)");

  DaemonClientOptions history;
  std::string history_scenario;
  auto* history_cmd =
      app.add_subcommand("history", "a scenario's nightly trend, one row per night and variant");
  history_cmd->add_option("scenario", history_scenario, "scenario name")->required();
  history_cmd->add_option("--daemon", history.url, "daemon URL, as http://127.0.0.1:7070")
      ->required();
  history_cmd->add_option("--format", history.format, "rst or json")->capture_default_str();

  std::string report_id;
  bool report_run = false;
  DaemonClientOptions report;
  auto* report_cmd = app.add_subcommand("report", "a stored experiment's (or run's) report");
  report_cmd->add_option("id", report_id, "experiment id (a run id with --run)")->required();
  report_cmd->add_option("--daemon", report.url, "daemon URL, as http://127.0.0.1:7070")
      ->required();
  report_cmd->add_option("--format", report.format, "rst, csv, json, svg or html")
      ->capture_default_str();
  report_cmd->add_flag("--wide", report.wide, "add rps, errors, bound%");
  report_cmd->add_flag("--run", report_run, "ID is a run, not an experiment");

  StubFlags stub;
  auto* stub_cmd = app.add_subcommand("stub", "the upstream stub alone");
  stub_cmd->add_option("--listen", stub.listen, "address")->capture_default_str();
  stub_cmd->add_option("--delay", stub.delay, "answer delay")->capture_default_str();
  stub_cmd->add_option("--max-delay", stub.max_delay, "cap on ?delay=")->capture_default_str();
  stub_cmd->add_option("--body-bytes", stub.body_bytes, "page size")->capture_default_str();

  ServeFlags serve;
  auto* serve_cmd = app.add_subcommand("serve", "one variant alone, in worker processes");
  serve_cmd->add_option("kind", serve.kind, "variant, as threads:100")->required();
  serve_cmd->add_option("--listen", serve.listen, "address")->capture_default_str();
  serve_cmd->add_option("--upstream", serve.upstream, "upstream URL (default: built-in stub)");
  serve_cmd->add_option("--upstream-delay", serve.upstream_delay, "built-in stub delay")
      ->capture_default_str();
  serve_cmd->add_option("--upstream-timeout", serve.upstream_timeout, "then 504")
      ->capture_default_str();
  serve_cmd->add_option("--workers", serve.workers, "worker processes")->capture_default_str();

  WorkerFlags worker;
  auto* worker_cmd = app.add_subcommand("worker", "");  // internal: spawned by the supervisor
  worker_cmd->group("");
  worker_cmd->add_option("--variant", worker.variant)->required();
  worker_cmd->add_option("--listen", worker.listen)->required();
  worker_cmd->add_option("--upstream", worker.upstream)->required();
  worker_cmd->add_option("--upstream-timeout", worker.upstream_timeout);
  worker_cmd->add_option("--ready-fd", worker.ready_fd);
  worker_cmd->add_option("--stats-fd", worker.stats_fd);
  worker_cmd->add_option("--stats-slot", worker.stats_slot);
  worker_cmd->add_option("--pool-size", worker.pool_size);
  worker_cmd->add_option("--stack-bytes", worker.stack_bytes);

  const auto commands = app.get_subcommands([](CLI::App*) { return true; });
  if (argc > 1 && argv[1][0] != '-' &&
      std::none_of(commands.begin(), commands.end(),
                   [&](CLI::App* c) { return c->get_name() == argv[1]; })) {
    std::cerr << "iolab: unknown command '" << argv[1]
              << "' (run, experiment, stub, serve, daemon, report, history)\n";
    return kExitUsage;
  }
  try {
    app.parse(argc, argv);
  } catch (const CLI::CallForHelp& e) {
    return app.exit(e);
  } catch (const CLI::CallForAllHelp& e) {
    return app.exit(e);
  } catch (const CLI::CallForVersion& e) {
    return app.exit(e);
  } catch (const CLI::ParseError& e) {
    std::cerr << "iolab: " << e.what() << "\n";
    return kExitUsage;
  }

  try {
    if (run_cmd->parsed()) return cmd_run(run);
    if (exp_cmd->parsed() && !exp_daemon.empty()) return cmd_experiment_on_daemon(exp, exp_daemon);
    if (exp_cmd->parsed()) return cmd_experiment(exp);
    if (daemon_cmd->parsed()) return cmd_daemon(daemon_config);
    if (report_cmd->parsed()) {
      if (report.format != "svg" && report.format != "html") (void)format_flag(report.format);
      try {
        print_daemon_report(report, report_id, report_run);
      } catch (const std::invalid_argument& e) {
        throw UsageError(e.what());
      }
      return 0;
    }
    if (history_cmd->parsed()) {
      if (history.format != "rst" && history.format != "json") {
        throw UsageError("unknown --format '" + history.format + "' (rst, json)");
      }
      print_daemon_history(history, history_scenario);
      return 0;
    }
    if (stub_cmd->parsed()) return cmd_stub(stub);
    if (serve_cmd->parsed()) return cmd_serve(serve);
    if (worker_cmd->parsed()) return cmd_worker(worker);
  } catch (const UsageError& e) {
    std::cerr << "iolab: " << e.what() << "\n";
    return kExitUsage;
  } catch (const std::exception& e) {
    std::cerr << "iolab: " << e.what() << "\n";
    return kExitFailure;
  }
  return kExitUsage;
}

}  // namespace iolab
