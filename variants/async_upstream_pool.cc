#include "variants/async_upstream_pool.h"

#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>

#include "core/errors.h"
#include "core/http.h"
#include "variants/async_loop.h"
#include "variants/net.h"

namespace iolab {

AsyncUpstreamPool::AsyncUpstreamPool(AsyncLoop& loop, const UpstreamOptions& upstream,
                                     int pool_size, ServerStats& stats, char* read_buffer,
                                     size_t read_buffer_bytes)
    : loop_(loop),
      upstream_(upstream),
      pool_size_(pool_size),
      stats_(stats),
      read_buffer_(read_buffer),
      read_buffer_bytes_(read_buffer_bytes) {
  const auto addr = upstream_.url.endpoint.sockaddr();
  if (!addr) throw StartError("async variant: bad upstream " + upstream_.url.to_string());
  upstream_addr_ = *addr;
  upstream_request_ = "GET " + upstream_.url.target +
                      " HTTP/1.1\r\nHost: " + upstream_.url.host_header + "\r\n\r\n";
}

AsyncUpstreamPool::~AsyncUpstreamPool() {
  for (size_t fd = 0; fd < ups_.size(); ++fd) {
    if (ups_[fd]) ::close(static_cast<int>(fd));
  }
}

void AsyncUpstreamPool::start(int down_fd, AsyncDown& d) {
  while (!idle_.empty()) {
    const Waiter idle = idle_.back();
    idle_.pop_back();
    Up* u = fd_slot(ups_, idle.fd);
    if (u && u->serial == idle.serial && u->state == Up::State::kIdle) {
      assign(idle.fd, *u, down_fd, d);
      return write_up(idle.fd, *u);
    }
  }
  if (pool_size_ > 0 && open_ups_ >= pool_size_) {
    d.pool_wait_started = loop_.now();
    waiters_.push_back({down_fd, d.serial});
    return;
  }
  stats_.pool_wait.record(std::chrono::nanoseconds(0));
  open_up(down_fd, d);
}

void AsyncUpstreamPool::assign(int up_fd, Up& u, int down_fd, AsyncDown& d) {
  u.down_fd = down_fd;
  u.down_serial = d.serial;
  u.started = loop_.now();
  u.deadline = loop_.now() + upstream_.timeout;
  u.written = 0;
  u.parser.reset();
  d.up_fd = up_fd;
  ++busy_ups_;
}

void AsyncUpstreamPool::open_up(int down_fd, AsyncDown& d) {
  const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) return fail_down(down_fd, d, false, "socket");
  set_nodelay(fd);
  Up& u = fd_emplace(ups_, fd);
  u.serial = ++serial_;
  ++open_ups_;
  assign(fd, u, down_fd, d);
  u.deadline = loop_.now() + std::min(upstream_.timeout, upstream_.connect_timeout);
  const int rc =
      ::connect(fd, reinterpret_cast<const sockaddr*>(&upstream_addr_), sizeof upstream_addr_);
  if (rc != 0 && errno != EINPROGRESS) return fail_up(fd, u, false, "connect");
  u.state = Up::State::kConnecting;
  u.want_write = true;
  loop_.add(fd, async_key(AsyncTag::kUp, fd), EPOLLOUT | EPOLLIN | EPOLLRDHUP);
}

void AsyncUpstreamPool::on_event(int fd, uint32_t events) {
  Up* u = fd_slot(ups_, fd);
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

void AsyncUpstreamPool::write_up(int fd, Up& u) {
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
        loop_.modify(fd, async_key(AsyncTag::kUp, fd), EPOLLIN | EPOLLRDHUP | EPOLLOUT);
      }
      return;
    }
    return retry_or_fail(fd, u, "write");
  }
  u.state = Up::State::kReading;
  if (u.want_write) {
    u.want_write = false;
    loop_.modify(fd, async_key(AsyncTag::kUp, fd), EPOLLIN | EPOLLRDHUP);
  }
}

