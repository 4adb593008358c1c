// Overload: a server that runs out of descriptors neither spins on its listener nor
// forgets the connections waiting in its backlog once descriptors are free again.
#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <poll.h>
#include <time.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <functional>
#include <memory>
#include <vector>
#include <thread>

#include "variants/stub.h"
#include "variants/variant.h"

namespace iolab {
namespace {

using namespace std::chrono_literals;

constexpr int kClients = 150;
// Descriptors the server may take beyond what the process holds: fewer than the clients.
constexpr rlim_t kHeadroom = 40;

int open_fd_count() {
  int n = 0;
  for ([[maybe_unused]] const auto& e : std::filesystem::directory_iterator("/proc/self/fd")) ++n;
  return n;
}

// The ids of this process's threads, from /proc/self/task (read while descriptors are free).
std::vector<pid_t> thread_ids() {
  std::vector<pid_t> ids;
  for (const auto& task : std::filesystem::directory_iterator("/proc/self/task")) {
    ids.push_back(static_cast<pid_t>(std::stol(task.path().filename())));
  }
  return ids;
}

// CPU seconds a thread of this process has spent, through its per-thread CPU clock: no
// descriptor needed, so it can be read while the server holds all of them. The clock id is the
// one glibc's pthread_getcpuclockid() builds from a thread id (per-thread, scheduler time).
double thread_cpu_seconds(pid_t tid) {
  const auto clock = static_cast<clockid_t>((~static_cast<unsigned>(tid) << 3U) | 6U);
  timespec t{};
  if (::clock_gettime(clock, &t) != 0) return 0;  // The thread ended.
  return static_cast<double>(t.tv_sec) + static_cast<double>(t.tv_nsec) / 1e9;
}

std::vector<double> cpu_seconds_of(const std::vector<pid_t>& threads) {
  std::vector<double> seconds;
  for (const pid_t tid : threads) seconds.push_back(thread_cpu_seconds(tid));
  return seconds;
}

// True once this process holds every descriptor its limit allows: the server has run out.
bool out_of_descriptors() {
  const int fd = ::dup(0);
  if (fd >= 0) ::close(fd);
  return fd < 0 && errno == EMFILE;
}

// Polls `ready` every 10 ms until it holds or `limit` passes.
bool wait_for(const std::function<bool()>& ready, std::chrono::seconds limit) {
  const auto deadline = std::chrono::steady_clock::now() + limit;
  while (!ready()) {
    if (std::chrono::steady_clock::now() >= deadline) return false;
    std::this_thread::sleep_for(10ms);
  }
  return true;
}

// In a forked child (only system calls: the parent has threads): opens kClients connections,
// sends `request` on each and counts the connections answered, until all are or 60 s have
// passed. Writes the count to `out_fd` and exits.
[[noreturn]] void client_child(uint16_t port, const char* request, int out_fd) {
  rlimit limit{};
  ::getrlimit(RLIMIT_NOFILE, &limit);
  limit.rlim_cur = limit.rlim_max;
  ::setrlimit(RLIMIT_NOFILE, &limit);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(port);
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  pollfd fds[kClients];
  const size_t request_bytes = std::strlen(request);
  for (auto& p : fds) {
    p.fd = ::socket(AF_INET, SOCK_STREAM, 0);
    p.events = POLLIN;
    // Completed by the kernel's backlog even while the server cannot accept.
    if (::connect(p.fd, reinterpret_cast<const sockaddr*>(&addr), sizeof(addr)) != 0 ||
        ::send(p.fd, request, request_bytes, MSG_NOSIGNAL) != static_cast<ssize_t>(request_bytes)) {
      ::_exit(2);
    }
  }
  int answered = 0;
  timespec start{};
  ::clock_gettime(CLOCK_MONOTONIC, &start);
  for (;;) {
    timespec now{};
    ::clock_gettime(CLOCK_MONOTONIC, &now);
    if (answered == kClients || now.tv_sec - start.tv_sec >= 60) break;
    if (::poll(fds, kClients, 100) <= 0) continue;
    for (auto& p : fds) {
      if (p.fd < 0 || (p.revents & (POLLIN | POLLHUP | POLLERR)) == 0) continue;
      char buffer[4096];
      if (::recv(p.fd, buffer, sizeof buffer, 0) > 0 &&
          std::strncmp(buffer, "HTTP/1.1 200", 12) == 0) {
        ++answered;
      }
      p.fd = -1;  // Left open: the server still holds its end.
    }
  }
  [[maybe_unused]] const auto n = ::write(out_fd, &answered, sizeof answered);
  ::_exit(0);
}

struct Server {
  uint16_t port;
  const char* request;
  std::function<void()> stop;
};

Server start_variant(const char* kind) {
  // /plaintext never reaches the upstream; the URL only has to parse.
  auto variant = std::shared_ptr<Variant>(make_variant(
      *parse_variant(kind), UpstreamOptions{.url = *parse_url("http://127.0.0.1:9/")}));
  const uint16_t port = variant->start(Endpoint{"127.0.0.1", 0});
  return {port, "GET /plaintext HTTP/1.1\r\nHost: x\r\n\r\n", [variant] { variant->stop(); }};
}

Server start_stub() {
  auto stub = std::make_shared<UpstreamStub>(StubProfile{.delay = 0ms});
  const uint16_t port = stub->start(Endpoint{"127.0.0.1", 0});
  return {port, "GET / HTTP/1.1\r\nHost: x\r\n\r\n", [stub] { stub->stop(); }};
}

class AcceptStarvationTest : public ::testing::TestWithParam<const char*> {};

TEST_P(AcceptStarvationTest, PausesWithoutSpinningAndServesTheBacklogOnceDescriptorsReturn) {
  const std::string which = GetParam();
  Server server = which == "stub" ? start_stub() : start_variant(which.c_str());
  int pipe_fds[2];
  ASSERT_EQ(::pipe(pipe_fds), 0);

  // Every thread the server has; it starts no more while it is out of descriptors.
  const std::vector<pid_t> threads = thread_ids();
  rlimit original{};
  ::getrlimit(RLIMIT_NOFILE, &original);
  rlimit low = original;
  low.rlim_cur = static_cast<rlim_t>(open_fd_count()) + kHeadroom;
  ASSERT_EQ(::setrlimit(RLIMIT_NOFILE, &low), 0);

  const pid_t child = ::fork();
  if (child == 0) client_child(server.port, server.request, pipe_fds[1]);
  ::close(pipe_fds[1]);

  // The server takes what it can and runs out; while it is out, it must idle. A spinning thread
  // is always runnable: even sharing both cores with four busy processes it gets a fifth of one,
  // while an idle one (sleeps between accept() attempts, a poll with a timeout) spends a few
  // milliseconds. The bound is per thread: threads:N also holds the connections it did accept,
  // each on its own thread, and cpp-httplib wakes each of them every 10 ms to check its
  // keep-alive; together they spend about a fifth of a core here without any of them spinning.
  const bool ran_out = wait_for(out_of_descriptors, 60s);
  const auto window_start = std::chrono::steady_clock::now();
  const auto cpu_before = cpu_seconds_of(threads);
  std::this_thread::sleep_for(1s);  // The window measured, not an ordering.
  const auto cpu_after = cpu_seconds_of(threads);
  const double window_s =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - window_start).count();
  double busiest = 0;
  for (size_t i = 0; i < threads.size(); ++i) {
    busiest = std::max(busiest, cpu_after[i] - cpu_before[i]);
  }
  ASSERT_EQ(::setrlimit(RLIMIT_NOFILE, &original), 0);

  int answered = -1;
  const auto n = ::read(pipe_fds[0], &answered, sizeof answered);
  int status = 0;
  ::waitpid(child, &status, 0);
  ::close(pipe_fds[0]);
  server.stop();

  ASSERT_TRUE(ran_out) << which << " never ran out of descriptors in 60 s";
  EXPECT_LT(busiest, 0.1 * window_s)
      << which << " spun while out of descriptors: one thread took " << busiest << " s of CPU in "
      << window_s << " s";
  ASSERT_EQ(n, static_cast<ssize_t>(sizeof answered)) << "client exit status " << status;
  EXPECT_EQ(answered, kClients) << which << " left connections of its backlog unserved";
}

INSTANTIATE_TEST_SUITE_P(Servers, AcceptStarvationTest,
                         ::testing::Values("async", "fiber", "fiber-blocking", "threads:200",
                                           "stub"),
                         [](const auto& param_info) {
                           std::string name = param_info.param;
                           for (char& c : name) {
                             if (c == ':' || c == '-') c = '_';
                           }
                           return name;
                         });

}  // namespace
}  // namespace iolab
