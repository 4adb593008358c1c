#include "core/duration.h"

#include <array>
#include <charconv>
#include <cmath>
#include <cstdint>
#include <ctime>
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

namespace {

// "SSSS" or "SSSS.fff": seconds since the epoch, as nanoseconds.
std::optional<int64_t> parse_epoch_ns(std::string_view text) {
  const size_t dot = text.find('.');
  const std::string_view whole = text.substr(0, dot);
  const std::string_view fraction = dot == std::string_view::npos ? "" : text.substr(dot + 1);
  if (whole.empty() || whole.size() > 11 || fraction.size() > 9 ||
      (dot != std::string_view::npos && fraction.empty())) {
    return std::nullopt;
  }
  int64_t ns = 0;
  for (const char c : whole) {
    if (c < '0' || c > '9') return std::nullopt;
    ns = ns * 10 + (c - '0');
  }
  int64_t part = 0;
  for (size_t i = 0; i < 9; ++i) {
    const char c = i < fraction.size() ? fraction[i] : '0';
    if (c < '0' || c > '9') return std::nullopt;
    part = part * 10 + (c - '0');
  }
  return ns * 1'000'000'000 + part;
}

// "2026-12-02T06:00:00[.fff](Z|+hh:mm|-hh:mm)" as nanoseconds since the epoch.
std::optional<int64_t> parse_rfc3339_ns(std::string_view text) {
  if (text.size() < 20 || text[4] != '-' || text[7] != '-' ||
      (text[10] != 'T' && text[10] != 't') || text[13] != ':' || text[16] != ':') {
    return std::nullopt;
  }
  const auto number = [&](size_t at, size_t digits) -> std::optional<int> {
    int n = 0;
    for (size_t i = at; i < at + digits; ++i) {
      if (text[i] < '0' || text[i] > '9') return std::nullopt;
      n = n * 10 + (text[i] - '0');
    }
    return n;
  };
  const auto year = number(0, 4), month = number(5, 2), day = number(8, 2);
  const auto hour = number(11, 2), minute = number(14, 2), second = number(17, 2);
  if (!year || !month || !day || !hour || !minute || !second || *month < 1 || *month > 12 ||
      *day < 1 || *day > 31 || *hour > 23 || *minute > 59 || *second > 60) {
    return std::nullopt;
  }
  size_t at = 19;
  int64_t fraction_ns = 0;
  if (text[at] == '.') {
    const size_t start = ++at;
    while (at < text.size() && text[at] >= '0' && text[at] <= '9') ++at;
    const auto fraction = parse_epoch_ns("0." + std::string(text.substr(start, at - start)));
    if (!fraction) return std::nullopt;
    fraction_ns = *fraction;
  }
  int64_t offset_s = 0;
  const std::string_view zone = text.substr(at);
  if (zone == "Z" || zone == "z") {
    offset_s = 0;
  } else if (zone.size() == 6 && (zone[0] == '+' || zone[0] == '-') && zone[3] == ':') {
    const auto h = number(at + 1, 2), m = number(at + 4, 2);
    if (!h || !m || *h > 23 || *m > 59) return std::nullopt;
    offset_s = (*h * 3600 + *m * 60) * (zone[0] == '+' ? 1 : -1);
  } else {
    return std::nullopt;
  }
  std::tm tm{};
  tm.tm_year = *year - 1900;
  tm.tm_mon = *month - 1;
  tm.tm_mday = *day;
  tm.tm_hour = *hour;
  tm.tm_min = *minute;
  tm.tm_sec = *second;
  const time_t utc = ::timegm(&tm);
  if (utc == static_cast<time_t>(-1)) return std::nullopt;
  return (static_cast<int64_t>(utc) - offset_s) * 1'000'000'000 + fraction_ns;
}

}  // namespace

std::optional<std::chrono::system_clock::time_point> parse_wall_time(std::string_view text) {
  const auto ns =
      text.find('T') != std::string_view::npos || text.find('t') != std::string_view::npos
          ? parse_rfc3339_ns(text)
          : parse_epoch_ns(text);
  if (!ns) return std::nullopt;
  return std::chrono::system_clock::time_point(
      std::chrono::duration_cast<std::chrono::system_clock::duration>(
          std::chrono::nanoseconds(*ns)));
}

}  // namespace iolab
