// Fuzzes the experiment loader (lab/experiment.h): `iolab experiment FILE`, and the daemon's
// POST /api/v1/experiments (through api_requests_fuzz too).
//
// Input: the YAML text. The only documented refusal is ConfigError; anything else escapes and is
// a finding. Properties of an accepted experiment, as the runners rely on them: at least one
// variant, each of a kind that make_variant() builds with its name() parsing back, a point per
// variant with a path starting with '/', load and regression settings in range.

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <string>

#include "lab/experiment.h"
#include "tests/fuzz/fuzz_check.h"

using iolab::fuzz::check;

// libFuzzer's entry point: its name is fixed.
extern "C" int LLVMFuzzerTestOneInput(  // NOLINT(readability-identifier-naming)
    const uint8_t* data, size_t size) {
  const std::string text(reinterpret_cast<const char*>(data), size);
  iolab::ExperimentSpec spec;
  try {
    spec = iolab::parse_experiment(text, "fuzz.yaml");
  } catch (const iolab::ConfigError& e) {
    check(std::string(e.what()).rfind("fuzz.yaml", 0) == 0);
    return 0;
  }
  check(!spec.variants.empty() && spec.variants.size() == spec.points.size());
  const auto& kinds = iolab::variant_kinds();
  for (const auto& v : spec.variants) {
    check(std::find(kinds.begin(), kinds.end(), v.kind) != kinds.end());
    const auto back = iolab::parse_variant(v.name());
    check(back && back->kind == v.kind && back->threads == v.threads);
    check(v.workers >= 1 && v.workers <= 64 && v.pool_size >= 0);
  }
  for (const auto& p : spec.points) {
    check(!p.scenario.empty() || spec.name.empty());
    check(!p.path.empty() && p.path.front() == '/');
    check(p.rate >= 0 && p.rate <= 1e9);
  }
  check(!spec.path.empty() && spec.path.front() == '/');
  check(spec.load.connections >= 1 && spec.load.threads >= 1);
  check(spec.load.duration.count() > 0 && spec.load.warmup.count() >= 0 &&
        spec.load.timeout.count() > 0);
  check(spec.regression.min_nights >= 1 && spec.regression.min_nights <= spec.regression.window);
  check(spec.upstream.delay.count() > 0);
  return 0;
}
