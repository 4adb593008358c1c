#include "variants/threads_variant.h"

#include <httplib.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <condition_variable>
#include <mutex>

#include "core/errors.h"
#include "variants/net.h"

namespace iolab {
namespace {

using Clock = std::chrono::steady_clock;

// How often the watchdog looks for upstream calls past their deadline: their lateness.
constexpr auto kWatchdogTick = std::chrono::milliseconds(10);
// How often the poller looks for connections idle past the keep-alive limit.
constexpr auto kSweepTick = std::chrono::milliseconds(250);
// A request's head and body must arrive within this once its first byte has (httplib's default).
constexpr int kReadTimeoutMs = 5000;
constexpr int kWriteTimeoutMs = 5000;
constexpr size_t kReadChunk = 16 * 1024;

// A worker whose threads are all spoken for takes one more connection at most this often, so
// that a worker with a free thread takes it first (nginx's accept_disabled, in time).
constexpr auto kBusyAcceptDelay = std::chrono::milliseconds(10);

bool wait_fd(int fd, short events, int timeout_ms) {
  pollfd p{fd, events, 0};
  for (;;) {
    const int n = ::poll(&p, 1, timeout_ms);
    if (n < 0 && errno == EINTR) continue;
    return n == 1;
  }
}

}  // namespace

// httplib's read timeout bounds each read, not the call: an upstream that sends its answer a
// byte at a time, status line included, held a pool thread for as long as it kept sending. Each
// pool thread's call is registered with its deadline, and a watchdog thread stops the client of
// a call past it (httplib's Client::stop() may be called from another thread); the call then
// fails, and is counted as a timeout by the clock.
struct ThreadsUpstreamCall {
  std::mutex mutex;
  httplib::Client* client = nullptr;                      // Guarded; null once it is gone.
  Clock::time_point deadline = Clock::time_point::max();  // Guarded; max while no call runs.
};

/// One client connection: owned by the poller while idle (armed in epoll, one-shot), by one pool
/// thread from its readiness until it is handed back.
struct ThreadsConn {
  int fd = -1;
  std::string in;  // bytes read past the request in hand (a pipelined next one)
  size_t in_pos = 0;
  bool idle = false;   // guarded by ThreadsVariant::conns_mutex_
  bool fresh = false;  // accepted, no request yet; poller thread only
  Clock::time_point idle_since;
};

namespace {

// cpp-httplib's request handling over a connection the pool thread owns: reads through the
// connection's own buffer (httplib reads a request head byte by byte) with a deadline, writes
// all or fails.
class ConnStream final : public httplib::Stream {
 public:
  explicit ConnStream(ThreadsConn& conn) : conn_(conn) {}

  bool is_readable() const override {
    return conn_.in_pos < conn_.in.size() || wait_fd(conn_.fd, POLLIN, kReadTimeoutMs);
  }
  bool is_writable() const override { return wait_fd(conn_.fd, POLLOUT, kWriteTimeoutMs); }

  ssize_t read(char* ptr, size_t size) override {
    if (conn_.in_pos == conn_.in.size()) {
      conn_.in.clear();
      conn_.in_pos = 0;
      char buf[kReadChunk];
      for (;;) {
        const ssize_t n = ::recv(conn_.fd, buf, sizeof buf, 0);
        if (n > 0) {
          conn_.in.append(buf, static_cast<size_t>(n));
          break;
        }
        if (n == 0) return 0;
        if (errno == EINTR) continue;
        if (errno != EAGAIN || !wait_fd(conn_.fd, POLLIN, kReadTimeoutMs)) return -1;
      }
    }
    const size_t n = std::min(size, conn_.in.size() - conn_.in_pos);
    std::copy_n(conn_.in.data() + conn_.in_pos, n, ptr);
    conn_.in_pos += n;
    return static_cast<ssize_t>(n);
  }

