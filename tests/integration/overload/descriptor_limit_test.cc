// Overload: a run that asks for more connections than its descriptors allow fails up
// front with the reason, before any stub, worker or load starts.
#include <gtest/gtest.h>

#include <chrono>
#include <string>

#include "tests/integration/run_iolab.h"

namespace iolab {
namespace {

using testing::run_iolab;
using Clock = std::chrono::steady_clock;

constexpr int kLimit = 2000;

TEST(DescriptorLimitTest, EngineAloneRefusesMoreConnectionsThanItsLimit) {
  const auto started = Clock::now();
  const auto o = run_iolab("run --target http://127.0.0.1:9/ -c 2500 -d 1s", kLimit);
  EXPECT_EQ(o.exit_code, 1) << o.err;
  EXPECT_NE(o.err.find("connections: 2500 need 2564 open files"), std::string::npos) << o.err;
  EXPECT_NE(o.err.find("RLIMIT_NOFILE allows 2000"), std::string::npos) << o.err;
  EXPECT_EQ(o.out, "") << "no table for a run that never started";
  EXPECT_LT(Clock::now() - started, std::chrono::seconds(60)) << "refused before any load";
}

TEST(DescriptorLimitTest, EmbeddedRunCountsTheStubsSideInItsProcess) {
  // 1200 load sockets fit in 2000; with the stub's ends of 1200 upstream connections they do not.
  const auto o = run_iolab("run --variant async --workers 2 -c 1200 -d 1s", kLimit);
  EXPECT_EQ(o.exit_code, 1) << o.err;
  EXPECT_NE(o.err.find("connections: 1200 need 2464 open files in this process (1200 for the "
                       "load, 1200 for the upstream stub's side, 64 spare)"),
            std::string::npos)
      << o.err;
  EXPECT_EQ(o.out, "");
}

TEST(DescriptorLimitTest, EmbeddedRunCountsAWorkersShare) {
  // threads:10 keeps 10 upstream connections: the process fits, one worker holding 1700 does not.
  const auto o = run_iolab("run --variant threads:10 --workers 1 -c 1700 -d 1s", kLimit);
  EXPECT_EQ(o.exit_code, 1) << o.err;
  EXPECT_NE(o.err.find("connections: 1700 over 1 worker(s) need up to 2199 open files in a worker"),
            std::string::npos)
      << o.err;
  EXPECT_EQ(o.out, "");
}

TEST(DescriptorLimitTest, AFittingRunStillRuns) {
  const auto o = run_iolab(
      "run --variant threads:10 --workers 2 -c 1000 -d 1s --warmup 0s --upstream-delay "
      "10ms --format csv",
      kLimit);
  EXPECT_EQ(o.exit_code, 0) << o.err;
  EXPECT_NE(o.out.find("threads:10"), std::string::npos) << o.out;
}

}  // namespace
}  // namespace iolab
