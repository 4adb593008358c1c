#include "loadgen/engine.h"

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <httplib.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <functional>
#include <string>
#include <thread>
#include <vector>

namespace iolab {
namespace {

using Clock = std::chrono::steady_clock;

Url url_for(int port, std::string target = "/") {
  Url url;
  url.endpoint.host = "127.0.0.1";
  url.endpoint.port = static_cast<uint16_t>(port);
  url.host_header = url.endpoint.to_string();
  url.target = std::move(target);
  return url;
}

LoadSpec spec_for(int port, int connections, int threads) {
  LoadSpec spec;
  spec.target = url_for(port);
  spec.connections = connections;
  spec.threads = threads;
  spec.duration = 500ms;
  spec.timeout = 2s;
  return spec;
}

// Polls `ready` until it holds or the deadline passes.
bool wait_for(const std::function<bool()>& ready, std::chrono::milliseconds limit = 5s) {
  const auto deadline = Clock::now() + limit;
  while (!ready()) {
    if (Clock::now() >= deadline) return false;
    std::this_thread::sleep_for(1ms);
  }
  return true;
}

// An httplib server on 127.0.0.1:0 that counts the requests it handles.
class CountingServer {
 public:
  explicit CountingServer(int status = 200) {
    server_.set_tcp_nodelay(true);
    server_.set_keep_alive_max_count(1'000'000);
    // httplib holds a pool thread per kept-alive connection; give every test connection one.
    server_.new_task_queue = [] { return new httplib::ThreadPool(16); };
    server_.Get("/", [this, status](const httplib::Request&, httplib::Response& res) {
      handled_.fetch_add(1, std::memory_order_relaxed);
      res.status = status;
      res.set_content("hello", "text/plain");
    });
    port_ = server_.bind_to_any_port("127.0.0.1");
    thread_ = std::jthread([this] { server_.listen_after_bind(); });
    EXPECT_TRUE(wait_for([this] { return server_.is_running(); }));
  }
  ~CountingServer() { server_.stop(); }

  int port() const { return port_; }
  uint64_t handled() const { return handled_.load(std::memory_order_relaxed); }

 private:
  httplib::Server server_;
  std::atomic<uint64_t> handled_{0};
  int port_ = 0;
  std::jthread thread_;
};

// A single-threaded raw-socket server for misbehaving peers. For every request head it reads
// ("...\r\n\r\n"), it calls the handler with the client socket; the handler writes what it likes
// and returns false to close the connection.
class RawServer {
 public:
  using Handler = std::function<bool(int fd)>;

  explicit RawServer(Handler handler) : handler_(std::move(handler)) {
    listen_fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    const int one = 1;
    ::setsockopt(listen_fd_, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    EXPECT_EQ(::bind(listen_fd_, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)), 0);
    EXPECT_EQ(::listen(listen_fd_, 1024), 0);
    socklen_t len = sizeof(addr);
    ::getsockname(listen_fd_, reinterpret_cast<sockaddr*>(&addr), &len);
    port_ = ntohs(addr.sin_port);
    // Listening already: connections queue until the loop accepts them, so no wait is needed.
    thread_ = std::jthread([this](const std::stop_token& stop) { loop(stop); });
  }
  ~RawServer() {
    thread_.request_stop();
    thread_.join();
    for (const Client& c : clients_) ::close(c.fd);
    ::close(listen_fd_);
  }

  int port() const { return port_; }
  uint64_t requests() const { return requests_.load(std::memory_order_relaxed); }
  uint64_t accepted() const { return accepted_.load(std::memory_order_relaxed); }

  static void send_all(int fd, std::string_view bytes) {
    while (!bytes.empty()) {
      const ssize_t n = ::send(fd, bytes.data(), bytes.size(), MSG_NOSIGNAL);
      if (n <= 0) return;
      bytes.remove_prefix(static_cast<size_t>(n));
    }
  }

 private:
  struct Client {
    int fd;
    std::string pending;
  };

