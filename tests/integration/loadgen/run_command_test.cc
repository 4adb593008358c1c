// `iolab run` with the load engine's flags, as a user runs it: bounded in time and output.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <httplib.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "tests/integration/loadgen/test_servers.h"
#include "tests/integration/run_iolab.h"
#include "variants/stub.h"

namespace iolab {
namespace {

using namespace iolab::testing;

Outcome iolab_run(const std::string& args) { return run_iolab("run " + args); }

TEST(RunCommandTest, BadLoadFlagsAreUsageErrorsNamingTheFlag) {
  const std::pair<const char*, const char*> cases[] = {
      {"--target http://127.0.0.1:1/ --rate 10 --pipeline 2", "--pipeline"},
      {"--target http://127.0.0.1:1/ --pipeline 0", "--pipeline"},
      {"--target http://127.0.0.1:1/ --rate -5", "--rate"},
      {"--target http://127.0.0.1:1/ -H NoColon", "NoColon"},
      {"--target http://127.0.0.1:1/ -m 'GE T'", "method"},
      {"--target http://127.0.0.1:1/ --body @/nonexistent/body", "/nonexistent/body"},
      {"--target ftp://127.0.0.1:1/", "http://"},
  };
  for (const auto& [args, names] : cases) {
    const Outcome o = iolab_run(args);
    EXPECT_EQ(o.exit_code, 2) << args << "\n" << o.err;
    EXPECT_NE(o.err.find(names), std::string::npos) << args << "\n" << o.err;
    EXPECT_EQ(std::count(o.err.begin(), o.err.end(), '\n'), 1) << args << "\n" << o.err;
  }
}

TEST(RunCommandTest, AnOpenLoopPostRunPrintsTheWholeResultAsJson) {
  httplib::Server server;
  server.set_tcp_nodelay(true);
  server.set_keep_alive_max_count(1'000'000);
  std::atomic<uint64_t> good{0};
  server.Post("/in", [&](const httplib::Request& req, httplib::Response& res) {
    if (req.body == "from a file\n" && req.get_header_value("X-Run") == "1") good.fetch_add(1);
    res.set_content("ok", "text/plain");
  });
  const int port = server.bind_to_any_port("127.0.0.1");
  std::jthread thread([&] { server.listen_after_bind(); });
  ASSERT_TRUE(wait_for([&] { return server.is_running(); }));
  const auto body = std::filesystem::temp_directory_path() / "iolab_run_body.txt";
  std::ofstream(body) << "from a file\n";

  const Outcome o = iolab_run("--target http://127.0.0.1:" + std::to_string(port) +
                              "/in -m POST -H 'X-Run: 1' --body @" + body.string() +
                              " -c 4 -t 2 -d 2s --warmup 0s --rate 100 --format json");
  server.stop();
  std::filesystem::remove(body);
  ASSERT_EQ(o.exit_code, 0) << o.err;
  const auto rows = nlohmann::json::parse(o.out);
  ASSERT_EQ(rows.size(), 1u);
  const auto& r = rows[0];
  EXPECT_GE(r["requests"].get<uint64_t>(), 196u);
  EXPECT_LE(r["requests"].get<uint64_t>(), 201u);
  EXPECT_EQ(r["errors"]["total"], 0);
  EXPECT_EQ(r["spec"]["method"], "POST");
  EXPECT_EQ(r["spec"]["headers"], nlohmann::json::array({"X-Run: 1"}));
  EXPECT_EQ(r["rate"]["requested"], 100.0);
  EXPECT_EQ(r["latency"]["count"], r["requests"]);
  EXPECT_EQ(r["uncorrected"]["count"], r["requests"]);
  EXPECT_EQ(r["timeline"].size(), 2u);
  EXPECT_GE(good.load(), r["requests"].get<uint64_t>());
  // Progress: one line a second on stderr, since it is not a terminal.
  EXPECT_NE(o.err.find("1s/2s"), std::string::npos) << o.err;
  EXPECT_NE(o.err.find("2s/2s"), std::string::npos) << o.err;
  EXPECT_EQ(std::count(o.err.begin(), o.err.end(), '\n'), 2) << o.err;
}

TEST(RunCommandTest, ThePipelinedClosedLoopKeepsTheSeedTable) {
  RawServer server([](int fd) {
    RawServer::send_all(fd, "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok");
    return true;
  });
  const Outcome o = iolab_run("--target http://127.0.0.1:" + std::to_string(server.port()) +
                              "/ -c 2 -t 1 -d 1s --warmup 0s --pipeline 4 -n 400");
  ASSERT_EQ(o.exit_code, 0) << o.err;
  EXPECT_EQ(o.out.rfind("=====", 0), 0u) << o.out;
  EXPECT_NE(o.out.find("variant"), std::string::npos) << o.out;
  EXPECT_NE(o.out.find(" 400\n"), std::string::npos) << o.out;
  EXPECT_EQ(server.requests(), 400u);
}

int64_t monotonic_ns() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(
             Clock::now().time_since_epoch())
      .count();
}

// `iolab ARGS` as a child of this process, its output in `out`: the test can stop and continue it
// and learn from waitpid when it has stopped. Killed when the test ends early.
class IolabChild {
 public:
  IolabChild(const std::vector<std::string>& args, const std::filesystem::path& out) {
    pid_ = ::fork();
    if (pid_ != 0) return;
    const rlimit file_size{10 << 20, 10 << 20};  // A runaway cannot fill the disk.
    ::setrlimit(RLIMIT_FSIZE, &file_size);
    const int out_fd = ::open(out.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    const int null_fd = ::open("/dev/null", O_RDWR | O_CLOEXEC);
    ::dup2(null_fd, 0);
    ::dup2(out_fd, 1);
    ::dup2(null_fd, 2);
    std::vector<char*> argv{const_cast<char*>(IOLAB_BINARY)};
    for (const std::string& a : args) argv.push_back(const_cast<char*>(a.c_str()));
    argv.push_back(nullptr);
    ::execv(IOLAB_BINARY, argv.data());
    ::_exit(127);
  }
  ~IolabChild() {
    if (pid_ <= 0 || exited_) return;
    ::kill(pid_, SIGKILL);
    ::kill(pid_, SIGCONT);
    ::waitpid(pid_, nullptr, 0);
  }
  pid_t pid() const { return pid_; }
  /// Blocks until the whole process (every thread) has stopped; false if it ended instead.
  bool wait_stopped() const {
    int status = 0;
    return ::waitpid(pid_, &status, WUNTRACED) == pid_ && WIFSTOPPED(status);
  }
  /// The exit status once it exits within `limit`; -1 if it has not (it is then killed).
  int wait_exit(std::chrono::milliseconds limit) {
    int status = 0;
    const bool ended = wait_for([&] { return ::waitpid(pid_, &status, WNOHANG) == pid_; }, limit);
    if (!ended) return -1;
    exited_ = true;
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  }

 private:
  pid_t pid_ = -1;
  bool exited_ = false;
};

TEST(RunCommandTest, ALatencyEndsWhenTheAnswerArrivesNotWhenTheEngineReadsIt) {
  // The server answers only once the whole iolab process is stopped (SIGSTOP, seen by
  // waitpid), and iolab goes on a second after the answer has arrived: the engine reads the
  // answer at least a second late. The kernel's receive timestamp still says when it arrived.
  constexpr auto kHeld = 1s;
  std::atomic<bool> stopped{false};
  std::atomic<int64_t> seen_ns{0};
  std::atomic<int64_t> answering_ns{0};
  std::atomic<int64_t> answered_ns{0};
  RawServer server([&](int fd) {
    seen_ns = monotonic_ns();
    if (!wait_for([&] { return stopped.load(); }, 60s)) return false;
    answering_ns = monotonic_ns();
    RawServer::send_all(fd, "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok");
    answered_ns = monotonic_ns();
    return true;
  });
  const auto out = std::filesystem::temp_directory_path() /
                   ("iolab_stopped_run_" + std::to_string(::getpid()) + ".json");
  IolabChild iolab({"run", "--target", "http://127.0.0.1:" + std::to_string(server.port()) + "/",
                    "-c", "1", "-t", "1", "-n", "1", "-d", "120s", "--warmup", "0s", "--timeout",
                    "120s", "--format", "json"},
                   out);
  ASSERT_GT(iolab.pid(), 0);
  ASSERT_TRUE(wait_for([&] { return seen_ns.load() != 0; }, 60s)) << "no request in 60 s";
  ASSERT_EQ(::kill(iolab.pid(), SIGSTOP), 0);
  ASSERT_TRUE(iolab.wait_stopped());
  stopped = true;
  ASSERT_TRUE(wait_for([&] { return answered_ns.load() != 0; }, 60s)) << "no answer in 60 s";
  std::this_thread::sleep_for(kHeld);  // The lateness to read the answer with: not an ordering.
  const int64_t continued_ns = monotonic_ns();
  ASSERT_EQ(::kill(iolab.pid(), SIGCONT), 0);
  const int exit_code = iolab.wait_exit(120s);
  const std::string text = slurp(out);
  std::filesystem::remove(out);
  ASSERT_EQ(exit_code, 0) << text;
  const auto r = nlohmann::json::parse(text)[0];
  ASSERT_EQ(r["requests"], 1) << text;
  const double ms = r["latency_ms"]["max"].get<double>();
  // The request left before the server saw it and the answer arrived after it was sent.
  EXPECT_GE(ms, static_cast<double>(answering_ns - seen_ns) / 1e6) << text;
  // Read time is at least `continued - seen`; the arrival is kHeld earlier than that, less the
  // time the request took to reach the server.
  EXPECT_LT(ms, static_cast<double>(continued_ns - seen_ns) / 1e6)
      << "read time rather than arrival time?\n"
      << text;
}

}  // namespace
}  // namespace iolab
