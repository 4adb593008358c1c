// Clients that hold the API's connections: slow heads, a flood of short requests, more
// connections than the API takes. The API keeps answering everyone else.
#include <gtest/gtest.h>
#include <poll.h>

#include <atomic>
#include <thread>
#include <vector>

#include "tests/hostile/hostile.h"

namespace iolab::hostile {
namespace {

constexpr int kSlowClients = 64;
constexpr auto kHold = 15s;
constexpr auto kProbeBound = 1s;

// kSlowClients connections that each send a request head one short header line every 500 ms
// and never end it; a connection the daemon closes is opened again at once, as an attacker
// would. Returns how many the daemon closed.
int hold_slow_heads(uint16_t port, std::chrono::seconds hold, const std::atomic<bool>& stop,
                    std::atomic<bool>& in_place) {
  std::vector<int> fds(kSlowClients, -1);
  int closed_by_daemon = 0;
  const auto end = Clock::now() + hold;
  while (Clock::now() < end && !stop) {
    for (int& fd : fds) {
      if (fd < 0) {
        fd = connect_loopback(port);
        if (fd < 0) continue;
        const std::string start = "GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n";
        (void)::send(fd, start.data(), start.size(), MSG_NOSIGNAL);
      }
      pollfd p{fd, POLLIN, 0};
      if (::poll(&p, 1, 0) > 0) {
        // An answer (408) or an end: the daemon let go of this one.
        char buf[512];
        if (::recv(fd, buf, sizeof buf, MSG_DONTWAIT) >= 0) {
          ::close(fd);
          fd = -1;
          ++closed_by_daemon;
          continue;
        }
      }
      const std::string line = "X-Slow: 1\r\n";
      if (::send(fd, line.data(), line.size(), MSG_NOSIGNAL) < 0) {
        ::close(fd);
        fd = -1;
        ++closed_by_daemon;
      }
    }
    in_place = true;
    std::this_thread::sleep_for(500ms);
  }
  for (int fd : fds) {
    if (fd >= 0) ::close(fd);
  }
  return closed_by_daemon;
}

TEST(ApiFloodTest, SixtyFourSlowHeadsHeldFifteenSecondsLeaveHealthzAnsweredWithinOneSecond) {
  raise_open_files();
  HostileDaemon daemon("slowloris");
  const uint16_t port = daemon.port();
  ASSERT_NE(port, 0) << daemon.process().err();
  ASSERT_EQ(ApiClient(port).get("/healthz").status, 200);

  std::atomic<bool> stop{false};
  std::atomic<bool> in_place{false};
  int closed_by_daemon = 0;
  std::thread attacker([&] { closed_by_daemon = hold_slow_heads(port, kHold, stop, in_place); });
  // Probing starts once every slow connection is open and has sent part of its head.
  while (!in_place) std::this_thread::sleep_for(10ms);

  int probes = 0;
  int answered = 0;
  auto slowest = Clock::duration::zero();
  const auto end = Clock::now() + kHold - 2s;
  while (Clock::now() < end) {
    httplib::Client client("127.0.0.1", port);
    client.set_connection_timeout(5s);
    client.set_read_timeout(5s);
    const auto start = Clock::now();
    const auto r = client.Get("/healthz");
    const auto took = Clock::now() - start;
    ++probes;
    if (r && r->status == 200) ++answered;
    slowest = std::max(slowest, took);
    std::this_thread::sleep_for(100ms);
  }
  stop = true;
  attacker.join();

  const auto slowest_ms = std::chrono::duration_cast<std::chrono::milliseconds>(slowest).count();
  std::cout << "probes " << probes << ", answered " << answered << ", slowest " << slowest_ms
            << " ms; slow connections the daemon closed: " << closed_by_daemon << "\n";
  EXPECT_EQ(answered, probes);
  EXPECT_LE(slowest, kProbeBound) << "slowest /healthz: " << slowest_ms << " ms";
  // The heads never end: the daemon closes each after api's request timeout (10 s), well
  // within the 15 s hold.
  EXPECT_GE(closed_by_daemon, kSlowClients);
}

TEST(ApiFloodTest, FiveHundredConcurrentRequestsAreAllAnswered) {
  constexpr int kClients = 500;
  ASSERT_GE(raise_open_files(), static_cast<rlim_t>(kClients + 64));
  HostileDaemon daemon("flood");
  const uint16_t port = daemon.port();
  ASSERT_NE(port, 0) << daemon.process().err();
  ASSERT_EQ(ApiClient(port).get("/healthz").status, 200);

  // All connect at once (non-blocking), all send, then all are read.
  std::vector<int> fds;
  std::vector<std::string> answers(kClients);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(port);
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  for (int i = 0; i < kClients; ++i) {
    const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    ASSERT_GE(fd, 0);
    (void)::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr);
    fds.push_back(fd);
  }
  const std::string request =
      "GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n";
  std::vector<bool> sent(kClients, false);
  std::vector<bool> done(kClients, false);
  int finished = 0;
  // A client gives up after 10 s, as curl's and most clients' connect timeouts would.
  const auto deadline = Clock::now() + 10s;
  while (finished < kClients && Clock::now() < deadline) {
    std::vector<pollfd> polls;
    std::vector<int> which;
    for (int i = 0; i < kClients; ++i) {
      if (done[i]) continue;
      polls.push_back({fds[i], static_cast<short>(sent[i] ? POLLIN : POLLOUT), 0});
      which.push_back(i);
    }
    if (::poll(polls.data(), polls.size(), 100) <= 0) continue;
    for (size_t k = 0; k < polls.size(); ++k) {
      const int i = which[k];
      if (polls[k].revents == 0) continue;
      if (!sent[i]) {
        if (::send(fds[i], request.data(), request.size(), MSG_NOSIGNAL) ==
            static_cast<ssize_t>(request.size())) {
          sent[i] = true;
        }
        continue;
      }
      char buf[4096];
      const ssize_t n = ::recv(fds[i], buf, sizeof buf, 0);
      if (n > 0) {
        answers[i].append(buf, static_cast<size_t>(n));
      } else {
        done[i] = true;
        ++finished;
      }
    }
  }
  int ok = 0;
  for (int i = 0; i < kClients; ++i) {
    if (answers[i].rfind("HTTP/1.1 200", 0) == 0) ++ok;
    ::close(fds[i]);
  }
  std::cout << ok << " of " << kClients << " answered 200 within 10 s\n";
  EXPECT_EQ(ok, kClients);
}

TEST(ApiFloodTest, AConnectionPastTheCapIsAnswered503AndTheAPIServesAgainAfter) {
  constexpr int kCap = 8;
  HostileDaemon daemon(
      "conn_cap", "api: {listen: 127.0.0.1:0, max_connections: " + std::to_string(kCap) + "}\n");
  const uint16_t port = daemon.port();
  ASSERT_NE(port, 0) << daemon.process().err();
  ASSERT_EQ(ApiClient(port).get("/healthz").status, 200);

  // kCap connections each holding half a head (so within the request timeout, not idle).
  std::vector<int> held;
  for (int i = 0; i < kCap; ++i) {
    const int fd = connect_loopback(port);
    ASSERT_GE(fd, 0);
    const std::string half = "GET /healthz HTTP/1.1\r\n";
    ASSERT_EQ(::send(fd, half.data(), half.size(), MSG_NOSIGNAL),
              static_cast<ssize_t>(half.size()));
    held.push_back(fd);
  }
  // The daemon counts a connection once it accepted it: wait until the cap answers.
  std::string answer;
  const auto deadline = Clock::now() + 5s;
  while (answer.empty() && Clock::now() < deadline) {
    const int fd = connect_loopback(port);
    ASSERT_GE(fd, 0);
    const std::string req = "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n";
    (void)::send(fd, req.data(), req.size(), MSG_NOSIGNAL);
    pollfd p{fd, POLLIN, 0};
    char buf[2048];
    if (::poll(&p, 1, 2000) > 0) {
      const ssize_t n = ::recv(fd, buf, sizeof buf, 0);
      if (n > 0 && std::string(buf, static_cast<size_t>(n)).rfind("HTTP/1.1 503", 0) == 0) {
        answer.assign(buf, static_cast<size_t>(n));
      }
    }
    ::close(fd);
  }
  EXPECT_NE(answer.find("Connection: close"), std::string::npos) << answer;
  EXPECT_NE(answer.find("Retry-After:"), std::string::npos) << answer;
  EXPECT_NE(answer.find("too_many_connections"), std::string::npos) << answer;
  for (int fd : held) ::close(fd);
  // Once they are gone, the API answers again.
  bool served = false;
  const auto again = Clock::now() + 10s;
  while (!served && Clock::now() < again) {
    served = ApiClient(port).get("/healthz").status == 200;
    if (!served) std::this_thread::sleep_for(50ms);
  }
  EXPECT_TRUE(served);
}

}  // namespace
}  // namespace iolab::hostile
