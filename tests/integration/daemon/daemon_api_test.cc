// The daemon in-process on port 0, driven through every endpoint of the REST API v1.
#include <gtest/gtest.h>
#include <signal.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <memory>
#include <string>

#include "core/errors.h"
#include "daemon/daemon.h"
#include "tests/integration/daemon/daemon_client.h"

namespace iolab {
namespace {

using testing::ApiClient;
using testing::json;
using testing::Reply;

DaemonConfig test_config() {
  DaemonConfig c;
  c.api_listen = Endpoint{"127.0.0.1", 0};
  c.variant_default = VariantSpec{"threads", 4, 1};
  c.upstream_profile.delay = 10ms;
  c.max_connections = 50;
  c.max_duration = 30s;
  return c;
}

class DaemonApiTest : public ::testing::Test {
 protected:
  void SetUp() override { start(test_config()); }

  void start(const DaemonConfig& config) {
    daemon_ = std::make_unique<Daemon>(config, IOLAB_BINARY, std::make_unique<InMemoryRunStore>());
    port_ = daemon_->start();
    api_ = std::make_unique<ApiClient>(port_);
  }

  int64_t post_run(const json& body) {
    const Reply r = api_->post("/api/v1/runs", body);
    EXPECT_EQ(r.status, 201) << r.text;
    return r.body.value("id", int64_t{0});
  }

