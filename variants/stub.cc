#include "variants/stub.h"

#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/timerfd.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <functional>
#include <queue>
#include <random>
#include <string>
#include <vector>

#include "core/duration.h"
#include "core/errors.h"
#include "core/http.h"
#include "variants/net.h"

namespace iolab {
namespace {

using Clock = std::chrono::steady_clock;

constexpr size_t kMaxBufferedInput = size_t{1024} * 1024;
constexpr size_t kReadChunk = size_t{16} * 1024;

// A page shaped like nginx's default welcome page, padded or cut to `bytes`.
std::string html_body(size_t bytes) {
  static const std::string kPage =
      "<!DOCTYPE html>\n<html>\n<head>\n<title>iolab upstream stub</title>\n<style>\n"
      "    body { width: 35em; margin: 0 auto; font-family: Tahoma, Verdana, Arial, sans-serif; }\n"
      "</style>\n</head>\n<body>\n<h1>iolab upstream stub</h1>\n"
      "<p>This page stands in for the slow upstream service of the 2017 experiment: it answers\n"
      "every request after a configured delay, as an nginx with a sleeping upstream would.</p>\n"
      "<p>Override the profile per request with "
      "<em>?delay=50ms&amp;status=503&amp;size=100&amp;fault=reset</em>.</p>\n"
      "</body>\n</html>\n";
  std::string body = kPage.substr(0, std::min(bytes, kPage.size()));
  if (body.size() < bytes) {
    body.pop_back();  // keep the final newline last
    body.append(bytes - body.size() - 1, ' ');
    body.push_back('\n');
  }
  return body;
}

std::string response(int status, size_t body_bytes, bool keep_alive) {
  std::string out = "HTTP/1.1 " + std::to_string(status) + " " +
                    std::string(reason_phrase(status)) +
                    "\r\nServer: iolab-stub\r\nContent-Type: text/html\r\nContent-Length: " +
                    std::to_string(body_bytes) + "\r\n";
  out += keep_alive ? "Connection: keep-alive\r\n\r\n" : "Connection: close\r\n\r\n";
  out += html_body(body_bytes);
  return out;
}

struct Conn {
  uint64_t serial = 0;
  std::string in;
  std::string out;
  size_t out_offset = 0;
  bool waiting = false;     // a request is parsed and its timer is pending
  bool keep_alive = true;   // of the request being answered
  bool want_write = false;  // EPOLLOUT registered
  int status = 200;
  size_t body_bytes = 0;
  StubFault fault = StubFault::kNone;
  std::chrono::nanoseconds delay{0};
  Clock::time_point started;
};

struct Timer {
  Clock::time_point deadline;
  int fd;
  uint64_t serial;
  bool operator>(const Timer& o) const { return deadline > o.deadline; }
};

}  // namespace

class UpstreamStub::Loop {
 public:
  Loop(UpstreamStub& owner, int listen_fd)
      : owner_(owner), listen_fd_(listen_fd), sampler_(owner.profile_, std::random_device{}()) {
    epoll_fd_ = ::epoll_create1(EPOLL_CLOEXEC);
    timer_fd_ = ::timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
    wake_fd_ = ::eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    if (epoll_fd_ < 0 || timer_fd_ < 0 || wake_fd_ < 0) {
      for (int fd : {epoll_fd_, timer_fd_, wake_fd_}) {
        if (fd >= 0) ::close(fd);
      }
      throw StartError("stub: epoll set-up failed");
    }
    add(listen_fd_, EPOLLIN);
    add(timer_fd_, EPOLLIN);
    add(wake_fd_, EPOLLIN);
    default_response_ = response(200, owner_.profile_.body_bytes, true);
  }

  ~Loop() {
    for (size_t fd = 0; fd < conns_.size(); ++fd) {
      if (conns_[fd]) ::close(static_cast<int>(fd));
    }
    for (int fd : {listen_fd_, epoll_fd_, timer_fd_, wake_fd_}) {
      if (fd >= 0) ::close(fd);
    }
  }

  void wake() {
    const uint64_t one = 1;
    [[maybe_unused]] const auto n = ::write(wake_fd_, &one, sizeof one);
  }

  void run(const std::stop_token& stop) {
    std::vector<epoll_event> events(1024);
    while (!stop.stop_requested()) {
      const int n = ::epoll_wait(epoll_fd_, events.data(), static_cast<int>(events.size()),
                                 accepting_ ? -1 : static_cast<int>(kAcceptPause.count()));
      if (n < 0) {
        if (errno == EINTR) continue;
        return;
      }
      if (!accepting_ && Clock::now() >= accept_resume_) set_listening(true);
      for (int i = 0; i < n; ++i) {
        const int fd = events[i].data.fd;
        if (fd == listen_fd_) {
          accept_all();
        } else if (fd == timer_fd_) {
          uint64_t expirations = 0;
          [[maybe_unused]] const auto r = ::read(timer_fd_, &expirations, sizeof expirations);
          fire_timers();
        } else if (fd == wake_fd_) {
          uint64_t value = 0;
          [[maybe_unused]] const auto r = ::read(wake_fd_, &value, sizeof value);
        } else {
          on_socket(fd, events[i].events);
        }
      }
    }
  }

