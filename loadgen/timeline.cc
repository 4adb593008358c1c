#include "loadgen/timeline.h"

#include <algorithm>
#include <limits>
#include <utility>

namespace iolab::loadgen {

TimelineRing::TimelineRing()
    : slots_(std::make_unique<IntervalSlot[]>(kIntervalSlots)),
      scratch_(std::make_unique<IntervalSlot>()),
      slot_(&slots_[0]) {}

void TimelineRing::begin(Clock::time_point now, Clock::time_point run_start) noexcept {
  second_ = std::max<int64_t>(0, std::chrono::floor<std::chrono::seconds>(now - run_start).count());
  second_end_ = run_start + std::chrono::seconds(second_ + 1);
}

void TimelineRing::close() noexcept {
  publish_second();
  done_.store(true, std::memory_order_release);
}

void TimelineRing::publish_second() noexcept {
  if (slot_ == scratch_.get()) {
    slot_->clear();
  } else {
    slot_->second.store(second_, std::memory_order_release);
  }
  ++second_;
  second_end_ += std::chrono::seconds(1);
  const size_t next = (slot_index_ + 1) % kIntervalSlots;
  if (slots_[next].second.load(std::memory_order_acquire) == kNoSecond) {
    slot_index_ = next;
    slot_ = &slots_[next];
  } else {
    slot_ = scratch_.get();
  }
}

TimelineCollector::TimelineCollector(std::vector<TimelineRing*> rings, const RunContext& context,
                                     std::vector<TimelinePoint>& timeline)
    : rings_(std::move(rings)),
      context_(context),
      timeline_(timeline),
      open_(std::make_unique<OpenSecond[]>(kOpenSeconds)),
      seen_(rings_.size(), kNoSecond) {}

void TimelineCollector::collect() {
  int64_t complete = std::numeric_limits<int64_t>::max();
  bool running = false;
  for (size_t w = 0; w < rings_.size(); ++w) {
    // Read before the slots: a worker marks itself done only after publishing its last one.
    const bool done = rings_[w]->done();
    IntervalSlot* slots = rings_[w]->slots();
    for (size_t i = 0; i < kIntervalSlots; ++i) {
      const int64_t second = slots[i].second.load(std::memory_order_acquire);
      if (second == kNoSecond) continue;
      take(second, slots[i]);
      slots[i].clear();
      slots[i].second.store(kNoSecond, std::memory_order_release);
      seen_[w] = std::max(seen_[w], second);
    }
    if (!done) {
      running = true;
      complete = std::min(complete, seen_[w]);
    }
  }
  if (!running) return;
  while (next_ <= complete) complete_second();
}

void TimelineCollector::finish(Clock::time_point end) {
  collect();
  const int64_t limit = std::chrono::ceil<std::chrono::seconds>(end - context_.start).count();
  while (next_ < limit) complete_second();
}

bool TimelineCollector::all_done() const {
  return std::all_of(rings_.begin(), rings_.end(), [](const auto* r) { return r->done(); });
}

void TimelineCollector::take(int64_t second, const IntervalSlot& slot) {
  // A worker far ahead of another (one starved for seconds) forces the oldest seconds out.
  while (second >= next_ + static_cast<int64_t>(kOpenSeconds)) complete_second();
  if (second < next_) return;  // Too late for a second already in the timeline.
  OpenSecond& open = open_[static_cast<size_t>(second) % kOpenSeconds];
  open.latency.add(slot.latency);
  open.requests += slot.requests;
  open.errors += slot.errors;
}

void TimelineCollector::complete_second() {
  OpenSecond& open = open_[static_cast<size_t>(next_) % kOpenSeconds];
  TimelinePoint point;
  point.second = next_;
  point.warmup = context_.start + std::chrono::seconds(next_) < context_.window_start;
  point.requests = open.requests;
  point.errors = open.errors;
  point.p50 = open.latency.percentile(50);
  point.p99 = open.latency.percentile(99);
  timeline_.push_back(point);
  if (context_.progress != nullptr) context_.progress->add_second(point);
  open.latency.reset();
  open.requests = 0;
  open.errors = 0;
  ++next_;
}

}  // namespace iolab::loadgen
