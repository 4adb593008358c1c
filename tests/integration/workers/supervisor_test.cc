#include "workers/supervisor.h"

#include <gtest/gtest.h>
#include <httplib.h>
#include <signal.h>

#include <atomic>
#include <filesystem>
#include <fstream>
#include <set>
#include <sstream>
#include <thread>
#include <vector>

#include "core/errors.h"
#include "variants/stub.h"

namespace iolab {
namespace {

using Clock = std::chrono::steady_clock;

WorkerSetSpec spec_for(uint16_t upstream_port, int workers) {
  WorkerSetSpec spec;
  spec.executable = IOLAB_BINARY;
  spec.variant = *parse_variant("threads:4");
  spec.variant.workers = workers;
  spec.upstream.url = *parse_url("http://127.0.0.1:" + std::to_string(upstream_port) + "/");
  return spec;
}

bool alive(pid_t pid) { return ::kill(pid, 0) == 0; }

template <typename Pred>
bool eventually(Pred pred, std::chrono::milliseconds within = std::chrono::milliseconds(5000)) {
  const auto deadline = Clock::now() + within;
  while (Clock::now() < deadline) {
    if (pred()) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  return pred();
}

TEST(SupervisorTest, WorkersShareOnePortAndServeRemote) {
  UpstreamStub stub(StubProfile{.delay = 10ms});
  const uint16_t upstream = stub.start(Endpoint{"127.0.0.1", 0});
  Supervisor supervisor(spec_for(upstream, 2));
  const uint16_t port = supervisor.start();
  ASSERT_NE(port, 0);
  EXPECT_EQ(supervisor.pids().size(), 2u);
  for (int i = 0; i < 20; ++i) {
    httplib::Client c("127.0.0.1", port);  // a new connection each time: spread over workers
    c.set_tcp_nodelay(true);
    const auto res = c.Get("/remote");
    ASSERT_TRUE(res);
    EXPECT_EQ(res->status, 200);
  }
  // The stub counts an answer once its write returns, which may be just after the client read it.
  EXPECT_TRUE(eventually([&] { return stub.requests_served() == 20u; }));
}

TEST(SupervisorTest, RestartsAWorkerThatDies) {
  UpstreamStub stub(StubProfile{.delay = 0ms});
  const uint16_t upstream = stub.start(Endpoint{"127.0.0.1", 0});
  Supervisor supervisor(spec_for(upstream, 2));
  const uint16_t port = supervisor.start();
  const pid_t victim = supervisor.pids().front();
  ASSERT_EQ(::kill(victim, SIGKILL), 0);
  ASSERT_TRUE(eventually([&] { return supervisor.restarts() == 1; }));
  ASSERT_TRUE(eventually([&] {
    const auto pids = supervisor.pids();
    return pids.size() == 2 && std::find(pids.begin(), pids.end(), victim) == pids.end();
  }));
  ASSERT_TRUE(eventually([&] {
    httplib::Client c("127.0.0.1", port);
    const auto res = c.Get("/plaintext");
    return res && res->status == 200;
  }));
}

TEST(SupervisorTest, PassesThePoolSizeToTheWorkers) {
  // async in one worker with 2 pooled upstream connections: 8 concurrent 100 ms calls take
  // at least 4 rounds.
  UpstreamStub stub(StubProfile{.delay = 100ms});
  const uint16_t upstream = stub.start(Endpoint{"127.0.0.1", 0});
  WorkerSetSpec spec = spec_for(upstream, 1);
  spec.variant = *parse_variant("async");
  spec.variant.workers = 1;
  spec.variant.pool_size = 2;
  Supervisor supervisor(spec);
  const uint16_t port = supervisor.start();
  std::atomic<int> ok{0};
  const auto started = Clock::now();
  {
    std::vector<std::jthread> clients;
    for (int i = 0; i < 8; ++i) {
      clients.emplace_back([&] {
        httplib::Client c("127.0.0.1", port);
        c.set_read_timeout(10, 0);
        const auto res = c.Get("/remote");
        if (res && res->status == 200) ++ok;
      });
    }
  }
  EXPECT_EQ(ok.load(), 8);
  EXPECT_GE(Clock::now() - started, std::chrono::milliseconds(400));
  EXPECT_LE(stub.open_connections(), 2u);
}

TEST(SupervisorTest, StopEndsEveryWorkerAndFreesThePort) {
  UpstreamStub stub(StubProfile{.delay = 0ms});
  const uint16_t upstream = stub.start(Endpoint{"127.0.0.1", 0});
  Supervisor supervisor(spec_for(upstream, 2));
  const uint16_t port = supervisor.start();
  const auto pids = supervisor.pids();
  supervisor.stop();
  for (pid_t pid : pids) EXPECT_FALSE(alive(pid));
  EXPECT_TRUE(supervisor.pids().empty());
  httplib::Client c("127.0.0.1", port);
  c.set_connection_timeout(1, 0);
  EXPECT_FALSE(c.Get("/plaintext"));
}

TEST(SupervisorTest, StartFailsCleanlyWhenWorkersCannotStart) {
  WorkerSetSpec spec = spec_for(1, 2);
  spec.executable = "/bin/false";
  Supervisor supervisor(spec);
  EXPECT_THROW(supervisor.start(), StartError);
  EXPECT_TRUE(supervisor.pids().empty());
}

// The listening sockets a process holds, as their inodes ("socket:[123]" in /proc/PID/fd).
std::set<std::string> listening_sockets(pid_t pid, uint16_t port) {
  // /proc/net/tcp lists listening sockets (state 0A) with their local port and inode.
  std::set<std::string> inodes_on_port;
  std::ifstream tcp("/proc/net/tcp");
  std::string line;
  std::getline(tcp, line);
  while (std::getline(tcp, line)) {
    std::istringstream in(line);
    std::string slot, local, remote, state, queues, timer, retransmits, uid, timeout, inode;
    in >> slot >> local >> remote >> state >> queues >> timer >> retransmits >> uid >> timeout >>
        inode;
    if (state != "0A") continue;
    if (std::stoul(local.substr(local.find(':') + 1), nullptr, 16) != port) continue;
    inodes_on_port.insert("socket:[" + inode + "]");
  }
  std::set<std::string> held;
  const std::filesystem::path fds = "/proc/" + std::to_string(pid) + "/fd";
  for (const auto& entry : std::filesystem::directory_iterator(fds)) {
    std::error_code ec;
    const auto target = std::filesystem::read_symlink(entry.path(), ec).string();
    if (!ec && inodes_on_port.contains(target)) held.insert(target);
  }
  return held;
}

TEST(SupervisorTest, SharedAcceptGivesEveryWorkerTheOneSocketTheSupervisorOpened) {
  UpstreamStub stub(StubProfile{.delay = 0ms});
  const uint16_t upstream = stub.start(Endpoint{"127.0.0.1", 0});
  WorkerSetSpec spec = spec_for(upstream, 2);
  ASSERT_EQ(spec.variant.accept, AcceptMode::kShared);  // the default
  Supervisor supervisor(spec);
  const uint16_t port = supervisor.start();
  const auto ours = listening_sockets(::getpid(), port);
  ASSERT_EQ(ours.size(), 1u);
  for (const pid_t pid : supervisor.pids()) EXPECT_EQ(listening_sockets(pid, port), ours);
  httplib::Client c("127.0.0.1", port);
  const auto res = c.Get("/plaintext");
  ASSERT_TRUE(res);
  EXPECT_EQ(res->status, 200);
}

TEST(SupervisorTest, ReusePortGivesEachWorkerASocketOfItsOwn) {
  UpstreamStub stub(StubProfile{.delay = 0ms});
  const uint16_t upstream = stub.start(Endpoint{"127.0.0.1", 0});
  WorkerSetSpec spec = spec_for(upstream, 2);
  spec.variant.accept = AcceptMode::kReusePort;
  Supervisor supervisor(spec);
  const uint16_t port = supervisor.start();
  EXPECT_TRUE(listening_sockets(::getpid(), port).empty());  // bound, not listening
  std::set<std::string> all;
  for (const pid_t pid : supervisor.pids()) {
    const auto held = listening_sockets(pid, port);
    EXPECT_EQ(held.size(), 1u);
    all.insert(held.begin(), held.end());
  }
  EXPECT_EQ(all.size(), 2u);
}

}  // namespace
}  // namespace iolab
