#include "daemon/api_server.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <string>
#include <string_view>

#include "core/errors.h"

namespace iolab {

using Clock = std::chrono::steady_clock;

namespace {

// How long a refused or timed-out connection is drained after its answer, so that the client
// reads the answer instead of a reset.
constexpr auto kLinger = std::chrono::milliseconds(1000);
// Connections refused at the cap that are still being answered; past them a new connection is
// closed at once.
constexpr int kMaxRefusing = 64;
// How long the listener is left alone when accept() finds no descriptor.
constexpr auto kAcceptPause = std::chrono::milliseconds(50);
constexpr auto kExpiryScan = std::chrono::milliseconds(100);
constexpr size_t kReadChunk = 16 * 1024;

bool iequals(std::string_view a, std::string_view b) {
  return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
           return std::tolower(static_cast<unsigned char>(x)) ==
                  std::tolower(static_cast<unsigned char>(y));
         });
}

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

// What the acceptor needs of a request head: its body's length and whether the client waits
// for a 100 Continue (the line's place, to take it out once answered here).
struct HeadInfo {
  size_t content_length = 0;
  bool bad_length = false;
  bool chunked = false;
  size_t expect_at = 0;  // offset of the "Expect: 100-continue\r\n" line; 0: none
  size_t expect_len = 0;
};

HeadInfo scan_head(std::string_view head) {
  HeadInfo info;
  size_t at = head.find("\r\n");
  while (at != std::string_view::npos && at + 2 < head.size()) {
    const size_t start = at + 2;
    const size_t end = head.find("\r\n", start);
    if (end == std::string_view::npos || end == start) break;
    const std::string_view line = head.substr(start, end - start);
    const size_t colon = line.find(':');
    if (colon != std::string_view::npos) {
      const std::string_view name = trim(line.substr(0, colon));
      const std::string_view value = trim(line.substr(colon + 1));
      if (iequals(name, "content-length")) {
        const bool digits = !value.empty() && value.size() <= 18 &&
                            value.find_first_not_of("0123456789") == std::string_view::npos;
        if (digits) {
          info.content_length = std::stoull(std::string(value));
        } else {
          info.bad_length = true;
        }
      } else if (iequals(name, "transfer-encoding")) {
        info.chunked = true;
      } else if (iequals(name, "expect") && iequals(value, "100-continue")) {
        info.expect_at = start;
        info.expect_len = end + 2 - start;
      }
    }
    at = end;
  }
  return info;
}

std::string canned(int status, const char* reason, const char* code, const std::string& message,
                   const char* extra_headers = "") {
  const std::string body = std::string(R"({"error":{"code":")") + code + R"(","message":")" +
                           message + R"(","field":""}})" + "\n";
  return "HTTP/1.1 " + std::to_string(status) + " " + reason +
         "\r\nContent-Type: application/json\r\nConnection: close\r\n" + extra_headers +
         "Content-Length: " + std::to_string(body.size()) + "\r\n\r\n" + body;
}

}  // namespace

/// A connection and what is buffered on it.
struct ApiServer::Connection {
  enum class Phase { kIdle, kReading, kHandling, kWriting, kClosing };

  Connection(int fd_in, std::atomic<size_t>& body_bytes) : fd(fd_in), body_bytes_(body_bytes) {}
  ~Connection() { release_body(); }
  Connection(const Connection&) = delete;
  Connection& operator=(const Connection&) = delete;

  void release_body() {
    body_bytes_.fetch_sub(body_reserved, std::memory_order_relaxed);
    body_reserved = 0;
  }
  /// Ready for the next request: whatever is buffered belongs to it.
  void next_request() {
    release_body();
    head_end = need = discard = 0;
  }

  int fd;
  Phase phase = Phase::kIdle;
  Clock::time_point deadline;
  std::string in;       // bytes of the request being read (and of any pipelined after it)
  size_t head_end = 0;  // the head's length with its blank line, once complete
  size_t need = 0;      // head and body, once the head is complete
  size_t discard = 0;   // body bytes of a refused (too large) body still to skip
  size_t body_reserved = 0;
  bool close_after = false;  // close once `out` is written
  std::string out;
  size_t out_at = 0;
  int served = 0;

 private:
  std::atomic<size_t>& body_bytes_;
};

/// httplib's request processing, on a stream of its own (process_request() is protected).
class ApiServer::Router : public httplib::Server {
 public:
  bool process(httplib::Stream& stream, bool close_connection, bool& connection_closed) {
    return process_request(stream, close_connection, connection_closed, [](httplib::Request&) {});
  }
};

