// Fuzzes the duration parser (core/duration.h) that reads `?delay=` on the stub, durations in
// the config and experiment files, the REST bodies and stored run specs.
//
// Input: the text. Properties: a parsed duration is in [0, 9e18] ns, and format_duration() of it
// parses back to the same duration; the same round trip holds for the duration made of the
// input's first 8 bytes (every whole duration format_duration() can write).

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <string>
#include <string_view>

#include "core/duration.h"
#include "tests/fuzz/fuzz_check.h"

using iolab::fuzz::check;

namespace {

constexpr int64_t kMaxNs = 9'000'000'000'000'000'000;

void round_trip(std::chrono::nanoseconds d) {
  const std::string text = iolab::format_duration(d);
  const auto back = iolab::parse_duration(text);
  check(back.has_value() && *back == d);
}

}  // namespace

// libFuzzer's entry point: its name is fixed.
extern "C" int LLVMFuzzerTestOneInput(  // NOLINT(readability-identifier-naming)
    const uint8_t* data, size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  if (const auto d = iolab::parse_duration(text)) {
    check(d->count() >= 0 && d->count() <= kMaxNs);
    round_trip(*d);
  }
  if (size >= 8) {
    uint64_t bits = 0;
    std::memcpy(&bits, data, sizeof bits);
    round_trip(std::chrono::nanoseconds(static_cast<int64_t>(bits % (kMaxNs + 1))));
  }
  return 0;
}