  ssize_t write(const char* ptr, size_t size) override {
    size_t sent = 0;
    while (sent < size) {
      const ssize_t n = ::send(conn_.fd, ptr + sent, size - sent, MSG_NOSIGNAL);
      if (n > 0) {
        sent += static_cast<size_t>(n);
      } else if (n < 0 && errno == EINTR) {
        continue;
      } else if (n < 0 && errno == EAGAIN && wait_fd(conn_.fd, POLLOUT, kWriteTimeoutMs)) {
        continue;
      } else {
        return -1;
      }
    }
    return static_cast<ssize_t>(size);
  }

  void get_remote_ip_and_port(std::string& ip, int& port) const override {
    address(::getpeername, ip, port);
  }
  void get_local_ip_and_port(std::string& ip, int& port) const override {
    address(::getsockname, ip, port);
  }
  socket_t socket() const override { return conn_.fd; }

 private:
  template <typename Get>
  void address(Get get, std::string& ip, int& port) const {
    sockaddr_in addr{};
    socklen_t len = sizeof addr;
    if (get(conn_.fd, reinterpret_cast<sockaddr*>(&addr), &len) != 0) return;
    char text[INET_ADDRSTRLEN] = {};
    ::inet_ntop(AF_INET, &addr.sin_addr, text, sizeof text);
    ip = text;
    port = ntohs(addr.sin_port);
  }

