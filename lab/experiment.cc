#include "lab/experiment.h"

#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <cmath>
#include <fstream>
#include <set>
#include <sstream>

#include "core/duration.h"
#include "lab/yaml_reader.h"

namespace iolab {
namespace {

constexpr int kMaxConnections = 100000;
constexpr int kMaxLoadThreads = 256;

}  // namespace

namespace {

// A probability of `faults`: 1% or 0.01, 0 allowed.
double fault_share(const YamlReader& r, const YAML::Node& node, const std::string& key) {
  const std::string text = r.scalar(node, key);
  if (text == "0" || text == "0%") return 0;
  return r.percent(node, key, 1);
}

}  // namespace

void read_delays_and_faults(const YamlReader& r, const YAML::Node& node, const std::string& prefix,
                            StubProfile& profile) {
  if (const auto d = node["distribution"]) {
    if (node["delay"]) {
      r.fail(d, prefix + ".distribution", "give delay or distribution, not both");
    }
    std::string error;
    profile.distribution = parse_delay_distribution(r.scalar(d, prefix + ".distribution"), &error);
    if (!profile.distribution) r.fail(d, prefix + ".distribution", error);
  }
  if (const auto f = node["faults"]) {
    const std::string key = prefix + ".faults";
    r.require_map(f, key, {"error", "close", "reset", "status"});
    StubFaults& faults = profile.faults;
    if (f["error"]) faults.error = fault_share(r, f["error"], key + ".error");
    if (f["close"]) faults.close = fault_share(r, f["close"], key + ".close");
    if (f["reset"]) faults.reset = fault_share(r, f["reset"], key + ".reset");
    if (f["status"]) {
      faults.error_status = static_cast<int>(r.integer(f["status"], key + ".status", 100, 599));
    }
    if (faults.error + faults.close + faults.reset > 1 + 1e-9) {
      r.fail(f, key, "error, close and reset add up to more than 100 %");
    }
  }
}

namespace {

// upstream: the built-in stub's delays, faults and answer size.
void read_upstream(const YamlReader& r, const YAML::Node& up, StubProfile& upstream) {
  r.require_map(up, "upstream", {"delay", "distribution", "faults", "body_bytes"});
  if (up["delay"]) upstream.delay = r.duration(up["delay"], "upstream.delay");
  read_delays_and_faults(r, up, "upstream", upstream);
  if (up["body_bytes"]) {
    upstream.body_bytes =
        static_cast<size_t>(r.integer(up["body_bytes"], "upstream.body_bytes", 0, 16 << 20));
  }
}

// load: the load every row gets, and the default path.
void read_load(const YamlReader& r, const YAML::Node& load, ExperimentSpec& spec) {
  r.require_map(load, "load",
                {"connections", "threads", "duration", "warmup", "timeout", "path", "rate"});
  if (load["connections"]) {
    spec.load.connections = r.integer(load["connections"], "load.connections", 1, kMaxConnections);
  }
  if (load["threads"]) {
    spec.load.threads = r.integer(load["threads"], "load.threads", 1, kMaxLoadThreads);
  }
  if (load["duration"]) spec.load.duration = r.duration(load["duration"], "load.duration");
  if (load["warmup"]) spec.load.warmup = r.duration(load["warmup"], "load.warmup", true);
  if (load["timeout"]) spec.load.timeout = r.duration(load["timeout"], "load.timeout");
  if (load["path"]) {
    spec.path = r.scalar(load["path"], "load.path");
    if (spec.path.empty() || spec.path.front() != '/') {
      r.fail(load["path"], "load.path", "must start with '/'");
    }
  }

  if (load["rate"]) spec.load.rate = r.number(load["rate"], "load.rate", 0, 1e9);
}

// regression: how the nightly history of the experiment's rows is judged.
void read_regression(const YamlReader& r, const YAML::Node& reg, RegressionPolicy& p) {
  r.require_map(reg, "regression",
                {"max_p", "window", "nights", "min_nights", "throughput_drop", "p99_rise",
                 "min_answers", "alert_nights"});
  if (reg["max_p"]) p.max_p = r.number(reg["max_p"], "regression.max_p", 1e-9, 0.5);
  // `nights` is the window's name from before change points: both say how many nights the
  // search looks at.
  if (reg["window"] && reg["nights"]) {
    r.fail(reg["nights"], "regression.nights", "give window or nights (its old name), not both");
  }
  const char* window_key = reg["nights"] ? "nights" : "window";
  if (reg[window_key]) {
    p.window = static_cast<int>(
        r.integer(reg[window_key], std::string("regression.") + window_key, 4, 50));
  }
  if (reg["min_nights"]) {
    p.min_nights =
        static_cast<int>(r.integer(reg["min_nights"], "regression.min_nights", 1, p.window));
  }
  if (reg["throughput_drop"]) {
    p.throughput_drop = r.percent(reg["throughput_drop"], "regression.throughput_drop", 1);
  }
  if (reg["p99_rise"]) p.p99_rise = r.percent(reg["p99_rise"], "regression.p99_rise", 100);
  if (reg["min_answers"]) {
    p.min_answers = static_cast<uint64_t>(
        r.integer(reg["min_answers"], "regression.min_answers", 0, int64_t{1} << 40));
  }
  if (reg["alert_nights"]) {
    p.alert_nights =
        static_cast<int>(r.integer(reg["alert_nights"], "regression.alert_nights", 1, 365));
  }
}

// Where variants[i] points the load: its scenario, path and rate.
ExperimentPoint read_point(const YamlReader& r, const YAML::Node& v, const std::string& key,
                           const ExperimentSpec& spec) {
  ExperimentPoint point{spec.name, spec.path, spec.load.rate};
  if (v["scenario"]) {
    point.scenario = r.scalar(v["scenario"], key + ".scenario");
    if (point.scenario.empty()) r.fail(v["scenario"], key + ".scenario", "must not be empty");
  }
  if (v["path"]) {
    point.path = r.scalar(v["path"], key + ".path");
    if (point.path.empty() || point.path.front() != '/') {
      r.fail(v["path"], key + ".path", "must start with '/'");
    }
  }
  if (v["rate"]) point.rate = r.number(v["rate"], key + ".rate", 0, 1e9);
  return point;
}

// variants[i]'s kind and sizes, as VariantLimits allows them (threads are read per row).
VariantSpec read_base(const YamlReader& r, const YAML::Node& v, const std::string& key) {
  if (!v["kind"]) r.fail(v, key + ".kind", "missing");
  VariantSpec base;
  base.kind = r.scalar(v["kind"], key + ".kind");
  std::string error;
  if (!parse_variant(base.kind == "threads" ? "threads:1" : base.kind, &error)) {
    r.fail(v["kind"], key + ".kind", error);
  }
  // parse_variant() also takes "threads:100"; as a kind it would reach make_variant() and fail
  // only when the run starts.
  if (base.kind.find(':') != std::string::npos) {
    r.fail(v["kind"], key + ".kind", "a kind has no ':' (a pool size goes in threads)");
  }
  const auto sized = [&](VariantField f) -> std::optional<int64_t> {
    const std::string name(variant_field_name(f));
    const auto node = v[name];
    if (!node) return std::nullopt;
    const VariantLimits::Range range = VariantLimits::range(f);
    if (!VariantLimits::applies(base.kind, f)) {
      r.fail(node, key + "." + name, VariantLimits::check(base.kind, f, range.min)->message);
    }
    return r.integer(node, key + "." + name, range.min, range.max);
  };
  if (auto n = sized(VariantField::kWorkers)) base.workers = static_cast<int>(*n);
  if (auto n = sized(VariantField::kPoolSize)) base.pool_size = static_cast<int>(*n);
  if (auto n = sized(VariantField::kStackBytes)) base.stack_bytes = static_cast<size_t>(*n);
  if (v["accept"]) {
    const auto mode = parse_accept_mode(r.scalar(v["accept"], key + ".accept"));
    if (!mode) r.fail(v["accept"], key + ".accept", "must be shared or reuseport");
    base.accept = *mode;
  }
  return base;
}

// variants[i]'s rows: one, or one per size of its `threads` list.
void add_rows(const YamlReader& r, const YAML::Node& v, const std::string& key,
              const VariantSpec& base, const ExperimentPoint& point, ExperimentSpec& spec) {
  if (!VariantLimits::applies(base.kind, VariantField::kThreads)) {
    if (v["threads"]) {
      r.fail(v["threads"], key + ".threads",
             VariantLimits::check(base.kind, VariantField::kThreads, 1)->message);
    }
    if (spec.variants.size() >= kMaxExperimentRows) {
      r.fail(v, key,
             "the experiment would hold more than " + std::to_string(kMaxExperimentRows) + " rows");
    }
    spec.variants.push_back(base);
    spec.points.push_back(point);
    return;
  }
  const auto threads = v["threads"];
  if (!threads) r.fail(v, key + ".threads", "missing (a size or a list of sizes)");
  std::vector<YAML::Node> sizes;
  if (threads.IsSequence()) {
    for (const auto& t : threads) sizes.push_back(t);
  } else {
    sizes.push_back(threads);
  }
  if (sizes.empty()) r.fail(threads, key + ".threads", "empty list");
  if (spec.variants.size() + sizes.size() > kMaxExperimentRows) {
    r.fail(threads, key + ".threads",
           "the experiment would hold more than " + std::to_string(kMaxExperimentRows) + " rows");
  }
  for (const auto& t : sizes) {
    VariantSpec s = base;
    s.threads = static_cast<int>(
        r.integer(t, key + ".threads", VariantLimits::kThreads.min, VariantLimits::kThreads.max));
    if (int64_t{s.threads} * std::max(1, s.workers) > kMaxVariantThreadsTotal) {
      r.fail(t, key + ".threads",
             std::to_string(s.workers) + " workers × " + std::to_string(s.threads) +
                 " threads is more than " + std::to_string(kMaxVariantThreadsTotal) +
                 " threads in all");
    }
    spec.variants.push_back(s);
    spec.points.push_back(point);
  }
}

}  // namespace

void check_experiment_size(const std::string& yaml_text, const std::string& origin) {
  // Every YAML item is on a line of its own or after a separator: an upper bound on the nodes
  // the YAML reader would build, counted before it builds any.
  const size_t items =
      1 + static_cast<size_t>(std::count_if(yaml_text.begin(), yaml_text.end(), [](char c) {
        return c == ',' || c == '\n' || c == ':';
      }));
  if (items > kMaxExperimentItems) {
    throw ConfigError(origin + ":1: variants: the file holds more than " +
                      std::to_string(kMaxExperimentItems) +
                      " YAML items (lines, list entries or keys); an experiment holds at most " +
                      std::to_string(kMaxExperimentRows) + " rows");
  }
}

ExperimentSpec parse_experiment(const std::string& yaml_text, const std::string& origin) {
  check_experiment_size(yaml_text, origin);
  const YAML::Node root = load_yaml(yaml_text, origin);
  const YamlReader r(origin);
  r.require_map(root, "", {"name", "upstream", "load", "variants", "regression", "trials"});
  ExperimentSpec spec;
  if (!root["name"]) r.fail(root, "name", "missing");
  spec.name = r.scalar(root["name"], "name");
  if (root["trials"]) {
    spec.trials = static_cast<int>(r.integer(root["trials"], "trials", 1, kMaxTrials));
  }
  if (const auto up = root["upstream"]) read_upstream(r, up, spec.upstream);
  if (!root["load"]) r.fail(root, "load", "missing");
  read_load(r, root["load"], spec);
  if (const auto reg = root["regression"]) read_regression(r, reg, spec.regression);

  const auto variants = root["variants"];
  if (!variants || !variants.IsSequence() || variants.size() == 0) {
    r.fail(variants ? variants : root, "variants", "expected a non-empty list");
  }
  for (size_t i = 0; i < variants.size(); ++i) {
    const auto v = variants[i];
    const std::string key = "variants[" + std::to_string(i) + "]";
    r.require_map(v, key,
                  {"kind", "threads", "workers", "pool_size", "stack_bytes", "accept", "scenario",
                   "path", "rate"});
    const ExperimentPoint point = read_point(r, v, key, spec);
    add_rows(r, v, key, read_base(r, v, key), point, spec);
  }
  return spec;
}

ExperimentSpec load_experiment_file(const std::string& path) {
  std::ifstream in(path);
  if (!in) throw ConfigError(path + ": cannot read the file");
  std::stringstream text;
  text << in.rdbuf();
  return parse_experiment(text.str(), path);
}

}  // namespace iolab
