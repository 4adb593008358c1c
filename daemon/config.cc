#include "daemon/config.h"

#include <arpa/inet.h>
#include <yaml-cpp/yaml.h>

#include <fstream>
#include <set>
#include <sstream>

#include "core/duration.h"
#include "lab/experiment.h"
#include "lab/yaml_reader.h"

namespace iolab {
namespace {

constexpr int kMaxConnectionsCeiling = 100000;
constexpr int kMaxApiConnectionsCeiling = 65536;
constexpr int kMaxQueuedRunsCeiling = 100000;
constexpr size_t kMaxBodyBytesCeiling = 1ull << 30;

std::optional<uint32_t> ipv4(const std::string& text) {
  in_addr addr{};
  if (::inet_pton(AF_INET, text.c_str(), &addr) != 1) return std::nullopt;
  return ntohl(addr.s_addr);
}

// An allowed_targets entry as address and prefix length; nullopt when malformed.
std::optional<std::pair<uint32_t, int>> parse_pattern(const std::string& entry) {
  if (entry == "localhost") return std::pair{0x7f000001u, 32};
  const auto slash = entry.find('/');
  const auto address = ipv4(entry.substr(0, slash));
  if (!address) return std::nullopt;
  if (slash == std::string::npos) return std::pair{*address, 32};
  const std::string bits = entry.substr(slash + 1);
  if (bits.empty() || bits.size() > 2 || bits.find_first_not_of("0123456789") != bits.npos) {
    return std::nullopt;
  }
  const int prefix = std::stoi(bits);
  if (prefix > 32) return std::nullopt;
  return std::pair{*address, prefix};
}

}  // namespace

bool valid_target_pattern(const std::string& entry) { return parse_pattern(entry).has_value(); }

bool target_allowed(const std::vector<std::string>& allowed, const Endpoint& endpoint) {
  const auto address =
      endpoint.host == "localhost" ? std::optional<uint32_t>(0x7f000001u) : ipv4(endpoint.host);
  if (!address) return false;
  for (const auto& entry : allowed) {
    const auto pattern = parse_pattern(entry);
    if (!pattern) continue;
    const uint32_t mask = pattern->second == 0 ? 0 : ~0u << (32 - pattern->second);
    if ((*address & mask) == (pattern->first & mask)) return true;
  }
  return false;
}

namespace {

// api: where the REST API listens and its token.
void read_api(const YamlReader& r, const YAML::Node& api, DaemonConfig& config) {
  r.require_map(api, "api", {"listen", "token_file", "max_connections"});
  if (api["listen"]) config.api_listen = r.endpoint(api["listen"], "api.listen");
  if (api["max_connections"]) {
    config.api_max_connections = static_cast<int>(
        r.integer(api["max_connections"], "api.max_connections", 1, kMaxApiConnectionsCeiling));
  }
  if (api["token_file"]) config.token_file = r.scalar(api["token_file"], "api.token_file");
  if (!config.api_listen.is_loopback() && config.token_file.empty()) {
    r.fail(api["listen"], "api.listen",
           "a non-loopback address needs api.token_file (bearer token)");
  }
}

// variant: where the workers listen and the variant started with the daemon.
void read_variant(const YamlReader& r, const YAML::Node& variant, DaemonConfig& config) {
  r.require_map(variant, "variant", {"listen", "default"});
  if (variant["listen"]) config.variant_listen = r.endpoint(variant["listen"], "variant.listen");
  if (const auto def = variant["default"]) {
    const std::string text = r.scalar(def, "variant.default");
    if (!text.empty()) {
      std::string error;
      config.variant_default = parse_variant(text, &error);
      if (!config.variant_default) r.fail(def, "variant.default", error);
    }
  }
}

// upstream.profile: the built-in stub's delays and sizes.
void read_profile(const YamlReader& r, const YAML::Node& profile, StubProfile& p) {
  r.require_map(profile, "upstream.profile",
                {"delay", "distribution", "faults", "max_delay", "body_bytes", "max_body_bytes"});
  read_delays_and_faults(r, profile, "upstream.profile", p);
  if (profile["delay"]) p.delay = r.duration(profile["delay"], "upstream.profile.delay", true);
  if (profile["max_delay"]) {
    p.max_delay = r.duration(profile["max_delay"], "upstream.profile.max_delay", true);
  }
  if (profile["max_body_bytes"]) {
    p.max_body_bytes = static_cast<size_t>(r.integer(
        profile["max_body_bytes"], "upstream.profile.max_body_bytes", 0, kMaxBodyBytesCeiling));
  }
  if (profile["body_bytes"]) {
    p.body_bytes =
        static_cast<size_t>(r.integer(profile["body_bytes"], "upstream.profile.body_bytes", 0,
                                      static_cast<long long>(p.max_body_bytes)));
  }
  if (p.delay > p.max_delay) {
    r.fail(profile["delay"], "upstream.profile.delay", "exceeds upstream.profile.max_delay");
  }
  // A max_body_bytes alone can fall below the default body_bytes, which the stub would then
  // serve past its own cap (PUT /api/v1/upstream refuses the same profile).
  if (p.body_bytes > p.max_body_bytes) {
    r.fail(profile["max_body_bytes"], "upstream.profile.max_body_bytes",
           "is below upstream.profile.body_bytes (" + std::to_string(p.body_bytes) + ")");
  }
}

// upstream: the built-in stub or an external URL.
void read_upstream(const YamlReader& r, const YAML::Node& up, DaemonConfig& config) {
  r.require_map(up, "upstream", {"listen", "url", "profile"});
  if (up["listen"]) config.upstream_listen = r.endpoint(up["listen"], "upstream.listen");
  if (const auto url = up["url"]) {
    const std::string text = r.scalar(url, "upstream.url");
    if (!text.empty()) {
      std::string error;
      config.upstream_url = parse_url(text, &error);
      if (!config.upstream_url) r.fail(url, "upstream.url", error);
    }
  }
  if (const auto profile = up["profile"]) read_profile(r, profile, config.upstream_profile);
}

// load: what a client may ask of the load engine.
void read_load(const YamlReader& r, const YAML::Node& load, DaemonConfig& config) {
  r.require_map(
      load, "load",
      {"allowed_targets", "max_connections", "max_duration", "max_queued_runs", "max_queued_time"});
  if (const auto targets = load["allowed_targets"]) {
    if (!targets.IsSequence()) r.fail(targets, "load.allowed_targets", "expected a list");
    config.allowed_targets.clear();
    for (size_t i = 0; i < targets.size(); ++i) {
      const std::string key = "load.allowed_targets[" + std::to_string(i) + "]";
      const std::string entry = r.scalar(targets[i], key);
      if (!valid_target_pattern(entry)) {
        r.fail(targets[i], key,
               "bad entry '" + entry + "' (an IPv4 address, a CIDR block or localhost)");
      }
      config.allowed_targets.push_back(entry);
    }
  }
  if (load["max_connections"]) {
    config.max_connections = static_cast<int>(
        r.integer(load["max_connections"], "load.max_connections", 1, kMaxConnectionsCeiling));
  }
  if (load["max_duration"]) {
    config.max_duration = r.duration(load["max_duration"], "load.max_duration", false);
  }
  if (load["max_queued_runs"]) {
    config.max_queued_runs = static_cast<int>(
        r.integer(load["max_queued_runs"], "load.max_queued_runs", 1, kMaxQueuedRunsCeiling));
  }
  if (load["max_queued_time"]) {
    config.max_queued_time = r.duration(load["max_queued_time"], "load.max_queued_time", false);
  }
}

}  // namespace

DaemonConfig parse_config(const std::string& yaml_text, const std::string& origin) {
  const YAML::Node root = load_yaml(yaml_text, origin);
  DaemonConfig config;
  // An empty file (or one of comments only) keeps every default.
  if (root.IsNull()) return config;
  const YamlReader r(origin);
  r.require_map(root, "", {"api", "state_dir", "variant", "upstream", "load"});
  if (const auto api = root["api"]) read_api(r, api, config);
  if (const auto dir = root["state_dir"]) {
    config.state_dir = r.scalar(dir, "state_dir");
    if (config.state_dir.empty()) r.fail(dir, "state_dir", "must not be empty");
  }
  if (const auto variant = root["variant"]) read_variant(r, variant, config);
  if (const auto up = root["upstream"]) read_upstream(r, up, config);
  if (const auto load = root["load"]) read_load(r, load, config);
  return config;
}

DaemonConfig load_config_file(const std::string& path) {
  std::ifstream in(path);
  if (!in) throw ConfigError(path + ": cannot read the file");
  std::stringstream text;
  text << in.rdbuf();
  return parse_config(text.str(), path);
}

}  // namespace iolab
