#include "variants/fiber_reactor.h"

#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cerrno>

#include "core/errors.h"

namespace iolab {
namespace {

constexpr uint64_t kWakeKey = ~uint64_t{0};
constexpr int kMaxEvents = 512;
thread_local FiberReactor* t_reactor = nullptr;

}  // namespace

FiberReactor::FiberReactor() {
  epoll_fd_ = ::epoll_create1(EPOLL_CLOEXEC);
  wake_fd_ = ::eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
  if (epoll_fd_ < 0 || wake_fd_ < 0) {
    for (int fd : {epoll_fd_, wake_fd_}) {
      if (fd >= 0) ::close(fd);
    }
    throw StartError("fiber reactor: epoll set-up failed");
  }
  epoll_event ev{};
  ev.events = EPOLLIN;
  ev.data.u64 = kWakeKey;
  ::epoll_ctl(epoll_fd_, EPOLL_CTL_ADD, wake_fd_, &ev);
  t_reactor = this;
}

FiberReactor::~FiberReactor() {
  if (t_reactor == this) t_reactor = nullptr;
  // request_stop() may still be writing to wake_fd_ from another thread: the loop can see the
  // stop flag, unwind and get here before that write (TSan caught it; a reused fd would have
  // taken the 8 bytes).
  const std::lock_guard lock(stop_mutex_);
  ::close(epoll_fd_);
  ::close(wake_fd_);
}

FiberReactor* FiberReactor::current() { return t_reactor; }

void FiberReactor::watch(int fd) {
  if (static_cast<size_t>(fd) >= slots_.size()) slots_.resize(static_cast<size_t>(fd) + 1024);
  slots_[static_cast<size_t>(fd)] = Slot{};
  epoll_event ev{};
  ev.events = EPOLLIN | EPOLLOUT | EPOLLRDHUP | EPOLLET;
  ev.data.u64 = static_cast<uint64_t>(fd);
  ::epoll_ctl(epoll_fd_, EPOLL_CTL_ADD, fd, &ev);
}

void FiberReactor::close(int fd) {
  ::epoll_ctl(epoll_fd_, EPOLL_CTL_DEL, fd, nullptr);
  if (static_cast<size_t>(fd) < slots_.size()) slots_[static_cast<size_t>(fd)] = Slot{};
  ::close(fd);
}

FiberReactor::WaitResult FiberReactor::wait(int fd, uint32_t events, Clock::time_point deadline,
                                            Clock::time_point* ready_at) {
  if (stop_requested()) {
    // The stop may be seen here first, by a fiber that did not sleep in suspend_until(); the
    // fibers parked before it must hear of it now, since the thread may never sleep there again
    // (FiberVariant::run's main fiber yields until every connection's fiber is gone).
    wake_all_stopped();
    return WaitResult::kStopped;
  }
  Slot& slot = slots_[static_cast<size_t>(fd)];
  // Hang-ups and errors count as readiness for any wait: the next call will see them.
  const uint32_t match = events | EPOLLERR | EPOLLHUP | EPOLLRDHUP;
  if (slot.ready & match) {
    slot.ready &= ~match;
    if (ready_at) *ready_at = slot.ready_at;
    return WaitResult::kReady;
  }
  if (deadline <= Clock::now()) return WaitResult::kTimedOut;
  slot.waiter = boost::fibers::context::active();
  slot.want = match;
  slot.wait_id = ++next_wait_id_;
  slot.result = WaitResult::kReady;
  if (deadline != Clock::time_point::max()) timers_.push({deadline, fd, slot.wait_id});
  slot.waiter->suspend();
  // The slots may have been reallocated while this fiber was parked.
  Slot& after = slots_[static_cast<size_t>(fd)];
  if (ready_at) *ready_at = after.ready_at;
  return after.result;
}

void FiberReactor::wake(Slot& slot, WaitResult result, Clock::time_point now) {
  boost::fibers::context* waiter = slot.waiter;
  slot.waiter = nullptr;
  slot.want = 0;
  slot.result = result;
  slot.ready_at = now;
  boost::fibers::context::active()->schedule(waiter);
}

void FiberReactor::request_stop() {
  const std::lock_guard lock(stop_mutex_);
  stopping_.store(true, std::memory_order_release);
  notify();
}

void FiberReactor::wake_all_stopped() {
  // Once is enough: no fiber parks after its thread has seen the stop (wait() checks first).
  if (stop_woken_) return;
  stop_woken_ = true;
  const auto now = Clock::now();
  for (Slot& slot : slots_) {
    if (slot.waiter) wake(slot, WaitResult::kStopped, now);
  }
}

void FiberReactor::suspend_until(const Clock::time_point& until) noexcept {
  auto deadline = until;
  if (!timers_.empty()) deadline = std::min(deadline, timers_.top().deadline);
  int timeout_ms = -1;
  if (deadline != Clock::time_point::max()) {
    const auto left = std::chrono::ceil<std::chrono::milliseconds>(deadline - Clock::now());
    timeout_ms = static_cast<int>(std::max<int64_t>(0, left.count()));
  }
  std::array<epoll_event, kMaxEvents> events;
  const int n = ::epoll_wait(epoll_fd_, events.data(), kMaxEvents, timeout_ms);
  const auto now = Clock::now();
  for (int i = 0; i < n; ++i) {
    const epoll_event& e = events[static_cast<size_t>(i)];
    if (e.data.u64 == kWakeKey) {
      uint64_t value = 0;
      [[maybe_unused]] const auto r = ::read(wake_fd_, &value, sizeof value);
      continue;
    }
    Slot& slot = slots_[static_cast<size_t>(e.data.u64)];
    if (slot.waiter && (slot.want & e.events)) {
      slot.ready |= e.events & ~slot.want;
      wake(slot, WaitResult::kReady, now);
    } else {
      slot.ready |= e.events;
      slot.ready_at = now;
    }
  }
  while (!timers_.empty() && timers_.top().deadline <= now) {
    const Timer t = timers_.top();
    timers_.pop();
    Slot& slot = slots_[static_cast<size_t>(t.fd)];
    if (slot.waiter && slot.wait_id == t.wait_id) wake(slot, WaitResult::kTimedOut, now);
  }
  if (stop_requested()) wake_all_stopped();
}

void FiberReactor::notify() noexcept {
  const uint64_t one = 1;
  [[maybe_unused]] const auto n = ::write(wake_fd_, &one, sizeof one);
}

}  // namespace iolab
