#pragma once

#include <httplib.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>

#include "core/endpoint.h"

namespace iolab {

/// What one client can make the API hold, and for how long (docs/robustness.md).
struct ApiServerLimits {
  /// Open connections; one more is answered 503 `too_many_connections` and closed.
  int max_connections = 512;
  /// From the first byte of a request to its last body byte; past it: 408 and close.
  std::chrono::milliseconds request_timeout{10000};
  /// A kept-alive connection with no request in it is closed after this.
  std::chrono::milliseconds idle_timeout{5000};
  /// An answer not taken by its client within this is dropped with the connection.
  std::chrono::milliseconds write_timeout{10000};
  /// A request head (request line and headers) longer than this: 431 and close.
  size_t max_head_bytes = 16 * 1024;
  /// A body longer than this is answered 413 by the routes' server (payload max length).
  size_t max_body_bytes = 1 << 20;
  /// Request bodies held at once over every connection; past it: 503 and close.
  size_t body_budget_bytes = 64 << 20;
  /// Requests served on one connection before it is closed.
  int max_requests_per_connection = 1000;
  /// Threads that run the routes' handlers; they only ever see whole requests.
  int handler_threads = 8;
  /// The kernel's queue of connections not yet accepted (capped by net.core.somaxconn).
  int backlog = 4096;
};

/// The REST API's HTTP server: cpp-httplib's routing and handlers (routes()) behind an acceptor
/// of its own. One thread owns every connection while it waits for a request, reads each request
/// head and body whole (epoll, non-blocking, under the limits above) and writes answers out to
/// slow readers; a fixed pool of handler threads runs httplib's request processing on requests
/// already in memory. A client that sends slowly, reads slowly or opens many connections holds a
/// descriptor and a bounded buffer for a bounded time, never a handler thread: the API's
/// /healthz keeps answering with hundreds of such connections open.
///
/// Thread safety: routes() is configured before start(); start() and stop() from the owner.
class ApiServer {
 public:
  explicit ApiServer(ApiServerLimits limits);
  ~ApiServer();
  ApiServer(const ApiServer&) = delete;
  ApiServer& operator=(const ApiServer&) = delete;

  /// The routes and handlers (httplib's API), to configure before start().
  httplib::Server& routes();

  /// Binds and listens on `endpoint` (port 0: a free port) with the backlog. Returns the port.
  /// Throws StartError.
  uint16_t bind(const Endpoint& endpoint);
  /// Starts the acceptor and the handler threads. Connections are taken from the moment bind()
  /// returned (the kernel queues them). Call once, after bind().
  void start();
  /// Closes the listener and every connection; returns once no handler runs. Idempotent.
  void stop();

  /// Connections open now (being read, handled or written). Any thread.
  int open_connections() const { return open_.load(std::memory_order_relaxed); }
  /// Connections refused (503) because max_connections were open. Any thread.
  uint64_t refused_connections() const { return refused_.load(std::memory_order_relaxed); }

  struct Connection;

 private:
  class Router;

  void poll_loop();
  void handler_loop(std::stop_token stop);
  void accept_all();
  void on_readable(Connection& c);
  void on_writable(Connection& c);
  void after_input(Connection& c);
  void hand_off(Connection& c);
  void take_back();
  void expire_deadlines();
  void answer_and_close(Connection& c, const std::string& answer);
  void close_connection(int fd);
  void serve(std::unique_ptr<Connection> c);

  ApiServerLimits limits_;
  std::unique_ptr<Router> router_;
  int listen_fd_ = -1;
  int epoll_fd_ = -1;
  int wake_fd_ = -1;
  std::atomic<bool> stopping_{false};
  std::atomic<int> open_{0};
  std::atomic<uint64_t> refused_{0};
  std::atomic<size_t> body_bytes_{0};
  bool listener_paused_ = false;
  std::chrono::steady_clock::time_point listener_resume_;
  std::chrono::steady_clock::time_point next_expiry_scan_;

  // Connections the acceptor owns, by descriptor.
  std::vector<std::unique_ptr<Connection>> by_fd_;

  // Whole requests waiting for a handler, and connections the handlers give back.
  std::mutex mutex_;
  std::condition_variable_any work_ready_;
  std::deque<std::unique_ptr<Connection>> work_;
  std::vector<std::unique_ptr<Connection>> returned_;

  std::vector<std::jthread> handlers_;
  std::jthread poller_;
  bool started_ = false;
  bool stopped_ = false;
};

}  // namespace iolab
