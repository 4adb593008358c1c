#pragma once

// Engine internals, not part of the API: what every load thread of a run shares.

#include <netinet/in.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <stop_token>
#include <string>

#include "loadgen/engine.h"

namespace iolab::loadgen {

using Clock = std::chrono::steady_clock;

// What every worker reads; written once before the threads start.
struct RunContext {
  sockaddr_in addr{};
  bool bind_source = false;  // LoadSpec::source given: every socket is bound to `source` first.
  sockaddr_in source{};
  std::string batch;  // `pipeline` copies of the request, back to back.
  size_t request_bytes = 0;
  uint32_t pipeline = 1;
  bool open_loop = false;
  bool head = false;
  // The method may be repeated without a different effect (RFC 9110 9.2.2): a request of it left
  // unanswered on a kept-alive socket the server closed may be sent again.
  bool idempotent = true;
  double ns_per_request = 0;  // Open loop: the schedule's spacing over all connections.
  uint64_t connections = 0;   // In all threads.
  Clock::time_point start;    // Origin of the schedule and of the timeline's seconds.
  Clock::time_point window_start;
  Clock::time_point window_end;
  Clock::duration timeout{};
  uint64_t max_requests = 0;
  std::atomic<uint64_t> tickets{0};  // Requests handed out, when max_requests != 0.
  std::stop_token stop;
  LoadProgress* progress = nullptr;
  uint64_t max_head_bytes = 0;
  // The run's first protocol error, warm-up included: set once, by the worker that wins the flag.
  std::atomic_flag protocol_error_seen;
  ProtocolError first_protocol_error;
};

// Binds `fd` to the context's source address, if it has one, leaving the port to connect()
// (IP_BIND_ADDRESS_NO_PORT: ports are then shared across destinations). False, with errno, when
// that fails.
inline bool bind_source(int fd, const RunContext& context) {
  if (!context.bind_source) return true;
  const int one = 1;
  ::setsockopt(fd, IPPROTO_IP, IP_BIND_ADDRESS_NO_PORT, &one, sizeof(one));
  return ::bind(fd, reinterpret_cast<const sockaddr*>(&context.source), sizeof(context.source)) ==
         0;
}

inline void close_quietly(int fd) {
  // A close() error on a socket we are done with changes nothing we could act on.
  if (fd >= 0) ::close(fd);
}

}  // namespace iolab::loadgen