  void loop(const std::stop_token& stop) {
    std::vector<pollfd> fds;
    char buffer[4096];
    while (!stop.stop_requested()) {
      fds.clear();
      fds.push_back({listen_fd_, POLLIN, 0});
      for (const Client& c : clients_) fds.push_back({c.fd, POLLIN, 0});
      if (::poll(fds.data(), fds.size(), 10) <= 0) continue;
      if ((fds[0].revents & POLLIN) != 0) {
        const int fd = ::accept4(listen_fd_, nullptr, nullptr, SOCK_CLOEXEC);
        if (fd >= 0) {
          accepted_.fetch_add(1, std::memory_order_relaxed);
          clients_.push_back({fd, {}});
        }
      }
      std::vector<Client> kept;
      for (size_t i = 0; i + 1 < fds.size(); ++i) {
        Client& c = clients_[i];
        bool open = true;
        if ((fds[i + 1].revents & (POLLIN | POLLHUP | POLLERR)) != 0) {
          const ssize_t n = ::recv(c.fd, buffer, sizeof(buffer), 0);
          if (n <= 0) {
            open = false;
          } else {
            c.pending.append(buffer, static_cast<size_t>(n));
            size_t end;
            while (open && (end = c.pending.find("\r\n\r\n")) != std::string::npos) {
              c.pending.erase(0, end + 4);
              requests_.fetch_add(1, std::memory_order_relaxed);
              open = handler_(c.fd);
            }
          }
        }
        if (open) {
          kept.push_back(std::move(c));
        } else {
          ::close(c.fd);
        }
      }
      for (size_t i = fds.size() - 1; i < clients_.size(); ++i)
        kept.push_back(std::move(clients_[i]));
      clients_ = std::move(kept);
    }
  }

  Handler handler_;
  std::vector<Client> clients_;
  std::atomic<uint64_t> requests_{0};
  std::atomic<uint64_t> accepted_{0};
  int listen_fd_ = -1;
  int port_ = 0;
  std::jthread thread_;
};

// A port with nothing listening on it: bound once to learn a free number, then released.
int closed_port() {
  const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  EXPECT_EQ(::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)), 0);
  socklen_t len = sizeof(addr);
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len);
  ::close(fd);
  return ntohs(addr.sin_port);
}

TEST(EngineTest, SendsExactlyMaxRequestsAndGetsEveryAnswer) {
  CountingServer server;
  LoadSpec spec = spec_for(server.port(), 8, 2);
  spec.duration = 10s;
  spec.max_requests = 500;
  const auto started = Clock::now();
  const LoadResult result = run_load(spec);
  EXPECT_LT(Clock::now() - started, 5s) << "a bounded run ends when its requests are answered";
  EXPECT_EQ(result.requests, 500u);
  EXPECT_EQ(result.latency.count(), 500u);
  EXPECT_EQ(result.errors.total(), 0u);
  EXPECT_TRUE(wait_for([&] { return server.handled() >= 500; }));
  EXPECT_EQ(server.handled(), 500u);
  EXPECT_GT(result.latency.min().count(), 0);
}

TEST(EngineTest, CountsWhatTheServerHandledInADurationRun) {
  CountingServer server;
  const LoadSpec spec = spec_for(server.port(), 4, 2);
  const LoadResult result = run_load(spec);
  const uint64_t handled = server.handled();
  EXPECT_GT(result.requests, 0u);
  EXPECT_EQ(result.errors.total(), 0u);
  EXPECT_LE(result.requests, handled);
  EXPECT_LE(handled, result.requests + static_cast<uint64_t>(spec.connections));
  EXPECT_GE(result.elapsed, spec.duration);
  EXPECT_LT(result.elapsed, spec.duration + 50ms);
  EXPECT_GT(result.rps(), 0.0);
  std::printf("[          ] httplib -t2 -c4: %.0f req/s, p50 %.1f us, p99 %.1f us\n", result.rps(),
              static_cast<double>(result.latency.percentile(50).count()) / 1e3,
              static_cast<double>(result.latency.percentile(99).count()) / 1e3);
}

