#include "loadgen/engine.h"

#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <cstring>
#include <string>
#include <thread>
#include <vector>

#include "core/duration.h"
#include "loadgen/response_parser.h"

namespace iolab {
namespace {

using Clock = std::chrono::steady_clock;

// A refused connection is retried after this pause, so a down server is not hammered in a spin.
constexpr auto kConnectRetryDelay = 10ms;
// Timeouts and retry waits are checked this often; it bounds their lateness.
constexpr auto kSweepInterval = 10ms;
// Also the longest epoll_wait, so a stop request or the deadline is seen within it.
constexpr int kMaxWaitMs = 10;
constexpr auto kProgressInterval = 50ms;
constexpr int kProbeTimeoutMs = 2000;
// Descriptors kept free beyond the connections: epoll sets, the probe, the rest of the process.
constexpr rlim_t kSpareFds = 64;
constexpr size_t kReadBufferBytes = size_t{64} * 1024;
constexpr int kMaxEvents = 256;

// What every worker reads; written once before the threads start.
struct RunContext {
  sockaddr_in addr{};
  std::string request;
  Clock::time_point window_start;
  Clock::time_point window_end;
  Clock::duration timeout{};
  uint64_t max_requests = 0;
  std::atomic<uint64_t> tickets{0};  // Requests handed out, when max_requests != 0.
  std::stop_token stop;
  LoadProgress* progress = nullptr;
};

void close_quietly(int fd) {
  // A close() error on a socket we are done with changes nothing we could act on.
  if (fd >= 0) ::close(fd);
}

// One event loop and the connections it owns. Built on the caller's thread (may throw); run() is
// the hot path and neither throws nor allocates.
class Worker {
 public:
  Worker(RunContext& context, int connections)
      : context_(context), connections_(static_cast<size_t>(connections)) {
    epoll_fd_ = ::epoll_create1(EPOLL_CLOEXEC);
    if (epoll_fd_ < 0) {
      throw RunError(std::string("cannot create an epoll set: ") + std::strerror(errno));
    }
    read_buffer_ = std::make_unique<char[]>(kReadBufferBytes);
  }

  Worker(const Worker&) = delete;
  Worker& operator=(const Worker&) = delete;

  ~Worker() {
    for (Connection& c : connections_) close_quietly(c.fd);
    close_quietly(epoll_fd_);
  }

  void run() noexcept;

  const LatencyHistogram& latency() const { return latency_; }
  const ErrorCounts& errors() const { return errors_; }
  uint64_t requests() const { return requests_; }
  uint64_t reconnects() const { return reconnects_; }
  Clock::time_point end_time() const { return end_time_; }

 private:
  enum class State : uint8_t {
    kRetryWait,   // After a connect error, until retry_at.
    kConnecting,  // Non-blocking connect in flight; waiting for EPOLLOUT.
    kWriting,     // Request partly written; waiting for EPOLLOUT.
    kReading,     // Request written; waiting for the answer.
    kFinished,    // No more requests to send (max_requests reached).
  };

  struct Connection {
    ResponseParser parser;
    Clock::time_point request_start;  // When writing the current request began.
    Clock::time_point deadline;       // kRetryWait: when to retry; kConnecting: connect timeout.
    size_t written = 0;
    int fd = -1;
    uint32_t generation = 0;  // Bumped on close so events for an old socket are recognised.
    State state = State::kRetryWait;
    bool has_request = false;  // Holds a request (and its ticket) not yet answered or failed.
    bool answered = false;     // This socket has completed at least one response.
    bool want_write = false;   // EPOLLOUT is in the registered interest.
  };

  bool in_window(Clock::time_point t) const {
    return t >= context_.window_start && t < context_.window_end;
  }
  bool exhausted() const {
    return context_.max_requests != 0 &&
           context_.tickets.load(std::memory_order_relaxed) >= context_.max_requests;
  }
  bool take_ticket() {
    return context_.max_requests == 0 ||
           context_.tickets.fetch_add(1, std::memory_order_relaxed) < context_.max_requests;
  }
  void count_error(uint64_t& counter, Clock::time_point now) {
    if (in_window(now)) ++counter;
    ++progress_errors_;
  }

  uint64_t event_key(const Connection& c) const {
    return (static_cast<uint64_t>(&c - connections_.data()) << 32) | c.generation;
  }
  bool set_interest(Connection& c, int op, uint32_t events);

