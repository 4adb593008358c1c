// `iolab daemon` as a process: it survives SIGKILL with its store intact, stops cleanly on
// SIGTERM, and the client commands talk to it.
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <thread>

#include "store/run_store.h"
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

class DaemonProcessTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fresh_test_dir("daemon");
    std::ofstream(dir_ / "iolab.yaml") << "api: {listen: 127.0.0.1:0}\n"
                                       << "state_dir: " << (dir_ / "state").string() << "\n"
                                       << "variant: {default: \"threads:4\"}\n"
                                       << "upstream: {profile: {delay: 10ms}}\n"
                                       << "load: {max_connections: 50, max_duration: 1m}\n";
  }
  void TearDown() override { fs::remove_all(dir_); }

  std::unique_ptr<DaemonProcess> start() {
    return std::make_unique<DaemonProcess>(dir_, dir_ / "iolab.yaml");
  }

  static int64_t post_run(ApiClient& api, const std::string& duration) {
    const auto r =
        api.post("/api/v1/runs", {{"connections", 2}, {"threads", 1}, {"duration", duration}});
    EXPECT_EQ(r.status, 201) << r.text;
    return r.body.value("id", int64_t{0});
  }

  static void wait_measuring(ApiClient& api, int64_t id) {
    api.wait_run(id, [](const json& r) {
      return r["state"] == "running" && r["progress"].is_object() &&
             r["progress"]["requests"].get<uint64_t>() > 0;
    });
  }

  fs::path dir_;
};

TEST_F(DaemonProcessTest, AfterASigkillTheRunIsInterruptedAndEarlierRunsIntact) {
  json earlier;
  {
    auto daemon = start();
    ASSERT_NE(daemon->port(), 0);
    ApiClient api(daemon->port());
    const int64_t first = post_run(api, "500ms");
    earlier = api.wait_final(first);
    ASSERT_EQ(earlier["state"], "done");
    const int64_t second = post_run(api, "30s");
    wait_measuring(api, second);
    const int status = daemon->signal_and_wait(SIGKILL, 5000ms);
    ASSERT_TRUE(WIFSIGNALED(status));
  }
  auto daemon = start();
  ASSERT_NE(daemon->port(), 0);
  ApiClient api(daemon->port());
  EXPECT_EQ(api.get("/api/v1/runs/1").body, earlier);
  const json killed = api.get("/api/v1/runs/2").body;
  EXPECT_EQ(killed["state"], "interrupted");
  EXPECT_FALSE(killed["finished_at"].is_null());
  // The store goes on: the next run gets the next id and runs.
  const int64_t third = post_run(api, "200ms");
  EXPECT_EQ(third, 3);
  EXPECT_EQ(api.wait_final(third)["state"], "done");
}

TEST_F(DaemonProcessTest, SigtermMidRunExitsZeroAndSavesThePartialResultAsCancelled) {
  auto daemon = start();
  ASSERT_NE(daemon->port(), 0);
  ApiClient api(daemon->port());
  const int64_t id = post_run(api, "30s");
  const int64_t queued = post_run(api, "1s");
  wait_measuring(api, id);

  const auto started = Clock::now();
  const int status = daemon->signal_and_wait(SIGTERM, 5000ms);
  ASSERT_NE(status, -1) << "still running 5 s after SIGTERM";
  EXPECT_LT(Clock::now() - started, 5s);
  ASSERT_TRUE(WIFEXITED(status)) << daemon->err();
  EXPECT_EQ(WEXITSTATUS(status), 0) << daemon->err();

  SqliteRunStore store((dir_ / "state").string());
  const auto run = store.run(id);
  ASSERT_TRUE(run);
  EXPECT_EQ(run->state, RunState::kCancelled);
  EXPECT_GT(run->result["measured"]["requests"].get<uint64_t>(), 0u);
  EXPECT_FALSE(run->result["measured"]["latency"]["buckets"].empty());
  EXPECT_EQ(store.run(queued)->state, RunState::kCancelled);
}

struct Outcome {
  int exit_code = -1;
  std::string out;
  std::string err;
};

