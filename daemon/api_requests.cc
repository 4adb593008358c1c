#include "daemon/api_requests.h"

#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <cstdio>
#include <limits>
#include <set>

#include "core/duration.h"
#include "daemon/api_error.h"

namespace iolab {
namespace {

using nlohmann::json;
using namespace std::chrono_literals;

[[noreturn]] void wrong_type(const std::string& key, const char* expected) {
  throw ApiError(400, "wrong_type", key + " must be " + expected, key);
}

[[noreturn]] void out_of_range(const std::string& key, const std::string& got, int64_t lo,
                               int64_t hi) {
  throw ApiError(422, "out_of_range",
                 key + " must be between " + std::to_string(lo) + " and " + std::to_string(hi) +
                     ", got " + got,
                 key);
}

}  // namespace

json parse_json_body(const std::string& body) {
  try {
    return json::parse(body);
  } catch (const json::exception& e) {
    // Not only parse_error: a number too large for a double ("1e400") is out_of_range.
    throw ApiError(400, "bad_json", std::string("malformed JSON: ") + e.what(), "body");
  }
}

JsonBody::JsonBody(const std::string& body, std::initializer_list<std::string> allowed) {
  json_ = parse_json_body(body);
  if (!json_.is_object()) throw ApiError(400, "bad_json", "expected a JSON object", "body");
  const std::set<std::string> known(allowed);
  for (const auto& [key, value] : json_.items()) {
    if (!known.contains(key)) {
      std::string list;
      for (const auto& k : allowed) list += (list.empty() ? "" : ", ") + k;
      throw ApiError(400, "unknown_field", "unknown field '" + key + "' (known: " + list + ")",
                     key);
    }
  }
}

JsonBody JsonBody::object(const std::string& key,
                          std::initializer_list<std::string> allowed) const {
  const json& v = json_.at(key);
  if (!v.is_object()) wrong_type(key, "an object");
  return JsonBody(v.dump(), allowed);
}

std::string JsonBody::string(const std::string& key) const {
  const json& v = json_.at(key);
  if (!v.is_string()) wrong_type(key, "a string");
  return v.get<std::string>();
}

int64_t JsonBody::integer(const std::string& key, int64_t lo, int64_t hi) const {
  const json& v = json_.at(key);
  if (!v.is_number_integer()) wrong_type(key, "an integer");
  if (v.is_number_unsigned() && v.get<uint64_t>() > static_cast<uint64_t>(hi)) {
    out_of_range(key, v.dump(), lo, hi);
  }
  const auto value = v.get<int64_t>();
  if (value < lo || value > hi) out_of_range(key, v.dump(), lo, hi);
  return value;
}

double JsonBody::number(const std::string& key, double lo, double hi) const {
  const json& v = json_.at(key);
  if (!v.is_number()) wrong_type(key, "a number");
  const auto value = v.get<double>();
  if (!(value >= lo && value <= hi)) {
    throw ApiError(422, "out_of_range",
                   key + " must be between " + json(lo).dump() + " and " + json(hi).dump(), key);
  }
  return value;
}

std::chrono::nanoseconds JsonBody::duration(const std::string& key, std::chrono::nanoseconds lo,
                                            std::chrono::nanoseconds hi,
                                            const char* limit_name) const {
  const json& v = json_.at(key);
  if (!v.is_string()) wrong_type(key, "a duration string like \"10s\"");
  const auto text = v.get<std::string>();
  const auto d = parse_duration(text);
  if (!d) {
    throw ApiError(422, "bad_duration", key + ": bad duration '" + text + "' (use 500ms, 20s, 5m)",
                   key);
  }
  if (*d < lo) {
    throw ApiError(422, "out_of_range", key + " must be at least " + format_duration(lo), key);
  }
  if (*d > hi) {
    throw ApiError(422, "over_limit",
                   key + " " + text + " exceeds " + limit_name + " " + format_duration(hi), key);
  }
  return *d;
}

namespace {

// One sized field of a variant body, as VariantLimits allows it: a field the kind does not take
// is a 422, a value out of range a 422 from JsonBody::integer.
std::optional<int64_t> variant_field(const JsonBody& b, const std::string& kind, VariantField f) {
  const std::string key(variant_field_name(f));
  if (!b.has(key)) return std::nullopt;
  const VariantLimits::Range range = VariantLimits::range(f);
  if (!VariantLimits::applies(kind, f)) {
    const auto e = VariantLimits::check(kind, f, range.min);
    throw ApiError(422, "not_applicable", e ? e->message : key + " does not apply", key);
  }
  return b.integer(key, range.min, range.max);
}

}  // namespace

VariantSpec variant_from_body(const JsonBody& b) {
  if (!b.has("kind")) throw ApiError(400, "missing_field", "kind is required", "kind");
  VariantSpec v;
  v.kind = b.string("kind");
  const auto& kinds = variant_kinds();
  if (std::find(kinds.begin(), kinds.end(), v.kind) == kinds.end()) {
    std::string list;
    for (const auto& k : kinds) list += (list.empty() ? "" : ", ") + k;
    throw ApiError(422, "unknown_kind", "unknown variant kind '" + v.kind + "' (" + list + ")",
                   "kind");
  }
  if (v.kind == "threads" && !b.has("threads")) {
    throw ApiError(400, "missing_field", "kind 'threads' needs threads", "threads");
  }
  if (auto n = variant_field(b, v.kind, VariantField::kThreads)) v.threads = static_cast<int>(*n);
  if (auto n = variant_field(b, v.kind, VariantField::kWorkers)) v.workers = static_cast<int>(*n);
  if (auto n = variant_field(b, v.kind, VariantField::kPoolSize)) {
    v.pool_size = static_cast<int>(*n);
  }
  if (auto n = variant_field(b, v.kind, VariantField::kStackBytes)) {
    v.stack_bytes = static_cast<size_t>(*n);
  }
  if (b.has("accept")) {
    const auto mode = parse_accept_mode(b.string("accept"));
    if (!mode) {
      throw ApiError(422, "out_of_range", "accept must be shared or reuseport", "accept");
    }
    v.accept = *mode;
  }
  if (v.kind == "threads" &&
      int64_t{v.threads} * std::max(1, v.workers) > kMaxVariantThreadsTotal) {
    throw ApiError(422, "out_of_range",
                   std::to_string(v.workers) + " workers × " + std::to_string(v.threads) +
                       " threads is more than " + std::to_string(kMaxVariantThreadsTotal) +
                       " threads in all",
                   "threads");
  }
  return v;
}

StubProfile upstream_from_body(const JsonBody& b, StubProfile p) {
  if (b.has("max_delay")) p.max_delay = b.duration("max_delay", 0s, 1h, "the ceiling");
  if (b.has("delay")) p.delay = b.duration("delay", 0s, p.max_delay, "max_delay");
  if (b.has("distribution")) {
    const std::string text = b.string("distribution");
    std::string error;
    p.distribution = text.empty() ? std::nullopt : parse_delay_distribution(text, &error);
    if (!text.empty() && !p.distribution) {
      throw ApiError(422, "bad_distribution", error, "distribution");
    }
  } else if (b.has("delay")) {
    p.distribution.reset();  // a delay alone asks for a fixed one
  }
  if (b.has("faults")) {
    const JsonBody f = b.object("faults", {"error", "close", "reset", "status"});
    if (f.has("error")) p.faults.error = f.number("error", 0, 1);
    if (f.has("close")) p.faults.close = f.number("close", 0, 1);
    if (f.has("reset")) p.faults.reset = f.number("reset", 0, 1);
    if (f.has("status")) p.faults.error_status = static_cast<int>(f.integer("status", 100, 599));
    if (p.faults.error + p.faults.close + p.faults.reset > 1 + 1e-9) {
      throw ApiError(422, "out_of_range", "error, close and reset add up to more than 1", "faults");
    }
  }
  if (b.has("max_body_bytes")) {
    p.max_body_bytes = static_cast<size_t>(b.integer("max_body_bytes", 0, 1 << 30));
  }
  if (b.has("body_bytes")) {
    p.body_bytes =
        static_cast<size_t>(b.integer("body_bytes", 0, static_cast<int64_t>(p.max_body_bytes)));
  }
  if (p.delay > p.max_delay) {
    throw ApiError(422, "out_of_range", "delay exceeds max_delay", "max_delay");
  }
  if (p.body_bytes > p.max_body_bytes) {
    throw ApiError(422, "out_of_range", "body_bytes exceeds max_body_bytes", "max_body_bytes");
  }
  return p;
}

RunBody run_from_body(const JsonBody& b, const DaemonConfig& c) {
  RunBody r;
  r.load.connections = 10;
  r.load.threads = 2;
  r.load.duration = 10s;
  r.load.warmup = 0s;
  if (b.has("target")) {
    const std::string text = b.string("target");
    // Only what HTTP allows in a request target goes on the wire (RFC 9112: visible ASCII):
    // a NUL, a control byte, CR/LF or a byte past ASCII would be sent as given.
    const auto bad = std::find_if(text.begin(), text.end(),
                                  [](unsigned char ch) { return ch <= 0x20 || ch >= 0x7f; });
    if (bad != text.end()) {
      char hex[8];
      std::snprintf(hex, sizeof hex, "0x%02X", static_cast<unsigned char>(*bad));
      throw ApiError(422, "bad_url",
                     std::string("target: byte ") + hex + " at offset " +
                         std::to_string(bad - text.begin()) +
                         " is not allowed in a URL (visible ASCII only; percent-encode the rest)",
                     "target");
    }
    std::string error;
    auto url = parse_url(text, &error);
    if (!url) throw ApiError(422, "bad_url", "target: " + error, "target");
    if (!target_allowed(c.allowed_targets, url->endpoint)) {
      throw ApiError(422, "target_not_allowed",
                     "target host " + url->endpoint.host + " is not in load.allowed_targets",
                     "target");
    }
    r.target = url;
  }
  if (b.has("path")) {
    r.path = b.string("path");
    const bool printable = std::all_of(r.path.begin(), r.path.end(),
                                       [](unsigned char ch) { return ch > 0x20 && ch < 0x7f; });
    if (r.path.empty() || r.path.front() != '/' || !printable || r.path.size() > kApiMaxPathBytes) {
      throw ApiError(422, "bad_path",
                     "path must start with '/' and hold printable characters, no spaces", "path");
    }
    if (r.target) r.target->target = r.path;
  }
  if (b.has("connections")) {
    const int64_t n = b.integer("connections", 1, std::numeric_limits<int64_t>::max());
    if (n > c.max_connections) {
      throw ApiError(422, "over_limit",
                     "connections " + std::to_string(n) + " exceeds load.max_connections " +
                         std::to_string(c.max_connections),
                     "connections");
    }
    r.load.connections = static_cast<int>(n);
  }
  if (r.load.connections > c.max_connections) r.load.connections = c.max_connections;
  if (b.has("threads")) {
    r.load.threads = static_cast<int>(b.integer("threads", 1, kApiMaxLoadThreads));
  }
  r.load.threads = std::min(r.load.threads, r.load.connections);
  if (b.has("duration")) {
    r.load.duration = b.duration("duration", 1ms, c.max_duration, "load.max_duration");
  }
  if (b.has("warmup")) {
    r.load.warmup = b.duration("warmup", 0s, c.max_duration, "load.max_duration");
  }
  if (r.load.duration + r.load.warmup > c.max_duration) {
    throw ApiError(422, "over_limit",
                   "duration + warmup exceeds load.max_duration " + format_duration(c.max_duration),
                   b.has("duration") ? "duration" : "warmup");
  }
  if (b.has("rate")) r.load.rate = b.number("rate", 0, kApiMaxRate);
  if (b.has("timeout")) r.load.timeout = b.duration("timeout", 1ms, kApiMaxTimeout, "the ceiling");
  return r;
}

ExperimentSpec experiment_from_body(const std::string& body, bool is_json, const DaemonConfig& c) {
  const std::string origin = "experiment";
  try {
    check_experiment_size(body, origin);
  } catch (const ConfigError& e) {
    throw ApiError(422, "over_limit", e.what(), "variants");
  }
  // YAML is read byte for byte: names and keys that are not UTF-8 would reach the run store and
  // the answers, whose JSON cannot hold them. The body is refused up front, with JSON's own test.
  try {
    (void)json(body).dump();
  } catch (const json::type_error&) {
    throw ApiError(400, is_json ? "bad_json" : "bad_yaml", "the body is not valid UTF-8", "body");
  }
  if (is_json) {
    if (!parse_json_body(body).is_object()) {
      throw ApiError(400, "bad_json", "expected a JSON object", "body");
    }
  } else {
    try {
      (void)YAML::Load(body);
    } catch (const YAML::Exception& e) {
      throw ApiError(400, "bad_yaml", std::string("malformed YAML: ") + e.what(), "body");
    }
  }
  ExperimentSpec spec;
  try {
    spec = parse_experiment(body, origin);
  } catch (const ConfigError& e) {
    throw ApiError(422, "invalid_experiment", e.what(), config_error_field(e.what(), origin));
  }
  if (spec.load.connections > c.max_connections) {
    throw ApiError(422, "over_limit",
                   "load.connections " + std::to_string(spec.load.connections) +
                       " exceeds load.max_connections " + std::to_string(c.max_connections),
                   "load.connections");
  }
  if (spec.load.duration + spec.load.warmup > c.max_duration) {
    throw ApiError(
        422, "over_limit",
        "load.duration + load.warmup exceeds load.max_duration " + format_duration(c.max_duration),
        "load.duration");
  }
  const size_t runs = spec.variants.size() * static_cast<size_t>(spec.trials);
  if (runs > kMaxExperimentRuns) {
    throw ApiError(422, "over_limit",
                   "trials × variants is " + std::to_string(runs) + " runs, more than " +
                       std::to_string(kMaxExperimentRuns) + " in one experiment",
                   "trials");
  }
  spec.load.threads = std::min(spec.load.threads, spec.load.connections);
  return spec;
}

std::string render_answer(const json& body) {
  return body.dump(2, ' ', false, json::error_handler_t::replace) + "\n";
}

std::string config_error_field(const std::string& message, const std::string& origin) {
  std::string rest = message.substr(std::min(message.size(), origin.size()));
  if (!rest.empty() && rest.front() == ':') {
    rest.erase(0, 1);
    rest.erase(0, rest.find_first_not_of("0123456789"));
  }
  if (rest.rfind(": ", 0) == 0) rest.erase(0, 2);
  const auto colon = rest.find(": ");
  return colon == std::string::npos ? "" : rest.substr(0, colon);
}

}  // namespace iolab