  void handle_event(const epoll_event& event);
  void open(Connection& c, Clock::time_point now);
  void on_connected(Connection& c, Clock::time_point now);
  void on_connect_error(Connection& c, Clock::time_point now);
  void next_request(Connection& c, Clock::time_point now);
  void write_request(Connection& c, Clock::time_point now);
  void on_readable(Connection& c);
  bool on_response(Connection& c, Clock::time_point now);
  void on_eof(Connection& c, Clock::time_point now);
  void on_peer_closed(Connection& c, Clock::time_point now);
  void fail_request(Connection& c);
  void close_socket(Connection& c);
  void reopen(Connection& c, Clock::time_point now);
  void finish(Connection& c);
  void sweep(Clock::time_point now);
  void flush_progress();

  RunContext& context_;
  std::vector<Connection> connections_;  // Never resized after construction: events index it.
  std::unique_ptr<char[]> read_buffer_;
  std::array<epoll_event, kMaxEvents> events_{};
  LatencyHistogram latency_;
  ErrorCounts errors_;
  uint64_t requests_ = 0;
  uint64_t reconnects_ = 0;
  uint64_t outstanding_ = 0;  // Connections with has_request set.
  uint64_t progress_requests_ = 0;
  uint64_t progress_errors_ = 0;
  Clock::time_point end_time_;
  int epoll_fd_ = -1;
};

bool Worker::set_interest(Connection& c, int op, uint32_t events) {
  epoll_event event{};
  event.events = events;
  event.data.u64 = event_key(c);
  return ::epoll_ctl(epoll_fd_, op, c.fd, &event) == 0;
}

void Worker::run() noexcept {
  Clock::time_point now = Clock::now();
  for (Connection& c : connections_) open(c, now);
  Clock::time_point last_sweep = now;
  Clock::time_point last_flush = now;

  while (true) {
    now = Clock::now();
    if (context_.stop.stop_requested() || now >= context_.window_end) break;
    if (outstanding_ == 0 && exhausted()) break;

    const auto left = std::chrono::ceil<std::chrono::milliseconds>(context_.window_end - now);
    const int wait_ms = static_cast<int>(std::min<int64_t>(kMaxWaitMs, left.count()));
    const int n = ::epoll_wait(epoll_fd_, events_.data(), kMaxEvents, wait_ms);
    for (int i = 0; i < n; ++i) handle_event(events_[static_cast<size_t>(i)]);

    now = Clock::now();
    if (now - last_sweep >= kSweepInterval) {
      sweep(now);
      last_sweep = now;
    }
    if (now - last_flush >= kProgressInterval) {
      flush_progress();
      last_flush = now;
    }
  }
  end_time_ = now;
  flush_progress();
  for (Connection& c : connections_) close_socket(c);
}

void Worker::handle_event(const epoll_event& event) {
  const auto index = static_cast<size_t>(event.data.u64 >> 32);
  const auto generation = static_cast<uint32_t>(event.data.u64);
  Connection& c = connections_[index];
  if (c.generation != generation || c.fd < 0) return;

  if (c.state == State::kConnecting) {
    int error = 0;
    socklen_t len = sizeof(error);
    if (::getsockopt(c.fd, SOL_SOCKET, SO_ERROR, &error, &len) != 0) error = errno;
    if (error != 0) {
      on_connect_error(c, Clock::now());
    } else {
      on_connected(c, Clock::now());
    }
    return;
  }
  if ((event.events & (EPOLLIN | EPOLLHUP | EPOLLERR)) != 0) {
    on_readable(c);
    if (c.generation != generation) return;
  }
  if ((event.events & EPOLLOUT) != 0 && c.state == State::kWriting) {
    write_request(c, Clock::now());
  }
}

void Worker::open(Connection& c, Clock::time_point now) {
  if (!c.has_request && exhausted()) {
    finish(c);
    return;
  }
  c.parser.reset();
  c.answered = false;
  c.want_write = false;
  c.fd = ::socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (c.fd < 0) {
    on_connect_error(c, now);
    return;
  }
  const int one = 1;
  ::setsockopt(c.fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
  const int rc =
      ::connect(c.fd, reinterpret_cast<const sockaddr*>(&context_.addr), sizeof(context_.addr));
  if (rc == 0) {
    if (!set_interest(c, EPOLL_CTL_ADD, EPOLLIN)) {
      on_connect_error(c, now);
      return;
    }
    on_connected(c, now);
    return;
  }
  if (errno != EINPROGRESS || !set_interest(c, EPOLL_CTL_ADD, EPOLLOUT)) {
    on_connect_error(c, now);
    return;
  }
  c.state = State::kConnecting;
  c.deadline = now + context_.timeout;
}

void Worker::on_connected(Connection& c, Clock::time_point now) {
  if (!set_interest(c, EPOLL_CTL_MOD, EPOLLIN)) {
    on_connect_error(c, now);
    return;
  }
  if (c.has_request) {
    // Resending a request the previous socket lost to a clean close; its clock keeps running.
    c.written = 0;
    write_request(c, now);
  } else {
    next_request(c, now);
  }
}

void Worker::on_connect_error(Connection& c, Clock::time_point now) {
  count_error(errors_.connect, now);
  close_socket(c);
  // The request never reached the server; it fails so a bounded run can still end.
  if (c.has_request) fail_request(c);
  c.state = State::kRetryWait;
  c.deadline = now + kConnectRetryDelay;
}

void Worker::next_request(Connection& c, Clock::time_point now) {
  // Past the window an answer would not be counted, so asking would only load the server.
  if (now >= context_.window_end || !take_ticket()) {
    finish(c);
    return;
  }
  c.has_request = true;
  ++outstanding_;
  c.request_start = now;
  c.written = 0;
  write_request(c, now);
}

void Worker::write_request(Connection& c, Clock::time_point now) {
  const std::string& request = context_.request;
  while (c.written < request.size()) {
    const ssize_t n =
        ::send(c.fd, request.data() + c.written, request.size() - c.written, MSG_NOSIGNAL);
    if (n > 0) {
      c.written += static_cast<size_t>(n);
      continue;
    }
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
      c.state = State::kWriting;
      if (!c.want_write) {
        c.want_write = true;
        set_interest(c, EPOLL_CTL_MOD, EPOLLIN | EPOLLOUT);
      }
      return;
    }
    if (c.written == 0 && c.answered && (errno == EPIPE || errno == ECONNRESET)) {
      // The server closed a kept-alive socket just before we reused it: not an error.
      on_peer_closed(c, now);
      return;
    }
    count_error(errors_.write, now);
    fail_request(c);
    reopen(c, now);
    return;
  }
  c.state = State::kReading;
  if (c.want_write) {
    c.want_write = false;
    set_interest(c, EPOLL_CTL_MOD, EPOLLIN);
  }
}

void Worker::on_readable(Connection& c) {
  char* buffer = read_buffer_.get();
  while (true) {
    const ssize_t n = ::recv(c.fd, buffer, kReadBufferBytes, 0);
    if (n < 0) {
      if (errno == EINTR) continue;
      if (errno == EAGAIN || errno == EWOULDBLOCK) return;
      const Clock::time_point now = Clock::now();
      if (errno == ECONNRESET && c.answered && c.has_request && !c.parser.in_progress()) {
        // A reset instead of a FIN when the server closed with our next request unread.
        on_peer_closed(c, now);
      } else {
        count_error(errors_.read, now);
        if (c.has_request) fail_request(c);
        reopen(c, now);
      }
      return;
    }
    if (n == 0) {
      on_eof(c, Clock::now());
      return;
    }
    const auto size = static_cast<size_t>(n);
    size_t offset = 0;
    while (offset < size) {
      const ResponseParser::FeedResult result = c.parser.feed(buffer + offset, size - offset);
      if (result.outcome == ResponseParser::Outcome::kNeedMore) break;
      const Clock::time_point now = Clock::now();
      if (result.outcome == ResponseParser::Outcome::kError || !c.has_request ||
          c.state != State::kReading) {
        // Garbage, or an answer to nothing we asked.
        count_error(errors_.read, now);
        if (c.has_request) fail_request(c);
        reopen(c, now);
        return;
      }
      offset += result.consumed;
      if (!on_response(c, now)) return;
    }
    // Level-triggered: a short read drained the socket, a full one may have left more.
    if (size < kReadBufferBytes) return;
  }
}

bool Worker::on_response(Connection& c, Clock::time_point now) {
  const int status = c.parser.status();
  const bool bad_status = status < 200 || status > 399;
  if (in_window(now)) {
    ++requests_;
    latency_.record(now - c.request_start);
    if (bad_status) ++errors_.status;
  }
  ++progress_requests_;
  if (bad_status) ++progress_errors_;
  fail_request(c);  // Answered: the connection no longer holds it.
  c.answered = true;

  if (c.parser.should_close()) {
    if (in_window(now)) ++reconnects_;
    reopen(c, now);
    return false;
  }
  const uint32_t generation = c.generation;
  next_request(c, now);
  return c.generation == generation && c.state != State::kFinished;
}

void Worker::on_eof(Connection& c, Clock::time_point now) {
  if (c.parser.on_eof()) {
    if (c.has_request && c.state == State::kReading) {
      on_response(c, now);  // Closes and reopens: a close-delimited body means should_close.
    } else {
      count_error(errors_.read, now);
      reopen(c, now);
    }
    return;
  }
  if (c.parser.in_progress() || (c.has_request && !c.answered)) {
    // Cut short mid-response, or a fresh socket closed without a word.
    count_error(errors_.read, now);
    if (c.has_request) fail_request(c);
    reopen(c, now);
    return;
  }
  on_peer_closed(c, now);
}

void Worker::on_peer_closed(Connection& c, Clock::time_point now) {
  // The server closed a kept-alive socket between answers. The request in flight (if any) was not
  // seen by it, so it is resent on a new socket, keeping its ticket and start time.
  if (in_window(now)) ++reconnects_;
  close_socket(c);
  open(c, now);
}

void Worker::fail_request(Connection& c) {
  if (!c.has_request) return;
  c.has_request = false;
  --outstanding_;
}

void Worker::close_socket(Connection& c) {
  if (c.fd < 0) return;
  // Explicit removal: a forked child may share the socket, and then close() alone would leave
  // it registered in this epoll set.
  ::epoll_ctl(epoll_fd_, EPOLL_CTL_DEL, c.fd, nullptr);
  close_quietly(c.fd);
  c.fd = -1;
  ++c.generation;
}

void Worker::reopen(Connection& c, Clock::time_point now) {
  close_socket(c);
  open(c, now);
}

void Worker::finish(Connection& c) {
  close_socket(c);
  c.state = State::kFinished;
}

void Worker::sweep(Clock::time_point now) {
  const bool no_more_requests = exhausted();
  for (Connection& c : connections_) {
    switch (c.state) {
      case State::kFinished:
        break;
      case State::kRetryWait:
        if (no_more_requests && !c.has_request) {
          finish(c);
        } else if (now >= c.deadline) {
          open(c, now);
        }
        break;
      case State::kConnecting:
        if (no_more_requests && !c.has_request) {
          finish(c);
        } else if (c.has_request && now - c.request_start >= context_.timeout) {
          count_error(errors_.timeout, now);
          fail_request(c);
          reopen(c, now);
        } else if (now >= c.deadline) {
          on_connect_error(c, now);
        }
        break;
      case State::kWriting:
      case State::kReading:
        if (c.has_request && now - c.request_start >= context_.timeout) {
          count_error(errors_.timeout, now);
          fail_request(c);
          reopen(c, now);
        }
        break;
    }
  }
}

void Worker::flush_progress() {
  if (context_.progress != nullptr && (progress_requests_ != 0 || progress_errors_ != 0)) {
    context_.progress->add(progress_requests_, progress_errors_);
  }
  progress_requests_ = 0;
  progress_errors_ = 0;
}

void validate(LoadSpec& spec) {
  if (spec.connections < 1) {
    throw RunError("connections must be at least 1, got " + std::to_string(spec.connections));
  }
  if (spec.threads < 1) {
    throw RunError("threads must be at least 1, got " + std::to_string(spec.threads));
  }
  // More threads than connections would leave loops with nothing to do.
  spec.threads = std::min(spec.threads, spec.connections);
  if (spec.duration <= 0s) {
    throw RunError("duration must be positive, got " + format_duration(spec.duration));
  }
  if (spec.warmup < 0s) {
    throw RunError("warmup must not be negative, got " + format_duration(spec.warmup));
  }
  if (spec.timeout <= 0s) {
    throw RunError("timeout must be positive, got " + format_duration(spec.timeout));
  }
  if (!spec.target.endpoint.sockaddr()) {
    throw RunError(std::string("target host '") + spec.target.endpoint.host +
                   "' is not an IPv4 address or localhost");
  }
  if (spec.target.target.empty()) spec.target.target.push_back('/');
}

// Lets the run hold every connection open at once, as far as the hard limit allows.
void raise_fd_limit(int connections) {
  rlimit limit{};
  if (::getrlimit(RLIMIT_NOFILE, &limit) != 0) return;
  if (limit.rlim_cur < limit.rlim_max) {
    rlimit raised = limit;
    raised.rlim_cur = limit.rlim_max;
    if (::setrlimit(RLIMIT_NOFILE, &raised) == 0) limit = raised;
  }
  const auto needed = static_cast<rlim_t>(connections) + kSpareFds;
  if (limit.rlim_cur != RLIM_INFINITY && needed > limit.rlim_cur) {
    throw RunError("connections: " + std::to_string(connections) +
                   " need more open files than the limit of " + std::to_string(limit.rlim_cur) +
                   " allows (RLIMIT_NOFILE)");
  }
}

// One blocking-style connect with a timeout, so an unreachable target fails the run up front.
void probe(const Endpoint& endpoint, const sockaddr_in& addr) {
  auto fail = [&](int code) {
    throw RunError("cannot connect to " + endpoint.to_string() + ": " + std::strerror(code));
  };
  const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) fail(errno);
  int error = 0;
  if (::connect(fd, reinterpret_cast<const sockaddr*>(&addr), sizeof(addr)) != 0) {
    error = errno;
    if (error == EINPROGRESS) {
      pollfd pfd{fd, POLLOUT, 0};
      int ready = 0;
      do {
        ready = ::poll(&pfd, 1, kProbeTimeoutMs);
      } while (ready < 0 && errno == EINTR);
      if (ready == 0) {
        error = ETIMEDOUT;
      } else {
        socklen_t len = sizeof(error);
        if (::getsockopt(fd, SOL_SOCKET, SO_ERROR, &error, &len) != 0) error = errno;
      }
    }
  }
  close_quietly(fd);
  if (error != 0) fail(error);
}

}  // namespace

