// The load engine's numbers against known servers: fixed delays read back within the
// histogram's precision, a requested rate is held, a stall shows in the corrected latency and
// not in the uncorrected one, and the timeline adds up to the result.
#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <numeric>
#include <string>
#include <thread>
#include <vector>

#include "core/duration.h"
#include "loadgen/engine.h"
#include "tests/integration/loadgen/test_servers.h"
#include "variants/stub.h"

namespace iolab {
namespace {

using namespace iolab::testing;
using Clock = std::chrono::steady_clock;

constexpr std::string_view kOk = "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok";

void print(const char* what, const LoadResult& r) {
  std::printf(
      "[          ] %s: %llu answers, %.1f req/s, p50 %.3f ms p99 %.3f ms max %.3f ms; "
      "uncorrected p50 %.3f ms p99 %.3f ms; lag max %.3f ms mean %.3f ms\n",
      what, static_cast<unsigned long long>(r.requests), r.rps(), to_ms(r.latency.percentile(50)),
      to_ms(r.latency.percentile(99)), to_ms(r.latency.max()), to_ms(r.uncorrected.percentile(50)),
      to_ms(r.uncorrected.percentile(99)), to_ms(r.lag_max), to_ms(r.lag_mean));
}

class StubTarget {
 public:
  explicit StubTarget(std::chrono::nanoseconds delay) : stub_(StubProfile{.delay = delay}) {
    port_ = stub_.start(Endpoint{"127.0.0.1", 0});
  }
  ~StubTarget() { stub_.stop(); }
  int port() const { return port_; }

