#pragma once

// Engine internals, not part of the API: one load thread, its event loop and its connections.

#include <sys/epoll.h>
#include <sys/socket.h>

#include <algorithm>
#include <array>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <vector>

#include "core/histogram.h"
#include "core/response_parser.h"
#include "loadgen/engine.h"
#include "loadgen/open_loop.h"
#include "loadgen/pacing.h"
#include "loadgen/run_context.h"
#include "loadgen/timeline.h"

namespace iolab::loadgen {

// One event loop and the connections it owns. Built on the caller's thread (may throw); run() is
// the hot path and neither throws nor allocates.
class Worker {
 public:
  static constexpr int kMaxEvents = 256;
  static constexpr size_t kReadBufferBytes = size_t{64} * 1024;

  Worker(RunContext& context, int connections, uint64_t first_index);
  Worker(const Worker&) = delete;
  Worker& operator=(const Worker&) = delete;
  ~Worker();

  /// The loop, on the worker's own thread: runs until the window ends, the run's requests are
  /// all answered, or a stop is requested; then closes every socket and the timeline.
  void run() noexcept;

  // Read once run() has returned.
  const LatencyHistogram& latency() const { return latency_; }
  const LatencyHistogram& uncorrected() const { return uncorrected_; }
  const ErrorCounts& errors() const { return errors_; }
  uint64_t requests() const { return requests_; }
  uint64_t reconnects() const { return reconnects_; }
  uint64_t resent() const { return resent_; }
  Clock::time_point end_time() const { return end_time_; }
  const OpenLoopSchedule& schedule() const { return schedule_; }

  /// The collector's side of the timeline hand-over; safe while run() runs.
  TimelineRing& timeline() { return timeline_; }

 private:
  enum class State : uint8_t {
    kRetryWait,   // After a connect error, until retry_at.
    kConnecting,  // Non-blocking connect in flight; waiting for EPOLLOUT.
    kIdle,        // Open loop: connected, waiting for its next slot of the schedule.
    kWriting,     // Batch partly written; waiting for EPOLLOUT.
    kReading,     // Batch written; waiting for the answers.
    kFinished,    // No more requests to send (max_requests reached, or the window is over).
  };

  struct Connection {
    ResponseParser parser;
    Clock::time_point request_start;  // When writing the current batch began.
    Clock::time_point intended;       // Open loop: when the schedule meant it to be sent.
    Clock::time_point deadline;       // kRetryWait: when to retry; kConnecting: connect timeout.
    uint64_t index = 0;               // Among all connections of the run: its place in the
                                      // schedule.
    uint64_t slot = 0;                // Open loop: requests this connection has sent.
    size_t written = 0;
    uint32_t batch = 0;    // Requests held (sent or to resend), not yet answered or failed.
    uint32_t answers = 0;  // Of those, answered on this socket.
    int fd = -1;
    uint32_t generation = 0;  // Bumped on close so events for an old socket are recognised.
    State state = State::kRetryWait;
    bool answered = false;    // This socket has completed at least one response.
    bool want_write = false;  // EPOLLOUT is in the registered interest.
    bool queued = false;      // Open loop: in the schedule's queue, under its next slot's time.
  };

  // Closed loop: a connection whose answers are all in, to send again after this batch of events.
  struct Ready {
    uint32_t index;
    uint32_t generation;
  };

  bool in_window(Clock::time_point t) const {
    return t >= context_.window_start && t < context_.window_end;
  }
  bool exhausted() const {
    return context_.max_requests != 0 &&
           context_.tickets.load(std::memory_order_relaxed) >= context_.max_requests;
  }
  // Up to `wanted` requests of the run's budget; 0 when it is spent.
  uint32_t take_tickets(uint32_t wanted) {
    if (context_.max_requests == 0) return wanted;
    const uint64_t before = context_.tickets.fetch_add(wanted, std::memory_order_relaxed);
    if (before >= context_.max_requests) return 0;
    return static_cast<uint32_t>(std::min<uint64_t>(wanted, context_.max_requests - before));
  }
  void count_error(uint64_t& counter, Clock::time_point now, uint64_t n = 1) {
    if (in_window(now)) counter += n;
    progress_errors_ += n;
    timeline_.slot_at(now).errors += n;
  }
  // A failure of the socket loses every request it holds unanswered; at least one is counted
  // (a fresh socket that fails holds none yet).
  void count_lost(uint64_t& counter, const Connection& c, Clock::time_point now) {
    count_error(counter, now, std::max<uint32_t>(1, c.batch - c.answers));
  }
  uint32_t index_of(const Connection& c) const {
    return static_cast<uint32_t>(&c - connections_.data());
  }
  uint64_t event_key(const Connection& c) const {
    return (static_cast<uint64_t>(&c - connections_.data()) << 32) | c.generation;
  }
  bool set_interest(Connection& c, int op, uint32_t events);

  // The event loop and the read path (worker.cc). `inline`: each is called from one place in
  // worker.cc, and the chain from wait_for_events to on_readable is worth keeping in one piece.
  void wait_for_events(Clock::duration wait);
  int poll_events(Clock::duration wait);
  inline void handle_event(const epoll_event& event);
  inline Clock::time_point arrival_time(const msghdr& message, Clock::time_point sent,
                                        Clock::time_point now) const;
  inline void on_readable(Connection& c);
  void send_due(Clock::time_point now);
  void sweep(Clock::time_point now);
  void flush_progress();

  // A connection's life: connect, send, take each answer, close (connection.cc).
  void open(Connection& c, Clock::time_point now);
  void on_connected(Connection& c, Clock::time_point now);
  void on_connect_error(Connection& c, Clock::time_point now);
  void next_request(Connection& c, Clock::time_point now);
  void write_request(Connection& c, Clock::time_point now);
  bool on_response(Connection& c, Clock::time_point now, Clock::time_point arrival);
  void on_eof(Connection& c, Clock::time_point now);
  void on_protocol_error(Connection& c, Clock::time_point now, ProtocolError error);
  bool read_before_write_error(Connection& c);
  void on_peer_closed(Connection& c, Clock::time_point now);
  void fail_request(Connection& c);
  void close_socket(Connection& c);
  void reopen(Connection& c, Clock::time_point now);
  void finish(Connection& c);

  RunContext& context_;
  std::vector<Connection> connections_;  // Never resized after construction: events index it.
  size_t sweep_cursor_ = 0;              // Where the next sweep starts (see kSweepBudget).
  bool more_to_open_ = false;            // The last sweep ran out of budget with opens due.
  OpenLoopSchedule schedule_;
  std::vector<Ready> ready_;  // Capacity for every connection: each is in it at most once.
  std::unique_ptr<char[]> read_buffer_;
  std::array<epoll_event, kMaxEvents> events_{};
  LatencyHistogram latency_;
  LatencyHistogram uncorrected_;  // Open loop only.
  ErrorCounts errors_;
  uint64_t requests_ = 0;
  uint64_t reconnects_ = 0;
  uint64_t resent_ = 0;
  uint64_t outstanding_ = 0;  // Requests held by connections.
  uint64_t progress_requests_ = 0;
  uint64_t progress_errors_ = 0;
  TimelineRing timeline_;
  Clock::time_point end_time_;
  bool have_pwait2_ = true;
  Pacer pacer_;
  int epoll_fd_ = -1;
};

}  // namespace iolab::loadgen
