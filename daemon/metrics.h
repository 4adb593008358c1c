#pragma once

#include <array>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "loadgen/engine.h"
#include "store/run_store.h"
#include "variants/stub_profile.h"
#include "workers/process_usage.h"
#include "workers/shared_stats.h"

namespace prometheus {
class Counter;
class Registry;
struct MetricFamily;
}  // namespace prometheus

namespace iolab {

/// One variant as a scrape shows it: the sum over its workers' published stats, and, for the
/// active variant, what /proc says of its live workers.
struct VariantMetrics {
  std::string variant;  ///< As VariantSpec::name().
  WorkerStatsValues stats;
  uint64_t restarts = 0;
  std::optional<ProcessUsage> usage;  ///< The active variant only.
};

/// The load engine's view of one (scenario, target): runs that ended, plus the running one's
/// live counters.
struct LoadMetrics {
  std::string scenario;     ///< The experiment's name; "adhoc" for a run posted alone.
  std::string target;       ///< The variant name, or the URL loaded.
  CoarseHistogram latency;  ///< Measured windows of the runs that ended.
  uint64_t responses = 0;   ///< Answers, warm-up included, whatever their status.
  uint64_t errors = 0;      ///< Errors of every kind, warm-up included.
};

/// Everything one scrape exports, as plain values.
struct MetricsSnapshot {
  std::vector<VariantMetrics> variants;
  std::vector<LoadMetrics> load;
  std::optional<CoarseHistogram> stub;                  ///< The built-in stub, when it runs.
  std::optional<CoarseHistogram> stub_delays;           ///< The delays it served.
  std::array<uint64_t, kStubFaultCount> stub_faults{};  ///< Its answers by StubFault.
  /// Nightly regressions flagged on the latest night: iolab_regression{scenario,variant,measure}.
  struct Regression {
    std::string scenario, variant, measure;
  };
  std::vector<Regression> regressions;
};

/// The Prometheus families of `snapshot` (the names, labels and buckets docs/metrics.md lists),
/// without iolab_runs_total and iolab_build_info (those live in DaemonMetrics' registry).
std::vector<prometheus::MetricFamily> to_families(const MetricsSnapshot& snapshot);

/// The text exposition format of `families` (prometheus-cpp's TextSerializer).
std::string serialize(const std::vector<prometheus::MetricFamily>& families);

/// The most variant names with a stats region, and the most (scenario, target) load series,
/// kept at once: past them the least recently used one that no worker holds is retired (its
/// series leave the scrape; should it come back, its counters start again from zero, which
/// Prometheus reads as a reset). Each region holds one descriptor.
inline constexpr size_t kMaxVariantRegions = 32;
inline constexpr size_t kMaxLoadSeries = 64;

/// The daemon's metrics: one shared-memory stats region per variant name (kept while it is
/// used, so counters stay monotonic across worker restarts and variant switches), the load
/// engine's per-(scenario, target) totals, runs by state and build info; both bounded above.
///
/// Nothing here is on a request path: variants record into core histograms in their own
/// processes, and this reads what they publish at scrape time. Thread-safe.
class DaemonMetrics {
 public:
  DaemonMetrics(const std::string& version, const std::string& revision);
  ~DaemonMetrics();
  DaemonMetrics(const DaemonMetrics&) = delete;
  DaemonMetrics& operator=(const DaemonMetrics&) = delete;

  /// The region the workers of `variant` publish into; created on first use. Throws StartError.
  std::shared_ptr<StatsRegion> region_for(const std::string& variant);

  /// Wraps `store` so that every run entering a state counts in iolab_runs_total{state}.
  std::unique_ptr<RunStore> count_runs(std::unique_ptr<RunStore> store);

  /// A run starts loading `target` (a variant name, or a target's host:port: never a URL, whose
  /// paths would make the series unbounded) in `scenario`; `progress` stays valid until
  /// end_load().
  void begin_load(const std::string& scenario, const std::string& target,
                  const LoadProgress* progress);
  /// The run begun last ended with `result` (its histogram is added) and `progress` (its
  /// counters are added).
  void end_load(const LoadResult* result, const LoadProgress& progress);
  /// The same with the counts given: for a run begun without a live progress.
  void end_load(const LoadResult* result, uint64_t responses, uint64_t errors);

  /// The variants' and the load engine's current values. `active` and `usage` name the active
  /// variant and its workers' /proc usage.
  MetricsSnapshot snapshot(const std::optional<std::string>& active,
                           const std::optional<ProcessUsage>& usage) const;

  /// The whole exposition: `snapshot`'s families and the registry's.
  std::string render(const MetricsSnapshot& snapshot) const;

  /// Counts a run that entered `state`. Called by the counting store.
  void count_run(RunState state);

 private:
  struct LoadKey {
    std::string scenario, target;
    auto operator<=>(const LoadKey&) const = default;
  };

  // Retires the least recently used entries past the caps (under mutex_).
  void retire();

  mutable std::mutex mutex_;
  uint64_t clock_ = 0;  // Orders uses, for retirement.
  struct Region {
    std::shared_ptr<StatsRegion> region;
    uint64_t used = 0;
  };
  std::map<std::string, Region> regions_;
  std::map<LoadKey, LoadMetrics> load_;
  std::map<LoadKey, uint64_t> load_used_;
  std::optional<LoadKey> live_key_;
  const LoadProgress* live_ = nullptr;
  std::shared_ptr<prometheus::Registry> registry_;
  std::map<RunState, prometheus::Counter*> runs_;
};

}  // namespace iolab
