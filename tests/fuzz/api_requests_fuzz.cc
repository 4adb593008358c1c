// Fuzzes the REST request bodies (daemon/api_requests.h), read exactly as the daemon's handlers
// read them: PUT /api/v1/variant, PUT /api/v1/upstream, POST /api/v1/runs and POST
// /api/v1/experiments (JSON or YAML).
//
// Input: one byte choosing the endpoint, then the body. The only documented refusal is ApiError
// (rendered as the HTTP answer by render_answer()); anything else escapes and is a finding.
// Properties of an accepted body, as the handlers rely on them: specs in range and within the
// default config's limits, a run's threads <= connections and duration + warmup <=
// load.max_duration, and what the daemon stores is valid UTF-8.

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <string>

#include <nlohmann/json.hpp>

#include "daemon/api_error.h"
#include "daemon/api_requests.h"
#include "tests/fuzz/fuzz_check.h"

using iolab::fuzz::check;

namespace {

using nlohmann::json;

// What an accepted body puts in the run store must be valid UTF-8: the store writes strict JSON.
void stores(const json& j) { (void)j.dump(); }

void variant(const std::string& body) {
  const iolab::JsonBody b(body, {"kind", "threads", "workers", "pool_size", "stack_bytes"});
  const iolab::VariantSpec v = iolab::variant_from_body(b);
  const auto back = iolab::parse_variant(v.name());
  check(back && back->kind == v.kind && back->threads == v.threads);
  check(v.workers >= 1 && v.workers <= iolab::VariantLimits::kWorkers.max);
  check(v.pool_size >= 0 && v.stack_bytes >= 16 * 1024);
}

void upstream(const std::string& body) {
  const iolab::JsonBody b(body, {"delay", "max_delay", "body_bytes", "max_body_bytes"});
  const iolab::StubProfile p = iolab::upstream_from_body(b, iolab::StubProfile{});
  check(p.delay.count() >= 0 && p.delay <= p.max_delay && p.body_bytes <= p.max_body_bytes);
}

void run(const std::string& body, const iolab::DaemonConfig& config) {
  const iolab::JsonBody b(
      body, {"target", "path", "connections", "threads", "duration", "warmup", "rate", "timeout"});
  const iolab::RunBody r = iolab::run_from_body(b, config);
  check(r.load.connections >= 1 && r.load.connections <= config.max_connections);
  check(r.load.threads >= 1 && r.load.threads <= r.load.connections);
  check(r.load.duration.count() > 0 && r.load.warmup.count() >= 0 &&
        r.load.duration + r.load.warmup <= config.max_duration);
  check(r.load.timeout.count() > 0 && r.load.rate >= 0);
  check(!r.path.empty() && r.path.front() == '/');
  if (r.target) {
    check(iolab::target_allowed(config.allowed_targets, r.target->endpoint));
    stores(r.target->to_string());
  }
  stores(r.path);
}

void experiment(const std::string& body, bool is_json, const iolab::DaemonConfig& config) {
  const iolab::ExperimentSpec spec = iolab::experiment_from_body(body, is_json, config);
  check(!spec.variants.empty() && spec.variants.size() == spec.points.size());
  check(spec.load.connections <= config.max_connections);
  check(spec.load.threads >= 1 && spec.load.threads <= spec.load.connections);
  check(spec.load.duration + spec.load.warmup <= config.max_duration);
  stores(spec.name);
  for (const auto& p : spec.points) stores({p.scenario, p.path});
  for (const auto& v : spec.variants) stores(v.name());
}

}  // namespace

// libFuzzer's entry point: its name is fixed.
extern "C" int LLVMFuzzerTestOneInput(  // NOLINT(readability-identifier-naming)
    const uint8_t* data, size_t size) {
  if (size < 1) return 0;
  const std::string body(reinterpret_cast<const char*>(data) + 1, size - 1);
  static const iolab::DaemonConfig config;
  try {
    switch (data[0] % 5) {
      case 0:
        variant(body);
        break;
      case 1:
        upstream(body);
        break;
      case 2:
        run(body, config);
        break;
      case 3:
        experiment(body, true, config);
        break;
      default:
        experiment(body, false, config);
        break;
    }
  } catch (const iolab::ApiError& e) {
    check(e.status() >= 400 && e.status() <= 499 && !e.code().empty());
    (void)iolab::render_answer(e.to_json());
  }
  return 0;
}
