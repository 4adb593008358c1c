// The iolab binary as a user runs it: exit codes, one-line errors, a real embedded run.
#include <gtest/gtest.h>
#include <sys/wait.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>

#include "tests/integration/run_iolab.h"

namespace iolab {
namespace {

using namespace iolab::testing;

size_t lines(const std::string& s) {
  return static_cast<size_t>(std::count(s.begin(), s.end(), '\n'));
}

struct BadInput {
  const char* args;
  int exit_code;
  const char* names;  // what the one-line message must mention
};

TEST(CliTest, BadInputGivesOneLineAndTheRightExitCode) {
  const BadInput cases[] = {
      {"run --variant threads:10 --bogus", 2, "--bogus"},
      {"run --variant threads:10 -d 5x", 2, "5x"},
      {"run --variant threads:10 -c 0", 2, "-c"},
      {"run --variant threads:10 -c abc", 2, "abc"},
      {"run --variant nosuch", 2, "nosuch"},
      {"run --variant threads:0", 2, "threads:0"},
      {"run --variant threads:10 --format xml", 2, "xml"},
      {"run --target https://127.0.0.1/", 2, "http://"},
      {"run --target http://10.1.2.3/", 2, "10.1.2.3"},
      {"run", 2, "--variant"},
      {"nosuchcommand", 2, "nosuchcommand"},
      {"experiment /nonexistent.yaml", 2, "/nonexistent.yaml"},
      {"run --target http://127.0.0.1:1/ -d 1s", 1, "127.0.0.1:1"},
  };
  for (const BadInput& c : cases) {
    const Outcome o = run_iolab(c.args);
    EXPECT_EQ(o.exit_code, c.exit_code) << c.args << "\n" << o.err;
    EXPECT_EQ(lines(o.err), 1u) << c.args << "\n" << o.err;
    EXPECT_NE(o.err.find(c.names), std::string::npos) << c.args << "\n" << o.err;
    EXPECT_EQ(o.err.rfind("iolab: ", 0), 0u) << o.err;
  }
}

TEST(CliTest, ABadExperimentFileNamesFileLineAndKey) {
  const auto path = std::filesystem::temp_directory_path() / "iolab_bad_experiment.yaml";
  std::ofstream(path) << "name: x\nload:\n  connections: 10\n  durration: 5s\nvariants:\n"
                         "  - {kind: threads, threads: [1]}\n";
  const Outcome o = run_iolab("experiment " + path.string());
  std::filesystem::remove(path);
  EXPECT_EQ(o.exit_code, 2);
  EXPECT_NE(o.err.find(path.string() + ":4: load.durration: unknown key"), std::string::npos)
      << o.err;
}

TEST(CliTest, EmbeddedRunPrintsTheSeedTable) {
  const Outcome o = run_iolab(
      "run --variant threads:5 --workers 1 -c 20 -t 1 -d 2s --warmup 500ms "
      "--upstream-delay 50ms --wide");
  ASSERT_EQ(o.exit_code, 0) << o.err;
  std::istringstream table(o.out);
  std::string rule, header, rule2, row;
  std::getline(table, rule);
  std::getline(table, header);
  std::getline(table, rule2);
  std::getline(table, row);
  EXPECT_EQ(rule.find_first_not_of("= "), std::string::npos);
  std::istringstream h(header);
  std::vector<std::string> columns{std::istream_iterator<std::string>(h), {}};
  EXPECT_EQ(columns, (std::vector<std::string>{"variant", "min", "p50", "p99", "p99.9", "max",
                                               "mean", "duration", "requests", "rps", "errors",
                                               "bound%", "rss_mb", "cpu_s", "causes"}));
  EXPECT_EQ(row.rfind("threads:5 ", 0), 0u) << row;
}

TEST(CliTest, EmbeddedRunStaysWithinTheThreadsBound) {
  // threads:5 in one worker with a 50 ms upstream: at most 100 answers a second.
  const Outcome o = run_iolab(
      "run --variant threads:5 --workers 1 -c 20 -t 1 -d 2s --warmup 500ms "
      "--upstream-delay 50ms --format json");
  ASSERT_EQ(o.exit_code, 0) << o.err;
  const auto rows = nlohmann::json::parse(o.out);
  ASSERT_EQ(rows.size(), 1u);
  const double rps = rows[0]["rps"].get<double>();
  EXPECT_LE(rps, 100 * 1.02 + 5 / 2.0);
  EXPECT_GE(rps, 70.0);
  EXPECT_GE(rows[0]["latency_ms"]["min"].get<double>(), 50.0);
  EXPECT_EQ(rows[0]["errors"]["status"].get<int>(), 0);
}

TEST(CliTest, ExperimentRunsEveryVariantOfTheFile) {
  const auto path = std::filesystem::temp_directory_path() / "iolab_small_experiment.yaml";
  std::ofstream(path) << "name: small\nupstream: {delay: 20ms}\n"
                         "load: {connections: 10, threads: 1, duration: 1s, warmup: 200ms}\n"
                         "variants:\n  - {kind: threads, threads: [2, 4], workers: 1}\n";
  const Outcome o = run_iolab("experiment " + path.string() + " --format csv");
  std::filesystem::remove(path);
  ASSERT_EQ(o.exit_code, 0) << o.err;
  EXPECT_EQ(lines(o.out), 3u) << o.out;
  EXPECT_NE(o.out.find("\nthreads:2,"), std::string::npos) << o.out;
  EXPECT_NE(o.out.find("\nthreads:4,"), std::string::npos) << o.out;
}

}  // namespace
}  // namespace iolab
