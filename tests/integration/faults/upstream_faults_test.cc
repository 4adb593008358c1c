// Fault injection on the upstream: every variant answers 502 to an upstream that
// refuses, resets, answers garbage or half an answer, and 504 to one that stalls or trickles its
// answer slower than the timeout; in time, without hanging, counted in its stats; and serves
// normally again once the upstream is healthy, over the connections the fault left behind.
#include <gtest/gtest.h>
#include <httplib.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <list>
#include <mutex>
#include <string>
#include <thread>
#include <tuple>
#include <vector>

#include "core/errors.h"
#include "variants/net.h"
#include "variants/variant.h"

namespace iolab {
namespace {

using Clock = std::chrono::steady_clock;
using namespace std::chrono_literals;

enum class Fault { kHealthy, kRefuse, kReset, kStall, kTrickle, kTrickleHead, kGarbage, kHalf };

std::string fault_name(Fault f) {
  switch (f) {
    case Fault::kHealthy:
      return "healthy";
    case Fault::kRefuse:
      return "refuse";
    case Fault::kReset:
      return "reset";
    case Fault::kStall:
      return "stall";
    case Fault::kTrickle:
      return "trickle";
    case Fault::kTrickleHead:
      return "trickle_head";
    case Fault::kGarbage:
      return "garbage";
    case Fault::kHalf:
      return "half";
  }
  return "?";
}

constexpr size_t kHealthyBodyBytes = 612;  // as the stub's default page
constexpr auto kTick = 10ms;
constexpr int kTickMs = 10;

// A healthy answer; `body_bytes` tells a late answer (to a request the variant gave up on) from
// a fresh one, should a variant read the one as the other.
std::string ok_answer(size_t body_bytes) {
  std::string body = R"({"pad":")";
  body.append(body_bytes - body.size() - 2, 'x');
  body += R"("})";
  return "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: " +
         std::to_string(body.size()) + "\r\n\r\n" + body;
}

void send_all(int fd, const std::string& bytes) {
  size_t sent = 0;
  while (sent < bytes.size()) {
    const ssize_t n = ::send(fd, bytes.data() + sent, bytes.size() - sent, MSG_NOSIGNAL);
    if (n <= 0) return;
    sent += static_cast<size_t>(n);
  }
}

/// An upstream whose behaviour is switched by the test: healthy, or one fault. It listens on
/// 127.0.0.1 (port 0, kept across refuse), serves each connection on its own thread, and reads
/// the mode again for every request, so a kept-alive connection opened while healthy meets the
/// fault too. Every wait ticks every 10 ms and ends on stop(): nothing it starts outlives it.
class FaultUpstream {
 public:
  FaultUpstream() {
    listen_fd_ = open_listener(Endpoint{"127.0.0.1", 0}, /*reuse_port=*/false);
    port_ = bound_port(listen_fd_);
    acceptor_ = std::jthread([this](std::stop_token stop) { accept_loop(stop); });
  }
  ~FaultUpstream() {
    acceptor_.request_stop();
    acceptor_.join();
    const std::lock_guard lock(mutex_);
    connections_.clear();  // each jthread stops and joins
    if (listen_fd_ >= 0) ::close(listen_fd_);
  }
  FaultUpstream(const FaultUpstream&) = delete;
  FaultUpstream& operator=(const FaultUpstream&) = delete;

  uint16_t port() const { return port_; }
  Url url() const { return *parse_url("http://127.0.0.1:" + std::to_string(port_) + "/"); }

  /// Switches the behaviour; returns once the listener matches it (closed for kRefuse).
  void set(Fault fault) {
    fault_.store(fault);
    const uint64_t wanted = ++generation_;
    const auto deadline = Clock::now() + 30s;
    while (applied_.load() < wanted && Clock::now() < deadline) std::this_thread::sleep_for(1ms);
    ASSERT_GE(applied_.load(), wanted) << "the fault upstream did not switch";
  }

  /// Requests read so far, on any connection.
  int requests() const { return requests_.load(); }

