#include "core/duration.h"

#include <array>
#include <charconv>
#include <cmath>
#include <cstdint>
#include <utility>

namespace iolab {
namespace {

struct Unit {
  std::string_view suffix;
  int64_t ns;
};

// Longest suffixes first so "ms" is not read as "m" + garbage.
constexpr std::array<Unit, 7> kUnits{{{"ns", 1},
                                      {"us", 1'000},
                                      {"ms", 1'000'000},
                                      {"s", 1'000'000'000},
                                      {"m", 60'000'000'000},
                                      {"h", 3'600'000'000'000},
                                      {"d", 86'400'000'000'000}}};

// The longest duration accepted, a little under 2^63 ns (292 years).
constexpr uint64_t kMaxNs = 9'000'000'000'000'000'000;

}  // namespace

std::optional<std::chrono::nanoseconds> parse_duration(std::string_view text) {
  size_t digits_end = 0;
  while (digits_end < text.size() &&
         ((text[digits_end] >= '0' && text[digits_end] <= '9') || text[digits_end] == '.')) {
    ++digits_end;
  }
  if (digits_end == 0) return std::nullopt;
  const std::string_view number = text.substr(0, digits_end);
  const std::string_view suffix = text.substr(digits_end);
  if (number.front() == '.' || number.back() == '.') return std::nullopt;
  if (number.find('.') == std::string_view::npos) {
    // Whole numbers are read exactly: a double holds 53 bits, so "9007199254740993ns" would come
    // back a nanosecond off and format_duration() would not round-trip.
    uint64_t whole = 0;
    const auto [end, ec] = std::from_chars(number.data(), number.data() + number.size(), whole);
    if (ec != std::errc() || end != number.data() + number.size()) return std::nullopt;
    for (const Unit& unit : kUnits) {
      if (suffix != unit.suffix) continue;
      if (whole > kMaxNs / static_cast<uint64_t>(unit.ns)) return std::nullopt;
      return std::chrono::nanoseconds(static_cast<int64_t>(whole * static_cast<uint64_t>(unit.ns)));
    }
    return std::nullopt;
  }
  double value = 0;
  const auto [end, ec] = std::from_chars(number.data(), number.data() + number.size(), value);
  if (ec != std::errc() || end != number.data() + number.size()) return std::nullopt;
  for (const Unit& unit : kUnits) {
    if (suffix != unit.suffix) continue;
    const double ns = value * static_cast<double>(unit.ns);
    if (!std::isfinite(ns) || ns > static_cast<double>(kMaxNs)) return std::nullopt;
    return std::chrono::nanoseconds(static_cast<int64_t>(std::llround(ns)));
  }
  return std::nullopt;
}

std::string format_duration(std::chrono::nanoseconds d) {
  const int64_t ns = d.count();
  if (ns == 0) return "0s";
  for (auto it = kUnits.rbegin(); it != kUnits.rend(); ++it) {
    if (it->suffix == "d") continue;
    if (ns % it->ns == 0) return std::to_string(ns / it->ns) + std::string(it->suffix);
  }
  return std::to_string(ns) + "ns";
}

}  // namespace iolab
