#pragma once

#include <chrono>
#include <optional>
#include <stdexcept>
#include <string>

#include "core/endpoint.h"
#include "lab/report.h"
#include "lab/report_charts.h"
#include "variants/variant.h"

namespace iolab {

/// Bad usage: printed as one line, exit code 2.
class UsageError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

constexpr int kExitFailure = 1;
constexpr int kExitUsage = 2;

/// A duration flag's text ("500ms", "20s", "5m"); zero only when `allow_zero`. Throws UsageError
/// naming `flag`.
std::chrono::nanoseconds duration_flag(const std::string& flag, const std::string& text,
                                       bool allow_zero = false);

/// Throws UsageError naming `flag` unless lo <= value <= hi.
void require_range(const std::string& flag, long long value, long long lo, long long hi);
/// require_range() over VariantLimits' range of `field`.
void require_variant_range(const std::string& flag, VariantField field, long long value);

/// An address flag's text ("127.0.0.1:8080"). Throws UsageError naming `flag`.
Endpoint endpoint_flag(const std::string& flag, const std::string& text);

/// An http:// URL flag whose host is a loopback address. Throws UsageError naming `flag`.
Url admitted_url(const std::string& flag, const std::string& text);

/// --body: the text itself, or with a leading '@' the bytes of that file. Throws UsageError.
std::string body_flag(const std::string& text);

/// --format: rst, csv or json. Throws UsageError.
ReportFormat format_flag(const std::string& text);

/// --format of a command that prints a report: a table (rst, csv, json) or its charts (svg,
/// html); exactly one of the two is set.
struct OutputFormat {
  std::optional<ReportFormat> table;
  std::optional<ChartFormat> chart;
};
/// Throws UsageError naming the five formats.
OutputFormat output_format_flag(const std::string& text);

/// The path of this iolab binary, which variant workers are started as.
std::string self_executable();

/// Raises the soft limit on open files to the hard limit; a failure leaves it as it was.
void raise_fd_limit();

}  // namespace iolab
