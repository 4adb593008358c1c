#include "daemon/daemon.h"

#include <sys/stat.h>

#include <cstdio>
#include <fstream>
#include <iostream>

#include "core/duration.h"
#include "core/errors.h"
#include "daemon/api.h"
#include "daemon/api_http.h"
#include "daemon/api_server.h"
#include "daemon/metrics.h"
#include "daemon/run_jobs.h"
#include "daemon/variant_host.h"

namespace iolab {
namespace {

std::string read_token(const DaemonConfig& config) {
  if (config.token_file.empty()) {
    if (!config.api_listen.is_loopback()) {
      throw StartError("api.listen " + config.api_listen.to_string() +
                       " is not loopback: api.token_file is required");
    }
    return "";
  }
  struct stat st {};
  if (::stat(config.token_file.c_str(), &st) != 0) {
    throw StartError("api.token_file: cannot read " + config.token_file);
  }
  // A secret every local user can read is no secret (as ssh refuses such keys).
  if ((st.st_mode & S_IROTH) != 0) {
    char mode[8];
    std::snprintf(mode, sizeof mode, "%04o", static_cast<unsigned>(st.st_mode & 07777));
    throw StartError("api.token_file: " + config.token_file + " is readable by every user (mode " +
                     mode + "); chmod o-r it (600 or 640)");
  }
  std::ifstream in(config.token_file);
  if (!in) throw StartError("api.token_file: cannot read " + config.token_file);
  std::string token;
  std::getline(in, token);
  // Whitespace around the token is the file's, not the token's: `Bearer TOKEN` carries none.
  const auto first = token.find_first_not_of(" \t\r\n\v\f");
  const auto last = token.find_last_not_of(" \t\r\n\v\f");
  token = first == std::string::npos ? "" : token.substr(first, last - first + 1);
  if (token.empty()) throw StartError("api.token_file: " + config.token_file + " is empty");
  return token;
}

}  // namespace

Daemon::Daemon(DaemonConfig config, std::string executable, std::unique_ptr<RunStore> store)
    : config_(std::move(config)), executable_(std::move(executable)), store_(std::move(store)) {}

Daemon::~Daemon() { stop(); }

uint16_t Daemon::start() {
  token_ = read_token(config_);
  if (!store_) {
    try {
      store_ = std::make_unique<SqliteRunStore>(config_.state_dir);
    } catch (const std::exception& e) {
      throw StartError(std::string("state_dir: ") + e.what());
    }
  }
  metrics_ = std::make_unique<DaemonMetrics>(IOLAB_VERSION, IOLAB_GIT_REVISION);
  store_ = metrics_->count_runs(std::move(store_));
  history_ = std::make_unique<History>(*store_);

  host_ = std::make_unique<VariantHost>(config_, executable_, *metrics_);
  host_->start();
  queue_ = std::make_unique<RunQueue>(*store_);
  api_ = std::make_unique<ApiContext>(ApiContext{*host_, *queue_, *store_, *history_, *metrics_,
                                                 [this] { return config(); }, executable_, token_});
  // Before the API answers: a client sees the runs a dead daemon left as they now are.
  for (const auto& line : recover_runs(*api_)) std::cerr << "iolab: " << line << "\n";
  ApiServerLimits limits;
  limits.max_connections = config_.api_max_connections;
  limits.max_body_bytes = kMaxBodyBytes;
  server_ = std::make_unique<ApiServer>(limits);
  install_api(server_->routes(), *api_);
  try {
    port_ = server_->bind(config_.api_listen);
    server_->start();
  } catch (const StartError&) {
    stop();
    throw;
  }
  return port_;
}

void Daemon::stop() {
  if (stopped_) return;
  stopped_ = true;
  // The running run first: its partial result is saved while the rest shuts down.
  if (queue_) queue_->stop();
  if (server_) server_->stop();
  if (host_) host_->stop();
}

DaemonConfig Daemon::config() const {
  const std::lock_guard lock(config_mutex_);
  return config_;
}

std::vector<std::string> Daemon::reload(const DaemonConfig& next) {
  std::vector<std::string> log;
  {
    const std::lock_guard lock(config_mutex_);
    const auto keep = [&](bool same, const char* key) {
      if (!same) log.push_back(std::string(key) + ": changed, applied at the next restart");
    };
    keep(next.api_listen.to_string() == config_.api_listen.to_string(), "api.listen");
    keep(next.token_file == config_.token_file, "api.token_file");
    keep(next.api_max_connections == config_.api_max_connections, "api.max_connections");
    keep(next.state_dir == config_.state_dir, "state_dir");
    keep(next.variant_listen.to_string() == config_.variant_listen.to_string(), "variant.listen");
    keep(next.upstream_listen.to_string() == config_.upstream_listen.to_string(),
         "upstream.listen");
    keep((next.upstream_url ? next.upstream_url->to_string() : "") ==
             (config_.upstream_url ? config_.upstream_url->to_string() : ""),
         "upstream.url");
    if (next.allowed_targets != config_.allowed_targets) {
      config_.allowed_targets = next.allowed_targets;
      log.push_back("load.allowed_targets: applied");
    }
    if (next.max_connections != config_.max_connections) {
      config_.max_connections = next.max_connections;
      log.push_back("load.max_connections: applied (" + std::to_string(next.max_connections) + ")");
    }
    if (next.max_duration != config_.max_duration) {
      config_.max_duration = next.max_duration;
      log.push_back("load.max_duration: applied (" + format_duration(next.max_duration) + ")");
    }
    if (next.max_queued_runs != config_.max_queued_runs) {
      config_.max_queued_runs = next.max_queued_runs;
      log.push_back("load.max_queued_runs: applied (" + std::to_string(next.max_queued_runs) + ")");
    }
    if (next.max_queued_time != config_.max_queued_time) {
      config_.max_queued_time = next.max_queued_time;
      log.push_back("load.max_queued_time: applied (" + format_duration(next.max_queued_time) +
                    ")");
    }
  }
  // Without the config lock: a stub restart may wait for a variant switch in progress.
  if (auto line = reload_upstream(next.upstream_profile)) log.push_back(std::move(*line));
  if (log.empty()) log.push_back("no change");
  return log;
}

std::optional<std::string> Daemon::reload_upstream(const StubProfile& p) {
  const DaemonConfig current = config();
  const StubProfile& old = current.upstream_profile;
  if (p == old) return std::nullopt;
  if (current.upstream_url) {
    return "upstream.profile: not applied (upstream.url names an external upstream)";
  }
  if (queue_ && queue_->running()) {
    return "upstream.profile: not applied, a run is in progress (reload after it)";
  }
  try {
    host_->set_profile(p);
  } catch (const std::exception& e) {
    return std::string("upstream.profile: not applied, ") + e.what();
  }
  const std::lock_guard lock(config_mutex_);
  config_.upstream_profile = p;
  return "upstream.profile: applied (delay " + p.delays().to_string() + ")";
}

std::vector<NightResult> Daemon::nights(const std::string& scenario) const {
  return history_->nights(scenario);
}

std::vector<JudgedNight> Daemon::judged_nights() const { return history_->judged_nights(); }

std::vector<RegressionFlag> Daemon::experiment_regressions(int64_t experiment_id) const {
  return history_->experiment_regressions(experiment_id);
}

std::vector<RegressionFlag> Daemon::regressions() const { return history_->regressions(); }

}  // namespace iolab
