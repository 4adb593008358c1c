#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/endpoint.h"
#include "variants/server_stats.h"

namespace iolab {

using namespace std::chrono_literals;

/// How a variant's worker processes get their connections.
enum class AcceptMode : uint8_t {
  /// One listening socket, opened by the supervisor, that every worker accepts from: an idle
  /// worker takes the next connection (gunicorn's and nginx's way, without reuseport).
  kShared,
  /// Each worker binds its own socket with SO_REUSEPORT: the kernel hashes each connection to a
  /// worker, whatever its load.
  kReusePort,
};

/// "shared" or "reuseport".
std::string_view accept_mode_name(AcceptMode mode);
/// The mode `text` names, or nullopt.
std::optional<AcceptMode> parse_accept_mode(std::string_view text);

/// Which concurrency model, and its size. Written as "threads:100", "async", ...; with
/// "/reuseport" after it for AcceptMode::kReusePort ("threads:100/reuseport").
struct VariantSpec {
  std::string kind = "threads";  ///< One of variant_kinds().
  int threads = 10;              ///< Pool size, for kind "threads".
  int workers = 2;               ///< Worker processes sharing the port.
  int pool_size = 0;             ///< Upstream connections per worker, for kind "async"; 0: no cap.
  size_t stack_bytes = 64 * 1024;  ///< Stack of each fiber, for kinds "fiber" and "fiber-blocking".
  AcceptMode accept = AcceptMode::kShared;  ///< How the workers get their connections.

  /// The label used in tables and metrics: "threads:100", "async", "async/reuseport".
  std::string name() const;
};

/// The kinds this build can run.
const std::vector<std::string>& variant_kinds();

/// A sized field of VariantSpec.
enum class VariantField : uint8_t { kThreads, kWorkers, kPoolSize, kStackBytes };

/// The field's name as VariantSpec, the REST body and experiment files spell it: "pool_size".
std::string_view variant_field_name(VariantField field);

/// What is wrong with one field of a VariantSpec. A value, never thrown: callers at the edges
/// turn it into their own error (a usage error naming the flag, a REST 422, a config error with
/// file:line).
struct VariantLimitError {
  enum class Reason : uint8_t {
    kOutOfRange,     ///< The value is outside [min, max].
    kNotApplicable,  ///< The kind takes no such field (a pool on "fiber", threads on "async").
  };
  VariantField field;
  Reason reason;
  int64_t value = 0;  ///< The value given.
  int64_t min = 0;    ///< The allowed range, for kOutOfRange.
  int64_t max = 0;
  /// Why, without the field's name, so that a caller can put its own name first (a flag, a YAML
  /// key): "must be between 1 and 10000, got 0", "only kind 'async' has a pool".
  std::string message;

  /// The field's name and the reason: "threads must be between 1 and 10000, got 0" (a
  /// not-applicable message already names the field).
  std::string to_string() const;
};

/// The one place that knows which values a VariantSpec may hold: `threads` (kind "threads"
/// only), `workers` (every kind), `pool_size` (kind "async" only, 0: no cap) and `stack_bytes`
/// (the fiber kinds only). Every front end (command line, REST, experiment files, worker
/// processes) checks through it. Stateless; thread-safe.
class VariantLimits {
 public:
  /// An inclusive range.
  struct Range {
    int64_t min;
    int64_t max;
  };

  static constexpr Range kThreads{1, 10000};
  static constexpr Range kWorkers{1, 64};
  static constexpr Range kPoolSize{0, 1000000};
  static constexpr Range kStackBytes{16 * 1024, 64 * 1024 * 1024};

  /// The allowed values of `field`, whatever the kind.
  static Range range(VariantField field);
  /// Whether kind `kind` takes `field` at all (`workers`: every kind).
  static bool applies(std::string_view kind, VariantField field);
  /// Checks `value` given for `field` of a variant of kind `kind`: first whether the kind takes
  /// the field, then the range. nullopt when allowed.
  static std::optional<VariantLimitError> check(std::string_view kind, VariantField field,
                                                int64_t value);
  /// Checks every field of `spec`, in the order threads, workers, pool_size, stack_bytes; the
  /// first error, or nullopt. A field the kind does not take is an error only when it differs
  /// from VariantSpec's default (the spec may have been filled field by field).
  static std::optional<VariantLimitError> check(const VariantSpec& spec);
};

/// Parses "threads:100" (or a bare kind), optionally followed by "/shared" or "/reuseport"; the
/// thread count is checked by VariantLimits. On
/// failure returns nullopt and sets `error` to a one-line reason naming what is wrong.
std::optional<VariantSpec> parse_variant(std::string_view text, std::string* error = nullptr);

/// Where a variant's /remote goes and how long it waits.
struct UpstreamOptions {
  Url url;                                        ///< GET for every /remote.
  std::chrono::nanoseconds connect_timeout = 2s;  ///< Then 504.
  std::chrono::nanoseconds timeout = 10s;         ///< For the whole answer; then 504.
};

/// One concurrency model serving `/remote` and `/plaintext` in this process.
///
/// Every variant answers `GET /remote` with `{"upstream_status":200,"upstream_bytes":612}` after
/// a GET to the upstream (502 when the upstream fails or answers 5xx, 504 when it is slower
/// than UpstreamOptions::timeout) and `GET /plaintext` with `Hello, World!`.
class Variant {
 public:
  virtual ~Variant() = default;

  /// Binds `listen` with SO_REUSEPORT (so worker processes can share one port), serves on it
  /// (serve()) and returns the bound port. Throws StartError when it cannot. Call once, or
  /// serve().
  uint16_t start(const Endpoint& listen);
  /// Serves on `listen_fd`, a listening, non-blocking socket it now owns and closes when it
  /// stops: its own, or one the supervisor opened that every worker accepts from (never shut
  /// down: the other workers still accept from it). Returns its port; throws StartError (having
  /// closed `listen_fd`) when it cannot. Returns only once it accepts. Call once.
  virtual uint16_t serve(int listen_fd) = 0;
  /// Stops accepting, finishes or abandons requests in progress, joins every thread it started.
  /// Idempotent; the destructor calls it.
  virtual void stop() = 0;
  /// Requests answered so far, any route, any status. Thread-safe.
  uint64_t requests_served() const { return stats().requests.load(std::memory_order_relaxed); }
  /// What the variant recorded per request (total, queue wait, upstream). Thread-safe.
  virtual const ServerStats& stats() const = 0;
  /// The label, as VariantSpec::name().
  virtual std::string name() const = 0;
};

/// Builds the variant `spec` names, not yet started. Throws StartError for an unknown kind.
std::unique_ptr<Variant> make_variant(const VariantSpec& spec, const UpstreamOptions& upstream);

}  // namespace iolab
