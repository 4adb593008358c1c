#include "variants/fiber_variant.h"

// Boost 1.74 headers under GCC 12 need <utility> first.
#include <utility>

#include <netinet/in.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <boost/fiber/all.hpp>
#include <cerrno>
#include <future>
#include <string>

#include "core/errors.h"
#include "core/http.h"
#include "core/response_parser.h"
#include "variants/fiber_reactor.h"
#include "variants/net.h"

namespace iolab {
namespace {

using Clock = std::chrono::steady_clock;
using WaitResult = FiberReactor::WaitResult;

constexpr size_t kReadChunk = size_t{16} * 1024;
constexpr size_t kMaxBufferedInput = size_t{1024} * 1024;

struct UpstreamAnswer {
  bool ok = false;
  bool timed_out = false;
  const char* detail = "";
  int status = 0;
  uint64_t body_bytes = 0;
};

// Sends all of `data`, parking the fiber when the socket is full. False on error or stop.
bool send_all(FiberReactor& reactor, int fd, std::string_view data, Clock::time_point deadline,
              bool* timed_out = nullptr) {
  size_t sent = 0;
  while (sent < data.size()) {
    const ssize_t n = ::send(fd, data.data() + sent, data.size() - sent, MSG_NOSIGNAL);
    if (n > 0) {
      sent += static_cast<size_t>(n);
      continue;
    }
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && errno != EAGAIN) return false;
    const WaitResult r = reactor.wait(fd, EPOLLOUT, deadline);
    if (r != WaitResult::kReady) {
      if (timed_out) *timed_out = r == WaitResult::kTimedOut;
      return false;
    }
  }
  return true;
}

// One keep-alive upstream connection owned by one connection's fiber.
class FiberUpstream {
 public:
  FiberUpstream(const UpstreamOptions& options, const std::string& request)
      : options_(options), request_(request) {}
  FiberUpstream(const FiberUpstream&) = delete;
  FiberUpstream& operator=(const FiberUpstream&) = delete;
  ~FiberUpstream() { disconnect(); }

  // Parks only the calling fiber while waiting.
  UpstreamAnswer call_parking(FiberReactor& reactor) {
    const auto deadline = Clock::now() + options_.timeout;
    for (int attempt = 0; attempt < 2; ++attempt) {
      const bool reused = fd_ >= 0;
      UpstreamAnswer a = attempt_parking(reactor, deadline);
      // A kept-alive connection the upstream closed before answering: once more, fresh.
      if (a.ok || a.timed_out || !reused || a.detail != std::string_view("closed")) return a;
    }
    return {false, false, "closed"};
  }

  // A plain blocking socket: the whole thread, and every fiber on it, waits.
  UpstreamAnswer call_blocking() {
    for (int attempt = 0; attempt < 2; ++attempt) {
      const bool reused = fd_ >= 0;
      UpstreamAnswer a = attempt_blocking();
      if (a.ok || a.timed_out || !reused || a.detail != std::string_view("closed")) return a;
    }
    return {false, false, "closed"};
  }

 private:
  UpstreamAnswer attempt_parking(FiberReactor& reactor, Clock::time_point deadline) {
    if (fd_ < 0) {
      fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
      if (fd_ < 0) return {false, false, "socket"};
      set_nodelay(fd_);
      reactor.watch(fd_);
      reactor_ = &reactor;
      const auto addr = *options_.url.endpoint.sockaddr();
      if (::connect(fd_, reinterpret_cast<const sockaddr*>(&addr), sizeof addr) != 0) {
        if (errno != EINPROGRESS) return fail("connect");
        const auto connect_deadline = std::min(deadline, Clock::now() + options_.connect_timeout);
        const WaitResult r = reactor.wait(fd_, EPOLLOUT, connect_deadline);
        if (r != WaitResult::kReady) return fail("connect", r == WaitResult::kTimedOut);
        int error = 0;
        socklen_t len = sizeof error;
        ::getsockopt(fd_, SOL_SOCKET, SO_ERROR, &error, &len);
        if (error != 0) return fail("connect");
      }
    }
    bool timed_out = false;
    if (!send_all(reactor, fd_, request_, deadline, &timed_out)) return fail("write", timed_out);
    parser_.reset();
    char buf[4096];
    for (;;) {
      const ssize_t n = ::recv(fd_, buf, sizeof buf, 0);
      if (n > 0) {
        const auto r = parser_.feed(buf, static_cast<size_t>(n));
        if (r.outcome == ResponseParser::Outcome::kComplete) return complete();
        if (r.outcome == ResponseParser::Outcome::kError) return fail("bad answer");
        continue;
      }
      if (n == 0)
        return parser_.on_eof() ? complete() : fail(parser_.in_progress() ? "read" : "closed");
      if (errno == EINTR) continue;
      if (errno != EAGAIN) return fail("read");
      const WaitResult w = reactor.wait(fd_, EPOLLIN, deadline);
      if (w != WaitResult::kReady) return fail("no answer in time", w == WaitResult::kTimedOut);
    }
  }

