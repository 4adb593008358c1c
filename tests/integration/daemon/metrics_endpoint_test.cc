// GET /metrics on the daemon in-process: the workers' requests arrive through shared memory,
// per variant, stay monotonic across a worker's death, and a scrape during a run passes
// `promtool check metrics`.
#include <gtest/gtest.h>
#include <signal.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <memory>
#include <string>
#include <thread>

#include "daemon/daemon.h"
#include "tests/integration/daemon/daemon_client.h"
#include "tests/metrics_text.h"

namespace iolab {
namespace {

using iolab::testing::sample;
using testing::ApiClient;
using testing::json;
using testing::Reply;

std::string count_series(const std::string& variant, const std::string& route = "/plaintext") {
  return "iolab_server_request_duration_seconds_count{route=\"" + route + "\",variant=\"" +
         variant + "\"}";
}

class MetricsEndpointTest : public ::testing::Test {
 protected:
  void SetUp() override {
    DaemonConfig c;
    c.api_listen = Endpoint{"127.0.0.1", 0};
    c.variant_default = VariantSpec{"threads", 4, 2};
    c.upstream_profile.delay = 5ms;
    c.max_connections = 50;
    c.max_duration = 30s;
    daemon_ = std::make_unique<Daemon>(c, IOLAB_BINARY, std::make_unique<InMemoryRunStore>());
    api_ = std::make_unique<ApiClient>(daemon_->start());
  }

  std::string scrape() {
    const Reply r = api_->get("/metrics");
    EXPECT_EQ(r.status, 200);
    EXPECT_EQ(r.content_type.rfind("text/plain", 0), 0u) << r.content_type;
    return r.text;
  }

  // Polls until `series` reads `want` (the workers publish every 100 ms); returns the last value.
  double wait_for(const std::string& series, double want) {
    const auto deadline = std::chrono::steady_clock::now() + 30s;
    double got = -1;
    while (std::chrono::steady_clock::now() < deadline) {
      got = sample(scrape(), series);
      if (got == want) return got;
      std::this_thread::sleep_for(20ms);
    }
    return got;
  }

  int variant_port() { return api_->get("/api/v1/variant").body["port"]; }

  static void get_n(int port, const std::string& path, int n) {
    httplib::Client c("127.0.0.1", port);
    c.set_tcp_nodelay(true);
    for (int i = 0; i < n; ++i) {
      const auto r = c.Get(path);
      ASSERT_TRUE(r && r->status == 200) << path;
    }
  }

