// The nightly suite against one daemon, as iolab-nightly.service runs it: five quiet nights,
// then nights with the upstream 20 times slower. Change points declare a change once
// a second night confirms it: the first slow night alone could be an outlier that reverts. Then
// exactly the throughput of the rows that call the upstream is flagged, the command exits
// non-zero, `iolab history` shows the change points, and /api/v1/regressions exports them. No
// p99 is judged: no trial holds the 10,000 answers a p99 needs, so a busy machine's p99 noise
// (the reason this test used to fail) is "insufficient", never a regression.
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
#include <nlohmann/json.hpp>
#include <thread>

namespace iolab {
namespace {

using namespace std::chrono_literals;
namespace fs = std::filesystem;

const std::string kBinary = IOLAB_BINARY_DIR "/iolab";

std::string slurp(const fs::path& p) {
  std::ifstream in(p);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

size_t count(const std::string& text, const std::string& what) {
  size_t n = 0;
  for (size_t at = text.find(what); at != std::string::npos; at = text.find(what, at + 1)) ++n;
  return n;
}

class NightlyRegressionTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() / ("iolab_nightly_" + std::to_string(::getpid()));
    fs::remove_all(dir_);
    fs::create_directories(dir_);
    std::ofstream(dir_ / "iolab.yaml") << "api: {listen: 127.0.0.1:0}\n"
                                       << "state_dir: " << (dir_ / "state").string() << "\n";
    pid_ = ::fork();
    if (pid_ == 0) {
      ::prctl(PR_SET_PDEATHSIG, SIGKILL);
      const rlimit fsize{10 << 20, 10 << 20};
      ::setrlimit(RLIMIT_FSIZE, &fsize);
      if (!std::freopen((dir_ / "daemon.out").c_str(), "w", stdout) ||
          !std::freopen((dir_ / "daemon.err").c_str(), "w", stderr)) {
        ::_exit(127);
      }
      ::execl(kBinary.c_str(), kBinary.c_str(), "daemon", "--config", (dir_ / "iolab.yaml").c_str(),
              static_cast<char*>(nullptr));
      ::_exit(127);
    }
    const auto deadline = std::chrono::steady_clock::now() + 60s;
    while (std::chrono::steady_clock::now() < deadline) {
      const std::string out = slurp(dir_ / "daemon.out");
      if (out.find('\n') != std::string::npos) {
        url_ = "http://127.0.0.1:" +
               out.substr(out.rfind(':') + 1, out.find('\n') - out.rfind(':') - 1);
        return;
      }
      std::this_thread::sleep_for(20ms);
    }
    FAIL() << "the daemon did not start: " << slurp(dir_ / "daemon.err");
  }

  void TearDown() override {
    if (pid_ > 0) {
      ::kill(pid_, SIGKILL);
      ::waitpid(pid_, nullptr, 0);
    }
    fs::remove_all(dir_);
  }

  // One night: the suite with the upstream answering after `delay`. Returns the exit code.
  int night(const std::string& delay, std::string& out) {
    std::ofstream(dir_ / "nightly.yaml")
        << "name: nightly-e2e\n"
        << "upstream: {delay: " << delay << "}\n"
        // 1 s: a p99 is judged only from 10,000 answers a trial, which no row here reaches.
        << "load: {connections: 8, threads: 1, duration: 1s, warmup: 200ms, timeout: 5s}\n"
        // Changes under 50 % are not declared: a 20-fold slower upstream is far beyond, what a
        // busy machine does to a short run is not. p ≤ 0.01 rather than the shipped 0.001:
        // five quick nights and two slow ones are few, and with both cores taken by builds the
        // quick nights' req/s vary by 20-30 %, which puts a 95 % drop at p ≈ 0.001-0.008 (the
        // test is about which rows are flagged, not about the threshold).
        << "regression: {window: 10, min_nights: 3, throughput_drop: 50%, p99_rise: 300%, "
        << "max_p: 0.01}\n"
        << "variants:\n"
        << "  - {kind: threads, threads: 8, workers: 1, scenario: remote}\n"
        << "  - {kind: async, workers: 1, scenario: remote}\n"
        << "  - {kind: threads, threads: 8, workers: 1, scenario: plaintext, path: /plaintext,"
        << " rate: 400}\n";
    const std::string command = "ulimit -f 10240; timeout -s KILL 60 " + kBinary + " experiment " +
                                (dir_ / "nightly.yaml").string() + " --daemon " + url_ + " >" +
                                (dir_ / "night.out").string() + " 2>" +
                                (dir_ / "night.err").string();
    const int status = std::system(command.c_str());
    out = slurp(dir_ / "night.out");
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  }

