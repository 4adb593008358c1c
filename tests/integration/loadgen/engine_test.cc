#include "loadgen/engine.h"

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <memory>
#include <set>
#include <string>
#include <thread>

#include "tests/integration/loadgen/test_servers.h"

namespace iolab {
namespace {

using namespace iolab::testing;
using Clock = std::chrono::steady_clock;

TEST(EngineTest, SendsExactlyMaxRequestsAndGetsEveryAnswer) {
  CountingServer server;
  LoadSpec spec = spec_for(server.port(), 8, 2);
  spec.duration = 60s;
  spec.max_requests = 500;
  const LoadResult result = run_load(spec);
  EXPECT_LT(result.elapsed, spec.duration) << "a bounded run ends when its requests are answered";
  EXPECT_EQ(result.requests, 500u);
  EXPECT_EQ(result.latency.count(), 500u);
  EXPECT_EQ(result.errors.total(), 0u);
  EXPECT_TRUE(wait_for([&] { return server.handled() >= 500; }));
  EXPECT_EQ(server.handled(), 500u);
  EXPECT_GT(result.latency.min().count(), 0);
}

TEST(EngineTest, CountsWhatTheServerHandledInADurationRun) {
  CountingServer server;
  const LoadSpec spec = spec_for(server.port(), 4, 2);
  const auto started = Clock::now();
  const LoadResult result = run_load(spec);
  const auto took = Clock::now() - started;
  const uint64_t handled = server.handled();
  EXPECT_GT(result.requests, 0u);
  EXPECT_EQ(result.errors.total(), 0u);
  EXPECT_LE(result.requests, handled);
  EXPECT_LE(handled, result.requests + static_cast<uint64_t>(spec.connections));
  // Nobody stopped it: the window is measured whole, and it was not reported longer than it ran.
  EXPECT_EQ(result.elapsed, spec.duration);
  EXPECT_GE(took, result.elapsed);
  EXPECT_GT(result.rps(), 0.0);
  std::printf("[          ] httplib -t2 -c4: %.0f req/s, p50 %.1f us, p99 %.1f us\n", result.rps(),
              static_cast<double>(result.latency.percentile(50).count()) / 1e3,
              static_cast<double>(result.latency.percentile(99).count()) / 1e3);
}

TEST(EngineTest, ThrowsRunErrorWhenTheTargetRefusesTheProbe) {
  const int port = closed_port();
  try {
    (void)run_load(spec_for(port, 2, 1));
    FAIL() << "expected RunError";
  } catch (const RunError& e) {
    EXPECT_EQ(std::string(e.what()),
              "cannot connect to 127.0.0.1:" + std::to_string(port) + ": Connection refused");
  }
}

TEST(EngineTest, RejectsAnInvalidSpecNamingTheField) {
  CountingServer server;
  const auto message_of = [&](const LoadSpec& spec) -> std::string {
    try {
      (void)run_load(spec);
    } catch (const RunError& e) {
      return e.what();
    }
    return "";
  };
  LoadSpec spec = spec_for(server.port(), 0, 1);
  EXPECT_NE(message_of(spec).find("connections"), std::string::npos);
  spec = spec_for(server.port(), 2, 0);
  EXPECT_NE(message_of(spec).find("threads"), std::string::npos);
  spec = spec_for(server.port(), 2, 1);
  spec.duration = 0s;
  EXPECT_NE(message_of(spec).find("duration"), std::string::npos);
  spec = spec_for(server.port(), 2, 1);
  spec.timeout = 0s;
  EXPECT_NE(message_of(spec).find("timeout"), std::string::npos);
}

TEST(EngineTest, ClampsThreadsToConnections) {
  CountingServer server;
  LoadSpec spec = spec_for(server.port(), 2, 8);
  spec.max_requests = 50;
  const LoadResult result = run_load(spec);
  EXPECT_EQ(result.spec.threads, 2);
  EXPECT_EQ(result.requests, 50u);
}

TEST(EngineTest, ReconnectsWithoutErrorsWhenTheServerClosesAfterEachAnswer) {
  RawServer server([](int fd) {
    RawServer::send_all(fd, "HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok");
    return false;
  });
  LoadSpec spec = spec_for(server.port(), 4, 2);
  spec.duration = 300ms;
  const LoadResult result = run_load(spec);
  EXPECT_GT(result.requests, 10u);
  EXPECT_GT(result.reconnects, 0u);
  EXPECT_EQ(result.errors.read, 0u);
  EXPECT_EQ(result.errors.total(), 0u);
}

TEST(EngineTest, ReconnectsWithoutErrorsWhenTheServerJustClosesBetweenAnswers) {
  // No "Connection: close": the next request is already on its way when the EOF arrives.
  RawServer server([](int fd) {
    RawServer::send_all(fd, "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok");
    return false;
  });
  LoadSpec spec = spec_for(server.port(), 4, 2);
  spec.duration = 300ms;
  spec.max_requests = 200;
  const LoadResult result = run_load(spec);
  EXPECT_EQ(result.requests, 200u);
  EXPECT_GT(result.reconnects, 0u);
  EXPECT_EQ(result.errors.total(), 0u);
}

// Answers the first request of each connection and closes on the second without a word, as a
// server that died with the request would.
RawServer::Handler answer_once_then_drop() {
  return [answered = std::make_shared<std::set<int>>()](int fd) {
    if (answered->erase(fd) != 0) return false;  // The second request: dropped.
    answered->insert(fd);
    RawServer::send_all(fd, "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok");
    return true;
  };
}

TEST(EngineTest, ResendsAnIdempotentRequestDroppedOnAKeptAliveSocketAndCountsIt) {
  RawServer server(answer_once_then_drop());
  LoadSpec spec = spec_for(server.port(), 2, 1);
  spec.max_requests = 100;
  const LoadResult result = run_load(spec);
  EXPECT_EQ(result.requests, 100u);
  EXPECT_EQ(result.errors.total(), 0u);
  EXPECT_GT(result.resent, 40u) << "every other request was dropped once";
  EXPECT_GE(result.reconnects, result.resent);
}

TEST(EngineTest, CountsADroppedPostAsAReadErrorInsteadOfSendingItAgain) {
  RawServer server(answer_once_then_drop());
  LoadSpec spec = spec_for(server.port(), 2, 1);
  spec.method = "POST";
  spec.body = "x";
  spec.duration = 300ms;
  const LoadResult result = run_load(spec);
  EXPECT_GT(result.requests, 10u);
  EXPECT_GT(result.errors.read, 10u);
  EXPECT_EQ(result.resent, 0u);
}

TEST(EngineTest, CompletesCloseDelimitedAnswers) {
  RawServer server([](int fd) {
    RawServer::send_all(fd, "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n\r\nuntil close");
    return false;
  });
  LoadSpec spec = spec_for(server.port(), 2, 1);
  spec.max_requests = 50;
  const LoadResult result = run_load(spec);
  EXPECT_EQ(result.requests, 50u);
  EXPECT_EQ(result.errors.total(), 0u);
}

TEST(EngineTest, CountsTimeoutsAndEndsOnTimeWhenTheServerNeverAnswers) {
  RawServer server([](int) { return true; });
  LoadSpec spec = spec_for(server.port(), 2, 1);
  spec.duration = 2s;
  spec.timeout = 100ms;
  const auto started = Clock::now();
  const LoadResult result = run_load(spec);
  EXPECT_LT(Clock::now() - started, spec.duration + 30s) << "ends, not at a hang";
  EXPECT_EQ(result.requests, 0u);
  // Each connection times out at most every 100 ms: 40 in 2 s. At least three times each, so
  // a connection is sent on again after its timeout, however late a busy machine sweeps.
  EXPECT_GE(result.errors.timeout, 6u);
  EXPECT_LE(result.errors.timeout, 42u);
  EXPECT_EQ(result.errors.read + result.errors.write + result.errors.connect, 0u);
  EXPECT_GE(server.accepted(), result.errors.timeout);
}

TEST(EngineTest, CountsProtocolErrorsWhenTheServerSendsGarbage) {
  RawServer server([](int fd) {
    RawServer::send_all(fd, "SPDY/9 banana\r\n\r\n");
    return true;
  });
  LoadSpec spec = spec_for(server.port(), 2, 1);
  spec.duration = 300ms;
  const auto started = Clock::now();
  const LoadResult result = run_load(spec);
  EXPECT_LT(Clock::now() - started, spec.duration + 30s) << "ends, not at a hang";
  EXPECT_EQ(result.requests, 0u);
  EXPECT_GT(result.errors.protocol, 0u);
  EXPECT_EQ(result.errors.read, 0u);
  EXPECT_EQ(result.protocol_error, "not an HTTP/1.x response at byte 0 of an answer");
}

TEST(EngineTest, CountsReadErrorsWhenTheServerCutsAnAnswerShort) {
  RawServer server([](int fd) {
    RawServer::send_all(fd, "HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\nshort");
    return false;
  });
  LoadSpec spec = spec_for(server.port(), 2, 1);
  spec.max_requests = 20;
  const LoadResult result = run_load(spec);
  EXPECT_EQ(result.requests, 0u);
  EXPECT_EQ(result.errors.read, 20u);
}

TEST(EngineTest, CountsNon2xxAnswersAsStatusErrors) {
  CountingServer server(503);
  LoadSpec spec = spec_for(server.port(), 2, 1);
  spec.max_requests = 100;
  const LoadResult result = run_load(spec);
  EXPECT_EQ(result.requests, 100u);
  EXPECT_EQ(result.errors.status, 100u);
  EXPECT_EQ(result.latency.count(), 100u);
}

TEST(EngineTest, DoesNotRecordWarmupAnswers) {
  CountingServer server;
  LoadSpec spec = spec_for(server.port(), 2, 1);
  spec.warmup = 1s;
  spec.duration = 1s;
  LoadProgress progress;
  const LoadResult result = run_load(spec, {}, &progress);
  EXPECT_GT(result.requests, 0u);
  EXPECT_EQ(result.latency.count(), result.requests);
  // Whole seconds: the timeline's first is the warm-up, its second the window.
  ASSERT_EQ(result.timeline.size(), 2u);
  ASSERT_TRUE(result.timeline[0].warmup);
  EXPECT_GT(result.timeline[0].requests, 0u) << "answers came during the warm-up";
  EXPECT_EQ(result.requests, result.timeline[1].requests) << "and none of them is in the result";
  // Progress counts warm-up too.
  EXPECT_GE(progress.requests(), result.requests + result.timeline[0].requests);
  EXPECT_LE(progress.requests(), server.handled());
  EXPECT_EQ(result.elapsed, spec.duration);
}

TEST(EngineTest, StopsALongRunPromptly) {
  CountingServer server;
  LoadSpec spec = spec_for(server.port(), 4, 2);
  spec.duration = 60s;
  LoadProgress progress;
  std::stop_source stop;
  std::jthread stopper([&] {
    wait_for([&] { return progress.requests() > 0; });
    stop.request_stop();
  });
  const auto started = Clock::now();
  const LoadResult result = run_load(spec, stop.get_token(), &progress);
  const auto took = Clock::now() - started;
  // Half the duration: only a run that ignored the stop comes near it, whatever the load.
  EXPECT_LT(took, spec.duration / 2);
  EXPECT_GT(result.requests, 0u);
  EXPECT_LE(result.elapsed, took) << "the window ended at the stop";
}

TEST(EngineTest, ReportsProgressDuringTheRun) {
  CountingServer server;
  LoadSpec spec = spec_for(server.port(), 2, 1);
  spec.duration = 60s;
  LoadProgress progress;
  std::atomic<bool> returned{false};
  std::atomic<bool> seen_mid_run{false};
  std::stop_source stop;
  // Stops the run once progress shows answers: a run that reported only at its end would
  // never show them before it returned.
  std::jthread watcher([&] {
    wait_for([&] { return returned.load() || progress.requests() > 0; }, 30s);
    seen_mid_run = !returned.load() && progress.requests() > 0;
    stop.request_stop();
  });
  const LoadResult result = run_load(spec, stop.get_token(), &progress);
  returned = true;
  watcher.join();
  EXPECT_TRUE(seen_mid_run.load());
  // Answers arriving after the window closed are progress but not results.
  EXPECT_GE(progress.requests(), result.requests);
  EXPECT_LE(progress.requests(), result.requests + static_cast<uint64_t>(spec.connections));
}

TEST(EngineTest, PipelinesBatchesOfRequests) {
  RawServer server([](int fd) {
    RawServer::send_all(fd, "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok");
    return true;
  });
  LoadSpec spec = spec_for(server.port(), 2, 1);
  spec.duration = 10s;
  spec.pipeline = 8;
  spec.max_requests = 803;  // Not a multiple of 8: the last batch is short.
  const LoadResult result = run_load(spec);
  EXPECT_EQ(result.requests, 803u);
  EXPECT_EQ(result.errors.total(), 0u);
  EXPECT_EQ(server.requests(), 803u);
}

TEST(EngineTest, SendsTheMethodHeadersAndBodyAsked) {
  httplib::Server server;
  server.set_tcp_nodelay(true);
  server.set_keep_alive_max_count(1'000'000);
  std::atomic<uint64_t> good{0};
  std::atomic<uint64_t> bad{0};
  server.Post("/submit", [&](const httplib::Request& req, httplib::Response& res) {
    const bool ok = req.body == "{\"n\":1}" && req.get_header_value("X-Test") == "yes" &&
                    req.get_header_value("Content-Type") == "application/json";
    (ok ? good : bad).fetch_add(1);
    res.set_content("done", "text/plain");
  });
  const int port = server.bind_to_any_port("127.0.0.1");
  std::jthread thread([&] { server.listen_after_bind(); });
  ASSERT_TRUE(wait_for([&] { return server.is_running(); }));
  LoadSpec spec = spec_for(port, 2, 1);
  spec.target.target = "/submit";
  spec.method = "POST";
  spec.headers = {"X-Test: yes", "Content-Type: application/json"};
  spec.body = "{\"n\":1}";
  spec.duration = 10s;
  spec.max_requests = 50;
  const LoadResult result = run_load(spec);
  server.stop();
  EXPECT_EQ(result.requests, 50u);
  EXPECT_EQ(result.errors.total(), 0u);
  EXPECT_EQ(good.load(), 50u);
  EXPECT_EQ(bad.load(), 0u);
}

TEST(EngineTest, ReadsAnswersToHeadWithoutTheirBodies) {
  // Content-Length announces a body a HEAD answer never carries.
  RawServer server([](int fd) {
    RawServer::send_all(fd, "HTTP/1.1 200 OK\r\nContent-Length: 612\r\n\r\n");
    return true;
  });
  LoadSpec spec = spec_for(server.port(), 2, 1);
  spec.method = "HEAD";
  spec.max_requests = 100;
  const LoadResult result = run_load(spec);
  EXPECT_EQ(result.requests, 100u);
  EXPECT_EQ(result.errors.total(), 0u);
}

TEST(EngineTest, RejectsPipeliningInTheOpenLoop) {
  CountingServer server;
  LoadSpec spec = spec_for(server.port(), 2, 1);
  spec.rate = 100;
  spec.pipeline = 2;
  EXPECT_THROW((void)run_load(spec), RunError);
}

}  // namespace
}  // namespace iolab