  std::unique_ptr<Daemon> daemon_;
  uint16_t port_ = 0;
  std::unique_ptr<ApiClient> api_;
};

TEST_F(DaemonApiTest, AnswersHealthAndReadiness) {
  EXPECT_EQ(api_->get("/healthz").status, 200);
  const Reply ready = api_->get("/readyz");
  EXPECT_EQ(ready.status, 200);
  EXPECT_EQ(ready.body["upstream"], "up");
  EXPECT_EQ(ready.body["variant"], "up");
}

TEST_F(DaemonApiTest, ListsTheVariantKindsAndTheActiveOne) {
  const Reply r = api_->get("/api/v1/variants");
  ASSERT_EQ(r.status, 200);
  std::vector<std::string> kinds;
  for (const auto& k : r.body["kinds"]) kinds.push_back(k["kind"]);
  EXPECT_EQ(kinds, variant_kinds());
  EXPECT_TRUE(r.body["kinds"][3]["parameters"].contains("threads"));
  EXPECT_EQ(r.body["active"]["name"], "threads:4");
}

TEST_F(DaemonApiTest, SwitchesShowsAndStopsTheActiveVariant) {
  const Reply put = api_->put("/api/v1/variant", {{"kind", "async"}, {"workers", 1}});
  ASSERT_EQ(put.status, 200) << put.text;
  EXPECT_EQ(put.body["name"], "async");
  EXPECT_EQ(put.body["state"], "running");
  const int port = put.body["port"];
  EXPECT_GT(port, 0);

  httplib::Client variant("127.0.0.1", port);
  variant.set_tcp_nodelay(true);
  const auto answer = variant.Get("/plaintext");
  ASSERT_TRUE(answer);
  EXPECT_EQ(answer->body, "Hello, World!");

  const Reply get = api_->get("/api/v1/variant");
  EXPECT_EQ(get.status, 200);
  EXPECT_EQ(get.body["kind"], "async");
  EXPECT_EQ(get.body["port"], port);

  EXPECT_EQ(api_->del("/api/v1/variant").status, 204);
  EXPECT_EQ(api_->get("/api/v1/variant").status, 404);
  EXPECT_EQ(api_->get("/readyz").body["variant"], "none");
  // Without a variant a run needs a target.
  const Reply run = api_->post("/api/v1/runs", {{"duration", "1s"}});
  EXPECT_EQ(run.status, 409);
  EXPECT_EQ(run.body["error"]["field"], "target");
}

TEST_F(DaemonApiTest, ShowsAndChangesTheUpstreamProfile) {
  const Reply before = api_->get("/api/v1/upstream");
  ASSERT_EQ(before.status, 200);
  EXPECT_EQ(before.body["delay"], "10ms");
  EXPECT_EQ(before.body["body_bytes"], 612);
  const Reply put = api_->put("/api/v1/upstream", {{"delay", "30ms"}, {"body_bytes", 100}});
  ASSERT_EQ(put.status, 200) << put.text;
  EXPECT_EQ(put.body["url"], before.body["url"]);
  const Reply after = api_->get("/api/v1/upstream");
  EXPECT_EQ(after.body["delay"], "30ms");
  EXPECT_EQ(after.body["body_bytes"], 100);

  // The stub, on the same port, now answers as told.
  const std::string url = after.body["url"];
  const auto port = std::stoi(url.substr(url.rfind(':') + 1));
  httplib::Client stub("127.0.0.1", port);
  const auto started = std::chrono::steady_clock::now();
  const auto answer = stub.Get("/");
  ASSERT_TRUE(answer);
  EXPECT_GE(std::chrono::steady_clock::now() - started, 30ms);
  EXPECT_EQ(answer->body.size(), 100u);
}

TEST_F(DaemonApiTest, RunsALoadOnTheActiveVariantAndKeepsItsResult) {
  // 5 s: long enough that a poll sees it running with answers even on a loaded machine (1.5 s
  // once ended before a poll at a load average of 7.6).
  const Reply created =
      api_->post("/api/v1/runs", {{"connections", 4}, {"threads", 1}, {"duration", "5s"}});
  ASSERT_EQ(created.status, 201) << created.text;
  const int64_t id = created.body["id"];
  EXPECT_EQ(created.location, "/api/v1/runs/" + std::to_string(id));
  EXPECT_EQ(created.body["spec"]["connections"], 4);
  EXPECT_EQ(created.body["label"], "threads:4");

  // Live progress while it runs: elapsed, requests, current req/s, p99 so far.
  const json running = api_->wait_run(id, [](const json& r) {
    return r["state"] == "running" && r["progress"].is_object() &&
           r["progress"]["requests"].get<uint64_t>() > 0;
  });
  EXPECT_GT(running["progress"]["elapsed_s"].get<double>(), 0);
  EXPECT_GT(running["progress"]["current_rps"].get<uint64_t>(), 0u);
  EXPECT_GE(running["progress"]["p99_ms"].get<double>(), 10);

  const json done = api_->wait_final(id);
  ASSERT_EQ(done["state"], "done") << done.dump().substr(0, 500);
  const json& measured = done["result"]["measured"];
  EXPECT_GT(measured["requests"].get<uint64_t>(), 100u);
  EXPECT_EQ(measured["errors"]["total"], 0);
  EXPECT_FALSE(measured["latency"]["buckets"].empty());
  EXPECT_FALSE(measured["timeline"].empty());
  EXPECT_GT(done["result"]["bound_rps"].get<double>(), 0);
  EXPECT_FALSE(done["environment"]["host"].get<std::string>().empty());
  EXPECT_FALSE(done["environment"]["cpu_model"].get<std::string>().empty());
  EXPECT_FALSE(done["environment"]["iolab_revision"].get<std::string>().empty());
  EXPECT_TRUE(done["progress"].is_null());

  // Listed (without the histograms), filtered by variant, and reported.
  const Reply list = api_->get("/api/v1/runs?limit=10&variant=threads:4");
  ASSERT_EQ(list.status, 200);
  ASSERT_EQ(list.body["runs"].size(), 1u);
  EXPECT_FALSE(list.body["runs"][0]["result"]["measured"].contains("latency"));
  EXPECT_EQ(api_->get("/api/v1/runs?variant=async").body["runs"].size(), 0u);
  const Reply csv = api_->get("/api/v1/runs/" + std::to_string(id) + "/report?format=csv");
  EXPECT_EQ(csv.status, 200);
  EXPECT_NE(csv.text.find("threads:4"), std::string::npos) << csv.text;
  // A finished run cannot be cancelled.
  EXPECT_EQ(api_->del("/api/v1/runs/" + std::to_string(id)).status, 409);
}

TEST_F(DaemonApiTest, AWorkerThatDiesMidRunIsRestartedCountedAndTheRunGoesOn) {
  ASSERT_EQ(
      api_->put("/api/v1/variant", {{"kind", "threads"}, {"threads", 4}, {"workers", 2}}).status,
      200);
  // Long enough to be still running once the kill is seen, on a loaded machine too.
  const int64_t id = post_run({{"connections", 4}, {"threads", 1}, {"duration", "5s"}});
  api_->wait_run(id, [](const json& r) {
    return r["progress"].is_object() && r["progress"]["requests"].get<uint64_t>() > 0;
  });
  const json pids = api_->get("/api/v1/variant").body["pids"];
  ASSERT_FALSE(pids.empty());
  ASSERT_EQ(::kill(pids[0].get<pid_t>(), SIGKILL), 0);

  const json done = api_->wait_final(id);
  EXPECT_EQ(done["state"], "done");
  EXPECT_GE(done["result"]["worker_restarts"].get<uint64_t>(), 1u);
  EXPECT_GE(api_->get("/api/v1/variant").body["restarts"].get<uint64_t>(), 1u);
}

TEST_F(DaemonApiTest, LoadsAnAdmittedTarget) {
  const std::string stub = api_->get("/api/v1/upstream").body["url"];
  const Reply created =
      api_->post("/api/v1/runs",
                 {{"target", stub}, {"connections", 2}, {"threads", 1}, {"duration", "500ms"}});
  ASSERT_EQ(created.status, 201) << created.text;
  const json done = api_->wait_final(created.body["id"]);
  EXPECT_EQ(done["state"], "done");
  EXPECT_EQ(done["label"], stub);
  EXPECT_GT(done["result"]["measured"]["requests"].get<uint64_t>(), 10u);
}

TEST_F(DaemonApiTest, QueuesInOrderCancelsAndGuardsTheVariantInUse) {
  const json load = {{"connections", 2}, {"threads", 1}, {"duration", "20s"}};
  const int64_t first = post_run(load);
  const int64_t second = post_run({{"connections", 2}, {"threads", 1}, {"duration", "1s"}});
  const int64_t third = post_run(load);
  EXPECT_EQ(api_->get("/api/v1/runs/" + std::to_string(third)).body["state"], "queued");

  api_->wait_run(first, [](const json& r) { return r["state"] == "running"; });
  // The variant is in use: switching it or the upstream now would spoil the run.
  const Reply switch_attempt = api_->put("/api/v1/variant", {{"kind", "async"}});
  EXPECT_EQ(switch_attempt.status, 409);
  EXPECT_EQ(api_->del("/api/v1/variant").status, 409);
  EXPECT_EQ(api_->put("/api/v1/upstream", {{"delay", "5ms"}}).status, 409);

  const Reply cancel_queued = api_->del("/api/v1/runs/" + std::to_string(third));
  EXPECT_EQ(cancel_queued.status, 200);
  EXPECT_EQ(cancel_queued.body["state"], "cancelled");

  // Let the first measure a little, then cancel it: its partial result is kept.
  api_->wait_run(first, [](const json& r) {
    return r["progress"].is_object() && r["progress"]["requests"].get<uint64_t>() > 0;
  });
  const Reply cancel_running = api_->del("/api/v1/runs/" + std::to_string(first));
  EXPECT_EQ(cancel_running.status, 202);
  const json cancelled = api_->wait_final(first, 60s);
  EXPECT_EQ(cancelled["state"], "cancelled");
  EXPECT_GT(cancelled["result"]["measured"]["requests"].get<uint64_t>(), 0u);

  const json next = api_->wait_final(second);
  EXPECT_EQ(next["state"], "done");
  EXPECT_LE(cancelled["finished_at"].get<std::string>(), next["started_at"].get<std::string>());
  EXPECT_EQ(api_->get("/api/v1/runs/" + std::to_string(third)).body["state"], "cancelled");
  EXPECT_EQ(api_->put("/api/v1/variant", {{"kind", "async"}, {"workers", 1}}).status, 200);
}

TEST_F(DaemonApiTest, RunsAnExperimentAndReportsItInEveryFormat) {
  const std::string yaml =
      "name: quick\n"
      "upstream: {delay: 10ms}\n"
      "load: {connections: 4, threads: 1, duration: 1s, path: /remote}\n"
      "variants:\n"
      "  - {kind: threads, threads: [2], workers: 1}\n"
      "  - {kind: async, workers: 1}\n";
  const Reply created = api_->call("POST", "/api/v1/experiments", yaml, "application/yaml");
  ASSERT_EQ(created.status, 201) << created.text;
  EXPECT_EQ(created.body["name"], "quick");
  ASSERT_EQ(created.body["runs"].size(), 2u);
  const std::string path = created.location;
  EXPECT_EQ(path, "/api/v1/experiments/" + std::to_string(created.body["id"].get<int64_t>()));

  for (const auto& run : created.body["runs"]) api_->wait_final(run["id"].get<int64_t>(), 30s);
  const Reply experiment = api_->get(path);
  EXPECT_EQ(experiment.body["state"], "done") << experiment.text.substr(0, 1000);

  const Reply rst = api_->get(path + "/report?format=rst");
  ASSERT_EQ(rst.status, 200);
  EXPECT_NE(rst.text.find("threads:2"), std::string::npos) << rst.text;
  EXPECT_NE(rst.text.find("async"), std::string::npos) << rst.text;
  EXPECT_NE(rst.text.find("p99.9"), std::string::npos) << rst.text;
  const Reply csv = api_->get(path + "/report?format=csv&wide=true");
  EXPECT_EQ(csv.content_type.rfind("text/csv", 0), 0u);
  EXPECT_EQ(std::count(csv.text.begin(), csv.text.end(), '\n'), 3) << csv.text;
  const Reply svg = api_->get(path + "/report?format=svg");
  EXPECT_EQ(svg.content_type, "image/svg+xml");
  EXPECT_NE(svg.text.find("Latency percentiles per variant"), std::string::npos);
  const Reply html = api_->get(path + "/report?format=html");
  EXPECT_EQ(html.content_type.rfind("text/html", 0), 0u);
  EXPECT_NE(html.text.find("<td>async</td>"), std::string::npos);
  // The five charts, and the workers' layers the store kept: the upstream and the queue wait
  // of threads:N (its own task queue) are measured, a pool wait only by async.
  for (const char* chart : {"requests", "latency", "spectrum", "timeline", "decomposition"}) {
    EXPECT_NE(html.text.find(std::string("<g class=\"chart ") + chart), std::string::npos) << chart;
  }
  EXPECT_NE(html.text.find("async upstream: "), std::string::npos);
  EXPECT_NE(html.text.find("threads:2 upstream: "), std::string::npos);
  EXPECT_NE(html.text.find("threads:2 queue wait: "), std::string::npos);
  EXPECT_NE(html.text.find("pool wait not measured"), std::string::npos);
  EXPECT_EQ(html.text.find("kept no layers"), std::string::npos);
  const Reply js = api_->get(path + "/report?format=json");
  EXPECT_FALSE(js.body.is_discarded());
  EXPECT_FALSE(js.body.is_null());

  // The same experiment as JSON.
  const json as_json = {{"name", "quick-json"},
                        {"load", {{"connections", 2}, {"threads", 1}, {"duration", "200ms"}}},
                        {"variants", {{{"kind", "async"}, {"workers", 1}}}}};
  const Reply second = api_->post("/api/v1/experiments", as_json);
  ASSERT_EQ(second.status, 201) << second.text;
  api_->wait_final(second.body["runs"][0]["id"].get<int64_t>(), 30s);
  EXPECT_EQ(api_->get(second.location).body["state"], "done");
}

TEST(DaemonAuthTest, NeedsTheBearerTokenEverywhereButHealthz) {
  const auto token_file =
      std::filesystem::temp_directory_path() / ("iolab_token_" + std::to_string(::getpid()));
  std::ofstream(token_file) << "s3cret-token\n";
  std::filesystem::permissions(
      token_file, std::filesystem::perms::owner_read | std::filesystem::perms::owner_write);
  DaemonConfig config = test_config();
  config.variant_default.reset();
  config.token_file = token_file.string();
  Daemon daemon(config, IOLAB_BINARY, std::make_unique<InMemoryRunStore>());
  const uint16_t port = daemon.start();

  ApiClient anonymous(port);
  EXPECT_EQ(anonymous.get("/healthz").status, 200);
  for (const char* path : {"/readyz", "/api/v1/variants", "/api/v1/runs", "/api/v1/upstream"}) {
    const Reply r = anonymous.get(path);
    EXPECT_EQ(r.status, 401) << path;
    EXPECT_EQ(r.body["error"]["field"], "Authorization") << path;
  }
  EXPECT_EQ(anonymous.put("/api/v1/variant", {{"kind", "async"}}).status, 401);
  EXPECT_EQ(ApiClient(port, "wrong").get("/api/v1/runs").status, 401);
  EXPECT_EQ(ApiClient(port, "s3cret-token").get("/api/v1/runs").status, 200);
  daemon.stop();
  std::filesystem::remove(token_file);
}

TEST(DaemonStartTest, RefusesANonLoopbackListenWithoutAToken) {
  DaemonConfig config = test_config();
  config.api_listen = Endpoint{"0.0.0.0", 0};
  config.variant_default.reset();
  Daemon daemon(config, IOLAB_BINARY, std::make_unique<InMemoryRunStore>());
  EXPECT_THROW(daemon.start(), StartError);
}

// ---------------------------------------------------------------------------------------------
// Bad requests: each gets the right 4xx naming the field, and the daemon's state is unchanged.

struct BadRequest {
  const char* method;
  const char* path;
  std::string body;
  const char* type;
  int status;
  const char* field;
};

TEST_F(DaemonApiTest, RefusesBadRequestsNamingTheFieldAndChangesNothing) {
  // One finished run, so that "state unchanged" covers the run list too.
  const int64_t id = post_run({{"connections", 1}, {"threads", 1}, {"duration", "100ms"}});
  api_->wait_final(id);

  const auto snapshot = [this] {
    return api_->get("/api/v1/variant").text + api_->get("/api/v1/upstream").text +
           api_->get("/api/v1/runs?limit=1000").text +
           std::to_string(api_->get("/api/v1/experiments/1").status);
  };
  const std::string before = snapshot();

  const char* kJson = "application/json";
  const char* kYaml = "application/yaml";
  const std::string huge(2 * 1024 * 1024, 'x');
  const BadRequest cases[] = {
      // The variant.
      {"PUT", "/api/v1/variant", R"({"kind":)", kJson, 400, "body"},
      {"PUT", "/api/v1/variant", R"([1, 2])", kJson, 400, "body"},
      {"PUT", "/api/v1/variant", R"({})", kJson, 400, "kind"},
      {"PUT", "/api/v1/variant", R"({"kind": 5})", kJson, 400, "kind"},
      {"PUT", "/api/v1/variant", R"({"kind": "nosuch"})", kJson, 422, "kind"},
      {"PUT", "/api/v1/variant", R"({"kind": "threads"})", kJson, 400, "threads"},
      {"PUT", "/api/v1/variant", R"({"kind": "threads", "threads": 0})", kJson, 422, "threads"},
      {"PUT", "/api/v1/variant", R"({"kind": "threads", "threads": -5})", kJson, 422, "threads"},
      {"PUT", "/api/v1/variant", R"({"kind": "threads", "threads": 99999999999999999999})", kJson,
       400, "threads"},
      {"PUT", "/api/v1/variant", R"({"kind": "threads", "threads": 18446744073709551615})", kJson,
       422, "threads"},
      {"PUT", "/api/v1/variant", R"({"kind": "threads", "threads": "10"})", kJson, 400, "threads"},
      {"PUT", "/api/v1/variant", R"({"kind": "threads", "threads": 2.5})", kJson, 400, "threads"},
      {"PUT", "/api/v1/variant", R"({"kind": "async", "threads": 10})", kJson, 422, "threads"},
      {"PUT", "/api/v1/variant", R"({"kind": "async", "workers": 0})", kJson, 422, "workers"},
      {"PUT", "/api/v1/variant", R"({"kind": "async", "workers": 1000})", kJson, 422, "workers"},
      {"PUT", "/api/v1/variant", R"({"kind": "async", "colour": "red"})", kJson, 400, "colour"},
      {"PUT", "/api/v1/variant", R"({"kind": "threads", "threads": 4, "pool_size": 3})", kJson, 422,
       "pool_size"},
      {"PUT", "/api/v1/variant", R"({"kind": "async"})", "text/plain", 415, "Content-Type"},
      // The upstream.
      {"PUT", "/api/v1/upstream", R"({"delay": "fast"})", kJson, 422, "delay"},
      {"PUT", "/api/v1/upstream", R"({"delay": 100})", kJson, 400, "delay"},
      {"PUT", "/api/v1/upstream", R"({"delay": "2h"})", kJson, 422, "delay"},
      {"PUT", "/api/v1/upstream", R"({"body_bytes": -1})", kJson, 422, "body_bytes"},
      {"PUT", "/api/v1/upstream", R"({"nope": 1})", kJson, 400, "nope"},
      // Runs.
      {"POST", "/api/v1/runs", "not json", kJson, 400, "body"},
      {"POST", "/api/v1/runs", R"({"connections": -1})", kJson, 422, "connections"},
      {"POST", "/api/v1/runs", R"({"connections": 100000})", kJson, 422, "connections"},
      {"POST", "/api/v1/runs", R"({"connections": "ten"})", kJson, 400, "connections"},
      {"POST", "/api/v1/runs", R"({"connections": null})", kJson, 400, "connections"},
      {"POST", "/api/v1/runs", R"({"threads": 1000})", kJson, 422, "threads"},
      {"POST", "/api/v1/runs", R"({"duration": "1h"})", kJson, 422, "duration"},
      {"POST", "/api/v1/runs", R"({"duration": "0s"})", kJson, 422, "duration"},
      {"POST", "/api/v1/runs", R"({"duration": "-1s"})", kJson, 422, "duration"},
      {"POST", "/api/v1/runs", R"({"duration": 5})", kJson, 400, "duration"},
      {"POST", "/api/v1/runs", R"({"duration": "29s", "warmup": "2s"})", kJson, 422, "duration"},
      {"POST", "/api/v1/runs", R"({"timeout": "0s"})", kJson, 422, "timeout"},
      {"POST", "/api/v1/runs", R"({"rate": -3})", kJson, 422, "rate"},
      {"POST", "/api/v1/runs", R"({"target": "http://10.0.0.1/"})", kJson, 422, "target"},
      {"POST", "/api/v1/runs", R"({"target": "https://127.0.0.1/"})", kJson, 422, "target"},
      {"POST", "/api/v1/runs", R"({"target": 5})", kJson, 400, "target"},
      {"POST", "/api/v1/runs", R"({"path": "nope"})", kJson, 422, "path"},
      {"POST", "/api/v1/runs", R"({"path": "/a b"})", kJson, 422, "path"},
      {"POST", "/api/v1/runs", R"({"bogus": true})", kJson, 400, "bogus"},
      {"POST", "/api/v1/runs", "connections=1", "application/x-www-form-urlencoded", 415,
       "Content-Type"},
      {"POST", "/api/v1/runs", R"({"connections": 1, "pad": ")" + huge + R"("})", kJson, 413,
       "body"},
      {"GET", "/api/v1/runs/999", "", kJson, 404, "id"},
      {"GET", "/api/v1/runs/abc", "", kJson, 404, "id"},
      {"DELETE", "/api/v1/runs/999", "", kJson, 404, "id"},
      {"GET", "/api/v1/runs/999/report", "", kJson, 404, "id"},
      {"GET", "/api/v1/runs?limit=0", "", kJson, 400, "limit"},
      {"GET", "/api/v1/runs?limit=abc", "", kJson, 400, "limit"},
      {"GET", "/api/v1/runs?colour=1", "", kJson, 400, "colour"},
      // Experiments.
      {"POST", "/api/v1/experiments", "name: x\nload: {connections: 1, durration: 1s}\n", kYaml,
       422, "load.durration"},
      {"POST", "/api/v1/experiments",
       "name: x\nload: {connections: 1}\nvariants: [{kind: nosuch}]\n", kYaml, 422,
       "variants[0].kind"},
      {"POST", "/api/v1/experiments",
       "name: x\nload: {connections: 1000}\nvariants: [{kind: async}]\n", kYaml, 422,
       "load.connections"},
      {"POST", "/api/v1/experiments",
       "name: x\nload: {connections: 1, duration: 1h}\nvariants: [{kind: async}]\n", kYaml, 422,
       "load.duration"},
      {"POST", "/api/v1/experiments", "name: [x\n", kYaml, 400, "body"},
      {"POST", "/api/v1/experiments", R"({"name": )", kJson, 400, "body"},
      {"POST", "/api/v1/experiments", "name: x", "text/plain", 415, "Content-Type"},
      {"GET", "/api/v1/experiments/999", "", kJson, 404, "id"},
      {"GET", "/api/v1/experiments/1/report?format=pdf", "", kJson, 400, "format"},
      {"GET", "/api/v1/nosuch", "", kJson, 404, "path"},
  };
  ASSERT_GE(std::size(cases), 30u);
  for (const BadRequest& c : cases) {
    const std::string what = std::string(c.method) + " " + c.path + " " + c.body.substr(0, 80);
    const Reply r = api_->call(c.method, c.path, c.body, c.type);
    EXPECT_EQ(r.status, c.status) << what << "\n" << r.text.substr(0, 300);
    EXPECT_EQ(r.body["error"]["field"], c.field) << what << "\n" << r.text.substr(0, 300);
    EXPECT_FALSE(r.body["error"]["message"].get<std::string>().empty()) << what;
    EXPECT_EQ(snapshot(), before) << "state changed after " << what;
  }
}

}  // namespace
}  // namespace iolab
