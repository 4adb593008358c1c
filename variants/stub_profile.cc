#include "variants/stub_profile.h"

#include <algorithm>
#include <cctype>
#include <charconv>
#include <cmath>
#include <cstdio>

#include "core/duration.h"

namespace iolab {
namespace {

using std::chrono::nanoseconds;

// The standard normal's 0.99-quantile: a log-normal's sigma is ln(p99 / p50) / kZ99.
constexpr double kZ99 = 2.3263478740408408;
constexpr nanoseconds kMaxDelay = std::chrono::hours(1);

double ns_of(nanoseconds d) { return static_cast<double>(d.count()); }

nanoseconds to_ns(double ns) {
  return nanoseconds(static_cast<int64_t>(std::llround(std::clamp(ns, 0.0, ns_of(kMaxDelay)))));
}

double log_sigma(const DelayDistribution& d) { return std::log(ns_of(d.b) / ns_of(d.a)) / kZ99; }

std::string format_weight(double weight) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.10g%%", weight * 100);
  return buf;
}

// A small recursive-descent reader over the text form.
class Reader {
 public:
  explicit Reader(std::string_view text) : text_(text) {}

  std::optional<DelayDistribution> distribution(bool allow_mixture) {
    skip_space();
    const size_t name_start = pos_;
    while (pos_ < text_.size() && std::isalpha(static_cast<unsigned char>(text_[pos_]))) ++pos_;
    const std::string_view name = text_.substr(name_start, pos_ - name_start);
    skip_space();
    if (pos_ >= text_.size() || text_[pos_] != '(') {
      pos_ = name_start;  // a bare duration: fixed
      const auto d = duration();
      if (!d) return std::nullopt;
      return DelayDistribution::fixed(*d);
    }
    ++pos_;
    DelayDistribution out;
    if (name == "fixed") {
      const auto d = duration();
      if (!d) return std::nullopt;
      out = DelayDistribution::fixed(*d);
    } else if (name == "uniform") {
      const auto lo = duration();
      if (!lo || !expect(',')) return std::nullopt;
      const auto hi = duration();
      if (!hi) return std::nullopt;
      if (*hi < *lo) return fail("uniform's high is below its low");
      out = DelayDistribution{DelayDistribution::Kind::kUniform, *lo, *hi, {}};
    } else if (name == "exponential") {
      const auto mean = duration();
      if (!mean) return std::nullopt;
      out = DelayDistribution{DelayDistribution::Kind::kExponential, *mean, {}, {}};
    } else if (name == "lognormal") {
      const auto p50 = named_duration("p50");
      if (!p50 || !expect(',')) return std::nullopt;
      const auto p99 = named_duration("p99");
      if (!p99) return std::nullopt;
      if (p50->count() <= 0) return fail("lognormal's p50 must be above 0");
      if (*p99 < *p50) return fail("lognormal's p99 is below its p50");
      out = DelayDistribution{DelayDistribution::Kind::kLogNormal, *p50, *p99, {}};
    } else if (name == "mixture") {
      if (!allow_mixture) return fail("a mixture's part cannot be a mixture");
      out.kind = DelayDistribution::Kind::kMixture;
      double total = 0;
      for (bool more = true; more;) {
        const auto weight = percent();
        if (!weight || !expect(':')) return std::nullopt;
        auto part = distribution(false);
        if (!part) return std::nullopt;
        out.parts.push_back({*weight, std::move(*part)});
        total += *weight;
        skip_space();
        more = pos_ < text_.size() && text_[pos_] == ',';
        if (more) ++pos_;
      }
      if (std::abs(total - 1) > 1e-6) return fail("a mixture's weights must sum to 100%");
    } else {
      return fail("unknown distribution '" + std::string(name) +
                  "' (known: fixed, uniform, exponential, lognormal, mixture)");
    }
    if (!expect(')')) return std::nullopt;
    return out;
  }

  bool at_end() {
    skip_space();
    return pos_ == text_.size();
  }

  std::string error;

 private:
  std::nullopt_t fail(std::string reason) {
    if (error.empty()) error = std::move(reason);
    return std::nullopt;
  }

  void skip_space() {
    while (pos_ < text_.size() && text_[pos_] == ' ') ++pos_;
  }

  bool expect(char c) {
    skip_space();
    if (pos_ < text_.size() && text_[pos_] == c) {
      ++pos_;
      return true;
    }
    fail(std::string("expected '") + c + "' at column " + std::to_string(pos_ + 1));
    return false;
  }

  std::string_view token() {
    skip_space();
    const size_t start = pos_;
    while (pos_ < text_.size() &&
           (std::isalnum(static_cast<unsigned char>(text_[pos_])) || text_[pos_] == '.')) {
      ++pos_;
    }
    return text_.substr(start, pos_ - start);
  }

  std::optional<nanoseconds> duration() {
    const std::string_view t = token();
    const auto d = parse_duration(t);
    if (!d) return fail("bad duration '" + std::string(t) + "'");
    if (*d > kMaxDelay) return fail("a delay is at most 1h, got " + std::string(t));
    return d;
  }

  std::optional<nanoseconds> named_duration(std::string_view key) {
    const std::string_view t = token();
    if (t != key || !expect('=')) return fail("expected " + std::string(key) + "=DURATION");
    return duration();
  }

  std::optional<double> percent() {
    const std::string_view t = token();
    double value = 0;
    const auto [end, ec] = std::from_chars(t.data(), t.data() + t.size(), value);
    if (ec != std::errc() || end != t.data() + t.size() || !expect('%')) {
      return fail("a mixture's part starts with a weight, as 99%: 100ms");
    }
    if (!(value > 0 && value <= 100)) return fail("a weight is above 0% and at most 100%");
    return value / 100;
  }

