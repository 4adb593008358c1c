// A client that queues run after run: past the queue's bounds it gets 429 with Retry-After, and
// every queued run can be cancelled at once.
#include <gtest/gtest.h>

#include "tests/hostile/hostile.h"

namespace iolab::hostile {
namespace {

TEST(QueueBoundsTest, TenMinuteRunsPastADayOfQueuedLoadGet429AndAreCancelledAtOnce) {
  HostileDaemon daemon("queue_time");
  const uint16_t port = daemon.port();
  ASSERT_NE(port, 0) << daemon.process().err();
  ApiClient api(port);

  constexpr int kPosts = 200;  // 33 hours of 10-minute runs
  int accepted = 0;
  testing::Reply refused;
  httplib::Client raw("127.0.0.1", port);
  for (int i = 0; i < kPosts; ++i) {
    auto r = raw.Post("/api/v1/runs", ten_minutes().dump(), "application/json");
    ASSERT_TRUE(r) << "no answer to POST " << i;
    if (r->status == 201) {
      ++accepted;
      continue;
    }
    refused.status = r->status;
    refused.text = r->body;
    refused.location = r->get_header_value("Retry-After");
    break;
  }
  std::cout << accepted << " of " << kPosts << " ten-minute runs accepted; then " << refused.status
            << " Retry-After: " << refused.location << "\n";
  // The running one and 24 h of queued ones (the default load.max_queued_time).
  EXPECT_LE(accepted, 1 + 24 * 6);
  EXPECT_EQ(refused.status, 429) << refused.text;
  EXPECT_NE(refused.text.find("queue_full"), std::string::npos) << refused.text;
  EXPECT_FALSE(refused.location.empty());
  // When the running 10-minute run ends: minutes away, not a retry loop.
  if (!refused.location.empty()) EXPECT_GE(std::stoi(refused.location), 60);

  const auto cancelled = api.call("DELETE", "/api/v1/runs?state=queued");
  ASSERT_EQ(cancelled.status, 200) << cancelled.text;
  EXPECT_EQ(cancelled.body["cancelled"].size(), static_cast<size_t>(accepted - 1));
  const auto again = api.post("/api/v1/runs", ten_minutes());
  EXPECT_EQ(again.status, 201) << again.text;
}

TEST(QueueBoundsTest, PastMaxQueuedRunsARunAndAnExperimentGet429) {
  HostileDaemon daemon("queue_runs", "load: {max_queued_runs: 3}\n");
  const uint16_t port = daemon.port();
  ASSERT_NE(port, 0) << daemon.process().err();
  ApiClient api(port);
  // The first runs at once; three wait.
  const auto first = api.post("/api/v1/runs", ten_minutes());
  ASSERT_EQ(first.status, 201) << first.text;
  api.wait_run(first.body["id"].get<int64_t>(),
               [](const json& r) { return r.value("state", "") == "running"; });
  for (int i = 0; i < 3; ++i) ASSERT_EQ(api.post("/api/v1/runs", ten_minutes()).status, 201);
  EXPECT_EQ(api.post("/api/v1/runs", ten_minutes()).status, 429);
  const auto experiment = api.call("POST", "/api/v1/experiments",
                                   "name: e\nload: {connections: 1, duration: 1s}\n"
                                   "variants: [{kind: async}]\n",
                                   "application/yaml");
  EXPECT_EQ(experiment.status, 429) << experiment.text;
  EXPECT_EQ(api.call("DELETE", "/api/v1/runs?state=queued").body["cancelled"].size(), 3u);
  EXPECT_EQ(api.post("/api/v1/runs", ten_minutes()).status, 201);
}

}  // namespace
}  // namespace iolab::hostile
