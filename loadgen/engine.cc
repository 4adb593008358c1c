#include "loadgen/engine.h"

#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/epoll.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <cmath>
#include <cstring>
#include <limits>
#include <string>
#include <thread>
#include <vector>

#include "core/duration.h"
#include "core/response_parser.h"
#include "loadgen/interval_histogram.h"
#include "loadgen/request.h"

namespace iolab {
namespace {

using Clock = std::chrono::steady_clock;

// A refused connection is retried after this pause, so a down server is not hammered in a spin.
constexpr auto kConnectRetryDelay = 10ms;
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
// How often the thread that called run_load gathers the seconds the workers have finished.
constexpr auto kCollectInterval = 10ms;
constexpr int kProbeTimeoutMs = 2000;
// Descriptors kept free beyond the connections: epoll sets, the probe, the rest of the process.
constexpr rlim_t kSpareFds = 64;
constexpr size_t kReadBufferBytes = size_t{64} * 1024;
constexpr int kMaxEvents = 256;
constexpr int kMaxPipeline = 1024;
// Finished seconds a worker may hand over before the collector drains them. Past that (the
// collecting thread starved for seconds) the worker's share of later seconds is dropped from
// the timeline; the histograms of record are not affected.
constexpr size_t kIntervalSlots = 4;
// Seconds the collector holds open at once while waiting for every worker to finish them.
constexpr size_t kOpenSeconds = 8;
constexpr int64_t kNoSecond = -1;

// What every worker reads; written once before the threads start.
struct RunContext {
  sockaddr_in addr{};
  std::string batch;  // `pipeline` copies of the request, back to back.
  size_t request_bytes = 0;
  uint32_t pipeline = 1;
  bool open_loop = false;
  bool head = false;
  // The method may be repeated without a different effect (RFC 9110 9.2.2): a request of it left
  // unanswered on a kept-alive socket the server closed may be sent again.
  bool idempotent = true;
  double ns_per_request = 0;  // Open loop: the schedule's spacing over all connections.
  uint64_t connections = 0;   // In all threads.
  Clock::time_point start;    // Origin of the schedule and of the timeline's seconds.
  Clock::time_point window_start;
  Clock::time_point window_end;
  Clock::duration timeout{};
  uint64_t max_requests = 0;
  std::atomic<uint64_t> tickets{0};  // Requests handed out, when max_requests != 0.
  std::stop_token stop;
  LoadProgress* progress = nullptr;
};

// One second of one worker's share of the timeline, handed to the collecting thread when the
// second ends.
struct IntervalSlot {
  IntervalHistogram latency;
  uint64_t requests = 0;
  uint64_t errors = 0;
  // kNoSecond while the slot is free or being written by its worker; the second's index once
  // published, until the collector has read and reset it.
  std::atomic<int64_t> second{kNoSecond};

  void clear() noexcept {
    latency.reset();
    requests = 0;
    errors = 0;
  }
};

void close_quietly(int fd) {
  // A close() error on a socket we are done with changes nothing we could act on.
  if (fd >= 0) ::close(fd);
}

// One event loop and the connections it owns. Built on the caller's thread (may throw); run() is
// the hot path and neither throws nor allocates.
class Worker {
 public:
  Worker(RunContext& context, int connections, uint64_t first_index)
      : context_(context), connections_(static_cast<size_t>(connections)) {
    epoll_fd_ = ::epoll_create1(EPOLL_CLOEXEC);
    if (epoll_fd_ < 0) {
      throw RunError(std::string("cannot create an epoll set: ") + std::strerror(errno));
    }
    read_buffer_ = std::make_unique<char[]>(kReadBufferBytes);
    slots_ = std::make_unique<IntervalSlot[]>(kIntervalSlots);
    scratch_ = std::make_unique<IntervalSlot>();
    slot_ = &slots_[0];
    for (size_t i = 0; i < connections_.size(); ++i) {
      connections_[i].index = first_index + i;
      connections_[i].parser.set_no_body(context_.head);
    }
    if (context_.open_loop) send_queue_.reserve(connections_.size());
    ready_.reserve(connections_.size());
  }

  Worker(const Worker&) = delete;
  Worker& operator=(const Worker&) = delete;

  ~Worker() {
    for (Connection& c : connections_) close_quietly(c.fd);
    close_quietly(epoll_fd_);
  }

  void run() noexcept;

