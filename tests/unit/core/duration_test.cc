#include "core/duration.h"

#include <gtest/gtest.h>

namespace iolab {
namespace {

using namespace std::chrono_literals;

TEST(DurationTest, ParsesEveryUnit) {
  EXPECT_EQ(parse_duration("250ns"), 250ns);
  EXPECT_EQ(parse_duration("100us"), 100us);
  EXPECT_EQ(parse_duration("500ms"), 500ms);
  EXPECT_EQ(parse_duration("20s"), 20s);
  EXPECT_EQ(parse_duration("5m"), 5min);
  EXPECT_EQ(parse_duration("1h"), 1h);
  EXPECT_EQ(parse_duration("1.5s"), 1500ms);
  EXPECT_EQ(parse_duration("0s"), 0s);
}

TEST(DurationTest, RejectsMalformedText) {
  for (const char* bad :
       {"", "5", "ms", "5x", "-5s", "5 s", "1.s", ".5s", "5ss", "1e3s", "99999999999999h"}) {
    EXPECT_FALSE(parse_duration(bad).has_value()) << bad;
  }
}

TEST(DurationTest, FormatsWithTheLargestWholeUnit) {
  EXPECT_EQ(format_duration(100ms), "100ms");
  EXPECT_EQ(format_duration(2s), "2s");
  EXPECT_EQ(format_duration(1500us), "1500us");
  EXPECT_EQ(format_duration(5min), "5m");
  EXPECT_EQ(format_duration(0s), "0s");
}

// Found by duration_fuzz: whole numbers went through a double, so past 2^53 ns a duration came
// back a few nanoseconds off and format_duration() did not round-trip.
TEST(DurationTest, WholeNumbersParseExactly) {
  EXPECT_EQ(parse_duration("9007199254740993ns"), std::chrono::nanoseconds(9007199254740993));
  const std::chrono::nanoseconds odd(8'999'999'999'999'999'999);
  EXPECT_EQ(parse_duration(format_duration(odd)), odd);
  EXPECT_EQ(parse_duration("2500000h"), std::chrono::nanoseconds(9'000'000'000'000'000'000));
  EXPECT_FALSE(parse_duration("9000000000000000001ns").has_value());
  EXPECT_FALSE(parse_duration("2500001h").has_value());
  EXPECT_FALSE(parse_duration("18446744073709551616ns").has_value());
}

}  // namespace
}  // namespace iolab