  std::unique_ptr<Daemon> daemon_;
  std::unique_ptr<ApiClient> api_;
};

TEST_F(MetricsEndpointTest, CountsEveryRequestTheWorkersServedPerVariant) {
  const std::string text = scrape();
  EXPECT_EQ(sample(text, count_series("threads:4")), 0) << text.substr(0, 2000);
  EXPECT_EQ(sample(text, R"(iolab_variant_restarts_total{variant="threads:4"})"), 0);
  EXPECT_GT(sample(text, R"(iolab_variant_resident_memory_bytes{variant="threads:4"})"), 0);
  EXPECT_GT(sample(text, R"(iolab_variant_threads{variant="threads:4"})"), 2);
  EXPECT_NE(text.find("iolab_build_info{"), std::string::npos);
  EXPECT_NE(text.find("iolab_stub_request_duration_seconds_bucket{le=\"0.0001\"}"),
            std::string::npos);

  get_n(variant_port(), "/plaintext", 30);
  get_n(variant_port(), "/remote", 20);
  EXPECT_EQ(wait_for(count_series("threads:4", "/remote"), 20), 20);
  const std::string after = scrape();
  EXPECT_EQ(sample(after, count_series("threads:4")), 30);
  const std::string requests = "iolab_server_requests_total";
  EXPECT_EQ(sample(after, requests + R"({code="200",route="/remote",variant="threads:4"})"), 20);
  EXPECT_EQ(sample(after, requests + R"({code="200",route="/plaintext",variant="threads:4"})"), 30);
  EXPECT_EQ(sample(after, R"(iolab_upstream_request_duration_seconds_count{variant="threads:4"})"),
            20);
  EXPECT_GE(sample(after, "iolab_stub_request_duration_seconds_count"), 20);

  // Another variant gets its own series; the first keeps its counts.
  ASSERT_EQ(api_->put("/api/v1/variant", {{"kind", "async"}, {"workers", 2}}).status, 200);
  get_n(variant_port(), "/remote", 10);
  EXPECT_EQ(wait_for(count_series("async", "/remote"), 10), 10);
  EXPECT_EQ(sample(scrape(), count_series("threads:4", "/remote")), 20);
}

TEST_F(MetricsEndpointTest, CountersStayMonotonicWhenAWorkerDiesAndIsRestarted) {
  get_n(variant_port(), "/plaintext", 40);
  ASSERT_EQ(wait_for(count_series("threads:4"), 40), 40);
  const json pids = api_->get("/api/v1/variant").body["pids"];
  ASSERT_EQ(pids.size(), 2u);
  ::kill(pids[0].get<pid_t>(), SIGKILL);
  ASSERT_EQ(wait_for(R"(iolab_variant_restarts_total{variant="threads:4"})", 1), 1);
  EXPECT_EQ(sample(scrape(), count_series("threads:4")), 40);
  get_n(variant_port(), "/plaintext", 10);
  EXPECT_EQ(wait_for(count_series("threads:4"), 50), 50);
  // The restarted worker stops on SIGTERM like the others (no 5 s wait for the SIGKILL).
  const auto before_stop = std::chrono::steady_clock::now();
  EXPECT_EQ(api_->del("/api/v1/variant").status, 204);
  EXPECT_LT(std::chrono::steady_clock::now() - before_stop, 3s);
  EXPECT_EQ(sample(scrape(), count_series("threads:4")), 50);
}

TEST_F(MetricsEndpointTest, ARunShowsLiveInTheLoadAndServerSeriesAndPassesPromtool) {
  const Reply created = api_->post(
      "/api/v1/runs",
      {{"connections", 4}, {"threads", 1}, {"duration", "1500ms"}, {"path", "/plaintext"}});
  ASSERT_EQ(created.status, 201) << created.text;
  const int64_t id = created.body["id"];
  api_->wait_run(id, [](const json& r) {
    return r["state"] == "running" && r["progress"].is_object() &&
           r["progress"]["requests"].get<uint64_t>() > 0;
  });
  const std::string during = scrape();
  EXPECT_GT(sample(during, count_series("threads:4")), 0);
  EXPECT_GT(
      sample(
          during,
          R"(iolab_load_requests_total{outcome="response",scenario="adhoc",target="threads:4"})"),
      0);
  EXPECT_EQ(sample(during, R"(iolab_runs_total{state="running"})"), 1);

  const json done = api_->wait_final(id);
  ASSERT_EQ(done["state"], "done");
  const auto measured = done["result"]["measured"]["requests"].get<double>();
  const std::string after = scrape();
  EXPECT_EQ(sample(after, R"(iolab_runs_total{state="done"})"), 1);
  EXPECT_EQ(
      sample(after,
             R"(iolab_load_request_duration_seconds_count{scenario="adhoc",target="threads:4"})"),
      measured);
  // The server answered every request the engine counted, and the ones cut off at the end.
  // Workers publish every 100 ms, so the last answers may reach a scrape a moment later.
  double served = sample(after, count_series("threads:4"));
  for (int i = 0; i < 300 && served < measured; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
    served = sample(scrape(), count_series("threads:4"));
  }
  EXPECT_GE(served, measured);

  // promtool, when installed (the e2e suite requires it), on the scrape taken during the run.
  if (std::system("command -v promtool >/dev/null 2>&1") != 0) return;
  const auto file = std::filesystem::temp_directory_path() /
                    ("iolab-metrics-" + std::to_string(::getpid()) + ".txt");
  std::ofstream(file) << during;
  const std::string command = "ulimit -f 10240; timeout -s KILL 30 promtool check metrics < " +
                              file.string() + " > " + file.string() + ".out 2>&1";
  const int rc = std::system(("bash -c '" + command + "'").c_str());
  std::ifstream out(file.string() + ".out");
  const std::string report((std::istreambuf_iterator<char>(out)), {});
  EXPECT_EQ(rc, 0) << report;
  std::filesystem::remove(file);
  std::filesystem::remove(file.string() + ".out");
}

TEST_F(MetricsEndpointTest, AnExperimentRowShowsUnderItsScenarioAndVariant) {
  // The experiment's workers run beside the active variant's, of the same name: they publish
  // into other slots of the same series, so neither overwrites the other.
  get_n(variant_port(), "/plaintext", 20);
  ASSERT_EQ(wait_for(count_series("threads:4"), 20), 20);
  const std::string yaml =
      "name: metrics-quick\n"
      "upstream: {delay: 5ms}\n"
      "load: {connections: 4, threads: 1, duration: 1s, path: /remote}\n"
      "variants:\n"
      "  - {kind: threads, threads: [4], workers: 1}\n";
  const Reply created = api_->call("POST", "/api/v1/experiments", yaml, "application/yaml");
  ASSERT_EQ(created.status, 201) << created.text;
  const json done = api_->wait_final(created.body["runs"][0]["id"].get<int64_t>(), 30s);
  ASSERT_EQ(done["state"], "done");
  const auto measured = done["result"]["measured"]["requests"].get<double>();
  get_n(variant_port(), "/plaintext", 5);
  ASSERT_EQ(wait_for(count_series("threads:4"), 25), 25);
  // The experiment's workers publish their last answers every 100 ms: wait until they have.
  std::string text = scrape();
  const auto deadline = std::chrono::steady_clock::now() + 30s;
  while (sample(text, count_series("threads:4", "/remote")) < measured &&
         std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(20ms);
    text = scrape();
  }
  EXPECT_EQ(
      sample(
          text,
          R"(iolab_load_request_duration_seconds_count{scenario="metrics-quick",target="threads:4"})"),
      measured);
  EXPECT_EQ(
      sample(
          text,
          R"(iolab_load_requests_total{outcome="response",scenario="metrics-quick",target="threads:4"})"),
      measured);
  EXPECT_GE(sample(text, count_series("threads:4", "/remote")), measured);
  EXPECT_GE(
      sample(text,
             R"(iolab_server_requests_total{code="200",route="/remote",variant="threads:4"})"),
      measured);
  EXPECT_EQ(sample(text, count_series("threads:4")), 25);
}

}  // namespace
}  // namespace iolab
