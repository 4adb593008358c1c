#pragma once

#include <functional>
#include <optional>
#include <stop_token>
#include <string>
#include <vector>

#include "lab/experiment.h"
#include "lab/report.h"
#include "lab/trials.h"
#include "loadgen/engine.h"
#include "variants/stub.h"
#include "variants/variant.h"
#include "workers/shared_stats.h"
#include "workers/supervisor.h"

namespace iolab {

/// Called about once a second during a run: the row label, elapsed time, and live counters.
using ProgressFn =
    std::function<void(const std::string& label, std::chrono::nanoseconds elapsed,
                       std::chrono::nanoseconds total, const LoadProgress& progress)>;

/// The most upstream connections `variant`'s workers may open to the stub while loaded with
/// `connections` connections.
uint64_t upstream_connections_at_most(const VariantSpec& variant, int connections);

/// Throws RunError, naming the connections, when a run of `variant` with `connections`
/// connections could not hold its descriptors: in this process (the load and the stub's side)
/// or in a worker (its share of the clients and its upstream connections). Raises the soft
/// RLIMIT_NOFILE to the hard limit on the way.
void check_open_files(const VariantSpec& variant, int connections);

/// How a variant's workers reach the upstream: `url`, with the built-in stub's `profile` when
/// the stub is ours (its delay gives the Little's-law bound and the workers' upstream timeout).
struct UpstreamRoute {
  Url url;
  std::optional<StubProfile> builtin;
};

/// The worker set that serves `variant` on `listen` and calls `upstream`: the one place that
/// sets the workers' upstream timeout.
WorkerSetSpec worker_set(std::string executable, const VariantSpec& variant,
                         const UpstreamRoute& upstream, const Endpoint& listen);

/// The one path by which a variant is loaded, whoever asked (`iolab run`, an experiment, the
/// daemon's REST API): points `load` at `workers`' `path`, runs it and returns the row with the
/// Little's-law bound (a /remote run on the built-in stub), the workers' CPU and RSS during the
/// run and their restarts. `workers` serves `variant` and stays up; `live` receives the
/// engine's counters and seconds. Blocks the calling thread.
ReportRow load_variant(const VariantSpec& variant, const Supervisor& workers,
                       const UpstreamRoute& upstream, LoadSpec load, const std::string& path,
                       std::stop_token stop, LoadProgress& live);

/// Loads `load.target` (any admitted URL) as `load` says: the row is labelled by the URL.
ReportRow load_target(LoadSpec load, std::stop_token stop, LoadProgress& live);

/// Embedded runs: the built-in upstream stub, a variant's worker processes and the load engine,
/// all on loopback ports chosen by the kernel, torn down after each run.
class Lab {
 public:
  /// `executable` is the iolab binary the variant workers run as.
  Lab(StubProfile upstream, std::string executable);
  ~Lab();

  /// Starts `variant`, loads `path` on it as `load` says, stops it. Throws StartError or
  /// RunError when the run cannot start.
  ReportRow run_variant(const VariantSpec& variant, LoadSpec load, const std::string& path,
                        std::stop_token stop = {}, const ProgressFn& progress = {});

  /// Loads `load.target` (any admitted URL) as `load` says.
  ReportRow run_target(LoadSpec load, std::stop_token stop = {}, const ProgressFn& progress = {});

  /// Every variant of `experiment` in order, one row each. Stops early when `stop` is requested.
  std::vector<ReportRow> run_experiment(const ExperimentSpec& experiment, std::stop_token stop = {},
                                        const ProgressFn& progress = {});

  /// Every variant of `experiment`, `trials` times each, interleaved (A, B, C, A, B, C…); the
  /// progress label names the trial ("async #2/5") when there is more than one. Stops before
  /// the next trial when `stop` is requested.
  std::vector<TrialRow> run_experiment_trials(const ExperimentSpec& experiment, int trials,
                                              std::stop_token stop = {},
                                              const ProgressFn& progress = {});

  /// Row `row` of `experiment` once: its variant with its point's path and rate.
  ReportRow run_experiment_row(const ExperimentSpec& experiment, size_t row,
                               std::stop_token stop = {}, const ProgressFn& progress = {});

  uint16_t stub_port() const { return stub_.port(); }

  /// Where each variant's workers publish their stats (a daemon's /metrics regions); by default
  /// they publish nothing. Set before a run.
  std::function<std::shared_ptr<StatsRegion>(const std::string& variant)> stats_regions;

 private:
  StubProfile profile_;
  std::string executable_;
  UpstreamStub stub_;
};

/// `progress` with each label marked as trial `trial` (0-based) of `trials`: "async #2/5"; the
/// same function when `trials` is 1.
ProgressFn trial_progress(const ProgressFn& progress, int trial, int trials);

/// A ProgressFn writing to stderr: one line a second when stderr is not a terminal, one line
/// rewritten in place when it is.
ProgressFn stderr_progress();

}  // namespace iolab
