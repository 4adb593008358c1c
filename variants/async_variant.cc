#include "variants/async_variant.h"

#include <netinet/in.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <deque>
#include <string>
#include <vector>

#include "core/errors.h"
#include "core/http.h"
#include "core/response_parser.h"
#include "variants/net.h"

namespace iolab {
namespace {

using Clock = std::chrono::steady_clock;

enum Tag : uint64_t { kListen = 1, kDown = 2, kUp = 3, kWake = 4 };
constexpr uint64_t key(Tag tag, int fd) {
  return (uint64_t{tag} << 32) | static_cast<uint32_t>(fd);
}

constexpr size_t kReadChunk = size_t{64} * 1024;
constexpr size_t kMaxBufferedInput = size_t{1024} * 1024;
constexpr auto kSweepInterval = std::chrono::milliseconds(10);
constexpr int kMaxEvents = 1024;

struct Down {
  uint64_t serial = 0;
  std::string in;
  std::string out;
  size_t out_offset = 0;
  bool busy = false;  // a request is in hand: waiting for upstream or being written
  bool keep_alive = true;
  bool want_write = false;
  int up_fd = -1;
  Route route = Route::kOther;  // of the request in hand
  int status = 0;               // of the answer being written
  Clock::time_point readable_at;
  Clock::time_point started;
  Clock::time_point pool_wait_started;
};

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

template <typename T>
T* slot(std::vector<std::unique_ptr<T>>& table, int fd) {
  return fd >= 0 && static_cast<size_t>(fd) < table.size() ? table[static_cast<size_t>(fd)].get()
                                                           : nullptr;
}

template <typename T>
T& emplace(std::vector<std::unique_ptr<T>>& table, int fd) {
  if (static_cast<size_t>(fd) >= table.size()) table.resize(static_cast<size_t>(fd) + 1024);
  table[static_cast<size_t>(fd)] = std::make_unique<T>();
  return *table[static_cast<size_t>(fd)];
}

}  // namespace

class AsyncVariant::Loop {
 public:
  Loop(const UpstreamOptions& upstream, int pool_size, ServerStats& stats, int listen_fd)
      : upstream_(upstream), pool_size_(pool_size), stats_(stats), listen_fd_(listen_fd) {
    epoll_fd_ = ::epoll_create1(EPOLL_CLOEXEC);
    wake_fd_ = ::eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    if (epoll_fd_ < 0 || wake_fd_ < 0) throw StartError("async variant: epoll set-up failed");
    add(listen_fd_, key(kListen, listen_fd_), EPOLLIN);
    add(wake_fd_, key(kWake, wake_fd_), EPOLLIN);
    const auto addr = upstream_.url.endpoint.sockaddr();
    if (!addr) throw StartError("async variant: bad upstream " + upstream_.url.to_string());
    upstream_addr_ = *addr;
    upstream_request_ = "GET " + upstream_.url.target +
                        " HTTP/1.1\r\nHost: " + upstream_.url.host_header + "\r\n\r\n";
    read_buffer_ = std::make_unique<char[]>(kReadChunk);
  }

  ~Loop() {
    for (size_t fd = 0; fd < downs_.size(); ++fd) {
      if (downs_[fd]) ::close(static_cast<int>(fd));
    }
    for (size_t fd = 0; fd < ups_.size(); ++fd) {
      if (ups_[fd]) ::close(static_cast<int>(fd));
    }
    for (int fd : {listen_fd_, epoll_fd_, wake_fd_}) ::close(fd);
  }

  void wake() {
    const uint64_t one = 1;
    [[maybe_unused]] const auto n = ::write(wake_fd_, &one, sizeof one);
  }