TEST(EngineTest, ThrowsRunErrorWhenTheTargetRefusesTheProbe) {
  const int port = closed_port();
  try {
    (void)run_load(spec_for(port, 2, 1));
    FAIL() << "expected RunError";
  } catch (const RunError& e) {
    EXPECT_EQ(std::string(e.what()),
              "cannot connect to 127.0.0.1:" + std::to_string(port) + ": Connection refused");
  }
}

TEST(EngineTest, RejectsAnInvalidSpecNamingTheField) {
  CountingServer server;
  const auto message_of = [&](const LoadSpec& spec) -> std::string {
    try {
      (void)run_load(spec);
    } catch (const RunError& e) {
      return e.what();
    }
    return "";
  };
  LoadSpec spec = spec_for(server.port(), 0, 1);
  EXPECT_NE(message_of(spec).find("connections"), std::string::npos);
  spec = spec_for(server.port(), 2, 0);
  EXPECT_NE(message_of(spec).find("threads"), std::string::npos);
  spec = spec_for(server.port(), 2, 1);
  spec.duration = 0s;
  EXPECT_NE(message_of(spec).find("duration"), std::string::npos);
  spec = spec_for(server.port(), 2, 1);
  spec.timeout = 0s;
  EXPECT_NE(message_of(spec).find("timeout"), std::string::npos);
}

TEST(EngineTest, ClampsThreadsToConnections) {
  CountingServer server;
  LoadSpec spec = spec_for(server.port(), 2, 8);
  spec.max_requests = 50;
  const LoadResult result = run_load(spec);
  EXPECT_EQ(result.spec.threads, 2);
  EXPECT_EQ(result.requests, 50u);
}

TEST(EngineTest, ReconnectsWithoutErrorsWhenTheServerClosesAfterEachAnswer) {
  RawServer server([](int fd) {
    RawServer::send_all(fd, "HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok");
    return false;
  });
  LoadSpec spec = spec_for(server.port(), 4, 2);
  spec.duration = 300ms;
  const LoadResult result = run_load(spec);
  EXPECT_GT(result.requests, 10u);
  EXPECT_GT(result.reconnects, 0u);
  EXPECT_EQ(result.errors.read, 0u);
  EXPECT_EQ(result.errors.total(), 0u);
}

TEST(EngineTest, ReconnectsWithoutErrorsWhenTheServerJustClosesBetweenAnswers) {
  // No "Connection: close": the next request is already on its way when the EOF arrives.
  RawServer server([](int fd) {
    RawServer::send_all(fd, "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok");
    return false;
  });
  LoadSpec spec = spec_for(server.port(), 4, 2);
  spec.duration = 300ms;
  spec.max_requests = 200;
  const LoadResult result = run_load(spec);
  EXPECT_EQ(result.requests, 200u);
  EXPECT_GT(result.reconnects, 0u);
  EXPECT_EQ(result.errors.total(), 0u);
}

TEST(EngineTest, CompletesCloseDelimitedAnswers) {
  RawServer server([](int fd) {
    RawServer::send_all(fd, "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n\r\nuntil close");
    return false;
  });
  LoadSpec spec = spec_for(server.port(), 2, 1);
  spec.max_requests = 50;
  const LoadResult result = run_load(spec);
  EXPECT_EQ(result.requests, 50u);
  EXPECT_EQ(result.errors.total(), 0u);
}

TEST(EngineTest, CountsTimeoutsAndEndsOnTimeWhenTheServerNeverAnswers) {
  RawServer server([](int) { return true; });
  LoadSpec spec = spec_for(server.port(), 2, 1);
  spec.duration = 600ms;
  spec.timeout = 100ms;
  const auto started = Clock::now();
  const LoadResult result = run_load(spec);
  EXPECT_LT(Clock::now() - started, spec.duration + 300ms);
  EXPECT_EQ(result.requests, 0u);
  // Each connection times out about every 100 ms; allow for the sweep's lateness.
  EXPECT_GE(result.errors.timeout, 6u);
  EXPECT_LE(result.errors.timeout, 14u);
  EXPECT_EQ(result.errors.read + result.errors.write + result.errors.connect, 0u);
  EXPECT_GE(server.accepted(), result.errors.timeout);
}

