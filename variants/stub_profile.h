#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <random>
#include <string>
#include <string_view>
#include <vector>

namespace iolab {

using namespace std::chrono_literals;

/// How long the stub waits before each answer, as a distribution of delays. Written as text,
/// the same in experiment files, the daemon's config and REST:
///
///     100ms                                  fixed (also `fixed(100ms)`)
///     uniform(50ms, 150ms)                   uniform between the two
///     exponential(100ms)                     exponential with this mean
///     lognormal(p50=100ms, p99=1s)           log-normal through these two quantiles
///     mixture(99%: 100ms, 1%: 2s)            each part any of the above; weights sum to 100 %
struct DelayDistribution {
  enum class Kind : uint8_t { kFixed, kUniform, kExponential, kLogNormal, kMixture };
  struct Part;

  Kind kind = Kind::kFixed;
  std::chrono::nanoseconds a = 100ms;  ///< fixed: the delay; uniform: low; exponential: mean;
                                       ///< lognormal: p50.
  std::chrono::nanoseconds b{0};       ///< uniform: high; lognormal: p99.
  std::vector<Part> parts;             ///< mixture: weighted parts, none a mixture.

  static DelayDistribution fixed(std::chrono::nanoseconds delay);

  /// The mean delay (for the Little's-law bound).
  std::chrono::nanoseconds mean() const;
  /// The `q`-quantile (0 < q < 1): the least delay d with P(delay <= d) >= q.
  std::chrono::nanoseconds quantile(double q) const;
  /// P(delay <= d).
  double cdf(std::chrono::nanoseconds d) const;
  /// The text form, which parse_delay_distribution() reads back to an equal distribution.
  std::string to_string() const;

  bool operator==(const DelayDistribution& o) const;
};

struct DelayDistribution::Part {
  double weight;  ///< In (0, 1]; a mixture's weights sum to 1.
  DelayDistribution distribution;
  bool operator==(const Part& o) const = default;
};

/// Reads the text form of DelayDistribution. On failure returns nullopt and sets `error` to a
/// one-line reason. Every delay is at least 0 and at most 1 h; uniform's low <= high; lognormal's
/// p50 > 0 and p99 >= p50.
std::optional<DelayDistribution> parse_delay_distribution(std::string_view text,
                                                          std::string* error = nullptr);

/// What the stub does instead of a normal answer, drawn per request.
enum class StubFault : uint8_t {
  kNone,
  kError,  ///< Answers StubFaults::error_status after the delay.
  kClose,  ///< Closes the connection after the delay without answering (a FIN).
  kReset,  ///< Resets the connection after the delay without answering (an RST).
};
inline constexpr size_t kStubFaultCount = 4;
/// The names of StubFault, as `?fault=` and the metrics' `fault` label spell them.
inline constexpr std::string_view kStubFaultNames[kStubFaultCount] = {"none", "error", "close",
                                                                      "reset"};

/// Fault probabilities, each in [0, 1], summing to at most 1.
struct StubFaults {
  double error = 0;
  double close = 0;
  double reset = 0;
  int error_status = 500;  ///< The status of an error answer, 100 to 599.

  bool any() const { return error > 0 || close > 0 || reset > 0; }
  bool operator==(const StubFaults& o) const = default;
};

/// How the stub answers, unless a request's query string overrides it
/// (`?delay=50ms&status=503&size=100&fault=reset`, delay and size capped by the maxima below).
struct StubProfile {
  std::chrono::nanoseconds delay = 100ms;    ///< Time from request to answer, without distribution.
  std::chrono::nanoseconds max_delay = 60s;  ///< Cap on `?delay=` and on a drawn delay.
  size_t body_bytes = 612;                   ///< As nginx's default page.
  size_t max_body_bytes = 16 * 1024 * 1024;  ///< Cap on `?size=`.
  /// When set, each request's delay is drawn from it and `delay` is not used.
  std::optional<DelayDistribution> distribution{};
  StubFaults faults{};

  /// The delay distribution in force: `distribution`, or `delay` fixed.
  DelayDistribution delays() const {
    return distribution ? *distribution : DelayDistribution::fixed(delay);
  }
  /// The mean delay asked for (capped draws aside): the Little's-law bound's delay.
  std::chrono::nanoseconds mean_delay() const { return delays().mean(); }
  bool operator==(const StubProfile& o) const = default;
};

/// Draws each request's delay and fault from a profile. Deterministic for a seed. Not
/// thread-safe: one per stub loop.
class StubSampler {
 public:
  StubSampler(const StubProfile& profile, uint64_t seed);

  /// A delay from the profile's distribution, capped at its max_delay.
  std::chrono::nanoseconds delay();
  /// A fault by the profile's probabilities (kNone most of the time).
  StubFault fault();

 private:
  std::chrono::nanoseconds draw(const DelayDistribution& d);
  double uniform() { return std::uniform_real_distribution<double>(0.0, 1.0)(rng_); }

  DelayDistribution delays_;
  std::chrono::nanoseconds max_delay_;
  StubFaults faults_;
  std::mt19937_64 rng_;
};

}  // namespace iolab
