#pragma once

// Servers and helpers shared by the load engine's integration tests. Every server binds
// 127.0.0.1:0 and is ready when its constructor returns.

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <httplib.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <functional>
#include <string>
#include <thread>
#include <vector>

#include "loadgen/engine.h"

namespace iolab::testing {

using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

inline Url url_for(int port, std::string target = "/") {
  Url url;
  url.endpoint.host = "127.0.0.1";
  url.endpoint.port = static_cast<uint16_t>(port);
  url.host_header = url.endpoint.to_string();
  url.target = std::move(target);
  return url;
}

inline LoadSpec spec_for(int port, int connections, int threads) {
  LoadSpec spec;
  spec.target = url_for(port);
  spec.connections = connections;
  spec.threads = threads;
  spec.duration = 500ms;
  spec.timeout = 2s;
  return spec;
}

// Polls `ready` until it holds or the deadline passes.
inline bool wait_for(const std::function<bool()>& ready, std::chrono::milliseconds limit = 5s) {
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
          // Handlers write each answer on its own: without this, Nagle holds back the second
          // of two pipelined answers until the first is acknowledged.
          const int one = 1;
          ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
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
inline int closed_port() {
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

}  // namespace iolab::testing