void AsyncUpstreamPool::read_up(int fd, Up& u) {
  for (;;) {
    const ssize_t n = ::recv(fd, read_buffer_, read_buffer_bytes_, 0);
    if (n > 0) {
      const auto r = u.parser.feed(read_buffer_, static_cast<size_t>(n));
      if (r.outcome == ResponseParser::Outcome::kComplete) return complete_up(fd, u);
      if (r.outcome == ResponseParser::Outcome::kError) return fail_up(fd, u, false, "bad answer");
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
void AsyncUpstreamPool::retry_or_fail(int fd, Up& u, const char* what) {
  AsyncDown* d = owner(u);
  if (!d || !u.reused || u.parser.in_progress() || u.retried) return fail_up(fd, u, false, what);
  const int down_fd = u.down_fd;
  const uint64_t down_serial = u.down_serial;
  close_up(fd);
  open_up(down_fd, *d);
  if (AsyncDown* again = loop_.alive(down_fd, down_serial)) {
    if (Up* fresh = fd_slot(ups_, again->up_fd)) fresh->retried = true;
  }
}

AsyncDown* AsyncUpstreamPool::owner(const Up& u) { return loop_.alive(u.down_fd, u.down_serial); }

void AsyncUpstreamPool::complete_up(int fd, Up& u) {
  stats_.upstream.record(loop_.now() - u.started);
  const int status = u.parser.status();
  if (AsyncDown* d = owner(u)) {
    if (status >= 500) stats_.upstream_failures.fetch_add(1, std::memory_order_relaxed);
    loop_.respond(u.down_fd, *d, remote_status(status), "application/json",
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
void AsyncUpstreamPool::hand_over(int fd, Up& u) {
  while (!waiters_.empty()) {
    const Waiter w = waiters_.front();
    waiters_.pop_front();
    AsyncDown* d = loop_.alive(w.fd, w.serial);
    if (!d) continue;
    stats_.pool_wait.record(loop_.now() - d->pool_wait_started);
    assign(fd, u, w.fd, *d);
    return write_up(fd, u);
  }
  idle_.push_back({fd, u.serial});
}

void AsyncUpstreamPool::fail_up(int fd, Up& u, bool timed_out, std::string_view detail) {
  stats_.upstream.record(loop_.now() - u.started);
  if (AsyncDown* d = owner(u)) fail_down(u.down_fd, *d, timed_out, detail);
  close_up(fd);
}

void AsyncUpstreamPool::fail_down(int fd, AsyncDown& d, bool timed_out, std::string_view detail) {
  (timed_out ? stats_.upstream_timeouts : stats_.upstream_failures)
      .fetch_add(1, std::memory_order_relaxed);
  loop_.respond(fd, d, timed_out ? 504 : 502, "application/json",
                upstream_error_body(timed_out, detail));
}

void AsyncUpstreamPool::close_up(int fd, bool was_busy) {
  Up* u = fd_slot(ups_, fd);
  if (!u) return;
  if (was_busy && u->state != Up::State::kIdle) --busy_ups_;
  ::close(fd);
  ups_[static_cast<size_t>(fd)].reset();
  --open_ups_;
  // A slot opened in a capped pool: the next waiter may open a connection of its own.
  while (!waiters_.empty() && (pool_size_ == 0 || open_ups_ < pool_size_)) {
    const Waiter w = waiters_.front();
    waiters_.pop_front();
    AsyncDown* d = loop_.alive(w.fd, w.serial);
    if (!d) continue;
    stats_.pool_wait.record(loop_.now() - d->pool_wait_started);
    open_up(w.fd, *d);
    break;
  }
}

void AsyncUpstreamPool::sweep_timeouts() {
  for (size_t fd = 0; fd < ups_.size(); ++fd) {
    Up* u = ups_[fd].get();
    if (!u || u->state == Up::State::kIdle || u->deadline > loop_.now()) continue;
    fail_up(static_cast<int>(fd), *u, true, "no answer in time");
  }
}

}  // namespace iolab