 private:
  UpstreamStub stub_;
  int port_ = 0;
};

TEST(AccuracyTest, AFixed50msDelayReadsBackAs50msInClosedLoop) {
  StubTarget stub(50ms);
  LoadSpec spec = spec_for(stub.port(), 2, 1);
  spec.duration = 1500ms;
  const LoadResult r = run_load(spec);
  print("stub 50 ms, closed loop -c2", r);
  ASSERT_GE(r.requests, 10u);
  EXPECT_EQ(r.errors.total(), 0u);
  EXPECT_GE(r.latency.min(), 50ms) << "no sample may be below the server's delay";
  EXPECT_GE(r.latency.percentile(50), 50ms);
  // Not two delays, nor the time since the run began: the median is one delay plus what a
  // wake-up costs. How close to 50 ms it reads is bench/loadgen_accuracy.sh's question.
  EXPECT_LT(r.latency.percentile(50), 100ms);
}

TEST(AccuracyTest, AFixed50msDelayReadsBackAs50msInOpenLoop) {
  StubTarget stub(50ms);
  LoadSpec spec = spec_for(stub.port(), 4, 2);
  spec.duration = 1500ms;
  spec.rate = 40;  // 10/s per connection: each is always free when its turn comes.
  const LoadResult r = run_load(spec);
  print("stub 50 ms, --rate 40 -c4", r);
  ASSERT_GE(r.requests, 10u);
  EXPECT_EQ(r.errors.total(), 0u);
  EXPECT_GE(r.latency.min(), 50ms);
  EXPECT_GE(r.uncorrected.min(), 50ms);
  EXPECT_GE(r.latency.percentile(50), 50ms);
  EXPECT_LT(r.latency.percentile(50), 100ms);
  // The corrected latency is the lag plus the uncorrected one, which is at least the delay.
  EXPECT_LE(r.lag_max + 50ms, r.latency.max());
  EXPECT_LE(r.uncorrected.max(), r.latency.max());
  // How small the lag stays (no connection busy at its turn) is bench/loadgen_accuracy.sh's.
}

TEST(AccuracyTest, HoldsTheRequestedRate) {
  StubTarget stub(1ms);
  LoadSpec spec = spec_for(stub.port(), 10, 2);
  spec.duration = 5s;
  spec.rate = 1000;
  const LoadResult r = run_load(spec);
  print("stub 1 ms, --rate 1000 -d 5s", r);
  EXPECT_EQ(r.errors.total(), 0u);
  // Never ahead of the schedule (5000 requests), however fast the machine; behind it only by
  // what a busy machine keeps from the sender near the end. How near 1000/s it holds (within
  // 1 % when idle) is bench/loadgen_accuracy.sh's question.
  EXPECT_LE(r.requests, 5001u);
  EXPECT_GE(r.requests, 4000u);
  EXPECT_EQ(r.spec.rate, 1000.0);
  EXPECT_LE(r.rps(), 1000.2);
  for (size_t i = 0; i < r.timeline.size(); ++i) EXPECT_GT(r.timeline[i].requests, 0u) << i;
}

TEST(AccuracyTest, AOneSecondStallShowsInTheCorrectedLatencyOnly) {
  // One thread answers every connection; once, a second into the run, it stops for a second:
  // every answer is held up, as a server in a GC pause.
  const auto started = Clock::now();
  std::atomic<bool> frozen{false};
  RawServer server([&](int fd) {
    if (!frozen.load() && Clock::now() - started >= 1s) {
      frozen = true;
      std::this_thread::sleep_for(1s);
    }
    RawServer::send_all(fd, kOk);
    return true;
  });
  LoadSpec spec = spec_for(server.port(), 4, 1);
  spec.duration = 4s;
  spec.rate = 500;
  const LoadResult r = run_load(spec);
  print("1 s stall at --rate 500 -c4", r);
  EXPECT_TRUE(frozen.load());
  EXPECT_EQ(r.errors.total(), 0u);
  // The sender catches up after the stall (2000 answers when the machine is idle; a loaded one
  // slows the catching up, not what is measured).
  EXPECT_GE(r.requests, 1000u);
  // A quarter of the requests were due during the stall and waited for it.
  EXPECT_GE(r.latency.percentile(99), 300ms);
  EXPECT_GE(r.latency.max(), 800ms);
  // Only the four requests in flight when it began saw it from their actual send: the rest of
  // the 1 % slowest waited for the stall before they were sent, and not after.
  EXPECT_LT(r.uncorrected.percentile(99), r.latency.percentile(99) / 2);
  EXPECT_GE(r.uncorrected.max(), 800ms);
  EXPECT_GE(r.lag_max, 800ms);
  // The timeline shows when: the first second is quicker than a later one, which has a p99 of
  // hundreds of ms, and the run went on after it.
  ASSERT_EQ(r.timeline.size(), 4u);
  const auto stalled_p99 = std::max({r.timeline[1].p99, r.timeline[2].p99, r.timeline[3].p99});
  EXPECT_GE(stalled_p99, 300ms);
  EXPECT_LT(r.timeline[0].p99, stalled_p99);
  EXPECT_GT(r.timeline[3].requests, 0u);
}

TEST(TimelineTest, HasOnePointASecondThatAddsUpToTheResult) {
  CountingServer server;
  LoadSpec spec = spec_for(server.port(), 4, 2);
  spec.warmup = 1s;
  spec.duration = 2s;
  std::vector<TimelinePoint> seen;
  LoadProgress progress([&](const TimelinePoint& p) { seen.push_back(p); });
  const LoadResult r = run_load(spec, {}, &progress);
  ASSERT_EQ(r.timeline.size(), 3u);
  EXPECT_EQ(seen, r.timeline) << "progress gets every second, in order, as it ends";
  EXPECT_TRUE(r.timeline[0].warmup);
  uint64_t window_requests = 0;
  for (size_t i = 0; i < r.timeline.size(); ++i) {
    const TimelinePoint& p = r.timeline[i];
    EXPECT_EQ(p.second, static_cast<int64_t>(i));
    EXPECT_GT(p.requests, 0u);
    EXPECT_EQ(p.errors, 0u);
    EXPECT_GT(p.p50.count(), 0);
    EXPECT_GE(p.p99, p.p50);
    if (!p.warmup) window_requests += p.requests;
  }
  EXPECT_FALSE(r.timeline[1].warmup);
  EXPECT_EQ(window_requests, r.requests) << "whole-second warm-up: the seconds tile the window";
  ASSERT_TRUE(progress.last_second().has_value());
  EXPECT_EQ(progress.last_second()->second, 2);
}

TEST(TimelineTest, EndsWithAPartialSecondWhenStopped) {
  CountingServer server;
  LoadSpec spec = spec_for(server.port(), 2, 1);
  spec.duration = 60s;
  std::stop_source stop;
  LoadProgress progress;
  // Stops once the first second is in and answers have come since: within a later second.
  std::jthread stopper([&] {
    uint64_t first_second = 0;
    wait_for([&] { return progress.last_second().has_value(); }, 30s);
    if (const auto p = progress.last_second()) first_second = p->requests;
    wait_for([&] { return progress.requests() > first_second; }, 30s);
    stop.request_stop();
  });
  const LoadResult r = run_load(spec, stop.get_token(), &progress);
  ASSERT_GE(r.timeline.size(), 2u);
  ASSERT_LT(r.elapsed, spec.duration) << "stopped";
  // One point per second begun, the last a partial one, and every answer in one of them.
  EXPECT_EQ(r.timeline.size(),
            static_cast<size_t>(std::chrono::floor<std::chrono::seconds>(r.elapsed).count()) + 1);
  EXPECT_EQ(r.timeline.back().second, static_cast<int64_t>(r.timeline.size()) - 1);
  uint64_t in_timeline = 0;
  for (const TimelinePoint& p : r.timeline) in_timeline += p.requests;
  EXPECT_EQ(in_timeline, r.requests);
}

// Failures in the open loop end the run on time, counted.
LoadSpec open_loop_spec(int port) {
  LoadSpec spec = spec_for(port, 2, 1);
  spec.rate = 200;
  spec.duration = 2s;  // 400 requests due: counts below allow a busy machine to lose a quarter.
  spec.timeout = 100ms;
  return spec;
}

LoadResult timed_run(const LoadSpec& spec) {
  const auto started = Clock::now();
  LoadResult r = run_load(spec);
  EXPECT_LT(Clock::now() - started, spec.duration + 30s) << "the run ends, not at a hang";
  EXPECT_EQ(r.elapsed, spec.duration) << "and not before its window has closed";
  return r;
}

// Accepts the engine's probe, then stops listening: every later connect is refused.
class ListenOnceServer {
 public:
  ListenOnceServer() {
    fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    EXPECT_EQ(::bind(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)), 0);
    EXPECT_EQ(::listen(fd_, 1), 0);
    socklen_t len = sizeof(addr);
    ::getsockname(fd_, reinterpret_cast<sockaddr*>(&addr), &len);
    port_ = ntohs(addr.sin_port);
    thread_ = std::jthread([this] {
      const int client = ::accept4(fd_, nullptr, nullptr, SOCK_CLOEXEC);
      ::close(fd_);
      if (client >= 0) ::close(client);
    });
  }
  ~ListenOnceServer() { thread_.join(); }
  int port() const { return port_; }

