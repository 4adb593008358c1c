#include "loadgen/worker.h"

#include <sys/prctl.h>
#include <time.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <string>

namespace iolab::loadgen {
namespace {

// Timeouts and retry waits are checked this often; it bounds their lateness.
constexpr auto kSweepInterval = 10ms;
// The most one sweep spends before it yields to the event loop. Against a listener whose queue
// is full a loopback connect() costs ~0.5 ms, so reconnecting thousands of timed-out connections
// in one pass froze the loop for seconds: no answers, timeouts or seconds were seen meanwhile.
// Past it, a sweep still counts every timeout but leaves the remaining connects to the next
// sweep, which follows at once and starts where this one stopped.
constexpr auto kSweepBudget = 2ms;
// Connections opened between two looks at the clock during a sweep.
constexpr int kReopensPerClockRead = 8;
// Also the longest wait for events, so a stop request, the deadline or the end of a second is
// seen within it.
constexpr auto kMaxWait = 10ms;
constexpr auto kProgressInterval = 50ms;

}  // namespace

Worker::Worker(RunContext& context, int connections, uint64_t first_index)
    : context_(context),
      connections_(static_cast<size_t>(connections)),
      schedule_(context, static_cast<size_t>(connections)) {
  epoll_fd_ = ::epoll_create1(EPOLL_CLOEXEC);
  if (epoll_fd_ < 0) {
    throw RunError(std::string("cannot create an epoll set: ") + std::strerror(errno));
  }
  read_buffer_ = std::make_unique<char[]>(kReadBufferBytes);
  for (size_t i = 0; i < connections_.size(); ++i) {
    connections_[i].index = first_index + i;
    connections_[i].parser.set_no_body(context_.head);
    connections_[i].parser.set_max_head_bytes(context_.max_head_bytes);
  }
  ready_.reserve(connections_.size());
}

Worker::~Worker() {
  for (Connection& c : connections_) close_quietly(c.fd);
  close_quietly(epoll_fd_);
}

bool Worker::set_interest(Connection& c, int op, uint32_t events) {
  epoll_event event{};
  event.events = events;
  event.data.u64 = event_key(c);
  return ::epoll_ctl(epoll_fd_, op, c.fd, &event) == 0;
}

void Worker::run() noexcept {
  // Timers of this thread fire when asked rather than up to 50 us late (the default slack): the
  // pauses and the open loop's schedule are shorter than that.
  ::prctl(PR_SET_TIMERSLACK, 1UL, 0UL, 0UL, 0UL);
  Clock::time_point now = Clock::now();
  pacer_.begin(now);
  timeline_.begin(now, context_.start);
  // The first connects go through the sweep too, so its budget applies: thousands of them
  // against a loaded listener would otherwise take the whole run before the loop starts.
  for (Connection& c : connections_) c.deadline = now;
  sweep(now);
  Clock::time_point last_sweep = now;
  Clock::time_point last_flush = now;

  while (true) {
    now = Clock::now();
    if (context_.stop.stop_requested() || now >= context_.window_end) break;
    if (outstanding_ == 0 && exhausted()) break;

    Clock::time_point wake = std::min(now + kMaxWait, context_.window_end);
    if (!schedule_.empty()) wake = std::min(wake, schedule_.next_due());
    if (more_to_open_) wake = now;
    wait_for_events(wake - now);

    now = Clock::now();
    if (!schedule_.empty() && schedule_.next_due() <= now) send_due(now);
    timeline_.advance(now);
    if (more_to_open_ || now - last_sweep >= kSweepInterval) {
      pacer_.update(outstanding_, now);
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
  timeline_.close();
}

int Worker::poll_events(Clock::duration wait) {
  const auto ns = std::max<int64_t>(0, std::chrono::nanoseconds(wait).count());
  if (ns == 0) return ::epoll_wait(epoll_fd_, events_.data(), kMaxEvents, 0);
  // epoll_pwait2 takes nanoseconds: the open loop's schedule needs better than epoll_wait's
  // milliseconds.
  int n = -1;
  if (have_pwait2_) {
    const timespec timeout{static_cast<time_t>(ns / 1'000'000'000),
                           static_cast<long>(ns % 1'000'000'000)};
    n = ::epoll_pwait2(epoll_fd_, events_.data(), kMaxEvents, &timeout, nullptr);
    if (n < 0 && errno == ENOSYS) have_pwait2_ = false;  // A kernel before 5.11.
  }
  if (!have_pwait2_) {
    n = ::epoll_wait(epoll_fd_, events_.data(), kMaxEvents,
                     static_cast<int>((ns + 999'999) / 1'000'000));
  }
  return n;
}

void Worker::wait_for_events(Clock::duration wait) {
  int n = 0;
  // Pacing (see loadgen/pacing.h): nothing ready yet, so sleep briefly and collect what came.
  if (pacer_.pause() > Clock::duration::zero() && wait > Clock::duration::zero()) {
    n = poll_events(Clock::duration::zero());
    if (n == 0) {
      const auto pause = std::chrono::nanoseconds(std::min(pacer_.pause(), wait));
      const timespec ts{0, static_cast<long>(pause.count())};
      ::nanosleep(&ts, nullptr);
      wait -= pause;
      n = poll_events(Clock::duration::zero());
    }
  }
  if (n == 0) n = poll_events(wait);
  for (int i = 0; i < n; ++i) handle_event(events_[static_cast<size_t>(i)]);
  if (!ready_.empty()) {
    // The closed loop's next requests go out together, after every answer of the batch is read:
    // the server then finds them in one wake-up rather than one at a time (measured against
    // nginx: a few percent more answers a second for the same server CPU).
    for (const Ready& r : ready_) {
      Connection& c = connections_[r.index];
      if (c.generation == r.generation && c.batch == 0 && c.state == State::kReading) {
        // Each send its own time: a latency starts when its request leaves, not its batch.
        next_request(c, Clock::now());
      }
    }
    ready_.clear();
  }
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

// When the last segment of a read reached the socket, on the steady clock. An answer ends when its
// last byte arrives, not when this thread gets round to reading it: after a pause, behind a
// batch of other answers, or descheduled on a busy machine. The kernel's receive timestamp
// (SO_TIMESTAMPNS, the realtime clock) says when; its age on the realtime clock is taken off
// the steady clock's `now`. Without a timestamp, or with one outside [sent, now] (the realtime
// clock was set meanwhile), it is `now`.
Clock::time_point Worker::arrival_time(const msghdr& message, Clock::time_point sent,
                                       Clock::time_point now) const {
  for (const cmsghdr* cmsg = CMSG_FIRSTHDR(&message); cmsg != nullptr;
       cmsg = CMSG_NXTHDR(const_cast<msghdr*>(&message), const_cast<cmsghdr*>(cmsg))) {
    if (cmsg->cmsg_level != SOL_SOCKET || cmsg->cmsg_type != SCM_TIMESTAMPNS) continue;
    timespec stamp{};
    std::memcpy(&stamp, CMSG_DATA(cmsg), sizeof(stamp));
    timespec real_now{};
    ::clock_gettime(CLOCK_REALTIME, &real_now);
    const auto age = std::chrono::seconds(real_now.tv_sec - stamp.tv_sec) +
                     std::chrono::nanoseconds(real_now.tv_nsec - stamp.tv_nsec);
    const Clock::time_point arrival = now - std::chrono::duration_cast<Clock::duration>(age);
    return arrival >= sent && arrival <= now ? arrival : now;
  }
  return now;
}

void Worker::on_readable(Connection& c) {
  char* buffer = read_buffer_.get();
  while (true) {
    iovec iov{buffer, kReadBufferBytes};
    alignas(cmsghdr) char control[CMSG_SPACE(sizeof(timespec))];
    msghdr message{};
    message.msg_iov = &iov;
    message.msg_iovlen = 1;
    message.msg_control = control;
    message.msg_controllen = sizeof(control);
    const ssize_t n = ::recvmsg(c.fd, &message, 0);
    if (n < 0) {
      if (errno == EINTR) continue;
      if (errno == EAGAIN || errno == EWOULDBLOCK) return;
      const Clock::time_point now = Clock::now();
      if (errno == ECONNRESET && c.answered && c.batch != 0 && !c.parser.in_progress()) {
        // A reset instead of a FIN when the server closed with our next request unread.
        on_peer_closed(c, now);
      } else {
        count_lost(errors_.read, c, now);
        fail_request(c);
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
    // Read from the clocks once an answer completes in this read.
    Clock::time_point now{};
    Clock::time_point arrival{};
    while (offset < size) {
      const ResponseParser::FeedResult result = c.parser.feed(buffer + offset, size - offset);
      if (result.outcome == ResponseParser::Outcome::kNeedMore) break;
      if (now == Clock::time_point{}) {
        now = Clock::now();
        arrival = arrival_time(message, c.request_start, now);
      }
      if (result.outcome == ResponseParser::Outcome::kError) {
        on_protocol_error(c, now, {c.parser.error(), c.parser.error_offset()});
        return;
      }
      // An answer may come before its request is all written (an early answer, see
      // on_response), never before its first byte is.
      if (c.batch == 0 || c.answers * context_.request_bytes >= c.written) {
        on_protocol_error(c, now, {"an answer to no request", 0});
        return;
      }
      offset += result.consumed;
      if (!on_response(c, now, arrival)) return;
    }
    // Level-triggered: a short read drained the socket, a full one may have left more.
    if (size < kReadBufferBytes) return;
  }
}

// A send failed. A server that answers early and closes (nginx's 413, gunicorn) makes the send
// fail while its answer waits unread: it is read before anything is counted. True when reading
// took the connection over (an answer, or an error of its own).
bool Worker::read_before_write_error(Connection& c) {
  if (errno != EPIPE && errno != ECONNRESET) return false;
  const uint32_t generation = c.generation;
  on_readable(c);
  return c.generation != generation;
}

void Worker::send_due(Clock::time_point now) {
  uint32_t index = 0;
  while (schedule_.pop_due(now, index)) {
    Connection& c = connections_[index];
    c.queued = false;
    // A connection that went away meanwhile asks again when it is connected.
    if (c.state == State::kIdle) next_request(c, Clock::now());
  }
}

void Worker::sweep(Clock::time_point now) {
  const bool no_more_requests = exhausted();
  const Clock::time_point budget_end = now + kSweepBudget;
  bool can_open = true;
  int opens = 0;
  size_t resume_at = sweep_cursor_;
  more_to_open_ = false;
  // Counting a timeout and closing its socket is cheap and done for every connection at once;
  // connecting again is what costs, so it is what the budget limits.
  auto open_or_defer = [&](Connection& c, size_t i) {
    if (!can_open) {
      more_to_open_ = true;
      return;
    }
    open(c, now);
    if (++opens % kReopensPerClockRead == 0 && Clock::now() >= budget_end) {
      can_open = false;
      resume_at = (i + 1) % connections_.size();
    }
  };
  auto time_out = [&](Connection& c, size_t i) {
    count_lost(errors_.timeout, c, now);
    fail_request(c);
    close_socket(c);
    c.state = State::kRetryWait;
    c.deadline = now;
    open_or_defer(c, i);
  };
  const size_t n = connections_.size();
  for (size_t visited = 0; visited < n; ++visited) {
    const size_t i = (sweep_cursor_ + visited) % n;
    Connection& c = connections_[i];
    switch (c.state) {
      case State::kFinished:
      case State::kIdle:
        break;
      case State::kRetryWait:
        if (no_more_requests && c.batch == 0) {
          finish(c);
        } else if (now >= c.deadline) {
          open_or_defer(c, i);
        }
        break;
      case State::kConnecting:
        if (no_more_requests && c.batch == 0) {
          finish(c);
        } else if (c.batch != 0 && now - c.request_start >= context_.timeout) {
          time_out(c, i);
        } else if (now >= c.deadline) {
          on_connect_error(c, now);
        }
        break;
      case State::kWriting:
      case State::kReading:
        if (c.batch != 0 && now - c.request_start >= context_.timeout) time_out(c, i);
        break;
    }
  }
  // The next sweep starts with the connections this one had no time to open.
  sweep_cursor_ = resume_at;
}

void Worker::flush_progress() {
  if (context_.progress != nullptr && (progress_requests_ != 0 || progress_errors_ != 0)) {
    context_.progress->add(progress_requests_, progress_errors_);
  }
  progress_requests_ = 0;
  progress_errors_ = 0;
}

}  // namespace iolab::loadgen