  void run(const std::stop_token& stop) {
    std::vector<epoll_event> events(kMaxEvents);
    auto last_sweep = Clock::now();
    while (!stop.stop_requested()) {
      const int timeout_ms = busy_ups_ > 0 || accept_paused_ ? 10 : -1;
      const int n = ::epoll_wait(epoll_fd_, events.data(), kMaxEvents, timeout_ms);
      if (n < 0 && errno != EINTR) return;
      now_ = Clock::now();
      for (int i = 0; i < n; ++i) {
        const uint64_t k = events[static_cast<size_t>(i)].data.u64;
        const auto fd = static_cast<int>(static_cast<uint32_t>(k));
        const uint32_t ev = events[static_cast<size_t>(i)].events;
        switch (static_cast<Tag>(k >> 32)) {
          case kListen:
            accept_all();
            break;
          case kDown:
            on_down(fd, ev);
            break;
          case kUp:
            on_up(fd, ev);
            break;
          case kWake: {
            uint64_t value = 0;
            [[maybe_unused]] const auto r = ::read(wake_fd_, &value, sizeof value);
            break;
          }
        }
      }
      if (now_ - last_sweep >= kSweepInterval) {
        sweep_timeouts();
        last_sweep = now_;
      }
      resume_accepting_when_due();
    }
  }

 private:
  void add(int fd, uint64_t k, uint32_t events) {
    epoll_event ev{};
    ev.events = events;
    ev.data.u64 = k;
    ::epoll_ctl(epoll_fd_, EPOLL_CTL_ADD, fd, &ev);
  }

  void modify(int fd, uint64_t k, uint32_t events) {
    epoll_event ev{};
    ev.events = events;
    ev.data.u64 = k;
    ::epoll_ctl(epoll_fd_, EPOLL_CTL_MOD, fd, &ev);
  }

  // ---- downstream: the clients of this variant ----

  void accept_all() {
    for (;;) {
      const int fd = ::accept4(listen_fd_, nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC);
      if (fd < 0) {
        if (accept_starved(errno)) pause_accepting();
        return;
      }
      set_nodelay(fd);
      Down& d = emplace(downs_, fd);
      d.serial = ++serial_;
      stats_.open_connections.fetch_add(1, std::memory_order_relaxed);
      add(fd, key(kDown, fd), EPOLLIN | EPOLLRDHUP);
    }
  }

  // The listener stays readable while descriptors are out: level-triggered, it would wake
  // every epoll_wait at once. It is left out of the set for kAcceptPause instead.
  void pause_accepting() {
    modify(listen_fd_, key(kListen, listen_fd_), 0);
    accept_resume_ = now_ + kAcceptPause;
    accept_paused_ = true;
  }
  void resume_accepting_when_due() {
    if (!accept_paused_ || now_ < accept_resume_) return;
    accept_paused_ = false;
    modify(listen_fd_, key(kListen, listen_fd_), EPOLLIN);
  }

  void close_down(int fd) {
    if (const Down* d = slot(downs_, fd)) {
      stats_.open_connections.fetch_sub(1, std::memory_order_relaxed);
      if (d->busy) stats_.inflight.fetch_sub(1, std::memory_order_relaxed);
    }
    ::close(fd);
    downs_[static_cast<size_t>(fd)].reset();
  }

  void on_down(int fd, uint32_t events) {
    Down* d = slot(downs_, fd);
    if (!d) return;
    if ((events & EPOLLOUT) && !flush_down(fd, *d)) return;
    if (!(events & (EPOLLIN | EPOLLRDHUP | EPOLLHUP | EPOLLERR))) return;
    if (!d->busy) d->readable_at = now_;
    for (;;) {
      const ssize_t n = ::recv(fd, read_buffer_.get(), kReadChunk, 0);
      if (n > 0) {
        d->in.append(read_buffer_.get(), static_cast<size_t>(n));
        if (d->in.size() > kMaxBufferedInput) return close_down(fd);
        if (static_cast<size_t>(n) < kReadChunk) break;
        continue;
      }
      if (n == 0 || (errno != EAGAIN && errno != EINTR)) return close_down(fd);
      if (errno == EAGAIN) break;
    }
    next_request(fd, *d);
  }

