#include "workers/shared_stats.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <condition_variable>
#include <cstring>
#include <mutex>
#include <new>
#include <type_traits>

#include "core/errors.h"

namespace iolab {
namespace {

// Shared between processes: the atomics must be plain memory words, not lock-based.
static_assert(std::atomic<uint64_t>::is_always_lock_free);
static_assert(std::is_standard_layout_v<SharedWorkerStats>);

constexpr std::array<int64_t, kMetricBucketBounds.size()> bounds_ns() {
  std::array<int64_t, kMetricBucketBounds.size()> out{};
  for (size_t i = 0; i < out.size(); ++i) {
    out[i] = static_cast<int64_t>(kMetricBucketBounds[i] * 1e9 + 0.5);
  }
  return out;
}

constexpr auto kBoundsNs = bounds_ns();

void load(const SharedWorkerStats::Histogram& from, CoarseHistogram& to) {
  for (size_t i = 0; i < kMetricBuckets; ++i) {
    to.buckets[i] = from.buckets[i].load(std::memory_order_relaxed);
  }
  to.sum_ns = from.sum_ns.load(std::memory_order_relaxed);
}

void store(const CoarseHistogram& from, SharedWorkerStats::Histogram& to) {
  for (size_t i = 0; i < kMetricBuckets; ++i) {
    to.buckets[i].store(from.buckets[i], std::memory_order_relaxed);
  }
  to.sum_ns.store(from.sum_ns, std::memory_order_relaxed);
}

uint64_t cpu_ns_now() {
  rusage usage{};
  ::getrusage(RUSAGE_SELF, &usage);
  const auto ns = [](const timeval& t) {
    return static_cast<uint64_t>(t.tv_sec) * 1000000000ULL +
           static_cast<uint64_t>(t.tv_usec) * 1000ULL;
  };
  return ns(usage.ru_utime) + ns(usage.ru_stime);
}

uint64_t non_negative(const std::atomic<int64_t>& v) {
  return static_cast<uint64_t>(std::max<int64_t>(0, v.load(std::memory_order_relaxed)));
}

}  // namespace

uint64_t CoarseHistogram::count() const {
  uint64_t n = 0;
  for (uint64_t b : buckets) n += b;
  return n;
}

CoarseHistogram& CoarseHistogram::operator+=(const CoarseHistogram& o) {
  for (size_t i = 0; i < kMetricBuckets; ++i) buckets[i] += o.buckets[i];
  sum_ns += o.sum_ns;
  return *this;
}

CoarseHistogram coarsen(const LatencyHistogram& h) {
  CoarseHistogram out;
  size_t bucket = 0;
  uint64_t seen = 0;
  h.for_each_bucket([&](int64_t lowest_ns, int64_t, uint64_t n) {
    while (bucket < kBoundsNs.size() && lowest_ns > kBoundsNs[bucket]) ++bucket;
    out.buckets[bucket] += n;
    seen += n;
  });
  // The sum from the exact mean; the bucket walk is the count, so _count equals the +Inf bucket
  // even while writers race the walk.
  out.sum_ns = static_cast<uint64_t>(std::max<int64_t>(0, h.mean().count())) * seen;
  return out;
}

WorkerStatsValues& WorkerStatsValues::operator+=(const WorkerStatsValues& o) {
  total += o.total;
  queue_wait += o.queue_wait;
  upstream += o.upstream;
  pool_wait += o.pool_wait;
  for (size_t r = 0; r < kRouteCount; ++r) {
    route_total[r] += o.route_total[r];
    for (size_t c = 0; c < kStatusSlots; ++c) answers[r][c] += o.answers[r][c];
  }
  requests += o.requests;
  upstream_failures += o.upstream_failures;
  upstream_timeouts += o.upstream_timeouts;
  cpu_ns += o.cpu_ns;
  inflight += o.inflight;
  open_connections += o.open_connections;
  pool_threads += o.pool_threads;
  pool_busy += o.pool_busy;
  return *this;
}

WorkerStatsValues read_slot(const SharedWorkerStats& slot) {
  WorkerStatsValues v;
  load(slot.total, v.total);
  load(slot.queue_wait, v.queue_wait);
  load(slot.upstream, v.upstream);
  load(slot.pool_wait, v.pool_wait);
  for (size_t r = 0; r < kRouteCount; ++r) {
    load(slot.route_total[r], v.route_total[r]);
    for (size_t c = 0; c < kStatusSlots; ++c) {
      v.answers[r][c] = slot.answers[r][c].load(std::memory_order_relaxed);
    }
  }
  v.requests = slot.requests.load(std::memory_order_relaxed);
  v.upstream_failures = slot.upstream_failures.load(std::memory_order_relaxed);
  v.upstream_timeouts = slot.upstream_timeouts.load(std::memory_order_relaxed);
  v.cpu_ns = slot.cpu_ns.load(std::memory_order_relaxed);
  v.inflight = slot.inflight.load(std::memory_order_relaxed);
  v.open_connections = slot.open_connections.load(std::memory_order_relaxed);
  v.pool_threads = slot.pool_threads.load(std::memory_order_relaxed);
  v.pool_busy = slot.pool_busy.load(std::memory_order_relaxed);
  return v;
}

std::shared_ptr<StatsRegion> StatsRegion::create() {
  const int created = ::memfd_create("iolab-stats", MFD_CLOEXEC);
  if (created < 0) throw StartError(std::string("memfd_create: ") + std::strerror(errno));
  // Above the low numbers a spawned worker's descriptors are dup2'd to (3, 4), so that no dup2
  // of the spawn overwrites it before it is itself dup2'd.
  const int fd = ::fcntl(created, F_DUPFD_CLOEXEC, 10);
  ::close(created);
  if (fd < 0) throw StartError(std::string("fcntl stats region: ") + std::strerror(errno));
  if (::ftruncate(fd, sizeof(Layout)) != 0) {
    const int err = errno;
    ::close(fd);
    throw StartError(std::string("ftruncate stats region: ") + std::strerror(err));
  }
  // A fresh memfd reads as zeros: every atomic starts at 0.
  return attach(fd);
}

std::shared_ptr<StatsRegion> StatsRegion::attach(int fd) {
  void* p = ::mmap(nullptr, sizeof(Layout), PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
  if (p == MAP_FAILED) {
    const int err = errno;
    ::close(fd);
    throw StartError(std::string("mmap stats region: ") + std::strerror(err));
  }
  return std::shared_ptr<StatsRegion>(new StatsRegion(fd, static_cast<Layout*>(p)));
}

StatsRegion::~StatsRegion() {
  ::munmap(layout_, sizeof(Layout));
  ::close(fd_);
}

int StatsRegion::acquire(int n) {
  const std::lock_guard lock(mutex_);
  for (int first = 0; first + n <= kMaxSlots; ++first) {
    bool free = true;
    for (int i = first; i < first + n && free; ++i) free = !taken_[static_cast<size_t>(i)];
    if (!free) continue;
    for (int i = first; i < first + n; ++i) taken_[static_cast<size_t>(i)] = true;
    return first;
  }
  throw StartError("no " + std::to_string(n) + " free metrics slots (at most " +
                   std::to_string(kMaxSlots) + " workers of one variant at once)");
}

void StatsRegion::release(int first, int n) {
  const std::lock_guard lock(mutex_);
  for (int i = first; i < first + n && i < kMaxSlots; ++i) taken_[static_cast<size_t>(i)] = false;
}

WorkerStatsValues StatsRegion::sum() const {
  WorkerStatsValues total;
  for (const auto& slot : layout_->slots) total += read_slot(slot);
  return total;
}

StatsPublisher::StatsPublisher(const ServerStats& stats, SharedWorkerStats& slot,
                               std::chrono::milliseconds period)
    : stats_(stats), slot_(slot), base_(read_slot(slot)), period_(period) {
  // Gauges describe this worker only; CPU time starts afresh in a new process.
  base_.inflight = 0;
  base_.open_connections = 0;
  base_.pool_threads = 0;
  base_.pool_busy = 0;
  last_counts_.fill(UINT64_MAX);
  publish();
  thread_ = std::jthread([this](std::stop_token stop) {
    std::mutex m;
    std::condition_variable_any cv;
    std::unique_lock lock(m);
    while (!stop.stop_requested()) {
      cv.wait_for(lock, stop, period_, [] { return false; });
      if (!stop.stop_requested()) publish();
    }
  });
}

StatsPublisher::~StatsPublisher() {
  thread_.request_stop();
  if (thread_.joinable()) thread_.join();
  publish();
}

void StatsPublisher::publish() {
  std::array<const LatencyHistogram*, 4 + kRouteCount> fine = {&stats_.total, &stats_.queue_wait,
                                                               &stats_.upstream, &stats_.pool_wait};
  std::array<SharedWorkerStats::Histogram*, 4 + kRouteCount> shared = {
      &slot_.total, &slot_.queue_wait, &slot_.upstream, &slot_.pool_wait};
  std::array<const CoarseHistogram*, 4 + kRouteCount> base = {&base_.total, &base_.queue_wait,
                                                              &base_.upstream, &base_.pool_wait};
  for (size_t r = 0; r < kRouteCount; ++r) {
    fine[4 + r] = &stats_.routes[r].total;
    shared[4 + r] = &slot_.route_total[r];
    base[4 + r] = &base_.route_total[r];
  }
  for (size_t i = 0; i < fine.size(); ++i) {
    // The walk over the fine buckets is the costly part: skip it when nothing was recorded.
    const uint64_t n = fine[i]->count();
    if (n == last_counts_[i]) continue;
    last_counts_[i] = n;
    CoarseHistogram h = coarsen(*fine[i]);
    h += *base[i];
    store(h, *shared[i]);
  }
  const auto relaxed = std::memory_order_relaxed;
  for (size_t r = 0; r < kRouteCount; ++r) {
    for (size_t c = 0; c < kStatusSlots; ++c) {
      slot_.answers[r][c].store(base_.answers[r][c] + stats_.routes[r].answers[c].load(relaxed),
                                relaxed);
    }
  }
  slot_.requests.store(base_.requests + stats_.requests.load(relaxed), relaxed);
  slot_.upstream_failures.store(base_.upstream_failures + stats_.upstream_failures.load(relaxed),
                                relaxed);
  slot_.upstream_timeouts.store(base_.upstream_timeouts + stats_.upstream_timeouts.load(relaxed),
                                relaxed);
  slot_.cpu_ns.store(base_.cpu_ns + cpu_ns_now(), relaxed);
  slot_.inflight.store(non_negative(stats_.inflight), relaxed);
  slot_.open_connections.store(non_negative(stats_.open_connections), relaxed);
  slot_.pool_threads.store(non_negative(stats_.pool_threads), relaxed);
  slot_.pool_busy.store(non_negative(stats_.pool_busy), relaxed);
}

}  // namespace iolab
