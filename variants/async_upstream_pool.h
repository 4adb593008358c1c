#pragma once

#include <netinet/in.h>

#include <chrono>
#include <cstdint>
#include <deque>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "core/response_parser.h"
#include "variants/server_stats.h"
#include "variants/variant.h"

namespace iolab {

class AsyncLoop;
struct AsyncDown;

/// The async variant's upstream half: a pool of non-blocking keep-alive connections to the slow
/// service, driven by the AsyncLoop that owns it. A request takes an idle connection, else opens
/// one, else (at `pool_size`) waits in line for one; that wait is recorded as pool wait. A reused
/// connection the upstream closed before answering is retried once on a fresh one.
///
/// Thread safety: none; every method runs on the owning loop's thread.
class AsyncUpstreamPool {
 public:
  using Clock = std::chrono::steady_clock;

  /// `pool_size` caps the open connections (0: no cap). `read_buffer` is the loop's scratch
  /// buffer of `read_buffer_bytes`, reused for every read. Throws StartError for a bad upstream.
  AsyncUpstreamPool(AsyncLoop& loop, const UpstreamOptions& upstream, int pool_size,
                    ServerStats& stats, char* read_buffer, size_t read_buffer_bytes);
  AsyncUpstreamPool(const AsyncUpstreamPool&) = delete;
  AsyncUpstreamPool& operator=(const AsyncUpstreamPool&) = delete;
  /// Closes every upstream connection.
  ~AsyncUpstreamPool();

  /// Sends the request of downstream connection `down_fd` upstream; its answer (or 502/504)
  /// comes back through AsyncLoop::respond().
  void start(int down_fd, AsyncDown& d);
  /// An epoll event on the upstream connection `fd`.
  void on_event(int fd, uint32_t events);
  /// Fails the calls past their deadline with 504.
  void sweep_timeouts();
  /// Whether a call is in progress (the loop then wakes to sweep timeouts).
  bool busy() const { return busy_ups_ > 0; }

 private:
  struct Up {
    enum class State : uint8_t { kIdle, kConnecting, kWriting, kReading };
    uint64_t serial = 0;
    State state = State::kIdle;
    ResponseParser parser;
    size_t written = 0;
    bool reused = false;  // has answered before: a close now may be a stale keep-alive
    bool retried = false;
    bool want_write = false;
    int down_fd = -1;
    uint64_t down_serial = 0;
    Clock::time_point started;
    Clock::time_point deadline;
  };
  struct Waiter {
    int fd;
    uint64_t serial;
  };

  void assign(int up_fd, Up& u, int down_fd, AsyncDown& d);
  void open_up(int down_fd, AsyncDown& d);
  void write_up(int fd, Up& u);
  void read_up(int fd, Up& u);
  void retry_or_fail(int fd, Up& u, const char* what);
  AsyncDown* owner(const Up& u);
  void complete_up(int fd, Up& u);
  void hand_over(int fd, Up& u);
  void fail_up(int fd, Up& u, bool timed_out, std::string_view detail);
  void fail_down(int fd, AsyncDown& d, bool timed_out, std::string_view detail);
  void close_up(int fd, bool was_busy = true);

  AsyncLoop& loop_;
  const UpstreamOptions& upstream_;
  int pool_size_;
  ServerStats& stats_;
  char* read_buffer_;
  size_t read_buffer_bytes_;
  sockaddr_in upstream_addr_{};
  std::string upstream_request_;
  uint64_t serial_ = 0;
  int open_ups_ = 0;
  int busy_ups_ = 0;
  std::vector<std::unique_ptr<Up>> ups_;
  std::vector<Waiter> idle_;
  std::deque<Waiter> waiters_;
};

}  // namespace iolab
