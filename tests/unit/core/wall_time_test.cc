#include <gtest/gtest.h>

#include "core/duration.h"

namespace iolab {
namespace {

int64_t epoch_ns(std::string_view text) {
  const auto t = parse_wall_time(text);
  if (!t) return -1;
  return std::chrono::duration_cast<std::chrono::nanoseconds>(t->time_since_epoch()).count();
}

TEST(WallTimeTest, ReadsEpochSecondsAndRfc3339) {
  EXPECT_EQ(epoch_ns("1796000000"), 1'796'000'000'000'000'000);
  EXPECT_EQ(epoch_ns("1796000000.25"), 1'796'000'000'250'000'000);
  EXPECT_EQ(epoch_ns("2026-12-02T06:00:00Z"), 1'796'191'200'000'000'000);
  EXPECT_EQ(epoch_ns("2026-12-02T07:00:00.5+01:00"), 1'796'191'200'500'000'000);
  EXPECT_EQ(epoch_ns("2026-12-02T05:30:00-00:30"), 1'796'191'200'000'000'000);
  for (const char* bad :
       {"", "now", "1796000000.", "-5", "2026-12-02", "2026-12-02T06:00:00", "2026-13-02T06:00:00Z",
        "2026-12-02T06:00:00+1:00", "2026-12-02T25:00:00Z", "1796000000.1234567891"}) {
    EXPECT_EQ(epoch_ns(bad), -1) << bad;
  }
}

}  // namespace
}  // namespace iolab
