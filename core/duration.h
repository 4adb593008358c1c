#pragma once

#include <chrono>
#include <optional>
#include <string>
#include <string_view>

namespace iolab {

/// Parses a duration such as "500ms", "20s", "5m", "1h", "250us", "1.5s". A unit is required.
/// Returns nullopt for anything else (empty, no unit, unknown unit, negative, overflow).
std::optional<std::chrono::nanoseconds> parse_duration(std::string_view text);

/// Formats a duration with the largest unit that keeps it whole ("100ms", "2s", "1500us").
std::string format_duration(std::chrono::nanoseconds d);

/// Milliseconds as a double, for reports.
inline double to_ms(std::chrono::nanoseconds d) { return static_cast<double>(d.count()) / 1e6; }
/// Seconds as a double, for reports.
inline double to_seconds(std::chrono::nanoseconds d) {
  return static_cast<double>(d.count()) / 1e9;
}

/// Parses a wall-clock instant: seconds since the epoch ("1796000000", "1796000000.25") or
/// RFC 3339 ("2026-12-02T06:00:00Z", "2026-12-02T07:00:00.5+01:00"). nullopt for anything else.
std::optional<std::chrono::system_clock::time_point> parse_wall_time(std::string_view text);

}  // namespace iolab