 private:
  void add(int fd, uint32_t events) {
    epoll_event ev{};
    ev.events = events;
    ev.data.fd = fd;
    ::epoll_ctl(epoll_fd_, EPOLL_CTL_ADD, fd, &ev);
  }

  void set_write_interest(int fd, Conn& c, bool on) {
    if (c.want_write == on) return;
    c.want_write = on;
    epoll_event ev{};
    ev.events = EPOLLIN | EPOLLRDHUP | (on ? EPOLLOUT : 0u);
    ev.data.fd = fd;
    ::epoll_ctl(epoll_fd_, EPOLL_CTL_MOD, fd, &ev);
  }

  void set_listening(bool on) {
    accepting_ = on;
    epoll_event ev{};
    ev.events = on ? EPOLLIN : 0u;
    ev.data.fd = listen_fd_;
    ::epoll_ctl(epoll_fd_, EPOLL_CTL_MOD, listen_fd_, &ev);
  }

  void accept_all() {
    for (;;) {
      const int fd = ::accept4(listen_fd_, nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC);
      if (fd < 0) {
        // Out of descriptors the listener stays readable; level-triggered, it would wake every
        // epoll_wait at once. The backlog keeps the rest while it is out of the set.
        if (accept_starved(errno)) {
          set_listening(false);
          accept_resume_ = Clock::now() + kAcceptPause;
        }
        return;
      }
      set_nodelay(fd);
      if (static_cast<size_t>(fd) >= conns_.size()) conns_.resize(static_cast<size_t>(fd) + 1024);
      conns_[static_cast<size_t>(fd)] = std::make_unique<Conn>();
      conns_[static_cast<size_t>(fd)]->serial = ++serial_;
      add(fd, EPOLLIN | EPOLLRDHUP);
      owner_.open_.fetch_add(1, std::memory_order_relaxed);
    }
  }

  void close_conn(int fd) {
    ::close(fd);  // also removes it from the epoll set
    conns_[static_cast<size_t>(fd)].reset();
    owner_.open_.fetch_sub(1, std::memory_order_relaxed);
  }

  void on_socket(int fd, uint32_t events) {
    Conn* c =
        static_cast<size_t>(fd) < conns_.size() ? conns_[static_cast<size_t>(fd)].get() : nullptr;
    if (!c) return;
    if (events & EPOLLOUT) {
      if (!flush(fd, *c)) return;
    }
    if (events & (EPOLLIN | EPOLLRDHUP | EPOLLHUP | EPOLLERR)) {
      char buf[kReadChunk];
      for (;;) {
        const ssize_t n = ::read(fd, buf, sizeof buf);
        if (n > 0) {
          c->in.append(buf, static_cast<size_t>(n));
          if (c->in.size() > kMaxBufferedInput) return close_conn(fd);
          continue;
        }
        if (n == 0 || (errno != EAGAIN && errno != EINTR)) return close_conn(fd);
        if (errno == EAGAIN) break;
      }
      next_request(fd, *c);
    }
  }

  // Parses the next buffered request, if no answer is pending, and arms its timer.
  void next_request(int fd, Conn& c) {
    if (c.waiting || !c.out.empty()) return;
    RequestHead head;
    const ParseStatus status = parse_request_head(c.in, head);
    if (status == ParseStatus::kIncomplete) return;
    if (status == ParseStatus::kInvalid) {
      c.out = response(400, 0, false);
      c.keep_alive = false;
      c.status = 400;
      return answer(fd, c);
    }
    if (c.in.size() < head.head_bytes + head.content_length) return;

    const StubProfile& profile = owner_.profile_;
    std::chrono::nanoseconds delay = sampler_.delay();
    c.fault = sampler_.fault();
    c.status = c.fault == StubFault::kError ? profile.faults.error_status : 200;
    c.body_bytes = profile.body_bytes;
    if (!head.query.empty()) {
      if (const auto v = query_param(head.query, "delay")) {
        if (const auto d = parse_duration(*v)) delay = std::min(*d, profile.max_delay);
      }
      if (const auto v = query_param(head.query, "fault")) {
        for (size_t i = 0; i < kStubFaultCount; ++i) {
          if (*v == kStubFaultNames[i]) c.fault = static_cast<StubFault>(i);
        }
        c.status = c.fault == StubFault::kError ? profile.faults.error_status : 200;
      }
      if (const auto v = query_param(head.query, "status")) {
        int s = 0;
        if (std::from_chars(v->data(), v->data() + v->size(), s).ec == std::errc() && s >= 100 &&
            s <= 599) {
          c.status = s;
        }
      }
      if (const auto v = query_param(head.query, "size")) {
        size_t s = 0;
        if (std::from_chars(v->data(), v->data() + v->size(), s).ec == std::errc()) {
          c.body_bytes = std::min(s, profile.max_body_bytes);
        }
      }
    }
    c.keep_alive = head.keep_alive;
    c.in.erase(0, head.head_bytes + head.content_length);
    c.started = Clock::now();
    c.delay = delay;
    c.waiting = true;
    const Timer timer{c.started + delay, fd, c.serial};
    timers_.push(timer);
    if (timers_.top().deadline == timer.deadline) arm(timer.deadline);
  }