 private:
  void accept_loop(const std::stop_token& stop) {
    while (!stop.stop_requested()) {
      const uint64_t generation = generation_.load();
      const bool refuse = fault_.load() == Fault::kRefuse;
      if (refuse && listen_fd_ >= 0) {
        ::close(listen_fd_);
        listen_fd_ = -1;
      } else if (!refuse && listen_fd_ < 0) {
        listen_fd_ = open_listener(Endpoint{"127.0.0.1", port_}, /*reuse_port=*/false);
      }
      applied_.store(generation);
      if (listen_fd_ < 0) {
        std::this_thread::sleep_for(kTick);
        continue;
      }
      pollfd p{listen_fd_, POLLIN, 0};
      if (::poll(&p, 1, kTickMs) != 1) continue;
      const int fd = ::accept4(listen_fd_, nullptr, nullptr, SOCK_CLOEXEC);
      if (fd < 0) continue;
      set_nodelay(fd);
      const std::lock_guard lock(mutex_);
      connections_.emplace_back([this, fd](std::stop_token s) {
        serve(fd, s);
        ::close(fd);
      });
    }
  }

  // Waits up to one tick for `fd` to be readable; true when it is (data or the peer's close).
  static bool readable(int fd) {
    pollfd p{fd, POLLIN, 0};
    return ::poll(&p, 1, kTickMs) == 1;
  }

  // Serves requests until the connection ends; the caller closes `fd`.
  void serve(int fd, const std::stop_token& stop) {
    std::string in;
    char buf[4096];
    while (!stop.stop_requested()) {
      // A refused upstream is down: connections kept alive from before die as well.
      if (fault_.load() == Fault::kRefuse) return;
      if (!readable(fd)) continue;
      const ssize_t n = ::recv(fd, buf, sizeof buf, 0);
      if (n <= 0) return;
      in.append(buf, static_cast<size_t>(n));
      const size_t end = in.find("\r\n\r\n");
      if (end == std::string::npos) continue;
      in.erase(0, end + 4);
      // A request read as the connection closes for kRefuse is not answered, nor counted.
      if (fault_.load() != Fault::kRefuse) ++requests_;
      if (!answer(fd, stop)) return;
    }
  }

  // Answers one request as the mode says; false when the connection is to end.
  bool answer(int fd, const std::stop_token& stop) {
    switch (fault_.load()) {
      case Fault::kHealthy:
        send_all(fd, ok_answer(kHealthyBodyBytes));
        return true;
      case Fault::kRefuse:
        return false;
      case Fault::kReset: {
        const linger abort{1, 0};  // close() then sends RST, not FIN
        ::setsockopt(fd, SOL_SOCKET, SO_LINGER, &abort, sizeof abort);
        return false;
      }
      case Fault::kStall: {
        // No answer while stalled. Should the variant still hold the connection when the
        // upstream recovers, the late answer comes, with a body of another size.
        while (!stop.stop_requested() && fault_.load() == Fault::kStall) {
          if (!readable(fd)) continue;
          char probe;
          if (::recv(fd, &probe, 1, MSG_PEEK) <= 0) return false;
          std::this_thread::sleep_for(kTick);  // bytes of another request: still no answer
        }
        send_all(fd, ok_answer(20));
        return true;
      }
      case Fault::kTrickle:
      case Fault::kTrickleHead: {
        // Each byte comes well within the timeout, the whole answer never does: after the head
        // (trickle), or from the status line on (trickle_head).
        const Fault mode = fault_.load();
        const std::string answer = ok_answer(kHealthyBodyBytes);
        const size_t head = mode == Fault::kTrickle ? answer.find("\r\n\r\n") + 4 : 0;
        send_all(fd, answer.substr(0, head));
        for (size_t i = head; i < answer.size(); ++i) {
          for (int t = 0; t < 10; ++t) {
            if (stop.stop_requested() || fault_.load() != mode) return false;
            std::this_thread::sleep_for(kTick);
          }
          if (::send(fd, answer.data() + i, 1, MSG_NOSIGNAL) != 1) return false;
        }
        return true;
      }
      case Fault::kGarbage:
        // Not HTTP; the connection stays open, so a variant that waits for the close hangs.
        send_all(fd, "SSH-2.0-OpenSSH_9.2\r\nProtocol mismatch.\r\n\r\n");
        return true;
      case Fault::kHalf:
        send_all(fd,
                 "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 100\r\n"
                 "\r\n{\"pad\":\"x");
        return false;
    }
    return false;
  }

