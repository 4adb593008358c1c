// Experiments as large as a body can make them: the daemon refuses or holds them within
// 64 MiB, and answers for them afterwards.
#include <gtest/gtest.h>

#include <sstream>

#include "tests/hostile/hostile.h"

namespace iolab::hostile {
namespace {

constexpr uint64_t kBound = 64ull << 20;

// An experiment of `n` threads rows (threads: [1, 2, …, n]), each a 1 s run.
std::string experiment(int n) {
  std::ostringstream out;
  out << "name: big\nload: {connections: 1, threads: 1, duration: 1s}\n"
      << "variants:\n  - kind: threads\n    threads: [";
  for (int i = 1; i <= n; ++i) out << (i > 1 ? "," : "") << (i % 1000 + 1);
  out << "]\n";
  return out.str();
}

uint64_t mib(uint64_t bytes) { return bytes >> 20; }

TEST(ExperimentSizeTest, TenThousandVariantsAreRefusedOrHeldWithin64MiBAndTheDaemonAnswers) {
  HostileDaemon daemon("experiment_size", "upstream: {profile: {delay: 1ms}}\n");
  const uint16_t port = daemon.port();
  ASSERT_NE(port, 0) << daemon.process().err();
  const pid_t pid = daemon.process().pid();
  ApiClient api(port);
  ASSERT_EQ(api.get("/healthz").status, 200);
  const uint64_t before = rss_bytes(pid);

  const std::string body = experiment(10000);
  const auto r = api.call("POST", "/api/v1/experiments", body, "application/yaml");
  const uint64_t after = rss_bytes(pid);
  std::cout << "10,000 variants (" << body.size() << " bytes): " << r.status << ", RSS "
            << mib(before) << " -> " << mib(after) << " MiB\n";
  ASSERT_TRUE(alive(pid)) << daemon.process().err();
  EXPECT_TRUE(r.status == 422 || r.status == 201) << r.status << " " << r.text.substr(0, 300);
  EXPECT_LT(after, before + kBound);
  if (r.status == 201) {
    const auto shown = api.get(r.location);
    EXPECT_EQ(shown.status, 200);
    EXPECT_LT(rss_bytes(pid), before + kBound);
  }
  EXPECT_EQ(api.get("/healthz").status, 200);
}

TEST(ExperimentSizeTest, AWholeMebibyteOfVariantsIsRefusedOrHeldWithin64MiB) {
  HostileDaemon daemon("experiment_mib", "upstream: {profile: {delay: 1ms}}\n");
  const uint16_t port = daemon.port();
  ASSERT_NE(port, 0) << daemon.process().err();
  const pid_t pid = daemon.process().pid();
  ApiClient api(port);
  ASSERT_EQ(api.get("/healthz").status, 200);
  const uint64_t before = rss_bytes(pid);

  // threads: [1,1,1,…] up to the 1 MiB a body may hold: some 520,000 rows.
  std::string body =
      "name: big\nload: {connections: 1, duration: 1s}\nvariants:\n"
      "  - kind: threads\n    threads: [1";
  while (body.size() < (1u << 20) - 8) body += ",1";
  body += "]\n";
  const auto r = api.call("POST", "/api/v1/experiments", body, "application/yaml");
  const uint64_t after = rss_bytes(pid);
  std::cout << "a 1 MiB list of variants: " << r.status << ", RSS " << mib(before) << " -> "
            << mib(after) << " MiB\n";
  ASSERT_TRUE(alive(pid)) << daemon.process().err();
  EXPECT_EQ(r.status, 422) << r.text.substr(0, 300);
  EXPECT_LT(after, before + kBound);
  EXPECT_EQ(api.get("/healthz").status, 200);
}

TEST(ExperimentSizeTest, TheLargestExperimentAllowedIsHeldWithin64MiBAndShown) {
  HostileDaemon daemon("experiment_largest", "upstream: {profile: {delay: 1ms}}\n");
  const uint16_t port = daemon.port();
  ASSERT_NE(port, 0) << daemon.process().err();
  const pid_t pid = daemon.process().pid();
  ApiClient api(port);
  ASSERT_EQ(api.get("/healthz").status, 200);
  const uint64_t before = rss_bytes(pid);

  // 1000 rows: the most one experiment may queue.
  const auto r = api.call("POST", "/api/v1/experiments", experiment(1000), "application/yaml");
  ASSERT_EQ(r.status, 201) << r.text.substr(0, 300);
  const auto shown = api.get(r.location);
  const uint64_t after = rss_bytes(pid);
  std::cout << "1000 variants: RSS " << mib(before) << " -> " << mib(after) << " MiB\n";
  ASSERT_TRUE(alive(pid)) << daemon.process().err();
  EXPECT_EQ(shown.status, 200);
  EXPECT_EQ(shown.body["runs"].size(), 1000u);
  EXPECT_LT(after, before + kBound);
}

}  // namespace
}  // namespace iolab::hostile
