// Every server starts and stops without a race: each variant, the stub, a supervisor's worker
// processes and the daemon (whose API thread once missed a stop() that came right after start()).
// For each kind, N cycles of start -> stop, the stop coming at once, after a random 0-5 ms, or
// while a client connects (with one connection idle and one request in progress). Every cycle must
// end (a watchdog aborts the process, naming the cycle, when one takes longer than kCycleLimit),
// free its port (a plain listener can bind it again) and free its threads (/proc/self/task).
//
// N is IOLAB_LIFECYCLE_CYCLES (default 20: the short form of scripts/test.sh; bench/lifecycle.sh
// runs 200 with both cores busy). Each kind prints one "lifecycle ..." summary line.
#include <dirent.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <mutex>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "daemon/daemon.h"
#include "store/run_store.h"
#include "variants/stub.h"
#include "variants/variant.h"
#include "workers/supervisor.h"

namespace iolab {
namespace {

using Clock = std::chrono::steady_clock;
using Ms = std::chrono::duration<double, std::milli>;

constexpr auto kCycleLimit = std::chrono::seconds(20);
constexpr auto kPollLimit = std::chrono::seconds(10);
constexpr int kMaxClientConnects = 64;

int cycles_from_env() {
  const char* text = std::getenv("IOLAB_LIFECYCLE_CYCLES");
  if (text == nullptr || *text == '\0') return 20;
  return std::max(1, std::atoi(text));
}

int task_count() {
  DIR* dir = ::opendir("/proc/self/task");
  if (dir == nullptr) return -1;
  int n = 0;
  while (const dirent* e = ::readdir(dir)) {
    if (e->d_name[0] != '.') ++n;
  }
  ::closedir(dir);
  return n;
}

// Polls `done` until it holds or kPollLimit passes; returns whether it held.
template <typename Pred>
bool eventually(Pred done) {
  const auto deadline = Clock::now() + kPollLimit;
  while (!done()) {
    if (Clock::now() > deadline) return false;
    std::this_thread::yield();
  }
  return true;
}

sockaddr_in loopback(uint16_t port) {
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(port);
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  return a;
}

// Whether `port` can be listened on, with `reuse_port` as well as SO_REUSEADDR.
bool can_listen(uint16_t port, bool reuse_port) {
  const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  const int one = 1;
  ::setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  if (reuse_port) ::setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof one);
  const sockaddr_in a = loopback(port);
  const bool ok =
      ::bind(fd, reinterpret_cast<const sockaddr*>(&a), sizeof a) == 0 && ::listen(fd, 1) == 0;
  ::close(fd);
  return ok;
}

int connect_to(uint16_t port);

// Whether nothing listens on `port` any more: a listener without SO_REUSEPORT can take it.
// (SO_REUSEADDR only forgives the port's connections in TIME_WAIT, never a live listener.)
// A server that closed its connections first (cpp-httplib's, which binds with SO_REUSEPORT)
// leaves them in TIME_WAIT with SO_REUSEPORT, which only a listener that sets it too may share;
// then the port counts as free when nothing accepts on it and such a listener can take it,
// as the same server starting again would.
bool port_is_free(uint16_t port) {
  if (can_listen(port, false)) return true;
  const int fd = connect_to(port);
  if (fd >= 0) {
    ::close(fd);
    return false;
  }
  return can_listen(port, true);
}

// A blocking connect to 127.0.0.1:port; -1 when refused.
int connect_to(uint16_t port) {
  const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  const sockaddr_in a = loopback(port);
  if (::connect(fd, reinterpret_cast<const sockaddr*>(&a), sizeof a) != 0) {
    ::close(fd);
    return -1;
  }
  return fd;
}

void send_text(int fd, const std::string& text) {
  [[maybe_unused]] const auto n = ::send(fd, text.data(), text.size(), MSG_NOSIGNAL);
}

// One server under test: a variant, the upstream stub, a supervisor's worker set, or the whole
// daemon (its REST API, with its own stub and run queue; no default variant).
class Subject {
 public:
  Subject(const std::string& kind, const UpstreamOptions& upstream) {
    if (kind == "stub") {
      stub_ = std::make_unique<UpstreamStub>(StubProfile{.delay = 20ms});
    } else if (kind == "daemon") {
      DaemonConfig config;
      config.api_listen = Endpoint{"127.0.0.1", 0};
      config.upstream_listen = Endpoint{"127.0.0.1", 0};
      config.variant_default.reset();
      daemon_ =
          std::make_unique<Daemon>(config, IOLAB_BINARY, std::make_unique<InMemoryRunStore>());
    } else if (kind == "supervisor") {
      WorkerSetSpec spec;
      spec.executable = IOLAB_BINARY;
      spec.variant = VariantSpec{"threads", 4, 1};
      spec.upstream = upstream;
      spec.listen = Endpoint{"127.0.0.1", 0};
      supervisor_ = std::make_unique<Supervisor>(spec);
    } else {
      variant_ = make_variant(*parse_variant(kind), upstream);
    }
  }
  uint16_t start() {
    if (daemon_) return daemon_->start();
    if (supervisor_) return supervisor_->start();
    return stub_ ? stub_->start(Endpoint{"127.0.0.1", 0})
                 : variant_->start(Endpoint{"127.0.0.1", 0});
  }
  void stop() {
    if (daemon_) return daemon_->stop();
    if (supervisor_) return supervisor_->stop();
    stub_ ? stub_->stop() : variant_->stop();
  }

