#include "variants/stub.h"

#include <gtest/gtest.h>
#include <httplib.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <string>
#include <thread>
#include <vector>

namespace iolab {
namespace {

using Clock = std::chrono::steady_clock;

httplib::Client client_for(uint16_t port) {
  httplib::Client c("127.0.0.1", port);
  c.set_tcp_nodelay(true);
  c.set_read_timeout(10, 0);
  return c;
}

TEST(UpstreamStubTest, AnswersWith612BytesOfHtmlAfterTheDelay) {
  UpstreamStub stub(StubProfile{.delay = 50ms});
  const uint16_t port = stub.start(Endpoint{"127.0.0.1", 0});
  auto c = client_for(port);
  c.set_keep_alive(true);
  for (int i = 0; i < 5; ++i) {
    const auto started = Clock::now();
    const auto res = c.Get("/");
    const auto took = Clock::now() - started;
    ASSERT_TRUE(res);
    EXPECT_EQ(res->status, 200);
    EXPECT_EQ(res->body.size(), 612u);
    EXPECT_EQ(res->get_header_value("Content-Type"), "text/html");
    EXPECT_GE(took, 50ms);
  }
  // The stub counts an answer once its last byte is sent: the client may read it first.
  const auto deadline = Clock::now() + 30s;
  while (stub.requests_served() < 5u && Clock::now() < deadline) std::this_thread::sleep_for(1ms);
  EXPECT_EQ(stub.requests_served(), 5u);
  EXPECT_GE(stub.latency().min(), 50ms);
}

TEST(UpstreamStubTest, TakesDelayStatusAndSizeFromTheQueryCappedByTheMaximum) {
  UpstreamStub stub(StubProfile{.delay = 0ms, .max_delay = 200ms, .max_body_bytes = 1000});
  const uint16_t port = stub.start(Endpoint{"127.0.0.1", 0});
  auto c = client_for(port);

  auto started = Clock::now();
  auto res = c.Get("/?delay=120ms&status=503&size=10");
  ASSERT_TRUE(res);
  EXPECT_GE(Clock::now() - started, 120ms);
  EXPECT_EQ(res->status, 503);
  EXPECT_EQ(res->body.size(), 10u);

  started = Clock::now();
  res = c.Get("/?delay=5s&size=99999");
  ASSERT_TRUE(res);
  const auto took = Clock::now() - started;
  EXPECT_GE(took, 200ms);
  EXPECT_LT(took, 5s) << "capped at 200 ms, not the 5 s asked";
  EXPECT_EQ(res->body.size(), 1000u);
}

// Opens `n` raw connections, sends one request on each at once, and waits for every answer.
TEST(UpstreamStubTest, HoldsThousandsOfDelayedRequestsOnOneThread) {
  constexpr int kConnections = 3000;
  UpstreamStub stub(StubProfile{.delay = 300ms});
  const uint16_t port = stub.start(Endpoint{"127.0.0.1", 0});
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(port);
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);

  std::vector<int> fds;
  for (int i = 0; i < kConnections; ++i) {
    const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
    ASSERT_GE(fd, 0);
    ASSERT_EQ(::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr), 0);
    fds.push_back(fd);
  }
  const std::string request = "GET / HTTP/1.1\r\nHost: x\r\n\r\n";
  const auto sent = Clock::now();
  for (int fd : fds)
    ASSERT_EQ(::send(fd, request.data(), request.size(), 0), (ssize_t)request.size());

  int answered = 0;
  const auto deadline = Clock::now() + 60s;
  std::vector<bool> done(fds.size(), false);
  while (answered < kConnections && Clock::now() < deadline) {
    std::vector<pollfd> p;
    for (size_t i = 0; i < fds.size(); ++i) {
      if (!done[i]) p.push_back({fds[i], POLLIN, 0});
    }
    ASSERT_GE(::poll(p.data(), p.size(), 1000), 0);
    for (auto& e : p) {
      if (!(e.revents & POLLIN)) continue;
      char buf[4096];
      if (::recv(e.fd, buf, sizeof buf, 0) > 0) {
        const auto i = std::find(fds.begin(), fds.end(), e.fd) - fds.begin();
        done[static_cast<size_t>(i)] = true;
        ++answered;
      }
    }
  }
  const auto took = Clock::now() - sent;
  for (int fd : fds) ::close(fd);
  EXPECT_EQ(answered, kConnections);
  EXPECT_GE(took, 300ms);
  // One at a time would take 3000 x 300 ms; even ten at a time, 90 s.
  EXPECT_LT(took, 30s) << "a delayed request must not hold up the others";
  EXPECT_GE(stub.latency().min(), 300ms);
}

TEST(UpstreamStubTest, AnswersGarbageWith400AndCloses) {
  UpstreamStub stub(StubProfile{.delay = 0ms});
  const uint16_t port = stub.start(Endpoint{"127.0.0.1", 0});
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(port);
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ASSERT_EQ(::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr), 0);
  const std::string junk = "NOT HTTP AT ALL\r\n\r\n";
  ::send(fd, junk.data(), junk.size(), 0);
  std::string answer;
  char buf[1024];
  ssize_t n;
  while ((n = ::recv(fd, buf, sizeof buf, 0)) > 0) answer.append(buf, static_cast<size_t>(n));
  ::close(fd);
  EXPECT_EQ(answer.rfind("HTTP/1.1 400", 0), 0u) << answer;
}

