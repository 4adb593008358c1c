#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <memory>
#include <stop_token>

#include "core/histogram.h"
#include "loadgen/load_spec.h"

namespace iolab {

/// What one run measured. `latency` holds every answered request of the measured window.
struct LoadResult {
  LoadSpec spec;
  LatencyHistogram latency;
  uint64_t requests = 0;    ///< Complete answers in the window, whatever their status.
  ErrorCounts errors;       ///< In the window.
  uint64_t reconnects = 0;  ///< Connections the server closed cleanly between answers, reopened.
  std::chrono::nanoseconds elapsed{0};  ///< Actual length of the measured window.

  double rps() const {
    const double s = static_cast<double>(elapsed.count()) / 1e9;
    return s > 0 ? static_cast<double>(requests) / s : 0.0;
  }
};

/// Live counters of a run in progress, readable from any thread while the engine writes them.
class LoadProgress {
 public:
  /// Answers so far, warm-up included.
  uint64_t requests() const { return requests_.load(std::memory_order_relaxed); }
  /// Errors so far, warm-up included.
  uint64_t errors() const { return errors_.load(std::memory_order_relaxed); }

  void add(uint64_t requests, uint64_t errors) {
    requests_.fetch_add(requests, std::memory_order_relaxed);
    errors_.fetch_add(errors, std::memory_order_relaxed);
  }

 private:
  std::atomic<uint64_t> requests_{0};
  std::atomic<uint64_t> errors_{0};
};

/// Runs a closed-loop load as `spec` says and blocks until it ends (deadline, max_requests
/// reached and answered, or `stop` requested). Throws RunError before any load when the spec is
/// invalid or the target refuses a first probe connection; once started, failures are counted.
/// `progress`, if given, is updated at least every 100 ms.
LoadResult run_load(const LoadSpec& spec, std::stop_token stop = {},
                    LoadProgress* progress = nullptr);

}  // namespace iolab