  void next_request(int fd, Down& d) {
    if (d.busy) return;
    RequestHead head;
    const ParseStatus status = parse_request_head(d.in, head);
    if (status == ParseStatus::kIncomplete) return;
    d.started = now_;
    d.busy = true;
    stats_.inflight.fetch_add(1, std::memory_order_relaxed);
    d.route = Route::kOther;
    if (status == ParseStatus::kInvalid) {
      d.keep_alive = false;
      d.in.clear();
      return respond(fd, d, 400, "text/plain", "bad request");
    }
    if (d.in.size() < head.head_bytes + head.content_length) {
      d.busy = false;
      stats_.inflight.fetch_sub(1, std::memory_order_relaxed);
      return;
    }
    stats_.queue_wait.record(now_ - d.readable_at);
    d.keep_alive = head.keep_alive;
    const bool remote = head.path == "/remote";
    const bool plaintext = head.path == "/plaintext";
    d.in.erase(0, head.head_bytes + head.content_length);
    // A pipelined request behind this one waited from now, not from its bytes' arrival.
    d.readable_at = now_;
    d.route = remote ? Route::kRemote : plaintext ? Route::kPlaintext : Route::kOther;
    if (plaintext) return respond(fd, d, 200, "text/plain", kPlaintextBody);
    if (!remote) return respond(fd, d, 404, "text/plain", "not found");
    start_upstream(fd, d);
  }

  void respond(int fd, Down& d, int status, std::string_view type, std::string_view body) {
    d.status = status;
    d.out = http_response(status, type, body, d.keep_alive);
    d.out_offset = 0;
    flush_down(fd, d);
  }

  // Writes what is pending; returns false when the connection was closed.
  bool flush_down(int fd, Down& d) {
    switch (send_pending(fd, d.out, d.out_offset)) {
      case SendOutcome::kDone:
        break;
      case SendOutcome::kBlocked:
        if (!d.want_write) {
          d.want_write = true;
          modify(fd, key(kDown, fd), EPOLLIN | EPOLLRDHUP | EPOLLOUT);
        }
        return true;
      case SendOutcome::kFailed:
        close_down(fd);
        return false;
    }
    if (d.out.empty()) return true;
    if (d.want_write) {
      d.want_write = false;
      modify(fd, key(kDown, fd), EPOLLIN | EPOLLRDHUP);
    }
    d.out.clear();
    d.busy = false;
    d.up_fd = -1;
    stats_.inflight.fetch_sub(1, std::memory_order_relaxed);
    stats_.record_answer(d.route, d.status, Clock::now() - d.started);
    if (!d.keep_alive) {
      close_down(fd);
      return false;
    }
    const uint64_t serial = d.serial;
    next_request(fd, d);
    // A pipelined request may have been answered, and the connection closed, meanwhile.
    return alive(fd, serial) != nullptr;
  }

  Down* alive(int fd, uint64_t serial) {
    Down* d = slot(downs_, fd);
    return d && d->serial == serial ? d : nullptr;
  }

  // ---- upstream: the pool of keep-alive connections to the slow service ----

  void start_upstream(int down_fd, Down& d) {
    while (!idle_.empty()) {
      const Waiter idle = idle_.back();
      idle_.pop_back();
      Up* u = slot(ups_, idle.fd);
      if (u && u->serial == idle.serial && u->state == Up::State::kIdle) {
        assign(idle.fd, *u, down_fd, d);
        return write_up(idle.fd, *u);
      }
    }
    if (pool_size_ > 0 && open_ups_ >= pool_size_) {
      d.pool_wait_started = now_;
      waiters_.push_back({down_fd, d.serial});
      return;
    }
    stats_.pool_wait.record(std::chrono::nanoseconds(0));
    open_up(down_fd, d);
  }

  void assign(int up_fd, Up& u, int down_fd, Down& d) {
    u.down_fd = down_fd;
    u.down_serial = d.serial;
    u.started = now_;
    u.deadline = now_ + upstream_.timeout;
    u.written = 0;
    u.parser.reset();
    d.up_fd = up_fd;
    ++busy_ups_;
  }

