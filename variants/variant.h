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

/// Which concurrency model, and its size. Written as "threads:100", "async", ...
struct VariantSpec {
  std::string kind = "threads";  ///< One of variant_kinds().
  int threads = 10;              ///< Pool size, for kind "threads".
  int workers = 2;               ///< Worker processes sharing the port.
  int pool_size = 0;             ///< Upstream connections per worker, for kind "async"; 0: no cap.
  size_t stack_bytes = 64 * 1024;  ///< Stack of each fiber, for kinds "fiber" and "fiber-blocking".

  /// The label used in tables and metrics: "threads:100", "async".
  std::string name() const;
};

/// The kinds this build can run.
const std::vector<std::string>& variant_kinds();

/// Parses "threads:100" (or a bare kind). On failure returns nullopt and sets `error` to a
/// one-line reason naming what is wrong.
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

  /// Binds `listen` with SO_REUSEPORT (so worker processes share one port), starts serving and
  /// returns the bound port. Throws StartError when it cannot. Call once.
  virtual uint16_t start(const Endpoint& listen) = 0;
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