Outcome iolab(const fs::path& dir, const std::string& args) {
  const auto out = dir / "cli_out";
  const auto err = dir / "cli_err";
  // Bounded in time and output size, so that a hang cannot fill the disk.
  const std::string cmd = "ulimit -f 10240; timeout -s KILL 60 " + std::string(IOLAB_BINARY) + " " +
                          args + " >" + out.string() + " 2>" + err.string() + " </dev/null";
  const int status = std::system(cmd.c_str());
  return Outcome{WIFEXITED(status) ? WEXITSTATUS(status) : -1, slurp(out), slurp(err)};
}

TEST_F(DaemonProcessTest, ClientCommandsSubmitAnExperimentAndFetchReports) {
  auto daemon = start();
  ASSERT_NE(daemon->port(), 0);
  std::ofstream(dir_ / "quick.yaml") << "name: quick\n"
                                     << "upstream: {delay: 10ms}\n"
                                     << "load: {connections: 2, threads: 1, duration: 500ms}\n"
                                     << "variants: [{kind: threads, threads: [2], workers: 1}]\n";
  const Outcome submitted =
      iolab(dir_, "experiment " + (dir_ / "quick.yaml").string() + " --daemon " + daemon->url());
  EXPECT_EQ(submitted.exit_code, 0) << submitted.err;
  EXPECT_NE(submitted.out.find("threads:2"), std::string::npos) << submitted.out;
  EXPECT_NE(submitted.out.find("p99.9"), std::string::npos) << submitted.out;

  const Outcome csv = iolab(dir_, "report 1 --daemon " + daemon->url() + " --format csv");
  EXPECT_EQ(csv.exit_code, 0) << csv.err;
  EXPECT_NE(csv.out.find("threads:2"), std::string::npos) << csv.out;
  const Outcome run = iolab(dir_, "report 1 --run --daemon " + daemon->url() + " --format json");
  EXPECT_EQ(run.exit_code, 0) << run.err;
  EXPECT_NE(run.out.find("threads:2"), std::string::npos) << run.out;

  const Outcome missing = iolab(dir_, "report 99 --daemon " + daemon->url());
  EXPECT_EQ(missing.exit_code, 1);
  EXPECT_NE(missing.err.find("no experiment 99"), std::string::npos) << missing.err;
  const Outcome bad = iolab(dir_, "report x --daemon " + daemon->url());
  EXPECT_EQ(bad.exit_code, 2) << bad.err;
}

TEST_F(DaemonProcessTest, RefusesARunItsDescriptorsCouldNotHoldBeforeQueuingIt) {
  std::ofstream(dir_ / "iolab.yaml") << "api: {listen: 127.0.0.1:0}\n"
                                     << "state_dir: " << (dir_ / "state").string() << "\n"
                                     << "variant: {default: \"threads:4\"}\n"
                                     << "upstream: {profile: {delay: 10ms}}\n"
                                     << "load: {max_connections: 5000, max_duration: 1m}\n";
  DaemonProcess daemon(dir_, dir_ / "iolab.yaml", {}, 60s, /*max_open_files=*/1000);
  ASSERT_NE(daemon.port(), 0) << daemon.err();
  ApiClient api(daemon.port());
  // 990 load sockets, 8 upstream ones (threads:4 in 2 workers) and the spare: over 1000.
  const auto refused = api.post("/api/v1/runs", {{"connections", 990}, {"duration", "1s"}});
  EXPECT_EQ(refused.status, 422) << refused.text;
  EXPECT_EQ(refused.body["error"]["field"], "connections") << refused.text;
  EXPECT_NE(refused.text.find("RLIMIT_NOFILE allows 1000"), std::string::npos) << refused.text;
  EXPECT_EQ(api.get("/api/v1/runs").body["runs"].size(), 0u) << "nothing was queued";
  const auto accepted = api.post("/api/v1/runs", {{"connections", 100}, {"duration", "1s"}});
  EXPECT_EQ(accepted.status, 201) << accepted.text;
}

TEST_F(DaemonProcessTest, ABadConfigStopsStartUpNamingFileLineAndKey) {
  std::ofstream(dir_ / "bad.yaml") << "api:\n  listen: 127.0.0.1:0\nload:\n  max_conections: 5\n";
  const Outcome o = iolab(dir_, "daemon --config " + (dir_ / "bad.yaml").string());
  EXPECT_EQ(o.exit_code, 2);
  EXPECT_NE(o.err.find("bad.yaml:4: load.max_conections: unknown key"), std::string::npos) << o.err;
}

}  // namespace
}  // namespace iolab
