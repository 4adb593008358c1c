#pragma once

#include <chrono>
#include <optional>
#include <string>
#include <vector>

#include "core/endpoint.h"
#include "core/errors.h"
#include "variants/stub.h"
#include "variants/variant.h"

namespace iolab {

using namespace std::chrono_literals;

/// The daemon's configuration, as `config/iolab.yaml` documents it key by key.
struct DaemonConfig {
  Endpoint api_listen{"127.0.0.1", 7070};      ///< api.listen; port 0 picks a free port.
  std::string token_file;                      ///< api.token_file; required off loopback.
  int api_max_connections = 512;               ///< api.max_connections: past it, 503.
  std::string state_dir = "./iolab-state";     ///< state_dir: the SQLite run store lives here.
  Endpoint variant_listen{"127.0.0.1", 0};     ///< variant.listen
  std::optional<VariantSpec> variant_default;  ///< variant.default; none: no variant at start.
  Endpoint upstream_listen{"127.0.0.1", 0};    ///< upstream.listen (the built-in stub)
  std::optional<Url> upstream_url;             ///< upstream.url; none: the built-in stub.
  StubProfile upstream_profile;                ///< upstream.profile
  /// load.allowed_targets: IPv4 literals, CIDR blocks ("127.0.0.0/8") or "localhost".
  std::vector<std::string> allowed_targets{"127.0.0.0/8"};
  int max_connections = 10000;                     ///< load.max_connections
  std::chrono::nanoseconds max_duration = 10min;   ///< load.max_duration (warm-up included)
  int max_queued_runs = 1000;                      ///< load.max_queued_runs: past it, 429.
  std::chrono::nanoseconds max_queued_time = 24h;  ///< load.max_queued_time: their total length.
};

/// Reads a config file. Throws ConfigError "file:line: key: message" for an unknown key, a bad
/// value, or a non-loopback api.listen without api.token_file.
DaemonConfig load_config_file(const std::string& path);

/// The same, from YAML text; `origin` names it in errors.
DaemonConfig parse_config(const std::string& yaml_text, const std::string& origin);

/// True when `endpoint`'s host is admitted by one of `allowed` (IPv4 literal, CIDR block or
/// "localhost"). Pure; any thread.
bool target_allowed(const std::vector<std::string>& allowed, const Endpoint& endpoint);

/// True when `entry` is a valid allowed_targets entry.
bool valid_target_pattern(const std::string& entry);

}  // namespace iolab
