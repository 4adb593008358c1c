#pragma once

#include <array>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <memory>
#include <thread>

#include "core/endpoint.h"
#include "core/histogram.h"
#include "variants/stub_profile.h"

namespace iolab {

using namespace std::chrono_literals;

/// The slow upstream of the seed experiment: an HTTP/1.1 keep-alive server on one epoll thread
/// that answers each request with an HTML page after a delay drawn from the profile's
/// distribution, or with the fault the profile's probabilities draw. It never answers earlier than
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
  /// The delay each request was given (drawn or asked for with `?delay=`), recorded when its
  /// timer fires, whatever the answer or fault that followed.
  const LatencyHistogram& delays() const { return delays_; }
  /// Requests that met `fault` (kNone: answered normally), by StubFault.
  uint64_t faults(StubFault fault) const {
    return faults_[static_cast<size_t>(fault)].load(std::memory_order_relaxed);
  }

 private:
  class Loop;

  StubProfile profile_;
  uint16_t port_ = 0;
  std::atomic<uint64_t> served_{0};
  std::atomic<uint64_t> open_{0};
  LatencyHistogram latency_;
  LatencyHistogram delays_;
  std::array<std::atomic<uint64_t>, kStubFaultCount> faults_{};
  std::unique_ptr<Loop> loop_;
  std::jthread thread_;
};

}  // namespace iolab
