#pragma once

// Engine internals, not part of the API: the timeline of a run, one point a second. Each worker
// writes its share of the current second into a TimelineRing and hands finished seconds over
// through it; a TimelineCollector on the thread that called run_load adds the shares up.

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <vector>

#include "loadgen/engine.h"
#include "loadgen/interval_histogram.h"
#include "loadgen/run_context.h"

namespace iolab::loadgen {

// Finished seconds a worker may hand over before the collector drains them. Past that (the
// collecting thread starved for seconds) the worker's share of later seconds is dropped from
// the timeline; the histograms of record are not affected.
constexpr size_t kIntervalSlots = 4;
// Seconds the collector holds open at once while waiting for every worker to finish them.
constexpr size_t kOpenSeconds = 8;
constexpr int64_t kNoSecond = -1;

// One second of one worker's share of the timeline, handed to the collecting thread when the
// second ends.
struct IntervalSlot {
  IntervalHistogram latency;
  uint64_t requests = 0;
  uint64_t errors = 0;
  // kNoSecond while the slot is free or being written by its worker; the second's index once
  // published, until the collector has read and reset it.
  std::atomic<int64_t> second{kNoSecond};

  void clear() noexcept {
    latency.reset();
    requests = 0;
    errors = 0;
  }
};

// One worker's side of the timeline: the slot of the current second and a ring of finished
// ones. Built on the caller's thread (allocates); the worker's calls neither allocate nor throw.
// The worker writes, the collector reads published slots; the hand-over is each slot's
// `second`, stored with release and loaded with acquire.
class TimelineRing {
 public:
  TimelineRing();

  /// Worker, before its first event: the current second is the one holding `now`, counted from
  /// `run_start`.
  void begin(Clock::time_point now, Clock::time_point run_start) noexcept;

  /// Worker: the slot for an event at `now`, so each lands in the second it happened in. Hands
  /// over the seconds that ended before `now`.
  IntervalSlot& slot_at(Clock::time_point now) noexcept {
    advance(now);
    return *slot_;
  }
  /// Worker: hands over the seconds that ended before `now`.
  void advance(Clock::time_point now) noexcept {
    while (now >= second_end_) publish_second();
  }
  /// Worker, once its loop has ended: hands over the current second, then marks itself done.
  void close() noexcept;

  /// Collector: the ring of kIntervalSlots. Published slots carry their second.
  IntervalSlot* slots() { return slots_.get(); }
  /// Collector: true once the worker has closed the ring, after publishing its last second.
  bool done() const { return done_.load(std::memory_order_acquire); }

 private:
  void publish_second() noexcept;

  std::unique_ptr<IntervalSlot[]> slots_;  // A ring of kIntervalSlots.
  std::unique_ptr<IntervalSlot> scratch_;  // Written when the ring is full; never published.
  IntervalSlot* slot_ = nullptr;           // The slot of the current second.
  size_t slot_index_ = 0;                  // slot_'s place in the ring, unless it is scratch_.
  int64_t second_ = 0;                     // The current second of the timeline.
  Clock::time_point second_end_;
  std::atomic<bool> done_{false};
};

// Gathers the workers' finished seconds into the timeline, each second once every worker has
// finished it. Runs on the thread that called run_load, off the hot path.
class TimelineCollector {
 public:
  /// `rings` (one per worker), `context` and `timeline` must outlive the collector. Reads
  /// `context` only once the workers run.
  TimelineCollector(std::vector<TimelineRing*> rings, const RunContext& context,
                    std::vector<TimelinePoint>& timeline);

  /// Takes what the workers have published; completes the seconds every running worker has
  /// finished. The seconds at the end of the run wait for finish().
  void collect();

  /// After the workers have stopped: completes every second that began before `end`, the last
  /// one possibly partial.
  void finish(Clock::time_point end);

  /// True once every worker has closed its ring.
  bool all_done() const;

 private:
  struct OpenSecond {
    IntervalHistogram latency;
    uint64_t requests = 0;
    uint64_t errors = 0;
  };

  void take(int64_t second, const IntervalSlot& slot);
  void complete_second();

  std::vector<TimelineRing*> rings_;
  const RunContext& context_;
  std::vector<TimelinePoint>& timeline_;
  std::unique_ptr<OpenSecond[]> open_;  // A ring of kOpenSeconds, by second.
  std::vector<int64_t> seen_;           // Per worker, the latest second it published.
  int64_t next_ = 0;                    // The first second not yet in the timeline.
};

}  // namespace iolab::loadgen