 private:
  std::unique_ptr<Variant> variant_;
  std::unique_ptr<UpstreamStub> stub_;
  std::unique_ptr<Daemon> daemon_;
  std::unique_ptr<Supervisor> supervisor_;
};

// While a client connects: one connection left idle, one with a /remote in progress, then
// connect after connect (each with a request) until stopped or refused. stop() comes once the
// first two are connected, so it lands amid the later connects.
class ConnectingClient {
 public:
  explicit ConnectingClient(uint16_t port) : thread_([this, port] { run(port); }) {}
  ~ConnectingClient() {
    done_.store(true);
    thread_.join();
    for (int fd : fds_) ::close(fd);
  }
  bool wait_until_connected() {
    return eventually([this] { return connected_.load(); });
  }

 private:
  void run(uint16_t port) {
    const int idle = connect_to(port);
    const int busy = connect_to(port);
    if (idle < 0 || busy < 0) return;
    fds_ = {idle, busy};
    send_text(busy, "GET /remote HTTP/1.1\r\nHost: x\r\n\r\n");
    connected_.store(true);
    for (int i = 0; i < kMaxClientConnects && !done_.load(); ++i) {
      const int fd = connect_to(port);
      if (fd < 0) return;
      fds_.push_back(fd);
      send_text(fd, i % 2 == 0 ? "GET /plaintext HTTP/1.1\r\nHost: x\r\n\r\n"
                               : "GET /remote HTTP/1.1\r\nHost: x\r\n\r\n");
    }
  }

  std::atomic<bool> done_{false};
  std::atomic<bool> connected_{false};
  std::vector<int> fds_;  // Written by the thread, read after its join.
  std::thread thread_;
};

// Aborts the process, naming the cycle, when a cycle takes longer than kCycleLimit: a hang in
// stop() would otherwise only show as the suite's timeout.
class CycleWatchdog {
 public:
  CycleWatchdog() : thread_([this] { run(); }) {}
  ~CycleWatchdog() {
    {
      const std::lock_guard lock(mutex_);
      quit_ = true;
    }
    changed_.notify_all();
    thread_.join();
  }
  void begin(std::string what) {
    const std::lock_guard lock(mutex_);
    what_ = std::move(what);
    deadline_ = Clock::now() + kCycleLimit;
  }
  void end() {
    const std::lock_guard lock(mutex_);
    deadline_ = Clock::time_point::max();
  }

 private:
  void run() {
    std::unique_lock lock(mutex_);
    while (!quit_) {
      if (Clock::now() > deadline_) {
        std::fprintf(stderr, "lifecycle: %s did not end within %lld s\n", what_.c_str(),
                     static_cast<long long>(kCycleLimit.count()));
        std::abort();
      }
      changed_.wait_for(lock, std::chrono::milliseconds(100));
    }
  }

