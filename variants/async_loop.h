#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <stop_token>
#include <string>
#include <string_view>
#include <vector>

#include "core/http.h"
#include "variants/async_upstream_pool.h"
#include "variants/server_stats.h"
#include "variants/variant.h"

namespace iolab {

/// What an epoll event's data names: the kind of descriptor in the high half, the fd in the low.
enum class AsyncTag : uint64_t { kListen = 1, kDown = 2, kUp = 3, kWake = 4 };
constexpr uint64_t async_key(AsyncTag tag, int fd) {
  return (static_cast<uint64_t>(tag) << 32) | static_cast<uint32_t>(fd);
}

/// One downstream connection of the async variant: a client of the variant.
struct AsyncDown {
  using Clock = std::chrono::steady_clock;
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

/// The slot of `fd` in a table indexed by descriptor, or nullptr.
template <typename T>
T* fd_slot(std::vector<std::unique_ptr<T>>& table, int fd) {
  return fd >= 0 && static_cast<size_t>(fd) < table.size() ? table[static_cast<size_t>(fd)].get()
                                                           : nullptr;
}

/// A fresh entry for `fd`, growing the table as needed.
template <typename T>
T& fd_emplace(std::vector<std::unique_ptr<T>>& table, int fd) {
  if (static_cast<size_t>(fd) >= table.size()) table.resize(static_cast<size_t>(fd) + 1024);
  table[static_cast<size_t>(fd)] = std::make_unique<T>();
  return *table[static_cast<size_t>(fd)];
}

/// The async variant's event loop: one epoll set with the listener, the downstream connections
/// (accepted, parsed and answered here) and the upstream pool's connections.
///
/// Thread safety: wake() from any thread; everything else on the thread that calls run().
class AsyncLoop {
 public:
  using Clock = std::chrono::steady_clock;

  /// Takes `listen_fd` only when it returns: on a throw (StartError) the caller still owns it.
  AsyncLoop(const UpstreamOptions& upstream, int pool_size, ServerStats& stats, int listen_fd);
  AsyncLoop(const AsyncLoop&) = delete;
  AsyncLoop& operator=(const AsyncLoop&) = delete;
  /// Closes the listener and every connection.
  ~AsyncLoop();

  /// From any thread: makes a run() blocked in epoll_wait look at its stop token again.
  void wake();
  /// Serves until `stop` is requested (and wake() called) or epoll fails.
  void run(const std::stop_token& stop);

  // For the upstream pool, on the loop's thread.

  /// When the current batch of events was read.
  Clock::time_point now() const { return now_; }
  void add(int fd, uint64_t key, uint32_t events);
  void modify(int fd, uint64_t key, uint32_t events);
  /// The connection on `fd` if it is still the one numbered `serial`.
  AsyncDown* alive(int fd, uint64_t serial);
  /// Answers the request in hand on `fd` and goes on with the next one.
  void respond(int fd, AsyncDown& d, int status, std::string_view type, std::string_view body);

 private:
  void accept_all();
  void pause_accepting();
  void resume_accepting_when_due();
  void close_down(int fd);
  void on_down(int fd, uint32_t events);
  void next_request(int fd, AsyncDown& d);
  bool flush_down(int fd, AsyncDown& d);

  ServerStats& stats_;
  int listen_fd_;
  bool accept_paused_ = false;  // Out of descriptors: the listener is out of the epoll set.
  Clock::time_point accept_resume_;
  int epoll_fd_ = -1;
  int wake_fd_ = -1;
  std::unique_ptr<char[]> read_buffer_;
  Clock::time_point now_;
  uint64_t serial_ = 0;
  std::vector<std::unique_ptr<AsyncDown>> downs_;
  AsyncUpstreamPool pool_;  // After read_buffer_, which it borrows.
};

}  // namespace iolab
