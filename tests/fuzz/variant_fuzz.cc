// Fuzzes the variant name parser (variants/variant.h): `iolab serve KIND`, `--variant`, the
// config's variant.default, experiment `kind` entries.
//
// Input: the text. Properties: a parsed spec names a known kind with a thread count in range,
// and its name() parses back to the same spec; a failure says why.

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "tests/fuzz/fuzz_check.h"
#include "variants/variant.h"

using iolab::fuzz::check;

// libFuzzer's entry point: its name is fixed.
extern "C" int LLVMFuzzerTestOneInput(  // NOLINT(readability-identifier-naming)
    const uint8_t* data, size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  std::string error;
  const auto spec = iolab::parse_variant(text, &error);
  if (!spec) {
    check(!error.empty());
    return 0;
  }
  const auto& kinds = iolab::variant_kinds();
  check(std::find(kinds.begin(), kinds.end(), spec->kind) != kinds.end());
  check(spec->threads >= 1 && spec->threads <= 10000);
  const auto back = iolab::parse_variant(spec->name());
  check(back && back->kind == spec->kind && back->threads == spec->threads);
  return 0;
}