  std::mutex mutex_;
  std::condition_variable changed_;
  bool quit_ = false;
  std::string what_;
  Clock::time_point deadline_ = Clock::time_point::max();
  std::thread thread_;
};

enum class StopWhen : uint8_t { kAtOnce, kAfterRandomDelay, kWhileClientConnects };
constexpr const char* kStopNames[] = {"at once", "after 0-5 ms", "while a client connects"};

class VariantLifecycleTest : public ::testing::TestWithParam<std::string> {};

TEST_P(VariantLifecycleTest, EveryCycleEndsAndFreesItsPortAndThreads) {
  const std::string kind = GetParam();
  const int cycles = cycles_from_env();
  UpstreamStub upstream(StubProfile{.delay = 20ms});
  const uint16_t upstream_port = upstream.start(Endpoint{"127.0.0.1", 0});
  const UpstreamOptions options{
      .url = *parse_url("http://127.0.0.1:" + std::to_string(upstream_port) + "/"),
      .connect_timeout = 2s,
      .timeout = 2s};
  std::mt19937 random(std::random_device{}());
  std::uniform_int_distribution<int> delay_us(0, 5000);
  CycleWatchdog watchdog;
  const int tasks_before = task_count();

  int per_mode[3] = {0, 0, 0};
  Ms slowest_cycle{0};
  Ms slowest_stop{0};
  int slowest_index = -1;
  for (int i = 0; i < cycles; ++i) {
    const auto mode = static_cast<StopWhen>(i % 3);
    const std::string what =
        kind + " cycle " + std::to_string(i) + " (stop " + kStopNames[static_cast<int>(mode)] + ")";
    watchdog.begin(what);
    const auto began = Clock::now();
    Subject subject(kind, options);
    const uint16_t port = subject.start();
    Clock::time_point stop_began;
    Clock::time_point stopped;
    if (mode == StopWhen::kWhileClientConnects) {
      ConnectingClient client(port);
      ASSERT_TRUE(client.wait_until_connected()) << what << ": the client could not connect";
      stop_began = Clock::now();
      subject.stop();
      stopped = Clock::now();
    } else {
      if (mode == StopWhen::kAfterRandomDelay) {
        // The delay is the input of this case (where in start-up the stop lands), not a wait
        // for an event.
        std::this_thread::sleep_for(std::chrono::microseconds(delay_us(random)));
      }
      stop_began = Clock::now();
      subject.stop();
      stopped = Clock::now();
    }
    EXPECT_TRUE(port_is_free(port)) << what << ": port " << port << " is still taken";
    EXPECT_TRUE(eventually([&] { return task_count() <= tasks_before; }))
        << what << ": " << task_count() - tasks_before << " threads left";
    watchdog.end();
    ++per_mode[static_cast<int>(mode)];
    const Ms cycle = Clock::now() - began;
    if (cycle > slowest_cycle) {
      slowest_cycle = cycle;
      slowest_stop = stopped - stop_began;
      slowest_index = i;
    }
    if (::testing::Test::HasFailure()) break;
  }
  std::printf(
      "lifecycle %-15s %d cycles (%d stopped at once, %d after 0-5 ms, %d while a client "
      "connects); slowest cycle %.1f ms (#%d, stop %s, stop() took %.1f ms)\n",
      kind.c_str(), per_mode[0] + per_mode[1] + per_mode[2], per_mode[0], per_mode[1], per_mode[2],
      slowest_cycle.count(), slowest_index,
      slowest_index >= 0 ? kStopNames[slowest_index % 3] : "-", slowest_stop.count());
  std::fflush(stdout);
  EXPECT_EQ(per_mode[0] + per_mode[1] + per_mode[2], cycles);
}

INSTANTIATE_TEST_SUITE_P(EveryServer, VariantLifecycleTest,
                         ::testing::Values("threads:4", "async", "fiber", "fiber-blocking", "stub",
                                           "supervisor", "daemon"),
                         [](const auto& param_info) {
                           std::string name = param_info.param;
                           for (char& c : name) {
                             if (c == ':' || c == '-') c = '_';
                           }
                           return name;
                         });

}  // namespace
}  // namespace iolab
