#include "loadgen/engine.h"

#include <algorithm>

namespace iolab {

std::chrono::nanoseconds pacing_pause(uint64_t outstanding, uint64_t answers,
                                      std::chrono::nanoseconds elapsed) {
  // Below these a pause costs about what it saves: one timer wake-up for too few answers.
  constexpr uint64_t kMinOutstanding = 16;
  constexpr std::chrono::nanoseconds kMinPause = 10us;
  // Above it, a server that is not saturated would wait noticeably on the pauses.
  constexpr std::chrono::nanoseconds kMaxPause = 50us;
  // The pause is this fraction of the round trip, so that a server that is not saturated gets
  // its next request later by about half of 1/16 of a round trip on average.
  constexpr int64_t kRoundTripDivisor = 16;

  if (outstanding < kMinOutstanding || answers == 0 || elapsed.count() <= 0) return {};
  const std::chrono::nanoseconds per_answer = elapsed / static_cast<int64_t>(answers);
  // No pause unless at least one answer is due within the longest.
  if (per_answer > kMaxPause) return {};
  // Little's law: `outstanding` requests at `1 / per_answer` answers a second come back after
  // outstanding * per_answer.
  const std::chrono::nanoseconds round_trip = per_answer * static_cast<int64_t>(outstanding);
  return std::clamp(round_trip / kRoundTripDivisor, kMinPause, kMaxPause);
}

}  // namespace iolab
