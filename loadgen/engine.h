#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <stop_token>
#include <string>
#include <string_view>
#include <vector>

#include "core/histogram.h"
#include "loadgen/load_spec.h"

namespace iolab {

/// One second of a run, as the timeline keeps it.
struct TimelinePoint {
  int64_t second = 0;     ///< Index from the start of the run (warm-up included): [s, s+1).
  bool warmup = false;    ///< The second began before the measured window.
  uint64_t requests = 0;  ///< Answers that arrived in it, whatever their status.
  uint64_t errors = 0;    ///< Errors of every kind counted in it.
  std::chrono::nanoseconds p50{0};  ///< Of the latencies of its answers (corrected in open loop),
  std::chrono::nanoseconds p99{0};  ///< within 1 %; zero when it had no answers.

  bool operator==(const TimelinePoint&) const = default;
};

/// One segment of a merged run (iolab merge), as its own result said.
struct SegmentRecord {
  std::string segment;  ///< As Segment::to_string(), "1/3:2/3".
  std::string host;
  std::chrono::system_clock::time_point started_at;
  std::optional<std::chrono::nanoseconds> start_skew;
  std::chrono::nanoseconds elapsed{0};
  uint64_t requests = 0;
  uint64_t connections = 0;

  bool operator==(const SegmentRecord&) const = default;
};

/// Why an answer could not be read: a static reason and the byte of the answer where it was
/// found.
struct ProtocolError {
  std::string_view reason;  ///< Static storage; empty when there was none.
  uint64_t offset = 0;

  /// "<reason> at byte 8,210 of an answer".
  std::string to_string() const;
};

/// What one run measured. Histograms hold every answer of the measured window.
struct LoadResult {
  LoadSpec spec;  ///< As run: threads clamped to connections, an empty path made "/".
  /// Latency of each answer. Open loop: from the request's intended send time (corrected for
  /// coordinated omission). Closed loop: from its send.
  LatencyHistogram latency;
  /// Latency from the actual send. Equal to `latency` in closed loop.
  LatencyHistogram uncorrected;
  uint64_t requests = 0;  ///< Complete answers in the window, whatever their status.
  ErrorCounts errors;     ///< In the window.
  /// The run's first protocol error (warm-up included), as ProtocolError::to_string(); empty
  /// when there was none.
  std::string protocol_error;
  uint64_t reconnects = 0;  ///< Connections the server closed cleanly between answers, reopened.
  /// Requests sent again on a new socket because the server closed their kept-alive socket
  /// before answering them (idempotent methods only; for others that is a read error). Their
  /// answers count once, in `requests`.
  uint64_t resent = 0;
  std::chrono::nanoseconds elapsed{0};  ///< Actual length of the measured window.
  /// Open loop: how late requests sent in the window left against their schedule (a busy
  /// connection or a busy sender delays them). Zero in closed loop.
  std::chrono::nanoseconds lag_max{0};
  std::chrono::nanoseconds lag_mean{0};
  /// One point per second of the run, warm-up included, in order.
  std::vector<TimelinePoint> timeline;
  /// Where and when it ran: the host's name, and the wall clock when the warm-up began (the
  /// timeline's second 0). With LoadSpec::start_at, how much later than asked that was.
  std::string host;
  std::chrono::system_clock::time_point started_at;
  std::optional<std::chrono::nanoseconds> start_skew;
  /// A merged run (iolab merge): each segment it was merged from. Empty otherwise.
  std::vector<SegmentRecord> segments;

  /// Achieved rate: answers per second of the window.
  double rps() const {
    const double s = static_cast<double>(elapsed.count()) / 1e9;
    return s > 0 ? static_cast<double>(requests) / s : 0.0;
  }
};

/// Live view of a run in progress. The counters may be read from any thread while the engine
/// writes them; each completed second of the timeline is handed to an optional callback.
class LoadProgress {
 public:
  using SecondFn = std::function<void(const TimelinePoint&)>;

  LoadProgress() = default;
  explicit LoadProgress(SecondFn on_second) : on_second_(std::move(on_second)) {}

  /// Answers so far, warm-up included.
  uint64_t requests() const { return requests_.load(std::memory_order_relaxed); }
  /// Errors so far, warm-up included.
  uint64_t errors() const { return errors_.load(std::memory_order_relaxed); }
  /// The latest complete second, if one has completed. Any thread.
  std::optional<TimelinePoint> last_second() const {
    const std::lock_guard lock(mutex_);
    return last_second_;
  }
  /// The run's first protocol error so far; its reason is empty while there is none. Any thread.
  ProtocolError protocol_error() const {
    const std::lock_guard lock(mutex_);
    return protocol_error_;
  }

  /// Engine side: the run's first protocol error, called once. Any thread; never allocates.
  void set_protocol_error(ProtocolError error) {
    const std::lock_guard lock(mutex_);
    protocol_error_ = error;
  }

  /// Engine side: adds to the counters. Lock-free, any thread.
  void add(uint64_t requests, uint64_t errors) {
    requests_.fetch_add(requests, std::memory_order_relaxed);
    errors_.fetch_add(errors, std::memory_order_relaxed);
  }
  /// Engine side: one more second completed. Called on the thread that called run_load, which
  /// also runs the callback, in the order of the seconds.
  void add_second(const TimelinePoint& point) {
    {
      const std::lock_guard lock(mutex_);
      last_second_ = point;
    }
    if (on_second_) on_second_(point);
  }

 private:
  std::atomic<uint64_t> requests_{0};
  std::atomic<uint64_t> errors_{0};
  mutable std::mutex mutex_;
  std::optional<TimelinePoint> last_second_;
  ProtocolError protocol_error_;
  SecondFn on_second_;
};

/// Raises this process's soft RLIMIT_NOFILE to its hard limit and returns the limit
/// (UINT64_MAX when unlimited, 0 when it cannot be read). Any thread.
uint64_t raise_open_file_limit();

/// Throws RunError, naming `connections`, when this process cannot hold `connections` load
/// connections plus `others` descriptors used alongside them (`others_what` says for what, as
/// "the upstream stub's side") and a small spare, even with the limit raised. Called by
/// run_load for the load alone; callers hosting more in the same process check first.
void reserve_open_files(int connections, uint64_t others = 0, const std::string& others_what = {});

/// Pacing: how long a load thread that finds no answer ready sleeps on a timer before it looks
/// again, rather than block in epoll_wait until the server's next send wakes it (on loopback
/// that wake-up runs on the server's CPU). Zero means block. Computed from the thread's
/// requests in flight and the answers it got over the last `elapsed`: a fraction of the round
/// trip, within [10 us, 50 us], and only with at least 16 requests in flight and answers due
/// more often than every 50 us.
std::chrono::nanoseconds pacing_pause(uint64_t outstanding, uint64_t answers,
                                      std::chrono::nanoseconds elapsed);

/// Runs a load as `spec` says and blocks until it ends (deadline, max_requests reached and
/// answered, or `stop` requested). Throws RunError before any load when the spec is invalid or
/// the target refuses a first probe connection; once started, failures are counted. `progress`,
/// if given, has its counters updated at least every 100 ms and gets each second of the
/// timeline within about 50 ms of its end. Memory is fixed at the start, whatever the length of
/// the run, except for the timeline's few dozen bytes a second.
LoadResult run_load(const LoadSpec& spec, std::stop_token stop = {},
                    LoadProgress* progress = nullptr);

}  // namespace iolab
