#pragma once

#include <chrono>
#include <stdexcept>
#include <string>
#include <vector>

#include "core/errors.h"
#include "lab/yaml_reader.h"
#include "loadgen/load_spec.h"
#include "store/regression.h"
#include "variants/stub.h"
#include "variants/variant.h"

namespace iolab {

/// What one variant entry may change of the experiment's load (the nightly suite mixes a seed
/// point, a plaintext point and an open-loop point in one file).
struct ExperimentPoint {
  std::string scenario;  ///< `scenario`; default: the experiment's name. Keys the history.
  std::string path;      ///< `path`; default: the experiment's `load.path`.
  double rate = 0;       ///< `rate` in requests/s (open loop); default: `load.rate`.
};

/// One experiment: an upstream profile, a load shape and the variants to run it against, in
/// order. Each variant gets the same load; a `threads` entry with a list of sizes expands into
/// one variant per size.
struct ExperimentSpec {
  std::string name;
  StubProfile upstream;
  LoadSpec load;  ///< `target` is left empty: each variant's port fills it in.
  std::string path = "/remote";
  std::vector<VariantSpec> variants;
  /// Parallel to `variants`: each one's scenario, path and rate.
  std::vector<ExperimentPoint> points;
  /// `regression: {max_p, window, min_nights, throughput_drop, p99_rise, min_answers,
  /// alert_nights}`: how the history of each scenario and variant is judged (regression.h).
  RegressionPolicy regression;
  /// `trials`: how many times each row runs, interleaved (A, B, C, A, B, C…); 1 by default.
  int trials = 1;
};

/// The most trials an experiment file or --trials may ask for.
inline constexpr int kMaxTrials = 1000;
/// The most rows (variants, a `threads` list counting one row per size) an experiment file may
/// hold.
inline constexpr size_t kMaxExperimentRows = 1000;
/// The most threads one variant may start over all its workers (`workers` × `threads`): each is
/// a kernel thread with its stack, and past some tens of thousands a machine runs out of them
/// (kernel.threads-max, memory). Checked by experiment files and by PUT /api/v1/variant.
inline constexpr int64_t kMaxVariantThreadsTotal = 20000;

/// The most YAML items (lines, list entries, values) an experiment file may hold: read before
/// the YAML itself, so that a file of a million list entries costs no more than its bytes.
inline constexpr size_t kMaxExperimentItems = 20000;

/// Reads an experiment file (every key in docs/experiments.md). Throws ConfigError naming file,
/// line and key for an unknown key, a missing one or a bad value.
ExperimentSpec load_experiment_file(const std::string& path);

/// Reads the keys of a stub profile shared by experiment files (`upstream`) and the daemon's
/// config (`upstream.profile`): `distribution` (the text form of DelayDistribution) and
/// `faults: {error, close, reset, status}` (probabilities as 1% or 0.01). `prefix` names the
/// mapping in errors ("upstream"); `node` is it. Throws ConfigError.
void read_delays_and_faults(const YamlReader& r, const YAML::Node& node, const std::string& prefix,
                            StubProfile& profile);

/// Throws ConfigError when `yaml_text` holds more than kMaxExperimentItems items, without
/// reading it as YAML. parse_experiment() checks it first.
void check_experiment_size(const std::string& yaml_text, const std::string& origin);

/// The same, from YAML text; `origin` names it in errors.
ExperimentSpec parse_experiment(const std::string& yaml_text, const std::string& origin);

}  // namespace iolab
