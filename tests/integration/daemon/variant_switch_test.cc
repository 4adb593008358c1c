// A variant switch does not block the readers: every GET answers while the switch is still in
// progress. The switch is made long on purpose: the old worker is stopped (SIGSTOP), so it
// ignores SIGTERM and the supervisor waits its full grace before SIGKILL.
#include <gtest/gtest.h>
#include <signal.h>

#include <algorithm>
#include <chrono>
#include <future>
#include <memory>
#include <string>
#include <vector>

#include "daemon/daemon.h"
#include "tests/integration/daemon/daemon_client.h"

namespace iolab {
namespace {

using testing::ApiClient;
using testing::json;
using testing::Reply;
using Clock = std::chrono::steady_clock;

TEST(VariantSwitchTest, ReadersAnswerWhileASwitchIsInProgress) {
  DaemonConfig config;
  config.api_listen = Endpoint{"127.0.0.1", 0};
  config.variant_default = VariantSpec{"threads", 4, 1};
  config.upstream_profile.delay = 10ms;
  Daemon daemon(config, IOLAB_BINARY, std::make_unique<InMemoryRunStore>());
  const uint16_t port = daemon.start();
  ApiClient api(port);

  const Reply before = api.get("/api/v1/variant");
  ASSERT_EQ(before.status, 200) << before.text;
  const std::vector<pid_t> old_pids = before.body["pids"];
  ASSERT_FALSE(old_pids.empty());
  for (pid_t pid : old_pids) ASSERT_EQ(::kill(pid, SIGSTOP), 0);

  auto put = std::async(std::launch::async, [port] {
    ApiClient writer(port);
    return writer.put("/api/v1/variant", {{"kind", "async"}, {"workers", 1}});
  });
  // The switch has begun once /readyz says so.
  const auto deadline = Clock::now() + 30s;
  bool switching = false;
  while (!switching && Clock::now() < deadline) {
    const Reply r = api.get("/readyz");
    switching = r.status == 200 && r.body.value("variant", "") == "switching";
    if (!switching) std::this_thread::sleep_for(5ms);
  }
  ASSERT_TRUE(switching) << "the switch never showed on /readyz";

  // Each reader, asked after the switch began, answers before it ends: with a lock held across
  // the switch they would all wait for the old worker's grace.
  const std::vector<std::string> readers = {
      "/metrics",         "/readyz",      "/healthz",           "/api/v1/variants",
      "/api/v1/upstream", "/api/v1/runs", "/api/v1/regressions"};
  auto slowest = Clock::duration::zero();
  for (const auto& path : readers) {
    const auto asked = Clock::now();
    const Reply r = api.get(path);
    slowest = std::max(slowest, Clock::now() - asked);
    EXPECT_EQ(r.status, 200) << path << ": " << r.text;
    EXPECT_EQ(put.wait_for(0s), std::future_status::timeout)
        << path << " answered only after the switch ended";
  }
  // No variant serves between the two; GET /variant says so rather than wait.
  EXPECT_EQ(api.get("/api/v1/variant").status, 404);
  EXPECT_EQ(put.wait_for(0s), std::future_status::timeout);
  std::printf("slowest reader during the switch: %.1f ms\n",
              std::chrono::duration<double, std::milli>(slowest).count());

  const Reply switched = put.get();
  ASSERT_EQ(switched.status, 200) << switched.text;
  EXPECT_EQ(switched.body["name"], "async");
  EXPECT_EQ(api.get("/readyz").body["variant"], "up");
  // The stopped worker was killed and reaped, not left behind.
  for (pid_t pid : old_pids) EXPECT_NE(::kill(pid, 0), 0) << "worker " << pid << " still exists";
}

TEST(VariantSwitchTest, ASecondSwitchDuringTheFirstIsRefusedNotQueued) {
  DaemonConfig config;
  config.api_listen = Endpoint{"127.0.0.1", 0};
  config.variant_default = VariantSpec{"threads", 4, 1};
  Daemon daemon(config, IOLAB_BINARY, std::make_unique<InMemoryRunStore>());
  const uint16_t port = daemon.start();
  ApiClient api(port);
  const std::vector<pid_t> old_pids = api.get("/api/v1/variant").body["pids"];
  for (pid_t pid : old_pids) ASSERT_EQ(::kill(pid, SIGSTOP), 0);
  auto put = std::async(std::launch::async, [port] {
    return ApiClient(port).put("/api/v1/variant", {{"kind", "async"}, {"workers", 1}});
  });
  const auto deadline = Clock::now() + 30s;
  while (api.get("/readyz").body.value("variant", "") != "switching") {
    ASSERT_LT(Clock::now(), deadline) << "the switch never showed on /readyz";
    std::this_thread::sleep_for(5ms);
  }
  const Reply second = api.put("/api/v1/variant", {{"kind", "fiber"}, {"workers", 1}});
  EXPECT_EQ(second.status, 409) << second.text;
  EXPECT_EQ(second.body["error"]["code"], "variant_in_use");
  EXPECT_EQ(put.get().status, 200);
  EXPECT_EQ(api.get("/api/v1/variant").body["name"], "async");
}

}  // namespace
}  // namespace iolab