TEST(UpstreamStubTest, StopClosesThePort) {
  UpstreamStub stub;
  const uint16_t port = stub.start(Endpoint{"127.0.0.1", 0});
  stub.stop();
  auto c = client_for(port);
  c.set_connection_timeout(1, 0);
  EXPECT_FALSE(c.Get("/"));
}

// One request on a fresh connection, read to its end: the status line's code, 0 for a
// connection closed without an answer, -1 for a reset.
int raw_get(uint16_t port, const std::string& target) {
  const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(port);
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  EXPECT_EQ(::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr), 0);
  const std::string request = "GET " + target + " HTTP/1.1\r\nHost: x\r\n\r\n";
  EXPECT_EQ(::send(fd, request.data(), request.size(), MSG_NOSIGNAL),
            static_cast<ssize_t>(request.size()));
  std::string in;
  char buf[4096];
  int outcome = 0;
  for (;;) {
    pollfd p{fd, POLLIN, 0};
    if (::poll(&p, 1, 10000) != 1) break;  // no answer in 10 s: fails below
    const ssize_t n = ::recv(fd, buf, sizeof buf, 0);
    if (n < 0) {
      outcome = errno == ECONNRESET ? -1 : -2;
      break;
    }
    if (n == 0) break;
    in.append(buf, static_cast<size_t>(n));
    if (in.find("\r\n\r\n") != std::string::npos) {
      outcome = std::stoi(in.substr(9, 3));
      break;
    }
  }
  ::close(fd);
  return outcome;
}

TEST(UpstreamStubTest, RecordsTheDelaysItServedInItsHistogram) {
  StubProfile profile;
  profile.distribution = parse_delay_distribution("mixture(50%: 1ms, 50%: 60ms)");
  UpstreamStub stub(profile);
  const uint16_t port = stub.start(Endpoint{"127.0.0.1", 0});
  auto c = client_for(port);
  c.set_keep_alive(true);
  constexpr int kRequests = 40;
  int slow_seen = 0;  // answers that took at least the long delay
  for (int i = 0; i < kRequests; ++i) {
    const auto started = Clock::now();
    const auto res = c.Get("/");
    ASSERT_TRUE(res);
    slow_seen += Clock::now() - started >= 60ms ? 1 : 0;
  }
  const auto& delays = stub.delays();
  ASSERT_EQ(delays.count(), static_cast<uint64_t>(kRequests));
  uint64_t short_served = 0;
  uint64_t long_served = 0;
  delays.for_each_bucket([&](int64_t lowest, int64_t highest, uint64_t n) {
    if (highest <= 1'001'000) short_served += n;
    if (lowest >= 59'900'000 && highest <= 60'100'000) long_served += n;
  });
  // Every recorded delay is one of the two the mixture holds, and both occur (2^-39 otherwise).
  EXPECT_EQ(short_served + long_served, static_cast<uint64_t>(kRequests));
  EXPECT_GT(short_served, 0u);
  EXPECT_GT(long_served, 0u);
  // A long delay served is an answer the client waited for at least that long.
  EXPECT_GE(static_cast<uint64_t>(slow_seen), long_served);
  EXPECT_EQ(stub.faults(StubFault::kNone), static_cast<uint64_t>(kRequests));
}

TEST(UpstreamStubTest, FaultsReachTheClientAsAnErrorACloseOrAReset) {
  StubProfile profile{.delay = 1ms};
  profile.faults = StubFaults{.error = 1.0, .error_status = 503};
  UpstreamStub stub(profile);
  const uint16_t port = stub.start(Endpoint{"127.0.0.1", 0});
  EXPECT_EQ(raw_get(port, "/"), 503);
  EXPECT_EQ(raw_get(port, "/?fault=close"), 0);
  EXPECT_EQ(raw_get(port, "/?fault=reset"), -1);
  EXPECT_EQ(raw_get(port, "/?fault=none"), 200);
  EXPECT_EQ(stub.faults(StubFault::kError), 1u);
  EXPECT_EQ(stub.faults(StubFault::kClose), 1u);
  EXPECT_EQ(stub.faults(StubFault::kReset), 1u);
  EXPECT_EQ(stub.delays().count(), 4u);
}

TEST(UpstreamStubTest, DrawsFaultsFromTheProfile) {
  StubProfile profile{.delay = 0ms};
  profile.faults = StubFaults{.reset = 1.0};
  UpstreamStub stub(profile);
  const uint16_t port = stub.start(Endpoint{"127.0.0.1", 0});
  for (int i = 0; i < 3; ++i) EXPECT_EQ(raw_get(port, "/"), -1);
  profile.faults = StubFaults{.close = 1.0};
  UpstreamStub closing(profile);
  const uint16_t closing_port = closing.start(Endpoint{"127.0.0.1", 0});
  for (int i = 0; i < 3; ++i) EXPECT_EQ(raw_get(closing_port, "/"), 0);
}

}  // namespace
}  // namespace iolab