  void open_up(int down_fd, Down& d) {
    const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) return fail_down(down_fd, d, false, "socket");
    set_nodelay(fd);
    Up& u = emplace(ups_, fd);
    u.serial = ++serial_;
    ++open_ups_;
    assign(fd, u, down_fd, d);
    u.deadline = now_ + std::min(upstream_.timeout, upstream_.connect_timeout);
    const int rc =
        ::connect(fd, reinterpret_cast<const sockaddr*>(&upstream_addr_), sizeof upstream_addr_);
    if (rc != 0 && errno != EINPROGRESS) return fail_up(fd, u, false, "connect");
    u.state = Up::State::kConnecting;
    u.want_write = true;
    add(fd, key(kUp, fd), EPOLLOUT | EPOLLIN | EPOLLRDHUP);
  }

  void on_up(int fd, uint32_t events) {
    Up* u = slot(ups_, fd);
    if (!u) return;
    switch (u->state) {
      case Up::State::kIdle:
        // An idle keep-alive connection that becomes readable was closed (or misbehaved).
        return close_up(fd);
      case Up::State::kConnecting: {
        int error = 0;
        socklen_t len = sizeof error;
        ::getsockopt(fd, SOL_SOCKET, SO_ERROR, &error, &len);
        if (error != 0) return fail_up(fd, *u, false, "connect");
        u->deadline = u->started + upstream_.timeout;
        return write_up(fd, *u);
      }
      case Up::State::kWriting:
        if (events & (EPOLLOUT | EPOLLERR | EPOLLHUP)) write_up(fd, *u);
        return;
      case Up::State::kReading:
        return read_up(fd, *u);
    }
  }

  void write_up(int fd, Up& u) {
    u.state = Up::State::kWriting;
    while (u.written < upstream_request_.size()) {
      const ssize_t n = ::send(fd, upstream_request_.data() + u.written,
                               upstream_request_.size() - u.written, MSG_NOSIGNAL);
      if (n > 0) {
        u.written += static_cast<size_t>(n);
        continue;
      }
      if (n < 0 && errno == EINTR) continue;
      if (n < 0 && errno == EAGAIN) {
        if (!u.want_write) {
          u.want_write = true;
          modify(fd, key(kUp, fd), EPOLLIN | EPOLLRDHUP | EPOLLOUT);
        }
        return;
      }
      return retry_or_fail(fd, u, "write");
    }
    u.state = Up::State::kReading;
    if (u.want_write) {
      u.want_write = false;
      modify(fd, key(kUp, fd), EPOLLIN | EPOLLRDHUP);
    }
  }

  void read_up(int fd, Up& u) {
    for (;;) {
      const ssize_t n = ::recv(fd, read_buffer_.get(), kReadChunk, 0);
      if (n > 0) {
        const auto r = u.parser.feed(read_buffer_.get(), static_cast<size_t>(n));
        if (r.outcome == ResponseParser::Outcome::kComplete) return complete_up(fd, u);
        if (r.outcome == ResponseParser::Outcome::kError)
          return fail_up(fd, u, false, "bad answer");
        continue;
      }
      if (n < 0 && errno == EINTR) continue;
      if (n < 0 && errno == EAGAIN) return;
      if (n == 0 && u.parser.on_eof()) return complete_up(fd, u);
      return retry_or_fail(fd, u, n == 0 ? "closed" : "read");
    }
  }

  // A reused keep-alive connection that the upstream closed before answering: the request never
  // reached it, so it is sent once more on a fresh connection.
  void retry_or_fail(int fd, Up& u, const char* what) {
    Down* d = owner(u);
    if (!d || !u.reused || u.parser.in_progress() || u.retried) return fail_up(fd, u, false, what);
    const int down_fd = u.down_fd;
    const uint64_t down_serial = u.down_serial;
    close_up(fd);
    open_up(down_fd, *d);
    if (Down* again = alive(down_fd, down_serial)) {
      if (Up* fresh = slot(ups_, again->up_fd)) fresh->retried = true;
    }
  }

  Down* owner(const Up& u) { return alive(u.down_fd, u.down_serial); }

  void complete_up(int fd, Up& u) {
    stats_.upstream.record(now_ - u.started);
    const int status = u.parser.status();
    if (Down* d = owner(u)) {
      if (status >= 500) stats_.upstream_failures.fetch_add(1, std::memory_order_relaxed);
      respond(u.down_fd, *d, remote_status(status), "application/json",
              remote_body(status, u.parser.body_bytes()));
    }
    --busy_ups_;
    u.down_fd = -1;
    u.reused = true;
    u.retried = false;
    if (u.parser.should_close()) return close_up(fd, /*was_busy=*/false);
    u.state = Up::State::kIdle;
    hand_over(fd, u);
  }

