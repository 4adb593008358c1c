// Fuzzes the daemon's config loader (daemon/config.h): `iolab daemon --config FILE` and SIGHUP
// reloads read it.
//
// Input: the YAML text. The only documented refusal is ConfigError ("file:line: key: message");
// anything else escapes and is a finding. Properties of an accepted config, as the daemon relies
// on them: delay <= max_delay and body_bytes <= max_body_bytes of the stub profile, every
// allowed_targets entry is a valid pattern, limits in range, a non-loopback api.listen has a
// token file; and target_allowed() answers for any endpoint.

#include <cstddef>
#include <cstdint>
#include <string>

#include "daemon/config.h"
#include "tests/fuzz/fuzz_check.h"

using iolab::fuzz::check;

// libFuzzer's entry point: its name is fixed.
extern "C" int LLVMFuzzerTestOneInput(  // NOLINT(readability-identifier-naming)
    const uint8_t* data, size_t size) {
  const std::string text(reinterpret_cast<const char*>(data), size);
  iolab::DaemonConfig config;
  try {
    config = iolab::parse_config(text, "fuzz.yaml");
  } catch (const iolab::ConfigError& e) {
    check(std::string(e.what()).rfind("fuzz.yaml", 0) == 0);
    return 0;
  }
  const auto& p = config.upstream_profile;
  check(p.delay.count() >= 0 && p.delay <= p.max_delay);
  check(p.body_bytes <= p.max_body_bytes);
  check(config.max_connections >= 1 && config.max_connections <= 100000);
  check(config.max_duration.count() > 0);
  check(!config.state_dir.empty());
  check(config.api_listen.is_loopback() || !config.token_file.empty());
  if (config.upstream_url) check(config.upstream_url->endpoint.sockaddr().has_value());
  for (const auto& entry : config.allowed_targets) check(iolab::valid_target_pattern(entry));
  for (const char* host : {"127.0.0.1", "10.1.2.3", "localhost", "0.0.0.0", "255.255.255.255"}) {
    (void)iolab::target_allowed(config.allowed_targets, iolab::Endpoint{host, 80});
  }
  return 0;
}
