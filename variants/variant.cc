#include "variants/variant.h"

#include <charconv>
#include <vector>

#include "core/errors.h"
#include "variants/async_variant.h"
#include "variants/fiber_variant.h"
#include "variants/threads_variant.h"

namespace iolab {

namespace {
constexpr int kMaxThreads = 10000;
}

std::string VariantSpec::name() const {
  return kind == "threads" ? kind + ":" + std::to_string(threads) : kind;
}

const std::vector<std::string>& variant_kinds() {
  static const std::vector<std::string> kinds{"async", "fiber", "fiber-blocking", "threads"};
  return kinds;
}

std::optional<VariantSpec> parse_variant(std::string_view text, std::string* error) {
  auto fail = [&](std::string reason) -> std::optional<VariantSpec> {
    if (error) *error = std::move(reason);
    return std::nullopt;
  };
  const size_t colon = text.find(':');
  VariantSpec spec;
  spec.kind = std::string(text.substr(0, colon));
  bool known = false;
  for (const auto& k : variant_kinds()) known = known || k == spec.kind;
  if (!known) {
    std::string list;
    for (const auto& k : variant_kinds()) list += (list.empty() ? "" : ", ") + k;
    return fail("unknown variant '" + std::string(text) + "' (known: " + list + ")");
  }
  if (spec.kind == "threads") {
    if (colon == std::string_view::npos) {
      return fail("variant 'threads' needs a pool size, as in threads:100");
    }
    const std::string_view n = text.substr(colon + 1);
    int threads = 0;
    const auto [end, ec] = std::from_chars(n.data(), n.data() + n.size(), threads);
    if (ec != std::errc() || end != n.data() + n.size() || threads < 1 || threads > kMaxThreads) {
      return fail("bad thread count in variant '" + std::string(text) + "' (1.." +
                  std::to_string(kMaxThreads) + ")");
    }
    spec.threads = threads;
  } else if (colon != std::string_view::npos) {
    return fail("variant '" + spec.kind + "' takes no parameter");
  }
  return spec;
}

std::unique_ptr<Variant> make_variant(const VariantSpec& spec, const UpstreamOptions& upstream) {
  if (spec.kind == "threads") return std::make_unique<ThreadsVariant>(spec.threads, upstream);
  if (spec.kind == "async") return std::make_unique<AsyncVariant>(upstream, spec.pool_size);
  if (spec.kind == "fiber" || spec.kind == "fiber-blocking") {
    return std::make_unique<FiberVariant>(upstream, spec.kind == "fiber-blocking",
                                          spec.stack_bytes);
  }
  throw StartError("unknown variant kind '" + spec.kind + "'");
}

}  // namespace iolab