namespace {

// A whole request already in memory, and its answer collected for the acceptor to write: a
// handler thread never waits for the client.
class BufferedStream : public httplib::Stream {
 public:
  BufferedStream(const std::string& in, std::string& out, int fd) : in_(in), out_(out), fd_(fd) {}

  bool is_readable() const override { return at_ < in_.size(); }
  bool is_writable() const override { return true; }
  ssize_t read(char* ptr, size_t size) override {
    const size_t n = std::min(size, in_.size() - at_);
    std::memcpy(ptr, in_.data() + at_, n);
    at_ += n;
    return static_cast<ssize_t>(n);
  }
  ssize_t write(const char* ptr, size_t size) override {
    out_.append(ptr, size);
    return static_cast<ssize_t>(size);
  }
  void get_remote_ip_and_port(std::string& ip, int& port) const override {
    address(::getpeername, ip, port);
  }
  void get_local_ip_and_port(std::string& ip, int& port) const override {
    address(::getsockname, ip, port);
  }
  socket_t socket() const override { return fd_; }

  size_t consumed() const { return at_; }

 private:
  void address(int (*get)(int, sockaddr*, socklen_t*), std::string& ip, int& port) const {
    sockaddr_in addr{};
    socklen_t len = sizeof addr;
    char text[INET_ADDRSTRLEN] = "";
    if (get(fd_, reinterpret_cast<sockaddr*>(&addr), &len) == 0 && addr.sin_family == AF_INET) {
      ::inet_ntop(AF_INET, &addr.sin_addr, text, sizeof text);
      port = ntohs(addr.sin_port);
    }
    ip = text;
  }

  const std::string& in_;
  std::string& out_;
  int fd_;
  size_t at_ = 0;
};

// Writes what it can of `c.out` without blocking. False when the connection failed.
bool write_some(ApiServer::Connection& c) {
  while (c.out_at < c.out.size()) {
    const ssize_t n = ::send(c.fd, c.out.data() + c.out_at, c.out.size() - c.out_at, MSG_NOSIGNAL);
    if (n > 0) {
      c.out_at += static_cast<size_t>(n);
    } else if (n < 0 && errno == EINTR) {
      continue;
    } else {
      return n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK);
    }
  }
  c.out.clear();
  c.out_at = 0;
  return true;
}

}  // namespace

ApiServer::ApiServer(ApiServerLimits limits)
    : limits_(limits), router_(std::make_unique<Router>()) {
  // Its Keep-Alive header then says what the acceptor does.
  router_->set_keep_alive_timeout(std::max<time_t>(
      1, std::chrono::duration_cast<std::chrono::seconds>(limits_.idle_timeout).count()));
  router_->set_keep_alive_max_count(static_cast<size_t>(limits_.max_requests_per_connection));
  router_->set_payload_max_length(limits_.max_body_bytes);
}

ApiServer::~ApiServer() {
  stop();
  for (int fd : {listen_fd_, epoll_fd_, wake_fd_}) {
    if (fd >= 0) ::close(fd);
  }
}

httplib::Server& ApiServer::routes() { return *router_; }