  const LatencyHistogram& latency() const { return latency_; }
  const LatencyHistogram& uncorrected() const { return uncorrected_; }
  const ErrorCounts& errors() const { return errors_; }
  uint64_t requests() const { return requests_; }
  uint64_t reconnects() const { return reconnects_; }
  uint64_t resent() const { return resent_; }
  Clock::time_point end_time() const { return end_time_; }
  int64_t lag_max_ns() const { return lag_max_ns_; }
  int64_t lag_sum_ns() const { return lag_sum_ns_; }
  uint64_t lag_count() const { return lag_count_; }

  /// The collector's side of the timeline hand-over. Published slots carry their second.
  IntervalSlot* slots() { return slots_.get(); }
  /// True once run() has returned and published its last second.
  bool done() const { return done_.load(std::memory_order_acquire); }

 private:
  enum class State : uint8_t {
    kRetryWait,   // After a connect error, until retry_at.
    kConnecting,  // Non-blocking connect in flight; waiting for EPOLLOUT.
    kIdle,        // Open loop: connected, waiting for its next slot of the schedule.
    kWriting,     // Batch partly written; waiting for EPOLLOUT.
    kReading,     // Batch written; waiting for the answers.
    kFinished,    // No more requests to send (max_requests reached, or the window is over).
  };

  struct Connection {
    ResponseParser parser;
    Clock::time_point request_start;  // When writing the current batch began.
    Clock::time_point intended;       // Open loop: when the schedule meant it to be sent.
    Clock::time_point deadline;       // kRetryWait: when to retry; kConnecting: connect timeout.
    uint64_t index = 0;               // Among all connections of the run: its place in the
                                      // schedule.
    uint64_t slot = 0;                // Open loop: requests this connection has sent.
    size_t written = 0;
    uint32_t batch = 0;    // Requests held (sent or to resend), not yet answered or failed.
    uint32_t answers = 0;  // Of those, answered on this socket.
    int fd = -1;
    uint32_t generation = 0;  // Bumped on close so events for an old socket are recognised.
    State state = State::kRetryWait;
    bool answered = false;    // This socket has completed at least one response.
    bool want_write = false;  // EPOLLOUT is in the registered interest.
    bool queued = false;      // Open loop: in send_queue_, under its next slot's time.
  };

  // Open loop: a connection waiting for its next slot.
  struct QueueEntry {
    Clock::time_point due;
    uint32_t index;
  };
  static bool later(const QueueEntry& a, const QueueEntry& b) { return a.due > b.due; }

  bool in_window(Clock::time_point t) const {
    return t >= context_.window_start && t < context_.window_end;
  }
  bool exhausted() const {
    return context_.max_requests != 0 &&
           context_.tickets.load(std::memory_order_relaxed) >= context_.max_requests;
  }
  // Up to `wanted` requests of the run's budget; 0 when it is spent.
  uint32_t take_tickets(uint32_t wanted) {
    if (context_.max_requests == 0) return wanted;
    const uint64_t before = context_.tickets.fetch_add(wanted, std::memory_order_relaxed);
    if (before >= context_.max_requests) return 0;
    return static_cast<uint32_t>(std::min<uint64_t>(wanted, context_.max_requests - before));
  }
  void count_error(uint64_t& counter, Clock::time_point now) {
    if (in_window(now)) ++counter;
    ++progress_errors_;
    ++slot_at(now).errors;
  }
  // The timeline's slot for an event at `now`, so each lands in the second it happened in.
  IntervalSlot& slot_at(Clock::time_point now) {
    while (now >= second_end_) publish_second();
    return *slot_;
  }
  Clock::time_point slot_time(const Connection& c) const {
    const double offset_ns =
        static_cast<double>(c.index + c.slot * context_.connections) * context_.ns_per_request;
    return context_.start + std::chrono::nanoseconds(static_cast<int64_t>(offset_ns));
  }

  uint64_t event_key(const Connection& c) const {
    return (static_cast<uint64_t>(&c - connections_.data()) << 32) | c.generation;
  }
  bool set_interest(Connection& c, int op, uint32_t events);

