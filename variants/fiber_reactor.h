#pragma once

#include <atomic>
#include <boost/fiber/algo/round_robin.hpp>
#include <boost/fiber/context.hpp>
#include <chrono>
#include <cstdint>
#include <mutex>
#include <queue>
#include <vector>

namespace iolab {

/// A Boost.Fiber scheduler that sleeps in epoll when no fiber is ready: fibers written in
/// blocking style call wait() where a socket would block, which parks only that fiber.
///
/// Round-robin among ready fibers (the base class). When none is ready, suspend_until() waits in
/// epoll_wait until a watched socket is ready, a wait's deadline passes, a Boost.Fiber timer is
/// due, or notify() is called from another thread; the fibers waiting on what happened are made
/// ready again. One reactor per thread; every method but notify() and request_stop() is for the
/// fibers of that thread only.
class FiberReactor final : public boost::fibers::algo::round_robin {
 public:
  using Clock = std::chrono::steady_clock;

  enum class WaitResult : uint8_t { kReady, kTimedOut, kStopped };

  FiberReactor();
  ~FiberReactor() override;

  /// The reactor of the calling thread (installed by use_scheduling_algorithm), or nullptr.
  static FiberReactor* current();

  /// Starts watching `fd` (non-blocking, edge-triggered). Call once per socket, before wait().
  void watch(int fd);
  /// Stops watching and closes `fd`.
  void close(int fd);

  /// Parks the calling fiber until `fd` has one of `events` (EPOLLIN or EPOLLOUT), `deadline`
  /// passes, or the reactor is stopped. `ready_at`, if given, receives when epoll saw it ready.
  WaitResult wait(int fd, uint32_t events, Clock::time_point deadline = Clock::time_point::max(),
                  Clock::time_point* ready_at = nullptr);

  /// From any thread: every current and future wait() returns kStopped. The parked fibers are
  /// woken by the first of the reactor's thread to see the stop: a wait() or suspend_until().
  void request_stop();
  bool stop_requested() const { return stopping_.load(std::memory_order_acquire); }

  void suspend_until(const Clock::time_point& until) noexcept override;
  void notify() noexcept override;

 private:
  struct Slot {
    boost::fibers::context* waiter = nullptr;
    uint32_t want = 0;
    uint32_t ready = 0;  // events seen while nobody waited for them (edge-triggered)
    uint64_t wait_id = 0;
    WaitResult result = WaitResult::kReady;
    Clock::time_point ready_at;
  };
  struct Timer {
    Clock::time_point deadline;
    int fd;
    uint64_t wait_id;
    bool operator>(const Timer& o) const { return deadline > o.deadline; }
  };

  void wake(Slot& slot, WaitResult result, Clock::time_point now);
  void wake_all_stopped();

  int epoll_fd_ = -1;
  int wake_fd_ = -1;
  uint64_t next_wait_id_ = 0;
  std::atomic<bool> stopping_{false};
  bool stop_woken_ = false;  // The parked fibers were woken with kStopped (reactor thread only).
  std::mutex stop_mutex_;    // Orders request_stop() before the destructor closes wake_fd_.
  std::vector<Slot> slots_;
  std::priority_queue<Timer, std::vector<Timer>, std::greater<>> timers_;
};

}  // namespace iolab
