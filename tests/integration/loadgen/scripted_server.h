#pragma once

// A raw server for the engine's conformance cases: for each request it reads the head, then
// answers with scripted bytes before or after reading the body, and keeps or drops the
// connection. One thread per connection; binds 127.0.0.1:0 and listens before its constructor
// returns.

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cctype>
#include <cstdlib>
#include <mutex>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

namespace iolab::testing {

struct Script {
  std::string answer;         ///< Sent once per request.
  bool before_body = false;   ///< Answer once the head is read; the body is read after (or not).
  bool close_after = false;   ///< Close after answering, leaving unread what is unread.
  bool never_answer = false;  ///< Read requests, answer none.
};

class ScriptedServer {
 public:
  explicit ScriptedServer(Script script) : script_(std::move(script)) {
    listen_fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    EXPECT_EQ(::bind(listen_fd_, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)), 0);
    EXPECT_EQ(::listen(listen_fd_, 1024), 0);
    socklen_t len = sizeof(addr);
    ::getsockname(listen_fd_, reinterpret_cast<sockaddr*>(&addr), &len);
    port_ = ntohs(addr.sin_port);
    acceptor_ = std::jthread([this] { accept_loop(); });
  }
  ~ScriptedServer() {
    stopping_ = true;
    ::shutdown(listen_fd_, SHUT_RDWR);
    acceptor_.join();
    {
      const std::lock_guard lock(mutex_);
      for (const int fd : open_fds_) ::shutdown(fd, SHUT_RDWR);
    }
    connections_.clear();  // Joins them: each ends when its socket does.
    ::close(listen_fd_);
  }

  int port() const { return port_; }
  /// Request heads read, over every connection.
  uint64_t requests() const { return requests_.load(); }

 private:
  void accept_loop() {
    while (!stopping_) {
      const int fd = ::accept4(listen_fd_, nullptr, nullptr, SOCK_CLOEXEC);
      if (fd < 0) return;
      const int one = 1;
      ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
      const std::lock_guard lock(mutex_);
      open_fds_.push_back(fd);
      connections_.emplace_back([this, fd] { serve(fd); });
    }
  }

  // The request's Content-Length, 0 without one.
  static size_t body_length(std::string_view head) {
    std::string lower(head);
    for (char& c : lower) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    const size_t at = lower.find("\r\ncontent-length:");
    if (at == std::string::npos) return 0;
    return std::strtoull(lower.c_str() + at + 17, nullptr, 10);
  }

  // Reads until `buffer` holds `n` bytes or the peer goes; false when it went.
  static bool fill(int fd, std::string& buffer, size_t n) {
    char chunk[65536];
    while (buffer.size() < n) {
      const ssize_t got = ::recv(fd, chunk, sizeof(chunk), 0);
      if (got <= 0) return false;
      buffer.append(chunk, static_cast<size_t>(got));
    }
    return true;
  }

  // Drops `n` bytes of body: from `buffer` first, then from the socket.
  static bool skip(int fd, std::string& buffer, size_t n) {
    const size_t from_buffer = std::min(n, buffer.size());
    buffer.erase(0, from_buffer);
    n -= from_buffer;
    char chunk[65536];
    while (n > 0) {
      const ssize_t got = ::recv(fd, chunk, std::min(n, sizeof(chunk)), 0);
      if (got <= 0) return false;
      n -= static_cast<size_t>(got);
    }
    return true;
  }

  static void send_all(int fd, std::string_view bytes) {
    while (!bytes.empty()) {
      const ssize_t n = ::send(fd, bytes.data(), bytes.size(), MSG_NOSIGNAL);
      if (n <= 0) return;
      bytes.remove_prefix(static_cast<size_t>(n));
    }
  }

  void serve(int fd) {
    std::string buffer;
    while (serve_one(fd, buffer)) {
    }
    const std::lock_guard lock(mutex_);
    std::erase(open_fds_, fd);
    ::close(fd);  // With a body unread, a reset: as gunicorn's sync worker does.
  }

  bool serve_one(int fd, std::string& buffer) {
    size_t end;
    while ((end = buffer.find("\r\n\r\n")) == std::string::npos) {
      if (!fill(fd, buffer, buffer.size() + 1)) return false;
    }
    const size_t body = body_length(std::string_view(buffer).substr(0, end + 2));
    buffer.erase(0, end + 4);
    requests_.fetch_add(1);
    if (script_.never_answer) return skip(fd, buffer, body);
    if (!script_.before_body && !skip(fd, buffer, body)) return false;
    send_all(fd, script_.answer);
    if (script_.close_after) return false;
    return script_.before_body ? skip(fd, buffer, body) : true;
  }

  Script script_;
  int listen_fd_ = -1;
  int port_ = 0;
  std::atomic<bool> stopping_{false};
  std::atomic<uint64_t> requests_{0};
  std::mutex mutex_;
  std::vector<int> open_fds_;
  std::vector<std::jthread> connections_;
  std::jthread acceptor_;
};

}  // namespace iolab::testing
