// Clients that make up names: ad-hoc runs to ever new URLs, variants of ever new sizes. The
// scrape and the descriptors the daemon holds for them stop growing.
#include <gtest/gtest.h>

#include <algorithm>

#include "tests/hostile/hostile.h"

namespace iolab::hostile {
namespace {

size_t lines(const std::string& text) {
  return static_cast<size_t>(std::count(text.begin(), text.end(), '\n'));
}

// Posts `n` runs to URLs no run used before (a closed port each, a path each) and waits for the
// last to end; returns the scrape's line count then.
size_t runs_to_new_urls(ApiClient& api, pid_t pid, int from, int n) {
  int64_t last = 0;
  for (int i = from; i < from + n; ++i) {
    const auto r = api.post("/api/v1/runs",
                            {{"target", "http://127.0.0.1:" + std::to_string(20000 + i) + "/p" +
                                            std::to_string(i) + "?q=" + std::to_string(i)},
                             {"connections", 1},
                             {"threads", 1},
                             {"duration", "1ms"}});
    EXPECT_EQ(r.status, 201) << r.text;
    if (r.status != 201) return 0;
    last = r.body["id"].get<int64_t>();
  }
  EXPECT_FALSE(wait_final(api, pid, last, 120s).is_null());
  return lines(api.get("/metrics").text);
}

TEST(MetricsBoundsTest, FiveHundredAdhocRunsToDistinctUrlsLeaveTheScrapeNoLonger) {
  HostileDaemon daemon("metrics_urls");
  const uint16_t port = daemon.port();
  ASSERT_NE(port, 0) << daemon.process().err();
  const pid_t pid = daemon.process().pid();
  ApiClient api(port);

  const size_t after_100 = runs_to_new_urls(api, pid, 0, 100);
  const size_t after_500 = runs_to_new_urls(api, pid, 100, 400);
  const std::string scrape = api.get("/metrics").text;
  std::cout << "/metrics: " << after_100 << " lines after 100 runs, " << after_500
            << " after 500\n";
  EXPECT_GT(after_100, 0u);
  EXPECT_LE(after_500, after_100);
  // Labels name a host and port, never a URL.
  EXPECT_EQ(scrape.find("target=\"http"), std::string::npos);
  EXPECT_EQ(scrape.find("/p1"), std::string::npos);
}

TEST(MetricsBoundsTest, EightyVariantSizesLeaveTheScrapeAndTheDescriptorsBounded) {
  HostileDaemon daemon("metrics_variants", "upstream: {profile: {delay: 1ms}}\n");
  const uint16_t port = daemon.port();
  ASSERT_NE(port, 0) << daemon.process().err();
  const pid_t pid = daemon.process().pid();
  ApiClient api(port);

  const auto switch_through = [&](int from, int to) {
    for (int threads = from; threads < to; ++threads) {
      const auto r =
          api.put("/api/v1/variant", {{"kind", "threads"}, {"threads", threads}, {"workers", 1}});
      EXPECT_EQ(r.status, 200) << r.text;
    }
    return std::pair{lines(api.get("/metrics").text), open_descriptors(pid)};
  };
  const auto [lines_40, fds_40] = switch_through(1, 41);
  const auto [lines_80, fds_80] = switch_through(41, 81);
  std::cout << "after 40 variant sizes: " << lines_40 << " lines, " << fds_40
            << " descriptors; after 80: " << lines_80 << " lines, " << fds_80 << "\n";
  EXPECT_LE(lines_80, lines_40);
  // A few descriptors of slack: the API's own connections come and go.
  EXPECT_LE(fds_80, fds_40 + 8);
}

}  // namespace
}  // namespace iolab::hostile