  // Gives a free connection to the longest waiting request, or parks it as idle.
  void hand_over(int fd, Up& u) {
    while (!waiters_.empty()) {
      const Waiter w = waiters_.front();
      waiters_.pop_front();
      Down* d = slot(downs_, w.fd);
      if (!d || d->serial != w.serial) continue;
      stats_.pool_wait.record(now_ - d->pool_wait_started);
      assign(fd, u, w.fd, *d);
      return write_up(fd, u);
    }
    idle_.push_back({fd, u.serial});
  }

  void fail_up(int fd, Up& u, bool timed_out, std::string_view detail) {
    stats_.upstream.record(now_ - u.started);
    if (Down* d = owner(u)) fail_down(u.down_fd, *d, timed_out, detail);
    close_up(fd);
  }

  void fail_down(int fd, Down& d, bool timed_out, std::string_view detail) {
    (timed_out ? stats_.upstream_timeouts : stats_.upstream_failures)
        .fetch_add(1, std::memory_order_relaxed);
    respond(fd, d, timed_out ? 504 : 502, "application/json",
            upstream_error_body(timed_out, detail));
  }

  void close_up(int fd, bool was_busy = true) {
    Up* u = slot(ups_, fd);
    if (!u) return;
    if (was_busy && u->state != Up::State::kIdle) --busy_ups_;
    ::close(fd);
    ups_[static_cast<size_t>(fd)].reset();
    --open_ups_;
    // A slot opened in a capped pool: the next waiter may open a connection of its own.
    while (!waiters_.empty() && (pool_size_ == 0 || open_ups_ < pool_size_)) {
      const Waiter w = waiters_.front();
      waiters_.pop_front();
      Down* d = slot(downs_, w.fd);
      if (!d || d->serial != w.serial) continue;
      stats_.pool_wait.record(now_ - d->pool_wait_started);
      open_up(w.fd, *d);
      break;
    }
  }

  void sweep_timeouts() {
    for (size_t fd = 0; fd < ups_.size(); ++fd) {
      Up* u = ups_[fd].get();
      if (!u || u->state == Up::State::kIdle || u->deadline > now_) continue;
      fail_up(static_cast<int>(fd), *u, true, "no answer in time");
    }
  }

  UpstreamOptions upstream_;
  int pool_size_;
  ServerStats& stats_;
  int listen_fd_;
  bool accept_paused_ = false;  // Out of descriptors: the listener is out of the epoll set.
  Clock::time_point accept_resume_;
  int epoll_fd_ = -1;
  int wake_fd_ = -1;
  sockaddr_in upstream_addr_{};
  std::string upstream_request_;
  std::unique_ptr<char[]> read_buffer_;
  Clock::time_point now_;
  uint64_t serial_ = 0;
  int open_ups_ = 0;
  int busy_ups_ = 0;
  std::vector<std::unique_ptr<Down>> downs_;
  std::vector<std::unique_ptr<Up>> ups_;
  std::vector<Waiter> idle_;
  std::deque<Waiter> waiters_;
};

AsyncVariant::AsyncVariant(UpstreamOptions upstream, int pool_size)
    : upstream_(std::move(upstream)), pool_size_(pool_size) {}

AsyncVariant::~AsyncVariant() { stop(); }

uint16_t AsyncVariant::start(const Endpoint& listen) {
  const int fd = open_listener(listen, /*reuse_port=*/true);
  const uint16_t port = bound_port(fd);
  loop_ = std::make_unique<Loop>(upstream_, pool_size_, stats_, fd);
  thread_ = std::jthread([this](std::stop_token stop) { loop_->run(stop); });
  return port;
}

void AsyncVariant::stop() {
  if (!thread_.joinable()) return;
  thread_.request_stop();
  loop_->wake();
  thread_.join();
  loop_.reset();
}

}  // namespace iolab
