#pragma once

#include <chrono>
#include <cstdint>
#include <initializer_list>
#include <optional>
#include <string>

#include <nlohmann/json.hpp>

#include "core/endpoint.h"
#include "daemon/config.h"
#include "lab/experiment.h"
#include "loadgen/load_spec.h"
#include "variants/stub.h"
#include "variants/variant.h"

// The REST API's request bodies, read into specs. Apart from the handlers (daemon.cc) so that the
// fuzz target (tests/fuzz/api_requests_fuzz.cc) reads a body exactly as the daemon does. Every
// refusal is an ApiError naming the field; nothing else is thrown. Pure functions: any thread.

namespace iolab {

/// Ceilings of the request fields (also shown by GET /api/v1/variants).
inline constexpr int kApiMaxLoadThreads = 256;
inline constexpr size_t kApiMaxPathBytes = 2048;
inline constexpr double kApiMaxRate = 1e9;
inline constexpr std::chrono::nanoseconds kApiMaxTimeout = std::chrono::minutes(10);

/// Parses a JSON body. Throws ApiError 400 `bad_json` when it is not JSON.
nlohmann::json parse_json_body(const std::string& body);

/// A JSON object body whose fields are all in `allowed`; typed, range-checked getters that throw
/// ApiError naming the field. The caller checks the Content-Type first.
class JsonBody {
 public:
  /// Throws ApiError 400 for malformed JSON, a non-object or an unknown field.
  JsonBody(const std::string& body, std::initializer_list<std::string> allowed);

  bool has(const std::string& key) const { return json_.contains(key); }
  std::string string(const std::string& key) const;
  int64_t integer(const std::string& key, int64_t lo, int64_t hi) const;
  double number(const std::string& key, double lo, double hi) const;
  /// A duration string ("10s") in [lo, hi]; `limit_name` names `hi` in the refusal.
  std::chrono::nanoseconds duration(const std::string& key, std::chrono::nanoseconds lo,
                                    std::chrono::nanoseconds hi, const char* limit_name) const;
  /// The object at `key`, its fields all in `allowed`; throws ApiError as the constructor.
  JsonBody object(const std::string& key, std::initializer_list<std::string> allowed) const;

 private:
  nlohmann::json json_;
};

/// PUT /api/v1/variant: {"kind", "threads", "workers", "pool_size", "stack_bytes"}.
VariantSpec variant_from_body(const JsonBody& body);

/// PUT /api/v1/upstream: {"delay", "distribution", "faults", "max_delay", "body_bytes",
/// "max_body_bytes"} applied over `current`; the result has delay <= max_delay and body_bytes <=
/// max_body_bytes. `distribution` is DelayDistribution's text form, "" to go back to `delay`;
/// `faults` is {"error", "close", "reset"} as fractions and "status".
StubProfile upstream_from_body(const JsonBody& body, StubProfile current);

/// What POST /api/v1/runs asks for.
struct RunBody {
  std::optional<Url> target;  ///< None: the active variant.
  std::string path = "/remote";
  LoadSpec load;
};

/// POST /api/v1/runs: {"target", "path", "connections", "threads", "duration", "warmup", "rate",
/// "timeout"}, checked against `config`'s load limits and allowed targets.
RunBody run_from_body(const JsonBody& body, const DaemonConfig& config);

/// The most runs (trials × variants) one experiment may queue.
inline constexpr size_t kMaxExperimentRuns = 1000;

/// POST /api/v1/experiments: an experiment file as YAML, or as JSON when `is_json`, checked
/// against `config`'s load limits and kMaxExperimentRuns. Throws ApiError 400 (malformed) or 422
/// (invalid, over limit).
ExperimentSpec experiment_from_body(const std::string& body, bool is_json,
                                    const DaemonConfig& config);

/// The text of a JSON answer (indented, newline-terminated). Bytes that are not UTF-8 (a client's,
/// echoed in an error message) become U+FFFD instead of failing the answer.
std::string render_answer(const nlohmann::json& body);

/// The key a ConfigError names: "origin:line: key: message" → key.
std::string config_error_field(const std::string& message, const std::string& origin);

}  // namespace iolab
