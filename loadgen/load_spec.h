#pragma once

#include <chrono>
#include <optional>
#include <cstdint>
#include <stdexcept>
#include <string>
#include <vector>

#include "core/endpoint.h"
#include "loadgen/segment.h"

namespace iolab {

using namespace std::chrono_literals;

/// Load spread over several processes (iolab run --segment): the whole run this process takes a
/// share of. The LoadSpec holding it describes the share (its connections, rate and
/// max_requests); the share's connections are numbered from segment.first_of(whole_connections)
/// on the whole run's open-loop schedule, so that the union of the segments' schedules is the one
/// schedule of a single process running it all.
struct SegmentSpec {
  Segment segment;
  int whole_connections = 0;
  double whole_rate = 0;
  uint64_t whole_requests = 0;

  bool operator==(const SegmentSpec&) const = default;
};

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
  /// This run is a share of a larger one; see SegmentSpec and segment_spec().
  std::optional<SegmentSpec> segment;
  /// When to start the warm-up, on the wall clock (segments on several hosts started together);
  /// none: at once. A run that is told an instant already past starts at once, its skew saying
  /// how late.
  std::optional<std::chrono::system_clock::time_point> start_at;
  /// Local IPv4 address the load's sockets are bound to (each source address has its own
  /// ephemeral ports); empty: the kernel chooses.
  std::string source;
};

/// `whole` is a run's totals; the share of it that `segment` takes: its connections, open-loop
/// rate and max_requests, each split without loss (shares of segments that tile [0, 1) add up
/// to the totals). Throws RunError when the share has no connection.
LoadSpec segment_spec(const LoadSpec& whole, const Segment& segment);

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
