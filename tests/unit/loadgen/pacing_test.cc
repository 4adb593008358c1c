#include <gtest/gtest.h>

#include <chrono>

#include "loadgen/engine.h"

namespace iolab {
namespace {

using namespace std::chrono_literals;

TEST(PacingTest, IsASixteenthOfTheRoundTripAtNginxLikeRates) {
  // 50 in flight at 150k answers a second: a 333 us round trip, a 20.8 us pause.
  EXPECT_EQ(pacing_pause(50, 1500, 10ms), 333'300ns / 16);
}

TEST(PacingTest, NeverExceedsFiftyMicroseconds) {
  EXPECT_EQ(pacing_pause(400, 1500, 10ms), 50us);
}

TEST(PacingTest, NeverGoesBelowTenMicroseconds) {
  // 16 in flight at 160k a second: a 100 us round trip would give a 6.25 us pause.
  EXPECT_EQ(pacing_pause(16, 1600, 10ms), 10us);
}

TEST(PacingTest, BlocksWithFewRequestsInFlight) {
  EXPECT_EQ(pacing_pause(15, 1500, 10ms), 0ns);
  EXPECT_EQ(pacing_pause(1, 100000, 10ms), 0ns);
}

TEST(PacingTest, BlocksWhenAnswersComeSlowerThanOneInTheLongestPause) {
  // The seed experiment's rate: 4000 a second, one every 250 us.
  EXPECT_EQ(pacing_pause(400, 40, 10ms), 0ns);
  // One every 50 us still paces; one every 51 us does not.
  EXPECT_EQ(pacing_pause(400, 200, 10ms), 50us);
  EXPECT_EQ(pacing_pause(400, 196, 10ms), 0ns);
}

TEST(PacingTest, BlocksWithoutAnswersOrTime) {
  EXPECT_EQ(pacing_pause(400, 0, 10ms), 0ns);
  EXPECT_EQ(pacing_pause(400, 1500, 0ns), 0ns);
  EXPECT_EQ(pacing_pause(400, 1500, -1ms), 0ns);
}

}  // namespace
}  // namespace iolab
