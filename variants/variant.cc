#include "variants/variant.h"

#include <charconv>
#include <vector>

#include "core/errors.h"
#include "variants/async_variant.h"
#include "variants/fiber_variant.h"
#include "variants/net.h"
#include "variants/threads_variant.h"

namespace iolab {

uint16_t Variant::start(const Endpoint& listen) {
  return serve(open_listener(listen, /*reuse_port=*/true));
}

std::string_view accept_mode_name(AcceptMode mode) {
  return mode == AcceptMode::kShared ? "shared" : "reuseport";
}

std::optional<AcceptMode> parse_accept_mode(std::string_view text) {
  if (text == "shared") return AcceptMode::kShared;
  if (text == "reuseport") return AcceptMode::kReusePort;
  return std::nullopt;
}

std::string VariantSpec::name() const {
  std::string label = kind == "threads" ? kind + ":" + std::to_string(threads) : kind;
  if (accept != AcceptMode::kShared) label += "/" + std::string(accept_mode_name(accept));
  return label;
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
  VariantSpec spec;
  if (const size_t slash = text.find('/'); slash != std::string_view::npos) {
    const auto mode = parse_accept_mode(text.substr(slash + 1));
    if (!mode) {
      return fail("unknown accept mode in variant '" + std::string(text) +
                  "' (known: shared, reuseport)");
    }
    spec.accept = *mode;
    text = text.substr(0, slash);
  }
  const size_t colon = text.find(':');
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
    int64_t threads = 0;
    const auto [end, ec] = std::from_chars(n.data(), n.data() + n.size(), threads);
    if (ec != std::errc() || end != n.data() + n.size() ||
        VariantLimits::check(spec.kind, VariantField::kThreads, threads)) {
      const auto range = VariantLimits::range(VariantField::kThreads);
      return fail("bad thread count in variant '" + std::string(text) + "' (" +
                  std::to_string(range.min) + ".." + std::to_string(range.max) + ")");
    }
    spec.threads = static_cast<int>(threads);
  } else if (colon != std::string_view::npos) {
    return fail("variant '" + spec.kind + "' takes no parameter");
  }
  return spec;
}

std::string_view variant_field_name(VariantField field) {
  switch (field) {
    case VariantField::kThreads:
      return "threads";
    case VariantField::kWorkers:
      return "workers";
    case VariantField::kPoolSize:
      return "pool_size";
    case VariantField::kStackBytes:
      return "stack_bytes";
  }
  return "?";
}

std::string VariantLimitError::to_string() const {
  if (reason == Reason::kNotApplicable) return message;
  return std::string(variant_field_name(field)) + " " + message;
}

VariantLimits::Range VariantLimits::range(VariantField field) {
  switch (field) {
    case VariantField::kThreads:
      return kThreads;
    case VariantField::kWorkers:
      return kWorkers;
    case VariantField::kPoolSize:
      return kPoolSize;
    case VariantField::kStackBytes:
      return kStackBytes;
  }
  return {0, -1};
}

bool VariantLimits::applies(std::string_view kind, VariantField field) {
  switch (field) {
    case VariantField::kThreads:
      return kind == "threads";
    case VariantField::kWorkers:
      return true;
    case VariantField::kPoolSize:
      return kind == "async";
    case VariantField::kStackBytes:
      return kind.starts_with("fiber");
  }
  return false;
}

std::optional<VariantLimitError> VariantLimits::check(std::string_view kind, VariantField field,
                                                      int64_t value) {
  using Reason = VariantLimitError::Reason;
  if (!applies(kind, field)) {
    std::string message;
    switch (field) {
      case VariantField::kThreads:
        message = "only kind 'threads' takes threads";
        break;
      case VariantField::kPoolSize:
        message = "only kind 'async' has a pool";
        break;
      case VariantField::kStackBytes:
        message = "only fiber kinds have stacks";
        break;
      case VariantField::kWorkers:
        break;
    }
    return VariantLimitError{field, Reason::kNotApplicable, value, 0, 0, std::move(message)};
  }
  const Range r = range(field);
  if (value >= r.min && value <= r.max) return std::nullopt;
  return VariantLimitError{field,
                           Reason::kOutOfRange,
                           value,
                           r.min,
                           r.max,
                           "must be between " + std::to_string(r.min) + " and " +
                               std::to_string(r.max) + ", got " + std::to_string(value)};
}

std::optional<VariantLimitError> VariantLimits::check(const VariantSpec& spec) {
  const VariantSpec defaults;
  const struct {
    VariantField field;
    int64_t value;
    int64_t default_value;
  } fields[] = {
      {VariantField::kThreads, spec.threads, defaults.threads},
      {VariantField::kWorkers, spec.workers, defaults.workers},
      {VariantField::kPoolSize, spec.pool_size, defaults.pool_size},
      {VariantField::kStackBytes, static_cast<int64_t>(spec.stack_bytes),
       static_cast<int64_t>(defaults.stack_bytes)},
  };
  for (const auto& f : fields) {
    if (!applies(spec.kind, f.field) && f.value == f.default_value) continue;
    if (auto error = check(spec.kind, f.field, f.value)) return error;
  }
  return std::nullopt;
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
