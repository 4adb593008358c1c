#include "variants/threads_variant.h"

#include <gtest/gtest.h>
#include <httplib.h>

#include <atomic>
#include <thread>
#include <vector>

#include "variants/stub.h"

namespace iolab {
namespace {

using Clock = std::chrono::steady_clock;

Url url_for(uint16_t port) { return *parse_url("http://127.0.0.1:" + std::to_string(port) + "/"); }

httplib::Client client_for(uint16_t port) {
  httplib::Client c("127.0.0.1", port);
  c.set_tcp_nodelay(true);
  c.set_read_timeout(10, 0);
  return c;
}

// A port with nothing listening: bind, read the port back, close.
uint16_t closed_port() {
  UpstreamStub probe;
  const uint16_t port = probe.start(Endpoint{"127.0.0.1", 0});
  probe.stop();
  return port;
}

TEST(ThreadsVariantTest, RemoteAnswersJsonWithTheUpstreamStatusAndSize) {
  UpstreamStub stub(StubProfile{.delay = 20ms});
  stub.start(Endpoint{"127.0.0.1", 0});
  ThreadsVariant variant(4, UpstreamOptions{.url = url_for(stub.port())});
  const uint16_t port = variant.start(Endpoint{"127.0.0.1", 0});
  auto c = client_for(port);
  const auto started = Clock::now();
  const auto res = c.Get("/remote");
  ASSERT_TRUE(res);
  EXPECT_GE(Clock::now() - started, 20ms);
  EXPECT_EQ(res->status, 200);
  EXPECT_EQ(res->body, R"({"upstream_status":200,"upstream_bytes":612})");
  EXPECT_EQ(res->get_header_value("Content-Type"), "application/json");
  // The stub counts an answer once its write returns, which may be just after it was read.
  const auto deadline = Clock::now() + 30s;
  while (stub.requests_served() < 1 && Clock::now() < deadline) std::this_thread::sleep_for(1ms);
  EXPECT_EQ(stub.requests_served(), 1u);
  EXPECT_EQ(variant.name(), "threads:4");
}

TEST(ThreadsVariantTest, PlaintextNeedsNoUpstream) {
  ThreadsVariant variant(2, UpstreamOptions{.url = url_for(closed_port())});
  const uint16_t port = variant.start(Endpoint{"127.0.0.1", 0});
  auto c = client_for(port);
  const auto res = c.Get("/plaintext");
  ASSERT_TRUE(res);
  EXPECT_EQ(res->status, 200);
  EXPECT_EQ(res->body, "Hello, World!");
  EXPECT_EQ(variant.requests_served(), 1u);
}

TEST(ThreadsVariantTest, Answers502WhenTheUpstreamIsDown) {
  ThreadsVariant variant(2, UpstreamOptions{.url = url_for(closed_port())});
  const uint16_t port = variant.start(Endpoint{"127.0.0.1", 0});
  auto c = client_for(port);
  const auto res = c.Get("/remote");
  ASSERT_TRUE(res);
  EXPECT_EQ(res->status, 502);
}

TEST(ThreadsVariantTest, Answers502WhenTheUpstreamAnswers5xx) {
  UpstreamStub stub(StubProfile{.delay = 0ms});
  stub.start(Endpoint{"127.0.0.1", 0});
  UpstreamOptions upstream{.url = url_for(stub.port())};
  upstream.url.target = "/?status=503";
  ThreadsVariant variant(2, upstream);
  const uint16_t port = variant.start(Endpoint{"127.0.0.1", 0});
  auto c = client_for(port);
  const auto res = c.Get("/remote");
  ASSERT_TRUE(res);
  EXPECT_EQ(res->status, 502);
  EXPECT_NE(res->body.find("\"upstream_status\":503"), std::string::npos);
}

TEST(ThreadsVariantTest, Answers504WhenTheUpstreamIsSlowerThanTheTimeout) {
  UpstreamStub stub(StubProfile{.delay = 60s});
  stub.start(Endpoint{"127.0.0.1", 0});
  ThreadsVariant variant(2, UpstreamOptions{.url = url_for(stub.port()), .timeout = 300ms});
  const uint16_t port = variant.start(Endpoint{"127.0.0.1", 0});
  auto c = client_for(port);
  c.set_read_timeout(120, 0);
  const auto started = Clock::now();
  const auto res = c.Get("/remote");
  const auto took = Clock::now() - started;
  ASSERT_TRUE(res);
  EXPECT_EQ(res->status, 504);
  EXPECT_GE(took, 300ms);
  EXPECT_LT(took, 30s) << "at the variant's timeout, not the upstream's answer (60 s)";
}

TEST(ThreadsVariantTest, ServesAtMostNRequestsAtOnce) {
  // 4 threads, 8 concurrent clients, 200 ms upstream: two waves, so the last answer comes
  // after at least 2 x 200 ms; never more than 4 upstream requests are open at once.
  UpstreamStub stub(StubProfile{.delay = 200ms});
  stub.start(Endpoint{"127.0.0.1", 0});
  ThreadsVariant variant(4, UpstreamOptions{.url = url_for(stub.port())});
  const uint16_t port = variant.start(Endpoint{"127.0.0.1", 0});
  std::atomic<int> ok{0};
  const auto started = Clock::now();
  {
    std::vector<std::jthread> clients;
    for (int i = 0; i < 8; ++i) {
      clients.emplace_back([&] {
        auto c = client_for(port);
        const auto res = c.Get("/remote");
        if (res && res->status == 200) ++ok;
      });
    }
  }
  EXPECT_EQ(ok.load(), 8);
  EXPECT_GE(Clock::now() - started, 400ms);
  EXPECT_LE(stub.open_connections(), 4u);
}

TEST(ThreadsVariantTest, StopFreesThePort) {
  ThreadsVariant variant(2, UpstreamOptions{.url = url_for(closed_port())});
  const uint16_t port = variant.start(Endpoint{"127.0.0.1", 0});
  variant.stop();
  auto c = client_for(port);
  c.set_connection_timeout(1, 0);
  EXPECT_FALSE(c.Get("/plaintext"));
  ThreadsVariant again(2, UpstreamOptions{.url = url_for(closed_port())});
  EXPECT_EQ(again.start(Endpoint{"127.0.0.1", port}), port);
}

template <typename Pred>
bool eventually(Pred pred, std::chrono::seconds within = std::chrono::seconds(10)) {
  const auto deadline = Clock::now() + within;
  while (!pred()) {
    if (Clock::now() >= deadline) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  return true;
}

// A request of `port`'s /remote, answered whenever its upstream lets it: run on its own thread.
std::jthread remote_client(uint16_t port, std::atomic<int>& ok) {
  return std::jthread([port, &ok] {
    auto c = client_for(port);
    c.set_read_timeout(60, 0);
    const auto res = c.Get("/remote");
    if (res && res->status == 200) ++ok;
  });
}

// The time from a connection becoming readable to a pool thread taking it is queue wait, and
// the pool's threads show as busy or queued: one thread, two clients, the first held in its
// upstream call until the test stops the upstream.
TEST(ThreadsVariantTest, RecordsQueueWaitAndThePoolsOccupancy) {
  UpstreamStub stub(StubProfile{.delay = 60s});
  stub.start(Endpoint{"127.0.0.1", 0});
  ThreadsVariant variant(1, UpstreamOptions{.url = url_for(stub.port()), .timeout = 60s});
  const uint16_t port = variant.start(Endpoint{"127.0.0.1", 0});
  const ServerStats& stats = variant.stats();
  EXPECT_EQ(stats.pool_threads.load(), 1);
  std::atomic<int> ok{0};
  auto first = remote_client(port, ok);
  ASSERT_TRUE(eventually([&] { return stats.pool_busy.load() == 1; }));
  auto second = remote_client(port, ok);
  ASSERT_TRUE(eventually([&] { return stats.pool_queued.load() == 1; }));
  const auto queued_by = Clock::now();  // the second was readable before this
  EXPECT_EQ(stats.pool_busy.load(), 1);
  std::this_thread::sleep_for(100ms);  // a wait to measure, not an ordering
  const auto released = Clock::now();  // the only thread is busy until after this
  stub.stop();                         // the first call fails: its thread takes the second
  first.join();
  second.join();
  EXPECT_EQ(stats.queue_wait.count(), 2u);
  // Less the histogram's 0.1 % resolution.
  EXPECT_GE(stats.queue_wait.max(), (released - queued_by) * 998 / 1000);
  EXPECT_TRUE(eventually([&] { return stats.pool_busy.load() == 0; }));
  EXPECT_EQ(stats.pool_queued.load(), 0);
}

// Keep-alive ends on idle time, not after a number of requests: one connection carries many.
TEST(ThreadsVariantTest, KeepsAConnectionAliveForManyRequests) {
  ThreadsVariant variant(2, UpstreamOptions{.url = url_for(closed_port())});
  const uint16_t port = variant.start(Endpoint{"127.0.0.1", 0});
  auto c = client_for(port);
  c.set_keep_alive(true);
  for (int i = 0; i < 20; ++i) {
    const auto res = c.Get("/plaintext");
    ASSERT_TRUE(res);
    EXPECT_EQ(res->get_header_value("Connection"), "");
  }
  EXPECT_EQ(variant.stats().open_connections.load(), 1);
  EXPECT_EQ(variant.stats().queue_wait.count(), 20u);
}

}  // namespace
}  // namespace iolab