  ThreadsConn& conn_;
};

}  // namespace

/// cpp-httplib's routing and answer writing, one request at a time: the pool thread, not
/// httplib's accept loop, decides which connection it reads next.
class ThreadsHttp final : public httplib::Server {
 public:
  explicit ThreadsHttp(ThreadsVariant& variant, ServerStats& stats) {
    set_keep_alive_timeout(ThreadsVariant::kKeepAliveIdle.count());
    // Keep-alive is bounded by idle time, not by a count (the Keep-Alive header says so).
    set_keep_alive_max_count(1'000'000'000);
    Get("/plaintext", [&stats](const httplib::Request&, httplib::Response& res) {
      const auto started = Clock::now();
      const GaugeHold hold(stats.inflight);
      res.set_content(std::string(kPlaintextBody), "text/plain");
      stats.record_answer(Route::kPlaintext, 200, Clock::now() - started);
    });
    Get("/remote", [&variant, &stats](const httplib::Request&, httplib::Response& res) {
      const auto started = Clock::now();
      const GaugeHold hold(stats.inflight);
      std::string body;
      int status = 200;
      variant.handle_remote(body, status);
      res.status = status;
      res.set_content(body, "application/json");
      stats.record_answer(Route::kRemote, status, Clock::now() - started);
    });
  }

  /// Reads and answers one request from `stream`. False when the connection is done (closed by
  /// the peer, unreadable, or answered with Connection: close).
  bool serve_one(httplib::Stream& stream) {
    bool closed = false;
    const bool ok = process_request(stream, false, closed, nullptr);
    return ok && !closed;
  }
};

ThreadsVariant::ThreadsVariant(int threads, UpstreamOptions upstream)
    : threads_(threads), upstream_(std::move(upstream)) {}

ThreadsVariant::~ThreadsVariant() { stop(); }

std::string ThreadsVariant::name() const { return "threads:" + std::to_string(threads_); }

uint16_t ThreadsVariant::serve(int listen_fd) {
  listen_fd_ = listen_fd;
  const uint16_t port = bound_port(listen_fd);
  epoll_fd_ = ::epoll_create1(EPOLL_CLOEXEC);
  wake_fd_ = ::eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
  if (epoll_fd_ < 0 || wake_fd_ < 0) {
    stop();
    throw StartError("threads variant: epoll set-up failed");
  }
  epoll_event ev{};
  ev.events = EPOLLIN;
  ev.data.fd = wake_fd_;
  ::epoll_ctl(epoll_fd_, EPOLL_CTL_ADD, wake_fd_, &ev);
  ev.events = 0;
  ev.data.fd = listen_fd_;
  ::epoll_ctl(epoll_fd_, EPOLL_CTL_ADD, listen_fd_, &ev);
  set_listening(true);
  stats_.pool_threads.store(threads_, std::memory_order_relaxed);
  http_ = std::make_unique<ThreadsHttp>(*this, stats_);
  pool_ = std::make_unique<TaskQueue>(threads_, stats_.queue_wait, stats_.pool_busy,
                                      stats_.pool_queued);
  watchdog_ = std::jthread([this](const std::stop_token& stop) { watch_deadlines(stop); });
  // The listener is in the epoll set and listening: connections queue in its backlog until the
  // poller's first epoll_wait, and a stop() before that is seen through the eventfd.
  poller_ = std::jthread([this](const std::stop_token& stop) { poll_loop(stop); });
  return port;
}

void ThreadsVariant::wake() {
  const uint64_t one = 1;
  [[maybe_unused]] const auto n = ::write(wake_fd_, &one, sizeof one);
}

void ThreadsVariant::set_listening(bool on) {
  if (listening_ == on) return;
  listening_ = on;
  epoll_event ev{};
  ev.events = on ? EPOLLIN : 0u;
  ev.data.fd = listen_fd_;
  ::epoll_ctl(epoll_fd_, EPOLL_CTL_MOD, listen_fd_, &ev);
}

void ThreadsVariant::poll_loop(const std::stop_token& stop) {
  std::vector<epoll_event> events(1024);
  auto next_sweep = Clock::now() + kSweepTick;
  while (!stop.stop_requested()) {
    const auto tick = listening_ ? kSweepTick : Clock::duration(kBusyAcceptDelay);
    const int n =
        ::epoll_wait(epoll_fd_, events.data(), static_cast<int>(events.size()),
                     static_cast<int>(std::chrono::ceil<std::chrono::milliseconds>(tick).count()));
    if (n < 0 && errno != EINTR) return;
    const auto now = Clock::now();
    for (int i = 0; i < n; ++i) {
      const int fd = events[i].data.fd;
      if (fd == listen_fd_) {
        accept_ready(now);
      } else if (fd == wake_fd_) {
        uint64_t value = 0;
        [[maybe_unused]] const auto r = ::read(wake_fd_, &value, sizeof value);
      } else {
        ThreadsConn* conn = nullptr;
        {
          const std::lock_guard lock(conns_mutex_);
          conn = static_cast<size_t>(fd) < conns_.size() ? conns_[static_cast<size_t>(fd)].get()
                                                         : nullptr;
          if (conn == nullptr || !conn->idle) continue;
          conn->idle = false;
        }
        if (conn->fresh) {
          conn->fresh = false;
          --fresh_;
        }
        pool_->push([this, conn] { serve_request(conn); }, now);
      }
    }
    // Listen again once out of a pause (descriptors ran out, or every thread is spoken for).
    set_listening(now >= accept_resume_ && (now >= busy_accept_at_ || load() < threads_));
    if (now >= next_sweep) {
      sweep_idle(now);
      next_sweep = now + kSweepTick;
    }
  }
}

int ThreadsVariant::load() const {
  return fresh_ + static_cast<int>(pool_->waiting()) +
         static_cast<int>(stats_.pool_busy.load(std::memory_order_relaxed));
}

void ThreadsVariant::accept_ready(Clock::time_point now) {
  for (;;) {
    // Every thread spoken for (running, queued, or a new connection's first request to come):
    // leave the next connection to a worker with a free thread for a while, then take one, so
    // that no client waits in the backlog for long.
    const bool room = load() < threads_;
    if (!room) {
      if (now < busy_accept_at_) return set_listening(false);
      busy_accept_at_ = now + kBusyAcceptDelay;
    }
    const int fd = ::accept4(listen_fd_, nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (fd < 0) {
      // Out of descriptors the listener stays readable; level-triggered, it would wake every
      // epoll_wait at once. The backlog keeps the rest while it is out of the set.
      if (accept_starved(errno)) {
        accept_resume_ = now + kAcceptPause;
        set_listening(false);
      }
      return;
    }
    set_nodelay(fd);
    ThreadsConn* conn = nullptr;
    {
      const std::lock_guard lock(conns_mutex_);
      if (static_cast<size_t>(fd) >= conns_.size()) conns_.resize(static_cast<size_t>(fd) + 1024);
      auto& slot = conns_[static_cast<size_t>(fd)];
      slot = std::make_unique<ThreadsConn>();
      slot->fd = fd;
      slot->idle = true;
      slot->fresh = true;
      slot->idle_since = now;
      conn = slot.get();
    }
    ++fresh_;
    open_.fetch_add(1, std::memory_order_relaxed);
    stats_.open_connections.fetch_add(1, std::memory_order_relaxed);
    epoll_event ev{};
    ev.events = EPOLLIN | EPOLLRDHUP | EPOLLONESHOT;
    ev.data.fd = conn->fd;
    ::epoll_ctl(epoll_fd_, EPOLL_CTL_ADD, conn->fd, &ev);
    if (!room) return set_listening(false);
  }
}

void ThreadsVariant::serve_request(ThreadsConn* conn) {
  ConnStream stream(*conn);
  const bool keep = http_->serve_one(stream) && !stopping_.load(std::memory_order_relaxed);
  if (!keep) return close_conn(conn);
  if (conn->in_pos < conn->in.size()) {
    // A pipelined request is already read: it is ready now.
    pool_->push([this, conn] { serve_request(conn); }, Clock::now());
    return;
  }
  {
    const std::lock_guard lock(conns_mutex_);
    conn->idle = true;
    conn->idle_since = Clock::now();
  }
  epoll_event ev{};
  ev.events = EPOLLIN | EPOLLRDHUP | EPOLLONESHOT;
  ev.data.fd = conn->fd;
  ::epoll_ctl(epoll_fd_, EPOLL_CTL_MOD, conn->fd, &ev);
}

void ThreadsVariant::close_conn(ThreadsConn* conn) {
  const int fd = conn->fd;
  {
    const std::lock_guard lock(conns_mutex_);
    ::close(fd);  // also leaves the epoll set; under the lock, so that fd is not reused meanwhile
    conns_[static_cast<size_t>(fd)].reset();
  }
  stats_.open_connections.fetch_sub(1, std::memory_order_relaxed);
  open_.fetch_sub(1, std::memory_order_relaxed);
}

void ThreadsVariant::sweep_idle(Clock::time_point now) {
  std::vector<ThreadsConn*> expired;
  {
    const std::lock_guard lock(conns_mutex_);
    for (const auto& conn : conns_) {
      if (conn && conn->idle && now - conn->idle_since >= kKeepAliveIdle) {
        conn->idle = false;  // ours now: no event hands it to the pool
        expired.push_back(conn.get());
      }
    }
  }
  for (ThreadsConn* conn : expired) {
    if (conn->fresh) --fresh_;
    close_conn(conn);
  }
}

void ThreadsVariant::stop() {
  if (!poller_.joinable() && listen_fd_ < 0) return;
  stopping_.store(true, std::memory_order_relaxed);
  if (poller_.joinable()) {
    poller_.request_stop();
    wake();
    poller_.join();
  }
  {
    // Pool threads reading or writing a connection, or waiting on the upstream, return at once.
    const std::lock_guard lock(conns_mutex_);
    for (const auto& conn : conns_) {
      if (conn) ::shutdown(conn->fd, SHUT_RDWR);
    }
  }
  {
    const std::lock_guard lock(calls_mutex_);
    for (const auto& call : calls_) {
      const std::lock_guard call_lock(call->mutex);
      if (call->client != nullptr) call->client->stop();
    }
  }
  if (pool_) pool_->shutdown();
  watchdog_.request_stop();
  if (watchdog_.joinable()) watchdog_.join();
  {
    const std::lock_guard lock(conns_mutex_);
    for (auto& conn : conns_) {
      if (conn) ::close(conn->fd);
      conn.reset();
    }
  }
  open_.store(0, std::memory_order_relaxed);
  stats_.open_connections.store(0, std::memory_order_relaxed);
  pool_.reset();
  http_.reset();
  {
    const std::lock_guard lock(calls_mutex_);
    calls_.clear();
  }
  for (int* fd : {&listen_fd_, &epoll_fd_, &wake_fd_}) {
    if (*fd >= 0) ::close(*fd);
    *fd = -1;
  }
}

namespace {

// Each pool thread keeps one upstream client for its whole life; `owner` guards against a
// thread that outlives one variant and serves another (tests run several in one process).
struct ThreadClient {
  const void* owner = nullptr;
  std::unique_ptr<httplib::Client> client;
  std::shared_ptr<ThreadsUpstreamCall> call;

  // The watchdog must not stop a client that is gone.
  void forget() {
    if (!call) return;
    const std::lock_guard lock(call->mutex);
    call->client = nullptr;
  }
  ~ThreadClient() { forget(); }
};
thread_local ThreadClient t_client;

template <typename Rep, typename Period>
std::pair<time_t, time_t> split(std::chrono::duration<Rep, Period> d) {
  const auto us = std::chrono::duration_cast<std::chrono::microseconds>(d).count();
  return {static_cast<time_t>(us / 1'000'000), static_cast<time_t>(us % 1'000'000)};
}

}  // namespace

void ThreadsVariant::watch_deadlines(const std::stop_token& stop) {
  std::mutex sleep_mutex;
  std::condition_variable_any tick;
  while (!stop.stop_requested()) {
    {
      std::unique_lock sleep(sleep_mutex);
      tick.wait_for(sleep, stop, kWatchdogTick, [] { return false; });
    }
    const auto now = Clock::now();
    const std::lock_guard lock(calls_mutex_);
    for (const auto& call : calls_) {
      const std::lock_guard call_lock(call->mutex);
      if (call->client != nullptr && now >= call->deadline) {
        call->client->stop();
        call->deadline = Clock::time_point::max();
      }
    }
  }
}

void ThreadsVariant::handle_remote(std::string& body, int& status) {
  if (t_client.owner != this || !t_client.client) {
    t_client.forget();
    const Endpoint& up = upstream_.url.endpoint;
    t_client.client = std::make_unique<httplib::Client>(up.host, up.port);
    t_client.owner = this;
    t_client.call = std::make_shared<ThreadsUpstreamCall>();
    t_client.call->client = t_client.client.get();
    {
      const std::lock_guard lock(calls_mutex_);
      calls_.push_back(t_client.call);
    }
    auto& c = *t_client.client;
    c.set_keep_alive(true);
    c.set_tcp_nodelay(true);
    const auto [cs, cus] = split(upstream_.connect_timeout);
    c.set_connection_timeout(cs, cus);
    const auto [rs, rus] = split(upstream_.timeout);
    c.set_read_timeout(rs, rus);
    c.set_write_timeout(rs, rus);
  }
  if (stopping_.load(std::memory_order_relaxed)) {
    status = 502;
    stats_.upstream_failures.fetch_add(1, std::memory_order_relaxed);
    body = upstream_error_body(false, "the server is stopping");
    return;
  }
  const auto started = Clock::now();
  ThreadsUpstreamCall& call = *t_client.call;
  {
    const std::lock_guard lock(call.mutex);
    call.deadline = started + upstream_.timeout;
  }
  const httplib::Result res = t_client.client->Get(upstream_.url.target);
  {
    const std::lock_guard lock(call.mutex);
    call.deadline = Clock::time_point::max();
  }
  stats_.upstream.record(Clock::now() - started);
  if (!res) {
    const auto err = res.error();
    // httplib reports a read timeout as a read error; the clock tells them apart.
    const bool timed_out =
        err == httplib::Error::ConnectionTimeout || err == httplib::Error::Canceled ||
        (err == httplib::Error::Read && Clock::now() - started >= upstream_.timeout * 95 / 100);
    status = timed_out ? 504 : 502;
    (timed_out ? stats_.upstream_timeouts : stats_.upstream_failures)
        .fetch_add(1, std::memory_order_relaxed);
    body = upstream_error_body(timed_out, httplib::to_string(err));
    t_client.client->stop();
    return;
  }
  status = remote_status(res->status);
  if (status != 200) stats_.upstream_failures.fetch_add(1, std::memory_order_relaxed);
  body = remote_body(res->status, res->body.size());
}

}  // namespace iolab
