#include "variants/threads_variant.h"

#include <httplib.h>
#include <sys/socket.h>

#include <chrono>

#include "core/errors.h"
#include "variants/net.h"

namespace iolab {
namespace {

using Clock = std::chrono::steady_clock;

// cpp-httplib listens with a backlog of 5 (compiled in); a burst of hundreds of connects would
// then wait for SYN retransmits. listen() on a listening socket only updates its backlog.
constexpr int kBacklog = 4096;

// Each pool thread keeps one upstream client for its whole life; `owner` guards against a
// thread that outlives one variant and serves another (tests run several in one process).
struct ThreadClient {
  const void* owner = nullptr;
  std::unique_ptr<httplib::Client> client;
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
  server_->new_task_queue = [threads] { return new httplib::ThreadPool(threads); };
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

  listener_ = std::jthread([this] { server_->listen_after_bind(); });
  // stop() is a no-op until the accept loop runs, so do not return before it does.
  const auto deadline = Clock::now() + 5s;
  while (!server_->is_running()) {
    if (Clock::now() > deadline) throw StartError("threads variant: accept loop did not start");
    std::this_thread::sleep_for(1ms);
  }
  return static_cast<uint16_t>(port);
}

void ThreadsVariant::stop() {
  if (!server_) return;
  server_->stop();
  if (listener_.joinable()) listener_.join();
  server_.reset();
}

void ThreadsVariant::handle_remote(std::string& body, int& status) {
  if (t_client.owner != this || !t_client.client) {
    const Endpoint& up = upstream_.url.endpoint;
    t_client.client = std::make_unique<httplib::Client>(up.host, up.port);
    t_client.owner = this;
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
  // httplib's read timeout bounds each read, not the answer: an upstream that trickles its body
  // a byte at a time would hold the thread for ever. The progress callback, called after each
  // read of the body, ends the call at the deadline (httplib then reports Canceled).
  const auto deadline = started + upstream_.timeout;
  const httplib::Result res = t_client.client->Get(
      upstream_.url.target, [deadline](uint64_t, uint64_t) { return Clock::now() < deadline; });
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
