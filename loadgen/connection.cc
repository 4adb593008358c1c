#include "loadgen/worker.h"

#include <netinet/in.h>
#include <netinet/tcp.h>

#include <cerrno>

// A connection's life in the event loop: connect, send the batch, take each answer read for it,
// and close or reopen on the server's close or an error.

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
  if (!bind_source(c.fd, context_)) {
    on_connect_error(c, now);
    return;
  }
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
    if (!read_before_write_error(c)) {
      count_lost(errors_.write, c, now);
      fail_request(c);
      reopen(c, now);
    }
    return;
  }
  c.state = State::kReading;
  if (c.want_write) {
    c.want_write = false;
    set_interest(c, EPOLL_CTL_MOD, EPOLLIN);
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
  // An early answer: the server answered before reading all of its request (a 413 for a body
  // too large, a handler that never reads the body). The rest of the body is abandoned, which
  // HTTP/1.1 allows only by closing the connection (RFC 9112 9.6).
  const bool early = c.written < (c.answers + 1) * context_.request_bytes;
  ++c.answers;
  --outstanding_;
  c.answered = true;
  if (c.answers == c.batch) c.batch = c.answers = 0;

  if (early || c.parser.should_close()) {
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
    if (c.batch != 0 && c.answers * context_.request_bytes < c.written) {
      on_response(c, now, now);  // Closes and reopens: a close-delimited body means should_close.
    } else {
      on_protocol_error(c, now, {"an answer to no request", 0});
    }
    return;
  }
  if (c.parser.in_progress() || (c.batch != 0 && !c.answered)) {
    // Cut short mid-response, or a fresh socket closed without a word.
    count_lost(errors_.read, c, now);
    fail_request(c);
    reopen(c, now);
    return;
  }
  on_peer_closed(c, now);
}

// Bytes that are no answer, or an answer to nothing asked: the stream cannot be trusted further.
// The run's first such error is kept with its reason (warm-up included).
void Worker::on_protocol_error(Connection& c, Clock::time_point now, ProtocolError error) {
  if (!context_.protocol_error_seen.test_and_set(std::memory_order_relaxed)) {
    context_.first_protocol_error = error;
    if (context_.progress != nullptr) context_.progress->set_protocol_error(error);
  }
  count_lost(errors_.protocol, c, now);
  fail_request(c);
  reopen(c, now);
}

void Worker::on_peer_closed(Connection& c, Clock::time_point now) {
  // The server closed a kept-alive socket that had answered before. Requests still in flight on
  // it may have crossed an idle close, or died with the server: whether it saw them is unknown.
  // Idempotent ones are sent again on a new socket, keeping their tickets and start times, and
  // counted as resent so a crashing server does not go unseen; any other is a read error.
  const uint32_t unanswered = c.batch - c.answers;
  if (unanswered != 0 && !context_.idempotent) {
    count_lost(errors_.read, c, now);
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