  void wait_for_events(Clock::duration wait);
  int poll_events(Clock::duration wait);
  void update_pause(Clock::time_point now);
  void handle_event(const epoll_event& event);
  void open(Connection& c, Clock::time_point now);
  void on_connected(Connection& c, Clock::time_point now);
  void on_connect_error(Connection& c, Clock::time_point now);
  void next_request(Connection& c, Clock::time_point now);
  void send_due(Clock::time_point now);
  void write_request(Connection& c, Clock::time_point now);
  Clock::time_point arrival_time(const msghdr& message, Clock::time_point sent,
                                 Clock::time_point now) const;
  void on_readable(Connection& c);
  bool on_response(Connection& c, Clock::time_point now, Clock::time_point arrival);
  void on_eof(Connection& c, Clock::time_point now);
  void on_peer_closed(Connection& c, Clock::time_point now);
  void fail_request(Connection& c);
  void close_socket(Connection& c);
  void reopen(Connection& c, Clock::time_point now);
  void finish(Connection& c);
  void sweep(Clock::time_point now);
  void flush_progress();
  void publish_second();

  RunContext& context_;
  std::vector<Connection> connections_;  // Never resized after construction: events index it.
  size_t sweep_cursor_ = 0;              // Where the next sweep starts (see kSweepBudget).
  bool more_to_open_ = false;            // The last sweep ran out of budget with opens due.
  std::vector<QueueEntry> send_queue_;   // A min-heap on due; capacity for every connection.
  // Closed loop: connections whose answers are all in, to send again after this batch of events.
  struct Ready {
    uint32_t index;
    uint32_t generation;
  };
  std::vector<Ready> ready_;  // Capacity for every connection: each is in it at most once.
  std::unique_ptr<char[]> read_buffer_;
  std::array<epoll_event, kMaxEvents> events_{};
  LatencyHistogram latency_;
  LatencyHistogram uncorrected_;  // Open loop only.
  ErrorCounts errors_;
  uint64_t requests_ = 0;
  uint64_t reconnects_ = 0;
  uint64_t resent_ = 0;
  uint64_t outstanding_ = 0;  // Requests held by connections.
  uint64_t progress_requests_ = 0;
  uint64_t progress_errors_ = 0;
  int64_t lag_max_ns_ = 0;
  int64_t lag_sum_ns_ = 0;
  uint64_t lag_count_ = 0;
  std::unique_ptr<IntervalSlot[]> slots_;  // A ring of kIntervalSlots.
  std::unique_ptr<IntervalSlot> scratch_;  // Written when the ring is full; never published.
  IntervalSlot* slot_ = nullptr;           // The slot of the current second.
  size_t slot_index_ = 0;                  // slot_'s place in the ring, unless it is scratch_.
  int64_t second_ = 0;                     // The current second of the timeline.
  Clock::time_point second_end_;
  Clock::time_point end_time_;
  std::atomic<bool> done_{false};
  bool have_pwait2_ = true;
  Clock::duration pause_{};  // Zero: block in epoll_wait (see pacing_pause).
  uint64_t answers_since_update_ = 0;
  Clock::time_point pause_updated_;
  int epoll_fd_ = -1;
};

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
  pause_updated_ = now;
  second_ =
      std::max<int64_t>(0, std::chrono::floor<std::chrono::seconds>(now - context_.start).count());
  second_end_ = context_.start + std::chrono::seconds(second_ + 1);
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
    if (!send_queue_.empty()) wake = std::min(wake, send_queue_.front().due);
    if (more_to_open_) wake = now;
    wait_for_events(wake - now);