  fs::path dir_;
  pid_t pid_ = -1;
  std::string url_;
};

TEST_F(NightlyRegressionTest, ASlowerUpstreamFlagsTheThroughputOfExactlyTheRowsThatCallIt) {
  std::string out;
  // A 20 ms upstream, then 400 ms: 400 req/s, then 20 (8 connections). With 5 ms the quick
  // nights were CPU-bound, and on a machine busy with builds async's ranged from 280 to
  // 1,470 req/s: too noisy for a drop to 80 to be significant. Scheduling delays of a few ms
  // are small against 20 ms.
  for (int i = 0; i < 5; ++i) {
    ASSERT_EQ(night("20ms", out), 0) << out << slurp(dir_ / "night.err");
    EXPECT_EQ(count(out, "REGRESSION"), 0u) << out;
  }
  // One slow night is not yet a change: it might revert tomorrow.
  ASSERT_EQ(night("400ms", out), 0) << out << slurp(dir_ / "night.err");
  EXPECT_EQ(count(out, "REGRESSION"), 0u) << out;
  EXPECT_EQ(night("400ms", out), 1) << out << slurp(dir_ / "night.err");
  EXPECT_EQ(count(out, "REGRESSION remote threads:8 throughput"), 1u) << out;
  EXPECT_EQ(count(out, "REGRESSION remote async throughput"), 1u) << out;
  EXPECT_EQ(count(out, "REGRESSION"), 2u) << out;

  const std::string history = "ulimit -f 10240; timeout -s KILL 30 " + kBinary +
                              " history remote --daemon " + url_ + " >" +
                              (dir_ / "history.out").string();
  ASSERT_EQ(std::system(history.c_str()), 0);
  const std::string trend = slurp(dir_ / "history.out");
  // Seven nights of two variants; the last flagged; the change begins at the first slow night;
  // every p99 insufficient.
  EXPECT_EQ(count(trend, "threads:8"), 7u) << trend;
  EXPECT_EQ(count(trend, "async"), 7u) << trend;
  EXPECT_EQ(count(trend, "RPS"), 2u) << trend;
  EXPECT_EQ(count(trend, "P99"), 0u) << trend;
  EXPECT_EQ(count(trend, "rps -"), 2u) << trend;
  EXPECT_NE(trend.find("fewer answers than regression.min_answers"), std::string::npos) << trend;

  // What the metrics export as iolab_regression{scenario,variant,measure}, with the change.
  const std::string now = "timeout -s KILL 30 curl -sf " + url_ + "/api/v1/regressions >" +
                          (dir_ / "regressions.json").string();
  ASSERT_EQ(std::system(now.c_str()), 0);
  const auto body = nlohmann::json::parse(slurp(dir_ / "regressions.json"));
  ASSERT_EQ(body["regressions"].size(), 2u) << body.dump(2);
  for (const auto& f : body["regressions"]) {
    EXPECT_EQ(f["scenario"], "remote") << f.dump();
    EXPECT_EQ(f["measure"], "throughput") << f.dump();
    EXPECT_LT(f["relative_change"].get<double>(), -0.5) << f.dump();
    EXPECT_LE(f["p"].get<double>(), 0.001) << f.dump();
  }
  size_t remote_changes = 0;
  for (const auto& c : body["change_points"]) {
    EXPECT_NE(c["scenario"], "plaintext") << c.dump();
    remote_changes += c["scenario"] == "remote";
  }
  EXPECT_EQ(remote_changes, 2u) << body.dump(2);
}

}  // namespace
}  // namespace iolab
