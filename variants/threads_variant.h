#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>

#include "variants/task_queue.h"
#include "variants/variant.h"

namespace iolab {

struct ThreadsUpstreamCall;
struct ThreadsConn;
class ThreadsHttp;

/// Flask with N threads, served as gunicorn's gthread worker serves it: a poller thread holds
/// the listener and the idle keep-alive connections; a connection that becomes readable is
/// queued for a pool of N threads (iolab's TaskQueue), and the thread that takes it reads one
/// request, answers it with cpp-httplib's request handling, and hands the connection back to the
/// poller. Each pool thread makes the upstream call with its own blocking httplib::Client
/// (keep-alive), so at most N requests per worker are in progress: the bound is N / delay.
///
/// Keep-alive is bounded by time, as gthread's `keepalive`: a connection idle for
/// kKeepAliveIdle is closed. A worker whose threads are all spoken for (running, queued, or
/// owed to a new connection) takes a new connection only every 10 ms, so that on a shared
/// listener a worker with a free thread takes it first (as nginx's accept_disabled does).
class ThreadsVariant final : public Variant {
 public:
  /// How long a keep-alive connection may stay idle between requests: gthread's default.
  static constexpr std::chrono::seconds kKeepAliveIdle{2};

  ThreadsVariant(int threads, UpstreamOptions upstream);
  ~ThreadsVariant() override;

  uint16_t serve(int listen_fd) override;
  void stop() override;
  /// Queue wait is the time from a connection becoming readable (or being accepted) to a pool
  /// thread taking it; `pool_busy` the threads running a request.
  const ServerStats& stats() const override { return stats_; }
  std::string name() const override;

  // For ThreadsHttp, on a pool thread.

  /// Answers /remote: calls the upstream with this thread's client.
  void handle_remote(std::string& body, int& status);

 private:
  void poll_loop(const std::stop_token& stop);
  void accept_ready(std::chrono::steady_clock::time_point now);
  /// Threads spoken for: running, queued, or owed to a new connection's first request.
  int load() const;
  void set_listening(bool on);
  /// Runs on a pool thread: one request of `conn`, then back to the poller or closed.
  void serve_request(ThreadsConn* conn);
  void close_conn(ThreadsConn* conn);
  void sweep_idle(std::chrono::steady_clock::time_point now);
  /// Ends upstream calls past their deadline (see UpstreamCall in the .cc); runs until stopped.
  void watch_deadlines(const std::stop_token& stop);
  void wake();

  int threads_;
  UpstreamOptions upstream_;
  ServerStats stats_;
  std::atomic<bool> stopping_{false};
  std::mutex calls_mutex_;
  std::vector<std::shared_ptr<ThreadsUpstreamCall>> calls_;  // One per pool thread that called.
  int listen_fd_ = -1;
  int epoll_fd_ = -1;
  int wake_fd_ = -1;
  bool listening_ = false;  // The listener is in the epoll set; poller thread only.
  std::chrono::steady_clock::time_point accept_resume_;   // After running out of descriptors.
  std::chrono::steady_clock::time_point busy_accept_at_;  // Next accept while every thread is
                                                          // spoken for.
  int fresh_ = 0;  // Connections accepted whose first request has not come; poller thread only.
  std::mutex conns_mutex_;
  std::vector<std::unique_ptr<ThreadsConn>> conns_;  // By fd; guarded by conns_mutex_.
  std::atomic<int> open_{0};
  std::unique_ptr<ThreadsHttp> http_;
  std::unique_ptr<TaskQueue> pool_;
  std::jthread watchdog_;
  std::jthread poller_;
};

}  // namespace iolab
