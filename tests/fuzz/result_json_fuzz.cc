// Fuzzes the readers of stored results (lab/result_json.h): the run store's JSON is read back
// for reports, history and regressions, and may come from an older or damaged database.
//
// Input: JSON text (not JSON: nothing to do). The only documented refusal is ResultJsonError;
// anything else escapes and is a finding. Property: what is accepted writes back as JSON that
// reads again into the same thing (histogram_to_json(histogram_from_json(j)) is a fixed point,
// and so are the spec and the whole result).

#include <cstddef>
#include <cstdint>
#include <string>

#include <nlohmann/json.hpp>

#include "lab/result_json.h"
#include "tests/fuzz/fuzz_check.h"

using iolab::fuzz::check;

namespace {

using nlohmann::json;

template <typename Read, typename Write>
void fixed_point(const json& j, Read read, Write write) {
  json once;
  try {
    once = write(read(j));
  } catch (const iolab::ResultJsonError&) {
    return;
  }
  // What was written must read back: no ResultJsonError from here on.
  const json twice = write(read(once));
  check(once == twice);
}

}  // namespace

// libFuzzer's entry point: its name is fixed.
extern "C" int LLVMFuzzerTestOneInput(  // NOLINT(readability-identifier-naming)
    const uint8_t* data, size_t size) {
  const json j = json::parse(data, data + size, nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded()) return 0;
  fixed_point(
      j, [](const json& x) { return iolab::histogram_from_json(x); },
      [](const iolab::LatencyHistogram& h) { return iolab::histogram_to_json(h); });
  fixed_point(
      j, [](const json& x) { return iolab::spec_from_json(x); },
      [](const iolab::LoadSpec& s) { return iolab::spec_to_json(s); });
  fixed_point(
      j, [](const json& x) { return iolab::result_from_json(x); },
      [](const iolab::LoadResult& r) { return iolab::result_to_json(r); });
  return 0;
}