  int listen_fd_ = -1;  // owned by the acceptor thread once it runs
  uint16_t port_ = 0;
  std::atomic<Fault> fault_{Fault::kHealthy};
  std::atomic<uint64_t> generation_{0};
  std::atomic<uint64_t> applied_{0};
  std::atomic<int> requests_{0};
  std::mutex mutex_;
  std::list<std::jthread> connections_;
  std::jthread acceptor_;  // last: it stops first
};

constexpr auto kUpstreamTimeout = 300ms;
// What a loaded 2-core machine may add to an answer that should take at most the timeout.
constexpr auto kSlack = 1700ms;
constexpr const char* kHealthyRemoteBody = R"({"upstream_status":200,"upstream_bytes":612})";

using Case = std::tuple<std::string, Fault>;

// A kind as parse_variant() reads it, or "async-pool1": async with one pooled upstream
// connection, so that concurrent requests wait for it while it fails.
VariantSpec variant_spec(const std::string& kind) {
  if (kind == "async-pool1") {
    VariantSpec spec = *parse_variant("async");
    spec.pool_size = 1;
    return spec;
  }
  return *parse_variant(kind);
}

class UpstreamFaultTest : public ::testing::TestWithParam<Case> {
 protected:
  const std::string& kind() const { return std::get<0>(GetParam()); }
  Fault fault() const { return std::get<1>(GetParam()); }
  bool times_out() const {
    return fault() == Fault::kStall || fault() == Fault::kTrickle || fault() == Fault::kTrickleHead;
  }
  int expected_status() const { return times_out() ? 504 : 502; }
};

struct Counters {
  uint64_t failures;
  uint64_t timeouts;
};

Counters counters(const Variant& v) {
  return {v.stats().upstream_failures.load(), v.stats().upstream_timeouts.load()};
}

// A variant counts an answer once its write returns, which may be just after the client read it.
uint64_t answers_eventually(const Variant& v, int status, uint64_t at_least) {
  const auto& slot = v.stats().routes[static_cast<size_t>(Route::kRemote)].answers;
  const auto deadline = Clock::now() + 30s;
  while (slot[status_slot(status)].load() < at_least && Clock::now() < deadline) {
    std::this_thread::sleep_for(1ms);
  }
  return slot[status_slot(status)].load();
}

struct Answer {
  int status = 0;  // 0: none
  std::string body;
  Clock::duration took{};
};

// `n` GET /remote at once, each on a new connection.
std::vector<Answer> concurrent_gets(uint16_t port, int n) {
  std::vector<Answer> answers(static_cast<size_t>(n));
  {
    std::vector<std::jthread> clients;
    for (Answer& a : answers) {
      clients.emplace_back([port, &a] {
        httplib::Client c("127.0.0.1", port);
        c.set_read_timeout(10s);
        const auto started = Clock::now();
        const auto res = c.Get("/remote");
        a.took = Clock::now() - started;
        if (res) {
          a.status = res->status;
          a.body = res->body;
        }
      });
    }
  }
  return answers;
}

