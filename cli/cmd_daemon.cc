// `iolab daemon`: the long-running service (REST API, run queue) until SIGINT or SIGTERM, with
// SIGHUP reloading the config file and systemd's notify protocol (READY, RELOADING, WATCHDOG).

#include <malloc.h>
#include <pthread.h>
#include <signal.h>

#include <httplib.h>

#include <CLI/CLI.hpp>
#include <algorithm>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <iostream>
#include <memory>
#include <mutex>
#include <stdexcept>
#include <string>
#include <thread>

#include "cli/commands.h"
#include "cli/flags.h"
#include "cli/stop_signals.h"
#include "core/errors.h"
#include "daemon/config.h"
#include "daemon/daemon.h"
#include "daemon/notify.h"

namespace iolab {
namespace {

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

// Returns once the API answers; throws when it does not within 30 s.
void wait_until_api_answers(const Endpoint& listen, uint16_t port) {
  const auto deadline = std::chrono::steady_clock::now() + 30s;
  while (!api_answers(listen, port, 1000ms)) {
    if (std::chrono::steady_clock::now() > deadline) {
      throw std::runtime_error("the API does not answer on port " + std::to_string(port));
    }
    std::this_thread::sleep_for(10ms);
  }
}

// The watchdog is fed only while the API answers, so a hung daemon gets restarted. An empty
// thread when systemd asked for no watchdog.
std::jthread start_watchdog(const Endpoint& listen, uint16_t port) {
  const auto every = watchdog_interval();
  if (!every) return {};
  return std::jthread([period = *every, listen, port](std::stop_token st) {
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
  wait_until_api_answers(config.api_listen, port);
  notify_service_manager("READY=1\nSTATUS=API on " + config.api_listen.host + ":" +
                         std::to_string(port));
  std::jthread watchdog = start_watchdog(config.api_listen, port);
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

}  // namespace

Command add_daemon_command(CLI::App& app) {
  auto config_path = std::make_shared<std::string>();
  auto* daemon_cmd = app.add_subcommand("daemon", "the long-running service: REST API, run queue");
  daemon_cmd->add_option("--config", *config_path, "config file (default: built-in defaults)");
  return {daemon_cmd, [config_path] { return cmd_daemon(*config_path); }};
}

}  // namespace iolab
