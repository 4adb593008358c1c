#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <memory>
#include <thread>

#include "core/endpoint.h"
#include "core/histogram.h"

namespace iolab {

using namespace std::chrono_literals;

/// How the stub answers, unless a request's query string overrides it
/// (`?delay=50ms&status=503&size=100`, each capped by the maxima below).
struct StubProfile {
  std::chrono::nanoseconds delay = 100ms;    ///< Time from request to answer.
  std::chrono::nanoseconds max_delay = 60s;  ///< Cap on `?delay=`.
  size_t body_bytes = 612;                   ///< As nginx's default page.
  size_t max_body_bytes = 16 * 1024 * 1024;  ///< Cap on `?size=`.
};

/// The slow upstream of the seed experiment: an HTTP/1.1 keep-alive server on one epoll thread
/// that answers each request with an HTML page after a delay. It never answers earlier than
/// asked (timers are absolute CLOCK_MONOTONIC deadlines) and holds tens of thousands of delayed
/// requests at once. Requests on one connection are answered in order.
///
/// Thread safety: start() and stop() from one owner thread; the counters from any thread.
class UpstreamStub {
 public:
  explicit UpstreamStub(StubProfile profile = {});
  ~UpstreamStub();
  UpstreamStub(const UpstreamStub&) = delete;
  UpstreamStub& operator=(const UpstreamStub&) = delete;

  /// Binds `listen` (port 0 picks a free port), starts the loop thread and returns the bound
  /// port. Throws StartError when the address cannot be bound.
  uint16_t start(const Endpoint& listen);
  /// Closes every connection and joins the loop thread. Idempotent.
  void stop();

  uint16_t port() const { return port_; }
  /// Answers fully written so far.
  uint64_t requests_served() const { return served_.load(std::memory_order_relaxed); }
  /// Connections currently open.
  uint64_t open_connections() const { return open_.load(std::memory_order_relaxed); }
  /// Time from a request's head being read to its answer being written, per answer.
  const LatencyHistogram& latency() const { return latency_; }

 private:
  class Loop;

  StubProfile profile_;
  uint16_t port_ = 0;
  std::atomic<uint64_t> served_{0};
  std::atomic<uint64_t> open_{0};
  LatencyHistogram latency_;
  std::unique_ptr<Loop> loop_;
  std::jthread thread_;
};

}  // namespace iolab
