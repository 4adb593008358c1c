#pragma once

#include <chrono>
#include <cstdint>
#include <stdexcept>
#include <string>
#include <vector>

#include "core/endpoint.h"

namespace iolab {

using namespace std::chrono_literals;

/// What the load engine is asked to do. Echoed back in LoadResult.
struct LoadSpec {
  Url target;             ///< http:// URL; its host must be admitted by the caller.
  int connections = 400;  ///< In all, spread over the threads.
  int threads = 2;        ///< Each its own epoll loop.
  std::chrono::nanoseconds duration = 20s;  ///< The measured window.
  std::chrono::nanoseconds warmup = 0s;     ///< Load before the window, not recorded.
  std::chrono::nanoseconds timeout = 10s;   ///< Per request, from its actual send; then the
                                            ///< connection is reopened.
  uint64_t max_requests = 0;  ///< 0: unbounded. Else no more than this many are sent in all, and
                              ///< the run ends when they are all answered (or at the deadline).
  /// Open loop: requests per second in all, on a fixed schedule spread evenly over the
  /// connections (wrk2's model); latency counts from each request's intended send time.
  /// 0: closed loop, each connection sends its next request when the last is answered.
  double rate = 0;
  /// Closed loop only: requests written back to back on a connection before waiting for their
  /// answers (as wrk's pipelining). 1: no pipelining.
  int pipeline = 1;
  std::string method = "GET";
  /// Extra header lines, "Name: value", sent as given. A Host header here replaces the one
  /// taken from the URL; Transfer-Encoding is not allowed.
  std::vector<std::string> headers;
  std::string body;  ///< Sent as is, with a Content-Length.
  /// The most bytes an answer's head (status line and headers; with chunked trailers) may take;
  /// a larger one is a protocol error. Lines within it may be of any length.
  uint64_t max_head_bytes = 128 * 1024;
};

/// Errors by cause, as wrk counts them plus `protocol`. A failure that loses several pipelined
/// requests at once counts each of them.
struct ErrorCounts {
  uint64_t connect = 0;   ///< connect() failed or was refused.
  uint64_t read = 0;      ///< read failed, reset, or EOF mid-response.
  uint64_t write = 0;     ///< write failed with no answer waiting to be read.
  uint64_t timeout = 0;   ///< no complete answer within LoadSpec::timeout.
  uint64_t status = 0;    ///< a complete answer with a status outside 200-399.
  uint64_t protocol = 0;  ///< bytes that are not a valid answer, or an answer to no request.

  uint64_t total() const { return connect + read + write + timeout + status + protocol; }
};

/// A run that cannot start (target unreachable, bad spec). Mid-run failures are counted, never
/// thrown.
class RunError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

}  // namespace iolab