TEST_P(UpstreamFaultTest, AnswersTheFaultInTimeThenRecoversWhenTheUpstreamDoes) {
  constexpr int kWarm = 2;
  constexpr int kFaulty = 3;
  constexpr int kAfter = 3;
  // At once: async then holds several pooled upstream connections for the fault to meet.
  constexpr int kConcurrent = 3;
  FaultUpstream upstream;
  auto variant =
      make_variant(variant_spec(kind()), UpstreamOptions{.url = upstream.url(),
                                                         .connect_timeout = kUpstreamTimeout,
                                                         .timeout = kUpstreamTimeout});
  const uint16_t port = variant->start(Endpoint{"127.0.0.1", 0});
  {
    // One kept-alive client: behind it, the variant's upstream connection is kept alive too,
    // so the fault meets a pooled connection first.
    httplib::Client c("127.0.0.1", port);
    c.set_keep_alive(true);
    c.set_read_timeout(10s);
    for (int i = 0; i < kWarm; ++i) {
      const auto res = c.Get("/remote");
      ASSERT_TRUE(res) << "warm-up " << i;
      ASSERT_EQ(res->status, 200);
      ASSERT_EQ(res->body, kHealthyRemoteBody);
    }
    for (const Answer& a : concurrent_gets(port, kConcurrent)) ASSERT_EQ(a.status, 200);

    const int requests_before_fault = upstream.requests();
    upstream.set(fault());
    for (int i = 0; i < kFaulty; ++i) {
      const Counters before = counters(*variant);
      const auto started = Clock::now();
      const auto res = c.Get("/remote");
      const auto took = Clock::now() - started;
      ASSERT_TRUE(res) << "no answer to faulty request " << i << ": " << to_string(res.error());
      EXPECT_EQ(res->status, expected_status()) << "request " << i << ": " << res->body;
      EXPECT_LT(took, kUpstreamTimeout + kSlack) << "request " << i;
      if (times_out()) {
        EXPECT_GE(took, kUpstreamTimeout * 9 / 10);
      }
      const Counters after = counters(*variant);
      const bool timed_out = times_out();
      EXPECT_EQ(after.failures - before.failures, timed_out ? 0u : 1u) << "request " << i;
      EXPECT_EQ(after.timeouts - before.timeouts, timed_out ? 1u : 0u) << "request " << i;
    }
    {
      // A variant that serves one upstream call at a time (fiber-blocking, async with a pool of
      // one, threads:2 with one thread held by the kept-alive client) answers these in turn.
      const Counters before = counters(*variant);
      for (const Answer& a : concurrent_gets(port, kConcurrent)) {
        EXPECT_EQ(a.status, expected_status()) << a.body;
        EXPECT_LT(a.took, kConcurrent * kUpstreamTimeout + kSlack);
      }
      const Counters after = counters(*variant);
      EXPECT_EQ(after.failures - before.failures, times_out() ? 0u : uint64_t{kConcurrent});
      EXPECT_EQ(after.timeouts - before.timeouts, times_out() ? uint64_t{kConcurrent} : 0u);
    }
    EXPECT_EQ(answers_eventually(*variant, expected_status(), kFaulty + kConcurrent),
              uint64_t{kFaulty + kConcurrent});
    // The fault was met, not avoided: each request reached the upstream (no listener: none did).
    if (fault() == Fault::kRefuse) {
      EXPECT_EQ(upstream.requests(), requests_before_fault);
    } else {
      EXPECT_GE(upstream.requests() - requests_before_fault, kFaulty + kConcurrent);
    }

    upstream.set(Fault::kHealthy);
    for (int i = 0; i < kAfter; ++i) {
      const auto res = c.Get("/remote");
      ASSERT_TRUE(res) << "no answer after recovery, request " << i;
      EXPECT_EQ(res->status, 200) << "request " << i << ": " << res->body;
      EXPECT_EQ(res->body, kHealthyRemoteBody) << "request " << i;
    }
    for (const Answer& a : concurrent_gets(port, kConcurrent)) {
      EXPECT_EQ(a.status, 200) << a.body;
      EXPECT_EQ(a.body, kHealthyRemoteBody);
    }
    // A new client connection, with its own upstream connection where the variant has one each.
    httplib::Client fresh("127.0.0.1", port);
    fresh.set_read_timeout(10s);
    const auto res = fresh.Get("/remote");
    ASSERT_TRUE(res);
    EXPECT_EQ(res->status, 200) << res->body;
    EXPECT_EQ(res->body, kHealthyRemoteBody);
  }
  constexpr uint64_t kHealthy = kWarm + kConcurrent + kAfter + kConcurrent + 1;
  EXPECT_EQ(answers_eventually(*variant, 200, kHealthy), kHealthy);
  variant->stop();
}

std::string case_name(const ::testing::TestParamInfo<Case>& info) {
  std::string name = std::get<0>(info.param) + "_" + fault_name(std::get<1>(info.param));
  for (char& c : name) {
    if (c == ':' || c == '-') c = '_';
  }
  return name;
}

INSTANTIATE_TEST_SUITE_P(EveryVariantEveryFault, UpstreamFaultTest,
                         ::testing::Combine(::testing::Values("threads:2", "async", "async-pool1",
                                                              "fiber", "fiber-blocking"),
                                            ::testing::Values(Fault::kRefuse, Fault::kReset,
                                                              Fault::kStall, Fault::kTrickle,
                                                              Fault::kTrickleHead, Fault::kGarbage,
                                                              Fault::kHalf)),
                         case_name);

}  // namespace
}  // namespace iolab
