#pragma once

#include <array>
#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <mutex>
#include <stop_token>
#include <thread>

#include "core/histogram.h"
#include "variants/server_stats.h"

namespace iolab {

/// Upper bounds of the exported histogram buckets, in seconds: 100 µs to 60 s,
/// denser around the 100 ms of the seed's upstream. A last, implicit bucket is +Inf.
inline constexpr std::array<double, 22> kMetricBucketBounds = {
    0.0001, 0.0002, 0.0005, 0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.11,
    0.125,  0.15,   0.2,    0.3,   0.5,   1,     2,    5,    10,   30,  60};
inline constexpr size_t kMetricBuckets = kMetricBucketBounds.size() + 1;  // + the +Inf bucket

/// A histogram reduced to the exported buckets: per-bucket (not cumulative) counts, the last
/// one above the highest bound, and the sum of the values.
struct CoarseHistogram {
  std::array<uint64_t, kMetricBuckets> buckets{};
  uint64_t sum_ns = 0;

  uint64_t count() const;
  CoarseHistogram& operator+=(const CoarseHistogram& o);
};

/// Reduces `h` to the exported buckets. A fine bucket counts in the first bound its lowest value
/// does not exceed (within the histogram's 0.1 %). Safe while others record into `h`.
CoarseHistogram coarsen(const LatencyHistogram& h);

/// What one worker process publishes: its ServerStats reduced to the exported buckets, and its
/// CPU time. Lives in shared memory: lock-free atomics only, no pointers.
struct SharedWorkerStats {
  struct Histogram {
    std::array<std::atomic<uint64_t>, kMetricBuckets> buckets;
    std::atomic<uint64_t> sum_ns;
  };
  Histogram total, queue_wait, upstream, pool_wait;
  std::array<Histogram, kRouteCount> route_total;  ///< By Route.
  std::array<std::array<std::atomic<uint64_t>, kStatusSlots>, kRouteCount> answers;
  std::atomic<uint64_t> requests, upstream_failures, upstream_timeouts;
  std::atomic<uint64_t> cpu_ns;  ///< User + system time of the worker.
  std::atomic<uint64_t> inflight, open_connections;
  std::atomic<uint64_t> pool_threads, pool_busy;  ///< threads:N's pool: its size, busy threads.
};

/// The plain-value copy of SharedWorkerStats the daemon sums and exports.
struct WorkerStatsValues {
  CoarseHistogram total, queue_wait, upstream, pool_wait;
  std::array<CoarseHistogram, kRouteCount> route_total;
  std::array<std::array<uint64_t, kStatusSlots>, kRouteCount> answers{};
  uint64_t requests = 0, upstream_failures = 0, upstream_timeouts = 0;
  uint64_t cpu_ns = 0;
  uint64_t inflight = 0, open_connections = 0;
  uint64_t pool_threads = 0, pool_busy = 0;

  WorkerStatsValues& operator+=(const WorkerStatsValues& o);
};

/// A shared-memory region (memfd) with one slot per worker of one variant, plus the variant's
/// restart count. The daemon keeps one region per variant name for its whole life: a slot's
/// counts carry over from a worker to its successor (the successor starts from what the slot
/// holds), so every counter is monotonic across worker restarts and variant switches.
///
/// Thread and process safety: every field is a lock-free atomic; any process mapping the region
/// may read it while the slot's one writer (the worker) writes.
class StatsRegion {
 public:
  static constexpr int kMaxSlots = 64;

  struct Layout {
    std::atomic<uint64_t> restarts;
    std::array<SharedWorkerStats, kMaxSlots> slots;
  };

  /// Creates a zeroed region (memfd, not inherited across exec unless dup2'd). Throws
  /// StartError.
  static std::shared_ptr<StatsRegion> create();
  /// Maps the region behind `fd` (a worker's inherited descriptor). Throws StartError.
  static std::shared_ptr<StatsRegion> attach(int fd);

  ~StatsRegion();
  StatsRegion(const StatsRegion&) = delete;
  StatsRegion& operator=(const StatsRegion&) = delete;

  /// The memfd, for handing to a worker.
  int fd() const { return fd_; }
  Layout& layout() { return *layout_; }
  const Layout& layout() const { return *layout_; }
  /// The sum over every slot.
  WorkerStatsValues sum() const;

  /// Reserves `n` consecutive slots for one set of workers, so that two sets of the same variant
  /// running at once (the active one and an experiment's) never write the same slot. Returns the
  /// first; throws StartError when none are free. Thread-safe (within the owning process).
  int acquire(int n);
  /// Frees the slots acquire() returned.
  void release(int first, int n);

 private:
  StatsRegion(int fd, Layout* layout) : fd_(fd), layout_(layout) {}
  int fd_ = -1;
  Layout* layout_ = nullptr;
  std::mutex mutex_;
  std::array<bool, kMaxSlots> taken_{};
};

/// Reads one slot into plain values.
WorkerStatsValues read_slot(const SharedWorkerStats& slot);

/// Worker side: copies `stats` into `slot` every `period` on its own thread, on top of what the
/// slot held when it was constructed (a predecessor's counts), and once more on destruction.
/// The copy reads the fine histograms (a few hundred microseconds); the request path is not
/// touched.
class StatsPublisher {
 public:
  StatsPublisher(const ServerStats& stats, SharedWorkerStats& slot,
                 std::chrono::milliseconds period = std::chrono::milliseconds(100));
  ~StatsPublisher();
  StatsPublisher(const StatsPublisher&) = delete;
  StatsPublisher& operator=(const StatsPublisher&) = delete;

  /// Copies now. Called by the publisher's thread; public for the last copy and for tests.
  void publish();

 private:
  const ServerStats& stats_;
  SharedWorkerStats& slot_;
  WorkerStatsValues base_;
  std::array<uint64_t, 4 + kRouteCount> last_counts_;
  std::chrono::milliseconds period_;
  std::jthread thread_;
};

}  // namespace iolab
