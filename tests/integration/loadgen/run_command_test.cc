// `iolab run` with the load engine's flags, as a user runs it: bounded in time and output.
#include <gtest/gtest.h>
#include <httplib.h>
#include <sys/wait.h>

#include <atomic>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string>
#include <thread>

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

TEST(RunCommandTest, ALatencyEndsWhenTheAnswerArrivesNotWhenTheEngineReadsIt) {
  // The answer comes 1 s after the request, while the whole iolab process is stopped (SIGSTOP
  // from 0.3 s to 2 s): the engine reads it about 1 s late. The kernel's receive timestamp
  // still says when it arrived.
  UpstreamStub stub(StubProfile{.delay = 1s});
  const int port = stub.start(Endpoint{"127.0.0.1", 0});
  const auto out = std::filesystem::temp_directory_path() /
                   ("iolab_stopped_run_" + std::to_string(::getpid()) + ".json");
  const std::string cmd = "ulimit -f 10240; timeout -s KILL 60 " + std::string(IOLAB_BINARY) +
                          " run --target http://127.0.0.1:" + std::to_string(port) +
                          "/ -c 1 -t 1 -n 1 -d 10s --warmup 0s --format json >" + out.string() +
                          " 2>/dev/null </dev/null & p=$!; sleep 0.3; pkill -STOP -P $p; sleep 1.7;"
                          " pkill -CONT -P $p; wait $p";  // $p is timeout; iolab its child.
  const int status = std::system(cmd.c_str());
  stub.stop();
  const std::string text = slurp(out);
  std::filesystem::remove(out);
  ASSERT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << status << "\n" << text;
  const auto r = nlohmann::json::parse(text)[0];
  ASSERT_EQ(r["requests"], 1) << text;
  const double ms = r["latency_ms"]["max"].get<double>();
  EXPECT_GE(ms, 1000.0) << text;
  EXPECT_LE(ms, 1100.0) << "read time rather than arrival time?\n" << text;
}

}  // namespace
}  // namespace iolab
