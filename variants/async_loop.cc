#include "variants/async_loop.h"

#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>

#include "core/errors.h"
#include "variants/net.h"

namespace iolab {
namespace {

constexpr size_t kReadChunk = size_t{64} * 1024;
constexpr size_t kMaxBufferedInput = size_t{1024} * 1024;
constexpr auto kSweepInterval = std::chrono::milliseconds(10);
constexpr int kMaxEvents = 1024;

}  // namespace

AsyncLoop::AsyncLoop(const UpstreamOptions& upstream, int pool_size, ServerStats& stats,
                     int listen_fd)
    : stats_(stats),
      listen_fd_(listen_fd),
      read_buffer_(std::make_unique<char[]>(kReadChunk)),
      pool_(*this, upstream, pool_size, stats, read_buffer_.get(), kReadChunk) {
  epoll_fd_ = ::epoll_create1(EPOLL_CLOEXEC);
  wake_fd_ = ::eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
  if (epoll_fd_ < 0 || wake_fd_ < 0) {
    for (int fd : {epoll_fd_, wake_fd_}) {
      if (fd >= 0) ::close(fd);
    }
    throw StartError("async variant: epoll set-up failed");
  }
  add(listen_fd_, async_key(AsyncTag::kListen, listen_fd_), EPOLLIN);
  add(wake_fd_, async_key(AsyncTag::kWake, wake_fd_), EPOLLIN);
}

AsyncLoop::~AsyncLoop() {
  for (size_t fd = 0; fd < downs_.size(); ++fd) {
    if (downs_[fd]) ::close(static_cast<int>(fd));
  }
  for (int fd : {listen_fd_, epoll_fd_, wake_fd_}) ::close(fd);
}

void AsyncLoop::wake() {
  const uint64_t one = 1;
  [[maybe_unused]] const auto n = ::write(wake_fd_, &one, sizeof one);
}

void AsyncLoop::run(const std::stop_token& stop) {
  std::vector<epoll_event> events(kMaxEvents);
  auto last_sweep = Clock::now();
  while (!stop.stop_requested()) {
    const int timeout_ms = pool_.busy() || accept_paused_ ? 10 : -1;
    const int n = ::epoll_wait(epoll_fd_, events.data(), kMaxEvents, timeout_ms);
    if (n < 0 && errno != EINTR) return;
    now_ = Clock::now();
    for (int i = 0; i < n; ++i) {
      const uint64_t k = events[static_cast<size_t>(i)].data.u64;
      const auto fd = static_cast<int>(static_cast<uint32_t>(k));
      const uint32_t ev = events[static_cast<size_t>(i)].events;
      switch (static_cast<AsyncTag>(k >> 32)) {
        case AsyncTag::kListen:
          accept_all();
          break;
        case AsyncTag::kDown:
          on_down(fd, ev);
          break;
        case AsyncTag::kUp:
          pool_.on_event(fd, ev);
          break;
        case AsyncTag::kWake: {
          uint64_t value = 0;
          [[maybe_unused]] const auto r = ::read(wake_fd_, &value, sizeof value);
          break;
        }
      }
    }
    if (now_ - last_sweep >= kSweepInterval) {
      pool_.sweep_timeouts();
      last_sweep = now_;
    }
    resume_accepting_when_due();
  }
}

void AsyncLoop::add(int fd, uint64_t key, uint32_t events) {
  epoll_event ev{};
  ev.events = events;
  ev.data.u64 = key;
  ::epoll_ctl(epoll_fd_, EPOLL_CTL_ADD, fd, &ev);
}

void AsyncLoop::modify(int fd, uint64_t key, uint32_t events) {
  epoll_event ev{};
  ev.events = events;
  ev.data.u64 = key;
  ::epoll_ctl(epoll_fd_, EPOLL_CTL_MOD, fd, &ev);
}

void AsyncLoop::accept_all() {
  for (;;) {
    const int fd = ::accept4(listen_fd_, nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (fd < 0) {
      if (accept_starved(errno)) pause_accepting();
      return;
    }
    set_nodelay(fd);
    AsyncDown& d = fd_emplace(downs_, fd);
    d.serial = ++serial_;
    stats_.open_connections.fetch_add(1, std::memory_order_relaxed);
    add(fd, async_key(AsyncTag::kDown, fd), EPOLLIN | EPOLLRDHUP);
  }
}

// The listener stays readable while descriptors are out: level-triggered, it would wake every
// epoll_wait at once. It is left out of the set for kAcceptPause instead.
void AsyncLoop::pause_accepting() {
  modify(listen_fd_, async_key(AsyncTag::kListen, listen_fd_), 0);
  accept_resume_ = now_ + kAcceptPause;
  accept_paused_ = true;
}

void AsyncLoop::resume_accepting_when_due() {
  if (!accept_paused_ || now_ < accept_resume_) return;
  accept_paused_ = false;
  modify(listen_fd_, async_key(AsyncTag::kListen, listen_fd_), EPOLLIN);
}

void AsyncLoop::close_down(int fd) {
  if (const AsyncDown* d = fd_slot(downs_, fd)) {
    stats_.open_connections.fetch_sub(1, std::memory_order_relaxed);
    if (d->busy) stats_.inflight.fetch_sub(1, std::memory_order_relaxed);
  }
  ::close(fd);
  downs_[static_cast<size_t>(fd)].reset();
}

void AsyncLoop::on_down(int fd, uint32_t events) {
  AsyncDown* d = fd_slot(downs_, fd);
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

void AsyncLoop::next_request(int fd, AsyncDown& d) {
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
  pool_.start(fd, d);
}

void AsyncLoop::respond(int fd, AsyncDown& d, int status, std::string_view type,
                        std::string_view body) {
  d.status = status;
  d.out = http_response(status, type, body, d.keep_alive);
  d.out_offset = 0;
  flush_down(fd, d);
}

// Writes what is pending; returns false when the connection was closed.
bool AsyncLoop::flush_down(int fd, AsyncDown& d) {
  switch (send_pending(fd, d.out, d.out_offset)) {
    case SendOutcome::kDone:
      break;
    case SendOutcome::kBlocked:
      if (!d.want_write) {
        d.want_write = true;
        modify(fd, async_key(AsyncTag::kDown, fd), EPOLLIN | EPOLLRDHUP | EPOLLOUT);
      }
      return true;
    case SendOutcome::kFailed:
      close_down(fd);
      return false;
  }
  if (d.out.empty()) return true;
  if (d.want_write) {
    d.want_write = false;
    modify(fd, async_key(AsyncTag::kDown, fd), EPOLLIN | EPOLLRDHUP);
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

AsyncDown* AsyncLoop::alive(int fd, uint64_t serial) {
  AsyncDown* d = fd_slot(downs_, fd);
  return d && d->serial == serial ? d : nullptr;
}

}  // namespace iolab
