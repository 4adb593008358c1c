// The nightly suite against one daemon, as iolab-nightly.service runs it: three quiet nights,
// then a night with the upstream 20 times slower. The rows that call the upstream are flagged
// on both measures, the row that does not call it is not flagged beyond noise, the command
// exits non-zero, and `iolab history` shows the trend.
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

// The p99 in ms of a "REGRESSION <scenario> <variant> p99: X ms ..." line in `text`; -1 if none.
double flagged_p99_ms(const std::string& text, const std::string& scenario_variant) {
  const std::string line = "REGRESSION " + scenario_variant + " p99: ";
  const size_t at = text.find(line);
  return at == std::string::npos ? -1 : std::stod(text.substr(at + line.size()));
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
    const auto deadline = std::chrono::steady_clock::now() + 15s;
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
        // 2 s: a p99 is then the 1 % slowest of a few thousand answers, not of a few hundred.
        << "load: {connections: 8, threads: 1, duration: 2s, warmup: 200ms, timeout: 5s}\n"
        // Wide thresholds: a 20-fold slower upstream crosses them, a busy machine does not.
        << "regression: {nights: 7, min_nights: 3, throughput_drop: 50%, p99_rise: 300%}\n"
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

TEST_F(NightlyRegressionTest, ASlowerUpstreamFlagsExactlyTheRowsThatCallIt) {
  std::string out;
  for (int i = 0; i < 3; ++i) {
    ASSERT_EQ(night("5ms", out), 0) << out << slurp(dir_ / "night.err");
    EXPECT_EQ(count(out, "REGRESSION"), 0u) << out;
  }
  constexpr double kSlowUpstreamMs = 100;
  EXPECT_EQ(night("100ms", out), 1) << out << slurp(dir_ / "night.err");
  EXPECT_EQ(count(out, "REGRESSION remote threads:8 throughput"), 1u) << out;
  EXPECT_EQ(count(out, "REGRESSION remote threads:8 p99"), 1u) << out;
  EXPECT_EQ(count(out, "REGRESSION remote async throughput"), 1u) << out;
  EXPECT_EQ(count(out, "REGRESSION remote async p99"), 1u) << out;
  // The plaintext row holds its rate. Its p99 is a fraction of a millisecond: the judge's
  // relative threshold can flag a busy machine's noise there (until the judge weighs noise),
  // but a row that called the slowed upstream would wait for it, 100 ms.
  EXPECT_EQ(count(out, "REGRESSION plaintext threads:8 throughput"), 0u) << out;
  const double plaintext_p99_ms = flagged_p99_ms(out, "plaintext threads:8");
  EXPECT_LT(plaintext_p99_ms, kSlowUpstreamMs) << out;
  const size_t noise = plaintext_p99_ms < 0 ? 0 : 1;
  EXPECT_EQ(count(out, "REGRESSION"), 4u + noise) << out;

  const std::string history = "ulimit -f 10240; timeout -s KILL 30 " + kBinary +
                              " history remote --daemon " + url_ + " >" +
                              (dir_ / "history.out").string();
  ASSERT_EQ(std::system(history.c_str()), 0);
  const std::string trend = slurp(dir_ / "history.out");
  // Four nights of two variants, the last two flagged on both measures.
  EXPECT_EQ(count(trend, "threads:8"), 4u) << trend;
  EXPECT_EQ(count(trend, "async"), 4u) << trend;
  EXPECT_EQ(count(trend, "RPS+P99"), 2u) << trend;

  // What the metrics export as iolab_regression{scenario,variant,measure}.
  const std::string now = "timeout -s KILL 30 curl -sf " + url_ + "/api/v1/regressions >" +
                          (dir_ / "regressions.json").string();
  ASSERT_EQ(std::system(now.c_str()), 0);
  const std::string flags = slurp(dir_ / "regressions.json");
  EXPECT_EQ(count(flags, "\"measure\""), 4u + noise) << flags;
  EXPECT_EQ(count(flags, "\"scenario\": \"remote\""), 4u) << flags;
}

}  // namespace
}  // namespace iolab
