// `iolab daemon` under a service manager: READY=1 and WATCHDOG=1 through $NOTIFY_SOCKET, and
// SIGHUP reloading the config (a changed one applied, a bad one refused).
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstddef>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <optional>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "tests/integration/daemon/daemon_client.h"
#include "tests/integration/daemon/daemon_process.h"

namespace iolab {
namespace {

using testing::ApiClient;
using testing::json;
using Clock = std::chrono::steady_clock;
using namespace std::chrono_literals;
namespace fs = std::filesystem;

using testing::DaemonProcess;
using testing::fresh_test_dir;
using testing::slurp;

/// A datagram socket standing in for systemd's notify socket: a path, or an abstract name
/// when `name` starts with '@'.
class NotifySocket {
 public:
  explicit NotifySocket(const std::string& name) : name_(name) {
    fd_ = ::socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    std::memcpy(addr.sun_path, name.data(), name.size());
    if (name.front() == '@') addr.sun_path[0] = '\0';
    const auto length = static_cast<socklen_t>(offsetof(sockaddr_un, sun_path) + name.size());
    EXPECT_EQ(::bind(fd_, reinterpret_cast<const sockaddr*>(&addr), length), 0)
        << std::strerror(errno);
  }
  ~NotifySocket() {
    ::close(fd_);
    if (name_.front() == '/') ::unlink(name_.c_str());
  }

  /// The next datagram, or nullopt after `limit`.
  std::optional<std::string> receive(std::chrono::milliseconds limit) const {
    const timeval tv{static_cast<time_t>(limit.count() / 1000),
                     static_cast<suseconds_t>(limit.count() % 1000 * 1000)};
    ::setsockopt(fd_, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    char buffer[4096];
    const ssize_t n = ::recv(fd_, buffer, sizeof(buffer), 0);
    if (n < 0) return std::nullopt;
    return std::string(buffer, static_cast<size_t>(n));
  }

  /// Waits for a datagram holding the line `state`; returns false after `limit`.
  bool wait_for(const std::string& state, std::chrono::milliseconds limit) const {
    const auto deadline = Clock::now() + limit;
    while (Clock::now() < deadline) {
      const auto left =
          std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now());
      const auto message = receive(std::max(left, 1ms));
      if (!message) return false;
      std::istringstream lines(*message);
      for (std::string line; std::getline(lines, line);) {
        if (line == state) return true;
      }
    }
    return false;
  }

 private:
  std::string name_;
  int fd_ = -1;
};

class OperationsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fresh_test_dir("ops");
    write_config(
        "load: {max_connections: 50, max_duration: 1m}\n"
        "upstream: {profile: {delay: 10ms}}\n");
  }
  void TearDown() override { fs::remove_all(dir_); }

  void write_config(const std::string& rest) {
    std::ofstream(dir_ / "iolab.yaml") << "api: {listen: 127.0.0.1:0}\n"
                                       << "state_dir: " << (dir_ / "state").string() << "\n"
                                       << "variant: {default: \"threads:4\"}\n"
                                       << rest;
  }

  static int post_status(ApiClient& api, int connections) {
    return api
        .post("/api/v1/runs", {{"connections", connections}, {"threads", 1}, {"duration", "200ms"}})
        .status;
  }

  fs::path dir_;
};

TEST_F(OperationsTest, ReadyArrivesOnlyOnceTheApiAnswersThenTheWatchdogIsFed) {
  const NotifySocket notify((dir_ / "notify.sock").string());
  DaemonProcess daemon(
      dir_, dir_ / "iolab.yaml",
      {{"NOTIFY_SOCKET", (dir_ / "notify.sock").string()}, {"WATCHDOG_USEC", "200000"}});
  ASSERT_TRUE(notify.wait_for("READY=1", 20s)) << daemon.err();
  // The first line of stdout precedes READY=1; the API must answer at once, no retry.
  const uint16_t port = daemon.port();
  ASSERT_NE(port, 0);
  httplib::Client client("127.0.0.1", port);
  client.set_connection_timeout(1s);
  const auto r = client.Get("/healthz");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 200);
  EXPECT_TRUE(notify.wait_for("WATCHDOG=1", 5s));
  daemon.signal(SIGTERM);
  EXPECT_TRUE(notify.wait_for("STOPPING=1", 10s));
}

