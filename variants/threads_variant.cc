#include "variants/threads_variant.h"

#include <fcntl.h>
#include <httplib.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <condition_variable>
#include <mutex>

#include "core/errors.h"
#include "variants/net.h"

namespace iolab {
namespace {

using Clock = std::chrono::steady_clock;

// cpp-httplib listens with a backlog of 5 (compiled in); a burst of hundreds of connects would
// then wait for SYN retransmits. listen() on a listening socket only updates its backlog.
constexpr int kBacklog = 4096;

// How often the watchdog looks for upstream calls past their deadline: their lateness.
constexpr auto kWatchdogTick = std::chrono::milliseconds(10);

// How long start() waits for the listener thread to reach httplib's accept loop.
constexpr auto kAcceptLoopStartLimit = std::chrono::seconds(10);

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

ThreadsVariant::ThreadsVariant(int threads, UpstreamOptions upstream)
    : threads_(threads), upstream_(std::move(upstream)) {}

ThreadsVariant::~ThreadsVariant() { stop(); }

std::string ThreadsVariant::name() const { return "threads:" + std::to_string(threads_); }

uint16_t ThreadsVariant::start(const Endpoint& listen) {
  server_ = std::make_unique<httplib::Server>();
  const int threads = threads_;
  // listen_internal() calls new_task_queue() once, right after it sets is_running(): from then
  // on httplib's stop() takes effect (before, it is a no-op), so this is where start() may return.
  server_->new_task_queue = [this, threads] {
    auto* pool = new httplib::ThreadPool(threads);
    set_listen_state(ListenState::kAccepting);
    return pool;
  };
  server_->set_tcp_nodelay(true);
  // Under load the next request follows at once; a short idle wait lets stop() return quickly.
  server_->set_keep_alive_timeout(1);
  int listen_fd = -1;
  server_->set_socket_options([&listen_fd](socket_t fd) {
    const int one = 1;
    ::setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    ::setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof one);
    listen_fd = fd;
  });
  server_->Get("/plaintext", [this](const httplib::Request&, httplib::Response& res) {
    const auto started = Clock::now();
    const GaugeHold hold(stats_.inflight);
    res.set_content(std::string(kPlaintextBody), "text/plain");
    stats_.record_answer(Route::kPlaintext, 200, Clock::now() - started);
  });
  server_->Get("/remote", [this](const httplib::Request&, httplib::Response& res) {
    const auto started = Clock::now();
    const GaugeHold hold(stats_.inflight);
    std::string body;
    int status = 200;
    handle_remote(body, status);
    res.status = status;
    res.set_content(body, "application/json");
    stats_.record_answer(Route::kRemote, status, Clock::now() - started);
  });

  int port = listen.port;
  if (port == 0) {
    port = server_->bind_to_any_port(listen.host);
  } else if (!server_->bind_to_port(listen.host, port)) {
    port = -1;
  }
  if (port <= 0) throw StartError("threads variant: cannot listen on " + listen.to_string());
  ::listen(listen_fd, kBacklog);
  // httplib closes its descriptor of the socket in stop() or when accept() fails; shutting down
  // our own duplicate ends the accept loop in every state without touching a number it may
  // have closed (and another thread reused) meanwhile.
  stop_fd_ = ::fcntl(listen_fd, F_DUPFD_CLOEXEC, 0);
  if (stop_fd_ < 0) throw StartError("threads variant: cannot duplicate the listening socket");

  watchdog_ = std::jthread([this](const std::stop_token& stop) { watch_deadlines(stop); });
  listener_ = std::jthread([this] {
    server_->listen_after_bind();
    set_listen_state(ListenState::kEnded);
  });
  std::unique_lock lock(listen_mutex_);
  const bool started = listen_changed_.wait_for(
      lock, kAcceptLoopStartLimit, [this] { return listen_state_ != ListenState::kStarting; });
  const bool accepting = listen_state_ == ListenState::kAccepting;
  lock.unlock();
  if (!accepting) {
    stop();
    throw StartError(started ? "threads variant: the accept loop ended at once"
                             : "threads variant: the accept loop did not start within 10 s");
  }
  return static_cast<uint16_t>(port);
}

void ThreadsVariant::set_listen_state(ListenState state) {
  {
    const std::lock_guard lock(listen_mutex_);
    listen_state_ = state;
  }
  listen_changed_.notify_all();
}

void ThreadsVariant::end_accept_loop() {
  // Once is_running() is true this closes httplib's descriptor, and the pool's keep-alive loops
  // end after their request in hand. Before, it does nothing: the shutdown below then makes the
  // accept loop's accept() fail (EINVAL) as soon as it is called, and it ends.
  server_->stop();
  if (stop_fd_ >= 0) ::shutdown(stop_fd_, SHUT_RDWR);
}

void ThreadsVariant::stop() {
  if (!server_) return;
  // The watchdog outlives the pool: a pool thread stuck in an upstream call is freed by it.
  end_accept_loop();
  if (listener_.joinable()) listener_.join();
  server_.reset();
  if (stop_fd_ >= 0) ::close(stop_fd_);
  stop_fd_ = -1;
  watchdog_.request_stop();
  if (watchdog_.joinable()) watchdog_.join();
  const std::lock_guard lock(calls_mutex_);
  calls_.clear();
}

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