  UpstreamAnswer attempt_blocking() {
    if (fd_ < 0) {
      fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
      if (fd_ < 0) return {false, false, "socket"};
      set_nodelay(fd_);
      const auto us = std::chrono::duration_cast<std::chrono::microseconds>(options_.timeout);
      const timeval tv{static_cast<time_t>(us.count() / 1'000'000),
                       static_cast<suseconds_t>(us.count() % 1'000'000)};
      ::setsockopt(fd_, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
      ::setsockopt(fd_, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
      const auto addr = *options_.url.endpoint.sockaddr();
      if (::connect(fd_, reinterpret_cast<const sockaddr*>(&addr), sizeof addr) != 0) {
        return fail("connect", errno == EINPROGRESS || errno == ETIMEDOUT);
      }
    }
    size_t sent = 0;
    while (sent < request_.size()) {
      const ssize_t n = ::send(fd_, request_.data() + sent, request_.size() - sent, MSG_NOSIGNAL);
      if (n <= 0) return fail("write", n < 0 && errno == EAGAIN);
      sent += static_cast<size_t>(n);
    }
    parser_.reset();
    const auto deadline = Clock::now() + options_.timeout;
    char buf[4096];
    for (;;) {
      const ssize_t n = ::recv(fd_, buf, sizeof buf, 0);
      if (n > 0) {
        const auto r = parser_.feed(buf, static_cast<size_t>(n));
        if (r.outcome == ResponseParser::Outcome::kComplete) return complete();
        if (r.outcome == ResponseParser::Outcome::kError) return fail("bad answer");
        if (Clock::now() > deadline) return fail("no answer in time", true);
        continue;
      }
      if (n == 0)
        return parser_.on_eof() ? complete() : fail(parser_.in_progress() ? "read" : "closed");
      if (errno == EINTR) continue;
      return fail(errno == EAGAIN ? "no answer in time" : "read", errno == EAGAIN);
    }
  }

  UpstreamAnswer complete() {
    UpstreamAnswer a{true, false, "", parser_.status(), parser_.body_bytes()};
    if (parser_.should_close()) disconnect();
    return a;
  }

  UpstreamAnswer fail(const char* detail, bool timed_out = false) {
    disconnect();
    return {false, timed_out, detail};
  }

  void disconnect() {
    if (fd_ < 0) return;
    if (reactor_) {
      reactor_->close(fd_);
    } else {
      ::close(fd_);
    }
    fd_ = -1;
  }

  const UpstreamOptions& options_;
  const std::string& request_;
  FiberReactor* reactor_ = nullptr;
  ResponseParser parser_;
  int fd_ = -1;
};

}  // namespace

FiberVariant::FiberVariant(UpstreamOptions upstream, bool blocking_upstream, size_t stack_bytes)
    : upstream_(std::move(upstream)), blocking_(blocking_upstream), stack_bytes_(stack_bytes) {}

FiberVariant::~FiberVariant() { stop(); }

uint16_t FiberVariant::serve(int fd) {
  if (!upstream_.url.endpoint.sockaddr()) {
    ::close(fd);
    throw StartError("fiber variant: bad upstream " + upstream_.url.to_string());
  }
  const uint16_t port = bound_port(fd);
  // stop() needs the reactor to reach the thread: do not return before it exists.
  std::promise<void> ready;
  auto ready_future = ready.get_future();
  thread_ = std::jthread([this, fd, &ready] {
    try {
      boost::fibers::use_scheduling_algorithm<FiberReactor>();
    } catch (...) {
      ::close(fd);
      ready.set_exception(std::current_exception());
      return;
    }
    reactor_.store(FiberReactor::current(), std::memory_order_release);
    ready.set_value();
    run(fd);
  });
  try {
    ready_future.get();
  } catch (...) {
    thread_.join();
    throw;
  }
  return port;
}

void FiberVariant::stop() {
  if (!thread_.joinable()) return;
  reactor_.load(std::memory_order_acquire)->request_stop();
  thread_.join();
  reactor_.store(nullptr, std::memory_order_release);
}

// The thread's main fiber: accepts, and starts a fiber per connection.
void FiberVariant::run(int listen_fd) {
  FiberReactor& reactor = *FiberReactor::current();
  reactor.watch(listen_fd);
  int live = 0;
  WaitResult waited = reactor.wait(listen_fd, EPOLLIN);
  while (waited != WaitResult::kStopped) {
    for (;;) {
      const int fd = ::accept4(listen_fd, nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC);
      if (fd < 0) {
        // Out of descriptors, the next edge may never come for the connections already in the
        // backlog: try again after a pause, whether a new one arrived or not.
        waited = accept_starved(errno)
                     ? reactor.wait(listen_fd, EPOLLIN, Clock::now() + kAcceptPause)
                     : reactor.wait(listen_fd, EPOLLIN);
        break;
      }
      set_nodelay(fd);
      reactor.watch(fd);
      ++live;
      boost::fibers::fiber(std::allocator_arg, boost::fibers::fixedsize_stack(stack_bytes_),
                           [this, fd, &live] {
                             const GaugeHold hold(stats_.open_connections);
                             serve_connection(fd);
                             --live;
                           })
          .detach();
    }
  }
  reactor.close(listen_fd);
  // Every parked fiber was woken with kStopped; let them unwind before the scheduler goes.
  while (live > 0) boost::this_fiber::yield();
}

void FiberVariant::serve_connection(int fd) {
  FiberReactor& reactor = *FiberReactor::current();
  const std::string upstream_request = "GET " + upstream_.url.target +
                                       " HTTP/1.1\r\nHost: " + upstream_.url.host_header +
                                       "\r\n\r\n";
  FiberUpstream upstream(upstream_, upstream_request);
  std::string in;
  char buf[kReadChunk];
  Clock::time_point readable_at = Clock::now();
  for (;;) {
    RequestHead head;
    ParseStatus parsed = parse_request_head(in, head);
    while (
        parsed == ParseStatus::kIncomplete ||
        (parsed == ParseStatus::kComplete && in.size() < head.head_bytes + head.content_length)) {
      const ssize_t n = ::recv(fd, buf, sizeof buf, 0);
      if (n > 0) {
        in.append(buf, static_cast<size_t>(n));
        if (in.size() > kMaxBufferedInput) return reactor.close(fd);
        parsed = parse_request_head(in, head);
        continue;
      }
      if (n == 0 || (errno != EAGAIN && errno != EINTR)) return reactor.close(fd);
      if (errno == EAGAIN &&
          reactor.wait(fd, EPOLLIN, Clock::time_point::max(), &readable_at) != WaitResult::kReady) {
        return reactor.close(fd);
      }
    }
    const auto started = Clock::now();
    stats_.queue_wait.record(started - readable_at);
    const GaugeHold hold(stats_.inflight);
    const bool keep_alive = parsed == ParseStatus::kComplete && head.keep_alive;
    std::string answer;
    Route route = Route::kOther;
    int status = 404;
    if (parsed == ParseStatus::kInvalid) {
      status = 400;
      answer = http_response(400, "text/plain", "bad request", false);
    } else if (head.path == "/plaintext") {
      route = Route::kPlaintext;
      status = 200;
      answer = http_response(200, "text/plain", kPlaintextBody, keep_alive);
    } else if (head.path == "/remote") {
      // Stopping: abandon it. With a blocking upstream each request would otherwise hold the
      // whole thread, one after the other, and stop() would wait for all of them.
      if (reactor.stop_requested()) return reactor.close(fd);
      route = Route::kRemote;
      const auto called = Clock::now();
      const UpstreamAnswer a =
          blocking_ ? upstream.call_blocking() : upstream.call_parking(reactor);
      stats_.upstream.record(Clock::now() - called);
      if (a.ok) {
        if (a.status >= 500) stats_.upstream_failures.fetch_add(1, std::memory_order_relaxed);
        status = remote_status(a.status);
        answer = http_response(status, "application/json", remote_body(a.status, a.body_bytes),
                               keep_alive);
      } else {
        (a.timed_out ? stats_.upstream_timeouts : stats_.upstream_failures)
            .fetch_add(1, std::memory_order_relaxed);
        status = a.timed_out ? 504 : 502;
        answer = http_response(status, "application/json",
                               upstream_error_body(a.timed_out, a.detail), keep_alive);
      }
    } else {
      answer = http_response(404, "text/plain", "not found", keep_alive);
    }
    if (parsed == ParseStatus::kComplete) in.erase(0, head.head_bytes + head.content_length);
    if (!send_all(reactor, fd, answer, Clock::time_point::max())) return reactor.close(fd);
    stats_.record_answer(route, status, Clock::now() - started);
    if (!keep_alive) return reactor.close(fd);
    readable_at = Clock::now();
  }
}

}  // namespace iolab