    now = Clock::now();
    if (!send_queue_.empty() && send_queue_.front().due <= now) send_due(now);
    while (now >= second_end_) publish_second();
    if (more_to_open_ || now - last_sweep >= kSweepInterval) {
      update_pause(now);
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
  publish_second();
  done_.store(true, std::memory_order_release);
}

// Pacing. A thread blocked in epoll_wait is woken by the server's own send(): on loopback the
// server's CPU runs the wake-up of the thread it sends to. Against a saturated server every
// wake-up it pays is time it does not serve, and a lean client that goes back to sleep after a
// handful of answers costs it one every few answers. Against nginx with one worker at -c50 this
// engine slept about 21k times a second (wrk, which spends longer per answer, 11k) and got 4 %
// fewer answers than wrk while using 18 % less CPU. So while answers come fast and many
// requests are in flight, a worker that finds nothing ready sleeps on a timer for a fraction of
// a round trip and then collects everything that came meanwhile: the server's sends find no
// sleeper to wake. When even the pause finds nothing, the worker blocks as usual.
// The pause comes from pacing_pause(), refreshed at every sweep from the answers since the last.
void Worker::update_pause(Clock::time_point now) {
  pause_ = pacing_pause(outstanding_, answers_since_update_, now - pause_updated_);
  answers_since_update_ = 0;
  pause_updated_ = now;
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
  if (pause_ > Clock::duration::zero() && wait > Clock::duration::zero()) {
    n = poll_events(Clock::duration::zero());
    if (n == 0) {
      const auto pause = std::chrono::nanoseconds(std::min(pause_, wait));
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
    const Clock::time_point due = slot_time(c);
    if (due > now) {
      c.state = State::kIdle;
      if (!c.queued) {
        c.queued = true;
        send_queue_.push_back({due, static_cast<uint32_t>(&c - connections_.data())});
        std::push_heap(send_queue_.begin(), send_queue_.end(), later);
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
    if (in_window(now)) {
      // The coordinated-omission correction in numbers: how late this request leaves.
      const int64_t lag = std::chrono::nanoseconds(now - c.intended).count();
      lag_max_ns_ = std::max(lag_max_ns_, lag);
      lag_sum_ns_ += lag;
      ++lag_count_;
    }
  }
  c.batch = count;
  c.answers = 0;
  outstanding_ += count;
  c.request_start = now;
  c.written = 0;
  write_request(c, now);
}

void Worker::send_due(Clock::time_point now) {
  while (!send_queue_.empty() && send_queue_.front().due <= now) {
    std::pop_heap(send_queue_.begin(), send_queue_.end(), later);
    Connection& c = connections_[send_queue_.back().index];
    send_queue_.pop_back();
    c.queued = false;
    // A connection that went away meanwhile asks again when it is connected.
    if (c.state == State::kIdle) next_request(c, Clock::now());
  }
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
  ++answers_since_update_;
  IntervalSlot& slot = slot_at(now);
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
    ready_.push_back({static_cast<uint32_t>(&c - connections_.data()), c.generation});
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
    count_error(errors_.timeout, now);
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

void Worker::publish_second() {
  if (slot_ == scratch_.get()) {
    slot_->clear();
  } else {
    slot_->second.store(second_, std::memory_order_release);
  }
  ++second_;
  second_end_ += 1s;
  const size_t next = (slot_index_ + 1) % kIntervalSlots;
  if (slots_[next].second.load(std::memory_order_acquire) == kNoSecond) {
    slot_index_ = next;
    slot_ = &slots_[next];
  } else {
    slot_ = scratch_.get();
  }
}

// Gathers the workers' finished seconds into the timeline, each second once every worker has
// finished it. Runs on the thread that called run_load, off the hot path.
class TimelineCollector {
 public:
  TimelineCollector(std::vector<std::unique_ptr<Worker>>& workers, const RunContext& context,
                    std::vector<TimelinePoint>& timeline)
      : workers_(workers),
        context_(context),
        timeline_(timeline),
        open_(std::make_unique<OpenSecond[]>(kOpenSeconds)),
        seen_(workers.size(), kNoSecond) {}

  /// Takes what the workers have published; completes the seconds every running worker has
  /// finished. The seconds at the end of the run wait for finish().
  void collect() {
    int64_t complete = std::numeric_limits<int64_t>::max();
    bool running = false;
    for (size_t w = 0; w < workers_.size(); ++w) {
      // Read before the slots: a worker marks itself done only after publishing its last one.
      const bool done = workers_[w]->done();
      IntervalSlot* slots = workers_[w]->slots();
      for (size_t i = 0; i < kIntervalSlots; ++i) {
        const int64_t second = slots[i].second.load(std::memory_order_acquire);
        if (second == kNoSecond) continue;
        take(second, slots[i]);
        slots[i].clear();
        slots[i].second.store(kNoSecond, std::memory_order_release);
        seen_[w] = std::max(seen_[w], second);
      }
      if (!done) {
        running = true;
        complete = std::min(complete, seen_[w]);
      }
    }
    if (!running) return;
    while (next_ <= complete) complete_second();
  }

  /// After the workers have stopped: completes every second that began before `end`, the last
  /// one possibly partial.
  void finish(Clock::time_point end) {
    collect();
    const int64_t limit = std::chrono::ceil<std::chrono::seconds>(end - context_.start).count();
    while (next_ < limit) complete_second();
  }

  bool all_done() const {
    return std::all_of(workers_.begin(), workers_.end(), [](const auto& w) { return w->done(); });
  }

 private:
  struct OpenSecond {
    IntervalHistogram latency;
    uint64_t requests = 0;
    uint64_t errors = 0;
  };

  void take(int64_t second, const IntervalSlot& slot) {
    // A worker far ahead of another (one starved for seconds) forces the oldest seconds out.
    while (second >= next_ + static_cast<int64_t>(kOpenSeconds)) complete_second();
    if (second < next_) return;  // Too late for a second already in the timeline.
    OpenSecond& open = open_[static_cast<size_t>(second) % kOpenSeconds];
    open.latency.add(slot.latency);
    open.requests += slot.requests;
    open.errors += slot.errors;
  }

  void complete_second() {
    OpenSecond& open = open_[static_cast<size_t>(next_) % kOpenSeconds];
    TimelinePoint point;
    point.second = next_;
    point.warmup = context_.start + std::chrono::seconds(next_) < context_.window_start;
    point.requests = open.requests;
    point.errors = open.errors;
    point.p50 = open.latency.percentile(50);
    point.p99 = open.latency.percentile(99);
    timeline_.push_back(point);
    if (context_.progress != nullptr) context_.progress->add_second(point);
    open.latency.reset();
    open.requests = 0;
    open.errors = 0;
    ++next_;
  }

  std::vector<std::unique_ptr<Worker>>& workers_;
  const RunContext& context_;
  std::vector<TimelinePoint>& timeline_;
  std::unique_ptr<OpenSecond[]> open_;  // A ring of kOpenSeconds, by second.
  std::vector<int64_t> seen_;           // Per worker, the latest second it published.
  int64_t next_ = 0;                    // The first second not yet in the timeline.
};

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
  if (!std::isfinite(spec.rate) || spec.rate < 0) {
    throw RunError("rate must be a positive number of requests per second, got " +
                   std::to_string(spec.rate));
  }
  if (spec.pipeline < 1 || spec.pipeline > kMaxPipeline) {
    throw RunError("pipeline must be between 1 and " + std::to_string(kMaxPipeline) + ", got " +
                   std::to_string(spec.pipeline));
  }
  if (spec.rate > 0 && spec.pipeline > 1) {
    throw RunError("pipeline: the open loop (rate) keeps one request per connection in flight");
  }
  if (!spec.target.endpoint.sockaddr()) {
    throw RunError(std::string("target host '") + spec.target.endpoint.host +
                   "' is not an IPv4 address or localhost");
  }
  if (spec.target.target.empty()) spec.target.target.push_back('/');
}

bool is_idempotent(const std::string& method) {
  for (const char* m : {"GET", "HEAD", "OPTIONS", "TRACE", "PUT", "DELETE"}) {
    if (method == m) return true;
  }
  return false;
}

}  // namespace

uint64_t raise_open_file_limit() {
  rlimit limit{};
  if (::getrlimit(RLIMIT_NOFILE, &limit) != 0) return 0;
  if (limit.rlim_cur < limit.rlim_max) {
    rlimit raised = limit;
    raised.rlim_cur = limit.rlim_max;
    if (::setrlimit(RLIMIT_NOFILE, &raised) == 0) limit = raised;
  }
  return limit.rlim_cur == RLIM_INFINITY ? UINT64_MAX : static_cast<uint64_t>(limit.rlim_cur);
}

void reserve_open_files(int connections, uint64_t others, const std::string& others_what) {
  const uint64_t limit = raise_open_file_limit();
  const uint64_t needed = static_cast<uint64_t>(connections) + others + kSpareFds;
  if (needed <= limit) return;
  std::string message = "connections: " + std::to_string(connections) + " need " +
                        std::to_string(needed) + " open files in this process";
  if (others != 0) {
    message += " (" + std::to_string(connections) + " for the load, " + std::to_string(others) +
               " for " + others_what + ", " + std::to_string(kSpareFds) + " spare)";
  }
  message += " but RLIMIT_NOFILE allows " + std::to_string(limit) +
             "; use fewer connections or raise the limit (ulimit -n, systemd LimitNOFILE=)";
  throw RunError(message);
}

namespace {

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

std::chrono::nanoseconds pacing_pause(uint64_t outstanding, uint64_t answers,
                                      std::chrono::nanoseconds elapsed) {
  // Below these a pause costs about what it saves: one timer wake-up for too few answers.
  constexpr uint64_t kMinOutstanding = 16;
  constexpr std::chrono::nanoseconds kMinPause = 10us;
  // Above it, a server that is not saturated would wait noticeably on the pauses.
  constexpr std::chrono::nanoseconds kMaxPause = 50us;
  // The pause is this fraction of the round trip, so that a server that is not saturated gets
  // its next request later by about half of 1/16 of a round trip on average.
  constexpr int64_t kRoundTripDivisor = 16;

  if (outstanding < kMinOutstanding || answers == 0 || elapsed.count() <= 0) return {};
  const std::chrono::nanoseconds per_answer = elapsed / static_cast<int64_t>(answers);
  // No pause unless at least one answer is due within the longest.
  if (per_answer > kMaxPause) return {};
  // Little's law: `outstanding` requests at `1 / per_answer` answers a second come back after
  // outstanding * per_answer.
  const std::chrono::nanoseconds round_trip = per_answer * static_cast<int64_t>(outstanding);
  return std::clamp(round_trip / kRoundTripDivisor, kMinPause, kMaxPause);
}

LoadResult run_load(const LoadSpec& spec, std::stop_token stop, LoadProgress* progress) {
  LoadResult result;
  result.spec = spec;
  validate(result.spec);
  const LoadSpec& run_spec = result.spec;
  const std::string request = build_request(run_spec);
  reserve_open_files(run_spec.connections);

  RunContext context;
  context.addr = *run_spec.target.endpoint.sockaddr();
  probe(run_spec.target.endpoint, context.addr);

  context.request_bytes = request.size();
  context.idempotent = is_idempotent(run_spec.method);
  context.pipeline = static_cast<uint32_t>(run_spec.pipeline);
  context.batch.reserve(request.size() * context.pipeline);
  for (uint32_t i = 0; i < context.pipeline; ++i) context.batch += request;
  context.open_loop = run_spec.rate > 0;
  context.head = run_spec.method == "HEAD";
  context.ns_per_request = context.open_loop ? 1e9 / run_spec.rate : 0;
  context.connections = static_cast<uint64_t>(run_spec.connections);
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
  uint64_t first_index = 0;
  for (int i = 0; i < run_spec.threads; ++i) {
    const int share = run_spec.connections / run_spec.threads +
                      (i < run_spec.connections % run_spec.threads ? 1 : 0);
    workers.push_back(std::make_unique<Worker>(context, share, first_index));
    first_index += static_cast<uint64_t>(share);
  }
  result.timeline.reserve(static_cast<size_t>(
      std::chrono::ceil<std::chrono::seconds>(run_spec.warmup + run_spec.duration).count() + 1));
  TimelineCollector collector(workers, context, result.timeline);

  context.start = Clock::now();
  context.window_start = context.start + run_spec.warmup;
  context.window_end = context.window_start + run_spec.duration;
  {
    std::vector<std::jthread> threads;
    threads.reserve(workers.size());
    try {
      for (auto& worker : workers) threads.emplace_back([w = worker.get()] { w->run(); });
      while (!collector.all_done()) {
        std::this_thread::sleep_for(kCollectInterval);
        collector.collect();
      }
    } catch (...) {
      internal_stop.request_stop();
      throw;
    }
  }

  Clock::time_point end = context.start;
  int64_t lag_sum_ns = 0;
  uint64_t lag_count = 0;
  for (const auto& worker : workers) {
    result.latency.merge(worker->latency());
    result.uncorrected.merge(worker->uncorrected());
    result.requests += worker->requests();
    result.reconnects += worker->reconnects();
    result.resent += worker->resent();
    const ErrorCounts& e = worker->errors();
    result.errors.connect += e.connect;
    result.errors.read += e.read;
    result.errors.write += e.write;
    result.errors.timeout += e.timeout;
    result.errors.status += e.status;
    result.lag_max = std::max(result.lag_max, std::chrono::nanoseconds(worker->lag_max_ns()));
    lag_sum_ns += worker->lag_sum_ns();
    lag_count += worker->lag_count();
    end = std::max(end, worker->end_time());
  }
  if (!context.open_loop) result.uncorrected = result.latency;
  if (lag_count != 0) {
    result.lag_mean = std::chrono::nanoseconds(lag_sum_ns / static_cast<int64_t>(lag_count));
  }
  end = std::min(end, context.window_end);
  collector.finish(end);
  result.elapsed = std::max(Clock::duration::zero(), end - context.window_start);
  return result;
}

}  // namespace iolab
