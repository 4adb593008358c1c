#include "loadgen/worker.h"

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <time.h>

#include <cerrno>
#include <cstring>

// A connection's life in the event loop: connect, send the batch, read its answers, and close
// or reopen on the server's close, an error or a timeout.

namespace iolab::loadgen {
namespace {

// A refused connection is retried after this pause, so a down server is not hammered in a spin.
constexpr auto kConnectRetryDelay = 10ms;

}  // namespace

void Worker::open(Connection& c, Clock::time_point now) {
  if (c.batch == 0 && exhausted()) {
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
  // The kernel stamps each segment as it arrives (see arrival_time).
  ::setsockopt(c.fd, SOL_SOCKET, SO_TIMESTAMPNS, &one, sizeof(one));
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
  if (c.batch != 0) {
    // Resending what the previous socket lost to a clean close; its clocks keep running.
    c.batch -= c.answers;
    c.answers = 0;
    c.written = 0;
    write_request(c, now);
  } else {
    next_request(c, now);
  }
}

void Worker::on_connect_error(Connection& c, Clock::time_point now) {
  count_error(errors_.connect, now);
  close_socket(c);
  // The requests never reached the server; they fail so a bounded run can still end.
  fail_request(c);
  c.state = State::kRetryWait;
  c.deadline = now + kConnectRetryDelay;
}

void Worker::next_request(Connection& c, Clock::time_point now) {
  // Past the window an answer would not be counted, so asking would only load the server.
  if (now >= context_.window_end) {
    finish(c);
    return;
  }
  uint32_t count = context_.pipeline;
  if (context_.open_loop) {
    const Clock::time_point due = schedule_.slot_time(c.index, c.slot);
    if (due > now) {
      c.state = State::kIdle;
      if (!c.queued) {
        c.queued = true;
        schedule_.push(due, index_of(c));
      }
      return;
    }
    count = 1;
    c.intended = due;
  }
  count = take_tickets(count);
  if (count == 0) {
    finish(c);
    return;
  }
  if (context_.open_loop) {
    ++c.slot;
    if (in_window(now)) schedule_.record_lag(now - c.intended);
  }
  c.batch = count;
  c.answers = 0;
  outstanding_ += count;
  c.request_start = now;
  c.written = 0;
  write_request(c, now);
}

void Worker::write_request(Connection& c, Clock::time_point now) {
  const size_t size = c.batch * context_.request_bytes;
  const char* data = context_.batch.data();
  while (c.written < size) {
    const ssize_t n = ::send(c.fd, data + c.written, size - c.written, MSG_NOSIGNAL);
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
        count_error(errors_.read, now);
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
      if (result.outcome == ResponseParser::Outcome::kError || c.batch == 0 ||
          c.answers >= c.written / context_.request_bytes) {
        // Garbage, or an answer to nothing we asked (or have not finished asking).
        count_error(errors_.read, now);
        fail_request(c);
        reopen(c, now);
        return;
      }
      offset += result.consumed;
      if (!on_response(c, now, arrival)) return;
    }
    // Level-triggered: a short read drained the socket, a full one may have left more.
    if (size < kReadBufferBytes) return;
  }
}

// `arrival` ends the latency (see arrival_time); everything else happens at `now`, when the
// answer is read: the window and the timeline's second it counts in, and what follows it.
// Counting by arrival would miss seconds already handed over while the answer waited unread.
bool Worker::on_response(Connection& c, Clock::time_point now, Clock::time_point arrival) {
  const int status = c.parser.status();
  const bool bad_status = status < 200 || status > 399;
  const auto latency = arrival - (context_.open_loop ? c.intended : c.request_start);
  if (in_window(now)) {
    ++requests_;
    latency_.record(latency);
    if (context_.open_loop) uncorrected_.record(arrival - c.request_start);
    if (bad_status) ++errors_.status;
  }
  ++progress_requests_;
  pacer_.on_answer();
  IntervalSlot& slot = timeline_.slot_at(now);
  ++slot.requests;
  slot.latency.record(std::chrono::nanoseconds(latency).count());
  if (bad_status) {
    ++progress_errors_;
    ++slot.errors;
  }
  ++c.answers;
  --outstanding_;
  c.answered = true;
  if (c.answers == c.batch) c.batch = c.answers = 0;

  if (c.parser.should_close()) {
    if (in_window(now)) ++reconnects_;
    reopen(c, now);
    return false;
  }
  if (c.batch != 0) return true;  // More answers of this batch are due.
  if (!context_.open_loop) {
    ready_.push_back({index_of(c), c.generation});
    return true;  // Anything more the server sends now is an answer to nothing: an error.
  }
  const uint32_t generation = c.generation;
  next_request(c, now);
  // An idle connection reads on: whatever else the server sends is an error.
  return c.generation == generation;
}

void Worker::on_eof(Connection& c, Clock::time_point now) {
  if (c.parser.on_eof()) {
    if (c.batch != 0 && c.answers < c.written / context_.request_bytes) {
      on_response(c, now, now);  // Closes and reopens: a close-delimited body means should_close.
    } else {
      count_error(errors_.read, now);
      fail_request(c);
      reopen(c, now);
    }
    return;
  }
  if (c.parser.in_progress() || (c.batch != 0 && !c.answered)) {
    // Cut short mid-response, or a fresh socket closed without a word.
    count_error(errors_.read, now);
    fail_request(c);
    reopen(c, now);
    return;
  }
  on_peer_closed(c, now);
}

void Worker::on_peer_closed(Connection& c, Clock::time_point now) {
  // The server closed a kept-alive socket that had answered before. Requests still in flight on
  // it may have crossed an idle close, or died with the server: whether it saw them is unknown.
  // Idempotent ones are sent again on a new socket, keeping their tickets and start times, and
  // counted as resent so a crashing server does not go unseen; any other is a read error.
  const uint32_t unanswered = c.batch - c.answers;
  if (unanswered != 0 && !context_.idempotent) {
    count_error(errors_.read, now);
    fail_request(c);
    reopen(c, now);
    return;
  }
  if (in_window(now)) {
    ++reconnects_;
    resent_ += unanswered;
  }
  close_socket(c);
  open(c, now);
}

void Worker::fail_request(Connection& c) {
  outstanding_ -= c.batch - c.answers;
  c.batch = 0;
  c.answers = 0;
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

}  // namespace iolab::loadgen
