#pragma once

#include <atomic>
#include <cstdint>
#include <string>
#include <string_view>

#include "core/histogram.h"

namespace iolab {

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
