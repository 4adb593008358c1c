// Every variant through the same cases: the contract of variants/variant.h.
#include <gtest/gtest.h>
#include <httplib.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <fstream>
#include <string>
#include <thread>
#include <vector>

#include "variants/stub.h"
#include "variants/variant.h"

namespace iolab {
namespace {

using Clock = std::chrono::steady_clock;

struct ThreadsKind {
  static constexpr const char* kName = "threads:64";
};
struct AsyncKind {
  static constexpr const char* kName = "async";
};
struct FiberKind {
  static constexpr const char* kName = "fiber";
};
struct FiberBlockingKind {
  static constexpr const char* kName = "fiber-blocking";
};

class KindNames {
 public:
  template <typename T>
  static std::string GetName(int) {
    std::string name = T::kName;
    for (char& c : name) {
      if (c == ':' || c == '-') c = '_';
    }
    return name;
  }
};

Url url_for(uint16_t port) { return *parse_url("http://127.0.0.1:" + std::to_string(port) + "/"); }

int thread_count() {
  std::ifstream status("/proc/self/status");
  std::string line;
  while (std::getline(status, line)) {
    if (line.rfind("Threads:", 0) == 0) return std::stoi(line.substr(8));
  }
  return -1;
}

uint16_t closed_port() {
  UpstreamStub probe;
  const uint16_t port = probe.start(Endpoint{"127.0.0.1", 0});
  probe.stop();
  return port;
}

template <typename Kind>
class VariantContractTest : public ::testing::Test {
 protected:
  std::unique_ptr<Variant> make(const UpstreamOptions& upstream) {
    return make_variant(*parse_variant(Kind::kName), upstream);
  }
};

using Kinds = ::testing::Types<ThreadsKind, AsyncKind, FiberKind, FiberBlockingKind>;
TYPED_TEST_SUITE(VariantContractTest, Kinds, KindNames);

TYPED_TEST(VariantContractTest, RemoteAnswersTheUpstreamStatusAndSizeAsJson) {
  UpstreamStub stub(StubProfile{.delay = 20ms});
  stub.start(Endpoint{"127.0.0.1", 0});
  auto variant = this->make(UpstreamOptions{.url = url_for(stub.port())});
  const uint16_t port = variant->start(Endpoint{"127.0.0.1", 0});
  httplib::Client c("127.0.0.1", port);
  c.set_keep_alive(true);
  for (int i = 0; i < 3; ++i) {
    const auto started = Clock::now();
    const auto res = c.Get("/remote");
    ASSERT_TRUE(res);
    EXPECT_GE(Clock::now() - started, 20ms);
    EXPECT_EQ(res->status, 200);
    EXPECT_EQ(res->body, R"({"upstream_status":200,"upstream_bytes":612})");
    EXPECT_EQ(res->get_header_value("Content-Type"), "application/json");
  }
  const auto plain = c.Get("/plaintext");
  ASSERT_TRUE(plain);
  EXPECT_EQ(plain->body, "Hello, World!");
  // A variant counts an answer once its write returns, which may be just after the client read it.
  const auto deadline = Clock::now() + 30s;
  while (variant->requests_served() < 4 && Clock::now() < deadline)
    std::this_thread::sleep_for(1ms);
  EXPECT_EQ(variant->requests_served(), 4u);
  EXPECT_EQ(variant->name(), TypeParam::kName);
  const ServerStats& stats = variant->stats();
  EXPECT_EQ(stats.total.count(), 4u);
  EXPECT_EQ(stats.upstream.count(), 3u);
  EXPECT_GE(stats.upstream.min(), 20ms);
  EXPECT_GE(stats.total.max(), 20ms);
}

TYPED_TEST(VariantContractTest, Answers502WhenTheUpstreamIsDown) {
  auto variant = this->make(UpstreamOptions{.url = url_for(closed_port())});
  const uint16_t port = variant->start(Endpoint{"127.0.0.1", 0});
  httplib::Client c("127.0.0.1", port);
  const auto res = c.Get("/remote");
  ASSERT_TRUE(res);
  EXPECT_EQ(res->status, 502);
  EXPECT_EQ(variant->stats().upstream_failures.load(), 1u);
}

TYPED_TEST(VariantContractTest, Answers504WhenTheUpstreamIsSlowerThanTheTimeout) {
  UpstreamStub stub(StubProfile{.delay = 60s});
  stub.start(Endpoint{"127.0.0.1", 0});
  auto variant = this->make(UpstreamOptions{.url = url_for(stub.port()), .timeout = 300ms});
  const uint16_t port = variant->start(Endpoint{"127.0.0.1", 0});
  httplib::Client c("127.0.0.1", port);
  c.set_read_timeout(120, 0);
  const auto started = Clock::now();
  const auto res = c.Get("/remote");
  const auto took = Clock::now() - started;
  ASSERT_TRUE(res);
  EXPECT_EQ(res->status, 504);
  EXPECT_EQ(variant->stats().upstream_timeouts.load(), 1u);
  EXPECT_GE(took, 300ms);
  EXPECT_LT(took, 30s) << "at the variant's timeout, not the upstream's answer (60 s)";
  // The variant recovers: the next call with a fast answer succeeds.
  const auto fast = c.Get("/plaintext");
  ASSERT_TRUE(fast);
  EXPECT_EQ(fast->status, 200);
}

TYPED_TEST(VariantContractTest, AnswersAThousandConcurrentConnections) {
  constexpr int kConnections = 1000;
  UpstreamStub stub(StubProfile{.delay = 1ms});
  stub.start(Endpoint{"127.0.0.1", 0});
  auto variant = this->make(UpstreamOptions{.url = url_for(stub.port())});
  const uint16_t port = variant->start(Endpoint{"127.0.0.1", 0});
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
  const std::string request = "GET /remote HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n";
  for (int fd : fds) {
    ASSERT_EQ(::send(fd, request.data(), request.size(), 0), static_cast<ssize_t>(request.size()));
  }
  // Each answer ends with the server closing the connection.
  std::vector<std::string> answers(fds.size());
  std::vector<bool> done(fds.size(), false);
  size_t finished = 0;
  const auto deadline = Clock::now() + 30s;
  while (finished < fds.size() && Clock::now() < deadline) {
    std::vector<pollfd> p;
    std::vector<size_t> index;
    for (size_t i = 0; i < fds.size(); ++i) {
      if (done[i]) continue;
      p.push_back({fds[i], POLLIN, 0});
      index.push_back(i);
    }
    ASSERT_GE(::poll(p.data(), p.size(), 1000), 0);
    for (size_t k = 0; k < p.size(); ++k) {
      if (!(p[k].revents & (POLLIN | POLLHUP))) continue;
      char buf[2048];
      const ssize_t n = ::recv(p[k].fd, buf, sizeof buf, 0);
      if (n > 0) {
        answers[index[k]].append(buf, static_cast<size_t>(n));
      } else {
        done[index[k]] = true;
        ++finished;
      }
    }
  }
  for (int fd : fds) ::close(fd);
  int ok = 0;
  for (const auto& a : answers) ok += a.rfind("HTTP/1.1 200", 0) == 0 ? 1 : 0;
  EXPECT_EQ(ok, kConnections);
}

TYPED_TEST(VariantContractTest, StopFreesThePortAndEveryThread) {
  // ThreadSanitizer starts a helper thread of its own at the first thread created; let that
  // happen before the baseline is taken.
  std::thread([] {}).join();
  const int threads_before = thread_count();
  UpstreamStub stub(StubProfile{.delay = 0ms});
  stub.start(Endpoint{"127.0.0.1", 0});
  auto variant = this->make(UpstreamOptions{.url = url_for(stub.port())});
  const uint16_t port = variant->start(Endpoint{"127.0.0.1", 0});
  {
    httplib::Client c("127.0.0.1", port);
    c.set_keep_alive(true);
    ASSERT_TRUE(c.Get("/remote"));
    variant->stop();  // with a client still connected
  }
  stub.stop();
  EXPECT_EQ(thread_count(), threads_before);
  httplib::Client c("127.0.0.1", port);
  c.set_connection_timeout(1, 0);
  EXPECT_FALSE(c.Get("/plaintext"));
}

}  // namespace
}  // namespace iolab
