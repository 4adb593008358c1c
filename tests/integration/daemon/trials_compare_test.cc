// Trials and compare through the daemon: an experiment's trials queued interleaved and stored as runs,
// its report as the trials table, GET /api/v1/compare, and change points in the history.
#include <gtest/gtest.h>

#include <memory>
#include <string>

#include "daemon/daemon.h"
#include "tests/integration/daemon/daemon_client.h"

namespace iolab {
namespace {

using testing::ApiClient;
using testing::json;
using testing::Reply;

class TrialsCompareTest : public ::testing::Test {
 protected:
  void SetUp() override {
    DaemonConfig c;
    c.api_listen = Endpoint{"127.0.0.1", 0};
    c.variant_default = VariantSpec{"threads", 4, 1};
    c.upstream_profile.delay = 10ms;
    c.max_connections = 50;
    c.max_duration = 30s;
    daemon_ = std::make_unique<Daemon>(c, IOLAB_BINARY, std::make_unique<InMemoryRunStore>());
    api_ = std::make_unique<ApiClient>(daemon_->start());
  }

  std::unique_ptr<Daemon> daemon_;
  std::unique_ptr<ApiClient> api_;
};

TEST_F(TrialsCompareTest, QueuesTrialsInterleavedReportsThemAndComparesExperiments) {
  const std::string yaml =
      "name: trials\n"
      "upstream: {delay: 10ms}\n"
      "load: {connections: 4, threads: 1, duration: 300ms, path: /remote}\n"
      "trials: 2\n"
      "variants:\n"
      "  - {kind: threads, threads: 2, workers: 1}\n"
      "  - {kind: async, workers: 1}\n";
  const Reply created = api_->call("POST", "/api/v1/experiments", yaml, "application/yaml");
  ASSERT_EQ(created.status, 201) << created.text;
  const json& runs = created.body["runs"];
  ASSERT_EQ(runs.size(), 4u);
  // A, B, A, B: each trial of every row before the next trial of any.
  const char* labels[] = {"threads:2", "async", "threads:2", "async"};
  for (size_t i = 0; i < 4; ++i) {
    EXPECT_EQ(runs[i]["label"], labels[i]);
    EXPECT_EQ(runs[i]["spec"]["trial"], i / 2);
    EXPECT_EQ(runs[i]["spec"]["row"], i % 2);
  }
  for (const auto& run : runs) api_->wait_final(run["id"].get<int64_t>(), 30s);
  const std::string id = std::to_string(created.body["id"].get<int64_t>());
  EXPECT_EQ(api_->get("/api/v1/experiments/" + id).body["state"], "done");

  const Reply report = api_->get("/api/v1/experiments/" + id + "/report?format=rst");
  EXPECT_NE(report.text.find("trials"), std::string::npos) << report.text;
  EXPECT_NE(report.text.find("±∞"), std::string::npos) << report.text;  // 2 trials: no interval
  const Reply csv = api_->get("/api/v1/experiments/" + id + "/report?format=csv");
  EXPECT_EQ(std::count(csv.text.begin(), csv.text.end(), '\n'), 3) << csv.text;

  // The experiment against itself: nothing changed, and too few trials to tell anyway.
  const Reply same = api_->get("/api/v1/compare?base=" + id + "&new=experiment:" + id);
  ASSERT_EQ(same.status, 200) << same.text;
  ASSERT_EQ(same.body["changes"].size(), 6u) << same.text;
  for (const auto& c : same.body["changes"]) {
    EXPECT_FALSE(c["significant"].get<bool>()) << c.dump();
    EXPECT_EQ(c["base"]["n"], 2);
    EXPECT_FALSE(c["warnings"].empty()) << c.dump();
  }
  const Reply text = api_->get("/api/v1/compare?base=" + id + "&new=" + id + "&format=rst");
  EXPECT_NE(text.text.find("async /remote"), std::string::npos) << text.text;
  EXPECT_NE(text.text.find("too few trials to detect"), std::string::npos) << text.text;

  // Two runs: the two trials of the first row.
  const std::string first = std::to_string(runs[0]["id"].get<int64_t>());
  const std::string third = std::to_string(runs[2]["id"].get<int64_t>());
  const Reply runs_cmp = api_->get("/api/v1/compare?base=run:" + first + "&new=run:" + third);
  ASSERT_EQ(runs_cmp.status, 200) << runs_cmp.text;
  EXPECT_EQ(runs_cmp.body["changes"].size(), 3u);

  EXPECT_EQ(api_->get("/api/v1/compare?base=" + id).status, 400);
  EXPECT_EQ(api_->get("/api/v1/compare?base=" + id).body["error"]["field"], "new");
  EXPECT_EQ(api_->get("/api/v1/compare?base=x&new=" + id).body["error"]["field"], "base");
  EXPECT_EQ(api_->get("/api/v1/compare?base=999&new=" + id).status, 404);

  // The history reads a row's trials as one night.
  const Reply history = api_->get("/api/v1/history/trials");
  ASSERT_EQ(history.body["nights"].size(), 2u) << history.text;
  EXPECT_EQ(history.body["nights"][0]["trials"], 2);
  EXPECT_TRUE(history.body["nights"][0]["p99"]["insufficient"].get<bool>());
  const Reply regressions = api_->get("/api/v1/regressions");
  EXPECT_TRUE(regressions.body["regressions"].empty());
  EXPECT_TRUE(regressions.body["change_points"].is_array());
}

TEST_F(TrialsCompareTest, RefusesMoreRunsThanOneExperimentMayQueue) {
  const std::string yaml =
      "name: many\nload: {connections: 1, duration: 100ms}\ntrials: 600\n"
      "variants: [{kind: async}, {kind: fiber}]\n";
  const Reply r = api_->call("POST", "/api/v1/experiments", yaml, "application/yaml");
  EXPECT_EQ(r.status, 422) << r.text;
  EXPECT_EQ(r.body["error"]["field"], "trials");
}

}  // namespace
}  // namespace iolab