TEST_F(OperationsTest, AnAbstractNotifySocketGetsReady) {
  const std::string name = "@iolab_test_notify_" + std::to_string(::getpid());
  const NotifySocket notify(name);
  DaemonProcess daemon(dir_, dir_ / "iolab.yaml", {{"NOTIFY_SOCKET", name}});
  ASSERT_TRUE(notify.wait_for("READY=1", 20s)) << daemon.err();
  ASSERT_NE(daemon.port(), 0);
}

TEST_F(OperationsTest, SighupAppliesAChangedConfigWithoutTouchingRuns) {
  DaemonProcess daemon(dir_, dir_ / "iolab.yaml");
  ASSERT_NE(daemon.port(), 0) << daemon.err();
  ApiClient api(daemon.port());
  ASSERT_EQ(post_status(api, 80), 422);
  const auto stored = api.post("/api/v1/runs", {{"connections", 4}, {"duration", "200ms"}});
  ASSERT_EQ(stored.status, 201) << stored.text;
  const json before = api.wait_final(stored.body["id"].get<int64_t>());
  ASSERT_EQ(before["state"], "done");

  // A run in progress while the config changes: it goes on and ends done.
  const auto running = api.post("/api/v1/runs", {{"connections", 4}, {"duration", "2s"}});
  ASSERT_EQ(running.status, 201);
  const int64_t running_id = running.body["id"].get<int64_t>();
  api.wait_run(running_id, [](const json& r) { return r["state"] == "running"; });
  write_config(
      "load: {max_connections: 100, max_duration: 1m}\n"
      "upstream: {profile: {delay: 20ms}}\n");
  daemon.signal(SIGHUP);
  ASSERT_TRUE(daemon.wait_err("iolab: reload: load.max_connections: applied")) << daemon.err();
  EXPECT_NE(daemon.err().find("upstream.profile: not applied, a run is in progress"),
            std::string::npos)
      << daemon.err();
  EXPECT_EQ(api.wait_final(running_id)["state"], "done");
  EXPECT_EQ(api.get("/api/v1/upstream").body["delay"], "10ms");

  // Once no run is in progress, the profile change applies too. (The queue lets go of the run
  // just after storing it done: a reload in between still defers, so it is retried.)
  bool applied = false;
  for (int attempt = 0; attempt < 20 && !applied; ++attempt) {
    daemon.signal(SIGHUP);
    applied = daemon.wait_err("iolab: reload: upstream.profile: applied", 1, 500ms);
  }
  ASSERT_TRUE(applied) << daemon.err();
  EXPECT_EQ(api.get("/api/v1/upstream").body["delay"], "20ms");
  const auto bigger = api.post("/api/v1/runs", {{"connections", 80}, {"duration", "200ms"}});
  EXPECT_EQ(bigger.status, 201) << bigger.text;
  api.wait_final(bigger.body.value("id", int64_t{0}));
  EXPECT_EQ(api.get("/api/v1/runs/" + std::to_string(stored.body["id"].get<int64_t>())).body,
            before);
  EXPECT_EQ(api.get("/healthz").status, 200);
}

TEST_F(OperationsTest, SighupWithABadConfigIsRefusedAndTheOldOneKept) {
  DaemonProcess daemon(dir_, dir_ / "iolab.yaml");
  ASSERT_NE(daemon.port(), 0) << daemon.err();
  ApiClient api(daemon.port());
  write_config(
      "load: {max_connections: 100, max_duration: 1m, bogus: 1}\n"
      "upstream: {profile: {delay: 20ms}}\n");
  daemon.signal(SIGHUP);
  ASSERT_TRUE(daemon.wait_err("reload refused, the old config stays")) << daemon.err();
  EXPECT_NE(daemon.err().find("load.bogus: unknown key"), std::string::npos) << daemon.err();
  EXPECT_EQ(post_status(api, 80), 422);
  EXPECT_EQ(api.get("/api/v1/upstream").body["delay"], "10ms");
  EXPECT_EQ(api.get("/healthz").status, 200);

  // The daemon still reloads a good file afterwards.
  write_config("load: {max_connections: 100, max_duration: 1m}\n");
  daemon.signal(SIGHUP);
  ASSERT_TRUE(daemon.wait_err("iolab: reload: load.max_connections: applied")) << daemon.err();
}

}  // namespace
}  // namespace iolab