TEST(EngineTest, CountsReadErrorsWhenTheServerSendsGarbage) {
  RawServer server([](int fd) {
    RawServer::send_all(fd, "SPDY/9 banana\r\n\r\n");
    return true;
  });
  LoadSpec spec = spec_for(server.port(), 2, 1);
  spec.duration = 300ms;
  const auto started = Clock::now();
  const LoadResult result = run_load(spec);
  EXPECT_LT(Clock::now() - started, spec.duration + 300ms);
  EXPECT_EQ(result.requests, 0u);
  EXPECT_GT(result.errors.read, 0u);
}

TEST(EngineTest, CountsReadErrorsWhenTheServerCutsAnAnswerShort) {
  RawServer server([](int fd) {
    RawServer::send_all(fd, "HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\nshort");
    return false;
  });
  LoadSpec spec = spec_for(server.port(), 2, 1);
  spec.max_requests = 20;
  const LoadResult result = run_load(spec);
  EXPECT_EQ(result.requests, 0u);
  EXPECT_EQ(result.errors.read, 20u);
}

TEST(EngineTest, CountsNon2xxAnswersAsStatusErrors) {
  CountingServer server(503);
  LoadSpec spec = spec_for(server.port(), 2, 1);
  spec.max_requests = 100;
  const LoadResult result = run_load(spec);
  EXPECT_EQ(result.requests, 100u);
  EXPECT_EQ(result.errors.status, 100u);
  EXPECT_EQ(result.latency.count(), 100u);
}

TEST(EngineTest, DoesNotRecordWarmupAnswers) {
  CountingServer server;
  LoadSpec spec = spec_for(server.port(), 2, 1);
  spec.warmup = 300ms;
  spec.duration = 300ms;
  LoadProgress progress;
  const LoadResult result = run_load(spec, {}, &progress);
  EXPECT_GT(result.requests, 0u);
  EXPECT_EQ(result.latency.count(), result.requests);
  // Progress counts warm-up too, so about twice as many; at least a quarter more is unambiguous.
  EXPECT_GT(progress.requests(), result.requests + result.requests / 4);
  EXPECT_LE(progress.requests(), server.handled());
  EXPECT_GE(result.elapsed, spec.duration);
}

TEST(EngineTest, StopsALongRunPromptly) {
  CountingServer server;
  LoadSpec spec = spec_for(server.port(), 4, 2);
  spec.duration = 60s;
  LoadProgress progress;
  std::stop_source stop;
  std::jthread stopper([&] {
    wait_for([&] { return progress.requests() > 0; });
    stop.request_stop();
  });
  const auto started = Clock::now();
  const LoadResult result = run_load(spec, stop.get_token(), &progress);
  const auto took = Clock::now() - started;
  EXPECT_LT(took, 1s);
  EXPECT_GT(result.requests, 0u);
  EXPECT_LT(result.elapsed, 1s);
}

TEST(EngineTest, ReportsProgressDuringTheRun) {
  CountingServer server;
  LoadSpec spec = spec_for(server.port(), 2, 1);
  spec.duration = 400ms;
  LoadProgress progress;
  std::atomic<uint64_t> seen_mid_run{0};
  std::jthread watcher([&] {
    std::this_thread::sleep_for(200ms);
    seen_mid_run = progress.requests();
  });
  const LoadResult result = run_load(spec, {}, &progress);
  watcher.join();
  EXPECT_GT(seen_mid_run.load(), 0u);
  // Answers arriving after the window closed are progress but not results.
  EXPECT_GE(progress.requests(), result.requests);
  EXPECT_LE(progress.requests(), result.requests + static_cast<uint64_t>(spec.connections));
}

}  // namespace
}  // namespace iolab