  void arm(Clock::time_point deadline) {
    const auto ns = deadline.time_since_epoch().count();
    itimerspec spec{};
    spec.it_value.tv_sec = static_cast<time_t>(ns / 1'000'000'000);
    spec.it_value.tv_nsec = static_cast<long>(ns % 1'000'000'000);
    if (spec.it_value.tv_sec == 0 && spec.it_value.tv_nsec == 0) spec.it_value.tv_nsec = 1;
    ::timerfd_settime(timer_fd_, TFD_TIMER_ABSTIME, &spec, nullptr);
  }

  void fire_timers() {
    const auto now = Clock::now();
    while (!timers_.empty() && timers_.top().deadline <= now) {
      const Timer t = timers_.top();
      timers_.pop();
      Conn* c = static_cast<size_t>(t.fd) < conns_.size() ? conns_[static_cast<size_t>(t.fd)].get()
                                                          : nullptr;
      if (!c || c->serial != t.serial || !c->waiting) continue;  // connection gone meanwhile
      c->waiting = false;
      owner_.delays_.record(c->delay);
      owner_.faults_[static_cast<size_t>(c->fault)].fetch_add(1, std::memory_order_relaxed);
      if (c->fault == StubFault::kClose || c->fault == StubFault::kReset) {
        if (c->fault == StubFault::kReset) {
          // A zero linger makes close() send an RST instead of a FIN.
          const linger abort{1, 0};
          ::setsockopt(t.fd, SOL_SOCKET, SO_LINGER, &abort, sizeof abort);
        }
        close_conn(t.fd);
        continue;
      }
      if (c->status == 200 && c->body_bytes == owner_.profile_.body_bytes && c->keep_alive) {
        c->out = default_response_;
      } else {
        c->out = response(c->status, c->body_bytes, c->keep_alive);
      }
      answer(t.fd, *c);
    }
    if (!timers_.empty()) arm(timers_.top().deadline);
  }

  void answer(int fd, Conn& c) {
    c.out_offset = 0;
    flush(fd, c);
  }

  // Writes what is pending; returns false when the connection was closed.
  bool flush(int fd, Conn& c) {
    switch (send_pending(fd, c.out, c.out_offset)) {
      case SendOutcome::kDone:
        break;
      case SendOutcome::kBlocked:
        set_write_interest(fd, c, true);
        return true;
      case SendOutcome::kFailed:
        close_conn(fd);
        return false;
    }
    if (c.out.empty()) return true;
    set_write_interest(fd, c, false);
    c.out.clear();
    owner_.latency_.record(Clock::now() - c.started);
    owner_.served_.fetch_add(1, std::memory_order_relaxed);
    if (!c.keep_alive) {
      close_conn(fd);
      return false;
    }
    next_request(fd, c);
    return true;
  }

  UpstreamStub& owner_;
  int listen_fd_;
  bool accepting_ = true;  // False while out of descriptors: the listener is out of the set.
  Clock::time_point accept_resume_;
  int epoll_fd_ = -1;
  int timer_fd_ = -1;
  int wake_fd_ = -1;
  uint64_t serial_ = 0;
  std::string default_response_;
  std::vector<std::unique_ptr<Conn>> conns_;
  std::priority_queue<Timer, std::vector<Timer>, std::greater<>> timers_;
  StubSampler sampler_;
};

UpstreamStub::UpstreamStub(StubProfile profile) : profile_(profile) {}

UpstreamStub::~UpstreamStub() { stop(); }

uint16_t UpstreamStub::start(const Endpoint& listen) {
  const int fd = open_listener(listen, /*reuse_port=*/false);
  port_ = bound_port(fd);
  try {
    loop_ = std::make_unique<Loop>(*this, fd);
  } catch (...) {
    ::close(fd);
    throw;
  }
  // The listener is in the epoll set and listening: connections queue in its backlog until the
  // thread's first epoll_wait, and a stop() before that is seen through the eventfd.
  thread_ = std::jthread([this](std::stop_token stop) { loop_->run(stop); });
  return port_;
}

void UpstreamStub::stop() {
  if (!thread_.joinable()) return;
  thread_.request_stop();
  loop_->wake();
  thread_.join();
  loop_.reset();
}

}  // namespace iolab