  std::string_view text_;
  size_t pos_ = 0;
};

}  // namespace

DelayDistribution DelayDistribution::fixed(nanoseconds delay) {
  return DelayDistribution{Kind::kFixed, delay, nanoseconds{0}, {}};
}

bool DelayDistribution::operator==(const DelayDistribution& o) const {
  return kind == o.kind && a == o.a && b == o.b && parts == o.parts;
}

nanoseconds DelayDistribution::mean() const {
  switch (kind) {
    case Kind::kFixed:
    case Kind::kExponential:
      return a;
    case Kind::kUniform:
      return (a + b) / 2;
    case Kind::kLogNormal: {
      const double sigma = log_sigma(*this);
      return to_ns(ns_of(a) * std::exp(sigma * sigma / 2));
    }
    case Kind::kMixture: {
      double sum = 0;
      for (const Part& p : parts) sum += p.weight * ns_of(p.distribution.mean());
      return to_ns(sum);
    }
  }
  return a;
}

double DelayDistribution::cdf(nanoseconds d) const {
  const double x = ns_of(d);
  switch (kind) {
    case Kind::kFixed:
      return d >= a ? 1 : 0;
    case Kind::kUniform:
      if (b == a) return d >= a ? 1 : 0;
      return std::clamp((x - ns_of(a)) / (ns_of(b) - ns_of(a)), 0.0, 1.0);
    case Kind::kExponential:
      return a.count() == 0 ? 1 : (x <= 0 ? 0 : 1 - std::exp(-x / ns_of(a)));
    case Kind::kLogNormal: {
      if (x <= 0) return 0;
      const double sigma = log_sigma(*this);
      if (sigma == 0) return d >= a ? 1 : 0;
      return 0.5 * std::erfc(-(std::log(x / ns_of(a)) / sigma) / std::sqrt(2.0));
    }
    case Kind::kMixture: {
      double sum = 0;
      for (const Part& p : parts) sum += p.weight * p.distribution.cdf(d);
      return sum;
    }
  }
  return 0;
}

nanoseconds DelayDistribution::quantile(double q) const {
  switch (kind) {
    case Kind::kFixed:
      return a;
    case Kind::kUniform:
      return to_ns(ns_of(a) + q * (ns_of(b) - ns_of(a)));
    case Kind::kExponential:
      return to_ns(-ns_of(a) * std::log1p(-q));
    case Kind::kLogNormal:
    case Kind::kMixture:
      break;
  }
  // The least d with cdf(d) >= q, by bisection in whole nanoseconds.
  int64_t lo = 0;
  int64_t hi = kMaxDelay.count();
  while (lo < hi) {
    const int64_t mid = lo + (hi - lo) / 2;
    if (cdf(nanoseconds(mid)) >= q) {
      hi = mid;
    } else {
      lo = mid + 1;
    }
  }
  return nanoseconds(lo);
}

std::string DelayDistribution::to_string() const {
  switch (kind) {
    case Kind::kFixed:
      return format_duration(a);
    case Kind::kUniform:
      return "uniform(" + format_duration(a) + ", " + format_duration(b) + ")";
    case Kind::kExponential:
      return "exponential(" + format_duration(a) + ")";
    case Kind::kLogNormal:
      return "lognormal(p50=" + format_duration(a) + ", p99=" + format_duration(b) + ")";
    case Kind::kMixture: {
      std::string out = "mixture(";
      for (size_t i = 0; i < parts.size(); ++i) {
        if (i > 0) out += ", ";
        out += format_weight(parts[i].weight) + ": " + parts[i].distribution.to_string();
      }
      return out + ")";
    }
  }
  return {};
}

std::optional<DelayDistribution> parse_delay_distribution(std::string_view text,
                                                          std::string* error) {
  Reader reader(text);
  auto d = reader.distribution(true);
  if (d && !reader.at_end()) {
    d.reset();
    reader.error = "unexpected text after the distribution";
  }
  if (!d && error) *error = reader.error.empty() ? "bad distribution" : reader.error;
  return d;
}

StubSampler::StubSampler(const StubProfile& profile, uint64_t seed)
    : delays_(profile.delays()),
      max_delay_(profile.max_delay),
      faults_(profile.faults),
      rng_(seed) {}

nanoseconds StubSampler::delay() { return std::min(draw(delays_), max_delay_); }

nanoseconds StubSampler::draw(const DelayDistribution& d) {
  using Kind = DelayDistribution::Kind;
  switch (d.kind) {
    case Kind::kFixed:
      return d.a;
    case Kind::kUniform:
      return to_ns(ns_of(d.a) + uniform() * (ns_of(d.b) - ns_of(d.a)));
    case Kind::kExponential:
      return to_ns(-ns_of(d.a) * std::log1p(-uniform()));
    case Kind::kLogNormal: {
      const double z = std::normal_distribution<double>(0.0, 1.0)(rng_);
      return to_ns(ns_of(d.a) * std::exp(log_sigma(d) * z));
    }
    case Kind::kMixture: {
      double u = uniform();
      for (const auto& part : d.parts) {
        if (u < part.weight) return draw(part.distribution);
        u -= part.weight;
      }
      return draw(d.parts.back().distribution);  // rounding left u just above the last weight
    }
  }
  return d.a;
}

StubFault StubSampler::fault() {
  if (!faults_.any()) return StubFault::kNone;
  const double u = uniform();
  if (u < faults_.error) return StubFault::kError;
  if (u < faults_.error + faults_.close) return StubFault::kClose;
  if (u < faults_.error + faults_.close + faults_.reset) return StubFault::kReset;
  return StubFault::kNone;
}

}  // namespace iolab