LoadResult run_load(const LoadSpec& spec, std::stop_token stop, LoadProgress* progress) {
  LoadResult result;
  result.spec = spec;
  validate(result.spec);
  const LoadSpec& run_spec = result.spec;
  raise_fd_limit(run_spec.connections);

  RunContext context;
  context.addr = *run_spec.target.endpoint.sockaddr();
  probe(run_spec.target.endpoint, context.addr);

  context.request = "GET " + run_spec.target.target +
                    " HTTP/1.1\r\nHost: " + run_spec.target.host_header + "\r\n\r\n";
  context.timeout = run_spec.timeout;
  context.max_requests = run_spec.max_requests;
  context.progress = progress;
  // The caller's token is forwarded into one of our own, so a failure to start every thread can
  // stop the ones already running.
  std::stop_source internal_stop;
  context.stop = internal_stop.get_token();
  std::stop_callback forward_stop(stop, [&internal_stop] { internal_stop.request_stop(); });

  std::vector<std::unique_ptr<Worker>> workers;
  workers.reserve(static_cast<size_t>(run_spec.threads));
  for (int i = 0; i < run_spec.threads; ++i) {
    const int share = run_spec.connections / run_spec.threads +
                      (i < run_spec.connections % run_spec.threads ? 1 : 0);
    workers.push_back(std::make_unique<Worker>(context, share));
  }

  const Clock::time_point start = Clock::now();
  context.window_start = start + run_spec.warmup;
  context.window_end = context.window_start + run_spec.duration;
  {
    std::vector<std::jthread> threads;
    threads.reserve(workers.size());
    try {
      for (auto& worker : workers) threads.emplace_back([w = worker.get()] { w->run(); });
    } catch (...) {
      internal_stop.request_stop();
      throw;
    }
  }

  Clock::time_point end = start;
  for (const auto& worker : workers) {
    result.latency.merge(worker->latency());
    result.requests += worker->requests();
    result.reconnects += worker->reconnects();
    const ErrorCounts& e = worker->errors();
    result.errors.connect += e.connect;
    result.errors.read += e.read;
    result.errors.write += e.write;
    result.errors.timeout += e.timeout;
    result.errors.status += e.status;
    end = std::max(end, worker->end_time());
  }
  end = std::min(end, context.window_end);
  result.elapsed = std::max(Clock::duration::zero(), end - context.window_start);
  return result;
}

}  // namespace iolab