uint16_t ApiServer::bind(const Endpoint& endpoint) {
  const auto addr = endpoint.sockaddr();
  if (!addr) throw StartError("api.listen: not an IPv4 address: " + endpoint.to_string());
  listen_fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (listen_fd_ < 0) throw StartError(std::string("api.listen: socket: ") + std::strerror(errno));
  const int one = 1;
  ::setsockopt(listen_fd_, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  if (::bind(listen_fd_, reinterpret_cast<const sockaddr*>(&*addr), sizeof *addr) != 0 ||
      ::listen(listen_fd_, limits_.backlog) != 0) {
    throw StartError("api.listen: cannot bind " + endpoint.to_string() + ": " +
                     std::strerror(errno));
  }
  sockaddr_in bound{};
  socklen_t len = sizeof bound;
  ::getsockname(listen_fd_, reinterpret_cast<sockaddr*>(&bound), &len);
  return ntohs(bound.sin_port);
}

void ApiServer::start() {
  epoll_fd_ = ::epoll_create1(EPOLL_CLOEXEC);
  wake_fd_ = ::eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
  if (epoll_fd_ < 0 || wake_fd_ < 0 || listen_fd_ < 0) {
    throw StartError(std::string("api: epoll: ") + std::strerror(errno));
  }
  for (int fd : {listen_fd_, wake_fd_}) {
    epoll_event ev{};
    ev.events = EPOLLIN;
    ev.data.fd = fd;
    ::epoll_ctl(epoll_fd_, EPOLL_CTL_ADD, fd, &ev);
  }
  started_ = true;
  for (int i = 0; i < limits_.handler_threads; ++i) {
    handlers_.emplace_back([this](std::stop_token stop) { handler_loop(stop); });
  }
  poller_ = std::jthread([this] { poll_loop(); });
}

void ApiServer::stop() {
  if (stopped_ || !started_) return;
  stopped_ = true;
  stopping_ = true;
  const uint64_t one = 1;
  (void)!::write(wake_fd_, &one, sizeof one);
  if (poller_.joinable()) poller_.join();
  for (auto& h : handlers_) h.request_stop();
  work_ready_.notify_all();
  for (auto& h : handlers_) {
    if (h.joinable()) h.join();
  }
  const std::lock_guard lock(mutex_);
  for (auto& c : work_) ::close(c->fd);
  for (auto& c : returned_) ::close(c->fd);
  work_.clear();
  returned_.clear();
  // Stopped means the port is free again (a daemon stopped and started in one process).
  for (int* fd : {&listen_fd_, &epoll_fd_, &wake_fd_}) {
    if (*fd >= 0) ::close(*fd);
    *fd = -1;
  }
}

// ---------------------------------------------------------------------------------------------
// The acceptor: every connection while it waits, is read or is written.

void ApiServer::poll_loop() {
  epoll_event events[256];
  while (!stopping_) {
    const int n = ::epoll_wait(epoll_fd_, events, 256, static_cast<int>(kExpiryScan.count()));
    for (int i = 0; i < n && !stopping_; ++i) {
      const int fd = events[i].data.fd;
      if (fd == listen_fd_) {
        accept_all();
      } else if (fd == wake_fd_) {
        uint64_t count = 0;
        (void)!::read(wake_fd_, &count, sizeof count);
        take_back();
      } else if (static_cast<size_t>(fd) < by_fd_.size() && by_fd_[fd]) {
        if (by_fd_[fd]->phase == Connection::Phase::kWriting) {
          on_writable(*by_fd_[fd]);
        } else {
          on_readable(*by_fd_[fd]);
        }
      }
    }
    const auto now = Clock::now();
    if (listener_paused_ && now >= listener_resume_) {
      epoll_event ev{};
      ev.events = EPOLLIN;
      ev.data.fd = listen_fd_;
      ::epoll_ctl(epoll_fd_, EPOLL_CTL_ADD, listen_fd_, &ev);
      listener_paused_ = false;
    }
    if (now >= next_expiry_scan_) {
      expire_deadlines();
      next_expiry_scan_ = now + kExpiryScan;
    }
  }
  for (auto& c : by_fd_) {
    if (c) ::close(c->fd);
  }
  by_fd_.clear();
}

void ApiServer::accept_all() {
  while (true) {
    const int fd = ::accept4(listen_fd_, nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (fd < 0) {
      if (errno == EINTR || errno == ECONNABORTED) continue;
      if (errno != EAGAIN && errno != EWOULDBLOCK) {
        // Out of descriptors (or memory): the backlog waits rather than the loop spinning.
        ::epoll_ctl(epoll_fd_, EPOLL_CTL_DEL, listen_fd_, nullptr);
        listener_paused_ = true;
        listener_resume_ = Clock::now() + kAcceptPause;
      }
      return;
    }
    const int one = 1;
    ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    const int open = open_.fetch_add(1, std::memory_order_relaxed) + 1;
    if (open > limits_.max_connections + kMaxRefusing) {
      ::close(fd);
      open_.fetch_sub(1, std::memory_order_relaxed);
      refused_.fetch_add(1, std::memory_order_relaxed);
      continue;
    }
    if (static_cast<size_t>(fd) >= by_fd_.size()) by_fd_.resize(static_cast<size_t>(fd) + 64);
    by_fd_[fd] = std::make_unique<Connection>(fd, body_bytes_);
    Connection& c = *by_fd_[fd];
    epoll_event ev{};
    ev.events = EPOLLIN;
    ev.data.fd = fd;
    ::epoll_ctl(epoll_fd_, EPOLL_CTL_ADD, fd, &ev);
    if (open > limits_.max_connections) {
      refused_.fetch_add(1, std::memory_order_relaxed);
      answer_and_close(
          c, canned(503, "Service Unavailable", "too_many_connections",
                    "the API has its maximum of " + std::to_string(limits_.max_connections) +
                        " connections open; retry later",
                    "Retry-After: 1\r\n"));
      continue;
    }
    c.deadline = Clock::now() + limits_.idle_timeout;
  }
}

void ApiServer::on_readable(Connection& c) {
  char buf[kReadChunk];
  while (true) {
    const ssize_t n = ::recv(c.fd, buf, sizeof buf, 0);
    if (n == 0 || (n < 0 && errno != EINTR && errno != EAGAIN && errno != EWOULDBLOCK)) {
      close_connection(c.fd);
      return;
    }
    if (n < 0) {
      if (errno == EINTR) continue;
      return;
    }
    if (c.phase == Connection::Phase::kClosing) continue;  // drained: the answer is out
    if (c.phase == Connection::Phase::kIdle) {
      c.phase = Connection::Phase::kReading;
      c.deadline = Clock::now() + limits_.request_timeout;
    }
    size_t used = 0;
    if (c.discard > 0) {
      used = std::min(c.discard, static_cast<size_t>(n));
      c.discard -= used;
    }
    c.in.append(buf + used, static_cast<size_t>(n) - used);
    const int fd = c.fd;
    after_input(c);
    // Handed off or closed: nothing more is read here for now.
    if (static_cast<size_t>(fd) >= by_fd_.size() || !by_fd_[fd] ||
        by_fd_[fd]->phase != Connection::Phase::kReading) {
      return;
    }
  }
}

void ApiServer::after_input(Connection& c) {
  if (c.head_end == 0) {
    const size_t end = c.in.find("\r\n\r\n");
    if (end == std::string::npos || end + 4 > limits_.max_head_bytes) {
      if (c.in.size() > limits_.max_head_bytes) {
        answer_and_close(c, canned(431, "Request Header Fields Too Large", "head_too_large",
                                   "the request head exceeds " +
                                       std::to_string(limits_.max_head_bytes) + " bytes"));
      }
      return;
    }
    c.head_end = end + 4;
    HeadInfo head = scan_head(std::string_view(c.in).substr(0, c.head_end));
    if (head.chunked) {
      answer_and_close(c, canned(411, "Length Required", "length_required",
                                 "a request body needs a Content-Length"));
      return;
    }
    if (head.expect_len > 0) {
      c.in.erase(head.expect_at, head.expect_len);
      c.head_end -= head.expect_len;
    }
    c.need = c.head_end;
    if (head.content_length > limits_.max_body_bytes) {
      // The routes' server answers 413 from the head; the body is skipped as it comes.
      c.discard = head.content_length - std::min(head.content_length, c.in.size() - c.head_end);
      c.in.resize(c.head_end);
      c.close_after = true;
    } else if (!head.bad_length && head.content_length > 0) {
      const size_t held = body_bytes_.fetch_add(head.content_length) + head.content_length;
      c.body_reserved = head.content_length;
      if (held > limits_.body_budget_bytes) {
        answer_and_close(c, canned(503, "Service Unavailable", "busy",
                                   "too many request bodies are being received; retry later",
                                   "Retry-After: 1\r\n"));
        return;
      }
      c.need += head.content_length;
    }
    if (head.expect_len > 0 && c.in.size() < c.need) {
      static constexpr std::string_view kContinue = "HTTP/1.1 100 Continue\r\n\r\n";
      (void)::send(c.fd, kContinue.data(), kContinue.size(), MSG_NOSIGNAL);
    }
  }
  if (c.in.size() >= c.need && c.discard == 0) hand_off(c);
}

void ApiServer::hand_off(Connection& c) {
  ::epoll_ctl(epoll_fd_, EPOLL_CTL_DEL, c.fd, nullptr);
  c.phase = Connection::Phase::kHandling;
  {
    const std::lock_guard lock(mutex_);
    work_.push_back(std::move(by_fd_[c.fd]));
  }
  work_ready_.notify_one();
}

// Connections back from a handler: their answer to write out, then the next request.
void ApiServer::take_back() {
  std::vector<std::unique_ptr<Connection>> back;
  {
    const std::lock_guard lock(mutex_);
    back.swap(returned_);
  }
  const auto now = Clock::now();
  for (auto& owned : back) {
    const int fd = owned->fd;
    if (static_cast<size_t>(fd) >= by_fd_.size()) by_fd_.resize(static_cast<size_t>(fd) + 64);
    by_fd_[fd] = std::move(owned);
    Connection& c = *by_fd_[fd];
    epoll_event ev{};
    ev.data.fd = fd;
    if (!c.out.empty()) {
      c.phase = Connection::Phase::kWriting;
      c.deadline = now + limits_.write_timeout;
      ev.events = EPOLLOUT;
      ::epoll_ctl(epoll_fd_, EPOLL_CTL_ADD, fd, &ev);
      continue;
    }
    ev.events = EPOLLIN;
    ::epoll_ctl(epoll_fd_, EPOLL_CTL_ADD, fd, &ev);
    c.phase = c.in.empty() ? Connection::Phase::kIdle : Connection::Phase::kReading;
    c.deadline = now + (c.in.empty() ? limits_.idle_timeout : limits_.request_timeout);
    if (!c.in.empty()) after_input(c);
  }
}

void ApiServer::on_writable(Connection& c) {
  if (!write_some(c)) {
    close_connection(c.fd);
    return;
  }
  if (!c.out.empty()) return;
  if (c.close_after) {
    close_connection(c.fd);
    return;
  }
  epoll_event ev{};
  ev.events = EPOLLIN;
  ev.data.fd = c.fd;
  ::epoll_ctl(epoll_fd_, EPOLL_CTL_MOD, c.fd, &ev);
  const auto now = Clock::now();
  c.phase = c.in.empty() ? Connection::Phase::kIdle : Connection::Phase::kReading;
  c.deadline = now + (c.in.empty() ? limits_.idle_timeout : limits_.request_timeout);
  if (!c.in.empty()) after_input(c);
}

void ApiServer::expire_deadlines() {
  const auto now = Clock::now();
  for (auto& slot : by_fd_) {
    if (!slot || slot->deadline > now) continue;
    Connection& c = *slot;
    if (c.phase == Connection::Phase::kReading) {
      answer_and_close(c, canned(408, "Request Timeout", "request_timeout",
                                 "the request did not arrive whole within " +
                                     std::to_string(limits_.request_timeout.count()) + " ms"));
    } else {
      close_connection(c.fd);
    }
  }
}

// Sends `answer` (best effort: it is small), then drains the connection for a moment so that
// the client reads the answer rather than a reset, and closes it.
void ApiServer::answer_and_close(Connection& c, const std::string& answer) {
  (void)::send(c.fd, answer.data(), answer.size(), MSG_NOSIGNAL);
  ::shutdown(c.fd, SHUT_WR);
  c.phase = Connection::Phase::kClosing;
  c.deadline = Clock::now() + kLinger;
  c.in.clear();
  c.in.shrink_to_fit();
  c.release_body();
}

void ApiServer::close_connection(int fd) {
  ::epoll_ctl(epoll_fd_, EPOLL_CTL_DEL, fd, nullptr);
  ::close(fd);
  by_fd_[fd].reset();
  open_.fetch_sub(1, std::memory_order_relaxed);
}

// ---------------------------------------------------------------------------------------------
// The handler threads: one whole request each, its answer collected in memory.

void ApiServer::handler_loop(std::stop_token stop) {
  while (true) {
    std::unique_ptr<Connection> c;
    {
      std::unique_lock lock(mutex_);
      if (!work_ready_.wait(lock, stop, [this] { return !work_.empty(); })) return;
      c = std::move(work_.front());
      work_.pop_front();
    }
    serve(std::move(c));
  }
}

void ApiServer::serve(std::unique_ptr<Connection> c) {
  const bool last = ++c->served >= limits_.max_requests_per_connection;
  bool closed = false;
  bool ok = false;
  {
    BufferedStream stream(c->in, c->out, c->fd);
    try {
      ok = router_->process(stream, last || c->close_after, closed);
    } catch (...) {
      ok = false;
    }
    c->in.erase(0, stream.consumed());
  }
  c->next_request();
  c->close_after = c->close_after || !ok || closed || last;
  const bool alive = write_some(*c);
  if (!alive || (c->out.empty() && c->close_after)) {
    ::close(c->fd);
    open_.fetch_sub(1, std::memory_order_relaxed);
    return;
  }
  {
    const std::lock_guard lock(mutex_);
    returned_.push_back(std::move(c));
  }
  const uint64_t one = 1;
  (void)!::write(wake_fd_, &one, sizeof one);
}

}  // namespace iolab
