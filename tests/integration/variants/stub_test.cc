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

}  // namespace
}  // namespace iolab
