#pragma once

#include <array>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <iterator>
#include <string>
#include <string_view>

#include "core/histogram.h"

namespace iolab {

/// The routes a variant's metrics tell apart.
enum class Route : uint8_t { kRemote, kPlaintext, kOther };
inline constexpr size_t kRouteCount = 3;
/// The `route` label of each Route.
inline constexpr std::string_view kRouteNames[kRouteCount] = {"/remote", "/plaintext", "other"};
/// The statuses counted apart, in their slots; any other status counts in the last slot.
inline constexpr int kCountedStatuses[] = {200, 400, 404, 502, 504};
inline constexpr size_t kStatusSlots = std::size(kCountedStatuses) + 1;

/// The slot of `status` in RouteStats::answers.
constexpr size_t status_slot(int status) noexcept {
  for (size_t i = 0; i < std::size(kCountedStatuses); ++i) {
    if (kCountedStatuses[i] == status) return i;
  }
  return kStatusSlots - 1;
}

/// What a variant records per answer of one route.
struct RouteStats {
  LatencyHistogram total;                                     ///< As ServerStats::total.
  std::array<std::atomic<uint64_t>, kStatusSlots> answers{};  ///< By status_slot().
};

/// What a variant records per request. Every member may be written from any of the variant's
/// threads or fibers at once (lock-free) and read from any thread.
struct ServerStats {
  LatencyHistogram total;       ///< Request head read → answer written.
  LatencyHistogram queue_wait;  ///< Connection readable → handler starts.
  LatencyHistogram upstream;    ///< The upstream call, pool wait excluded.
  LatencyHistogram pool_wait;   ///< Waiting for a pooled upstream connection (async only).
  std::atomic<uint64_t> requests{0};
  std::atomic<uint64_t> upstream_failures{0};  ///< Answered 502.
  std::atomic<uint64_t> upstream_timeouts{0};  ///< Answered 504.
  std::atomic<int64_t> inflight{0};            ///< Requests being handled now (a gauge).
  std::atomic<int64_t> open_connections{0};    ///< Client connections open now (a gauge).
  std::atomic<int64_t> pool_threads{0};  ///< threads:N's pool size (a gauge; 0 for the others).
  std::atomic<int64_t> pool_busy{0};     ///< Pool threads running a request now (a gauge).
  std::atomic<int64_t> pool_queued{0};   ///< Requests waiting for a pool thread now (a gauge).
  std::array<RouteStats, kRouteCount> routes;  ///< By Route.

  /// Records one answer written: `total`, `requests`, and the route's histogram and status
  /// count. Lock-free, allocation-free, noexcept.
  void record_answer(Route route, int status, std::chrono::nanoseconds elapsed) noexcept {
    RouteStats& r = routes[static_cast<size_t>(route)];
    total.record(elapsed);
    r.total.record(elapsed);
    r.answers[status_slot(status)].fetch_add(1, std::memory_order_relaxed);
    requests.fetch_add(1, std::memory_order_relaxed);
  }
};

/// Adds one to a gauge of ServerStats for its lifetime. Lock-free, noexcept.
class GaugeHold {
 public:
  explicit GaugeHold(std::atomic<int64_t>& gauge) noexcept : gauge_(gauge) {
    gauge_.fetch_add(1, std::memory_order_relaxed);
  }
  ~GaugeHold() { gauge_.fetch_sub(1, std::memory_order_relaxed); }
  GaugeHold(const GaugeHold&) = delete;
  GaugeHold& operator=(const GaugeHold&) = delete;

 private:
  std::atomic<int64_t>& gauge_;
};

/// The bytes of one HTTP/1.1 answer with a body.
std::string http_response(int status, std::string_view content_type, std::string_view body,
                          bool keep_alive);

/// The /remote body: `{"upstream_status":200,"upstream_bytes":612}`.
std::string remote_body(int upstream_status, uint64_t upstream_bytes);

/// The body of a 502/504: `{"error":"upstream timeout","detail":"…"}`.
std::string upstream_error_body(bool timed_out, std::string_view detail);

/// The status /remote answers for an upstream answer: 502 for a 5xx, 200 otherwise.
inline int remote_status(int upstream_status) { return upstream_status >= 500 ? 502 : 200; }

inline constexpr std::string_view kPlaintextBody = "Hello, World!";

}  // namespace iolab