 private:
  int fd_ = -1;
  int port_ = 0;
  std::jthread thread_;
};

TEST(OpenLoopFailureTest, CountsConnectErrorsWhenTheTargetStartsRefusing) {
  for (const double rate : {0.0, 200.0}) {
    ListenOnceServer server;
    LoadSpec spec = open_loop_spec(server.port());
    spec.rate = rate;
    const LoadResult r = timed_run(spec);
    EXPECT_EQ(r.requests, 0u) << "rate " << rate;
    EXPECT_GT(r.errors.connect, 5u) << "retried every 10 ms, counted each time; rate " << rate;
    // Only the one connection the server accepted can fail otherwise than at connect: at its
    // write or its read, whichever the server's close reaches first (on a busy machine either).
    // Every other attempt is refused, and a refusal counted as anything else would exceed one.
    EXPECT_LE(r.errors.timeout + r.errors.status + r.errors.write + r.errors.read, 1u)
        << "rate " << rate;
  }
}

TEST(OpenLoopFailureTest, ReconnectsWithoutErrorsWhenTheServerClosesAfterEachAnswer) {
  RawServer server([](int fd) {
    RawServer::send_all(fd, "HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok");
    return false;
  });
  const LoadResult r = timed_run(open_loop_spec(server.port()));
  EXPECT_GE(r.requests, 300u);  // 400 scheduled.
  EXPECT_LE(r.requests, 401u);
  EXPECT_EQ(r.reconnects, r.requests) << "one after each answer";
  EXPECT_EQ(r.errors.total(), 0u);
}

TEST(OpenLoopFailureTest, CountsTimeoutsWhenTheServerNeverAnswers) {
  RawServer server([](int) { return true; });
  const LoadResult r = timed_run(open_loop_spec(server.port()));
  EXPECT_EQ(r.requests, 0u);
  // Each connection times out at most every 100 ms (40 in 2 s); at least three times each.
  EXPECT_GE(r.errors.timeout, 6u);
  EXPECT_LE(r.errors.timeout, 42u);
  EXPECT_EQ(r.errors.read + r.errors.write + r.errors.connect, 0u);
  EXPECT_GT(r.lag_max, 50ms) << "requests due while their connection waited were late";
}

TEST(OpenLoopFailureTest, CountsProtocolErrorsWhenTheServerSendsGarbage) {
  RawServer server([](int fd) {
    RawServer::send_all(fd, "SPDY/9 banana\r\n\r\n");
    return true;
  });
  const LoadResult r = timed_run(open_loop_spec(server.port()));
  EXPECT_EQ(r.requests, 0u);
  // One per scheduled request (400), each on a new connection.
  EXPECT_GE(r.errors.protocol, 300u);
  EXPECT_EQ(r.errors.read, 0u);
  EXPECT_EQ(r.errors.timeout, 0u);
}

TEST(OpenLoopFailureTest, CountsProtocolErrorsForAnAnswerNobodyAskedFor) {
  // Two answers to each request: the second arrives while the connection waits for its turn.
  RawServer server([](int fd) {
    RawServer::send_all(fd, std::string(kOk) + std::string(kOk));
    return true;
  });
  const LoadResult r = timed_run(open_loop_spec(server.port()));
  EXPECT_GT(r.requests, 150u);
  EXPECT_GT(r.errors.protocol, 150u);
  EXPECT_EQ(r.protocol_error, "an answer to no request at byte 0 of an answer");
}

}  // namespace
}  // namespace iolab
