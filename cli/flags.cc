#include "cli/flags.h"

#include <sys/resource.h>

#include <filesystem>
#include <fstream>
#include <iterator>

#include "core/duration.h"

namespace iolab {

std::chrono::nanoseconds duration_flag(const std::string& flag, const std::string& text,
                                       bool allow_zero) {
  const auto d = parse_duration(text);
  if (!d || (d->count() == 0 && !allow_zero)) {
    throw UsageError("bad duration '" + text + "' for " + flag + " (use 500ms, 20s, 5m)");
  }
  return *d;
}

void require_range(const std::string& flag, long long value, long long lo, long long hi) {
  if (value < lo || value > hi) {
    throw UsageError(flag + " must be between " + std::to_string(lo) + " and " +
                     std::to_string(hi) + ", got " + std::to_string(value));
  }
}

void require_variant_range(const std::string& flag, VariantField field, long long value) {
  const VariantLimits::Range range = VariantLimits::range(field);
  require_range(flag, value, range.min, range.max);
}

Endpoint endpoint_flag(const std::string& flag, const std::string& text) {
  const auto e = parse_endpoint(text);
  if (!e) throw UsageError("bad address '" + text + "' for " + flag + " (use 127.0.0.1:8080)");
  return *e;
}

Url admitted_url(const std::string& flag, const std::string& text) {
  std::string error;
  const auto url = parse_url(text, &error);
  if (!url) throw UsageError(flag + ": " + error);
  if (!url->endpoint.is_loopback()) {
    throw UsageError(flag + ": target " + url->endpoint.host +
                     " is not admitted (only loopback addresses, 127.0.0.0/8)");
  }
  return *url;
}

std::string body_flag(const std::string& text) {
  if (text.empty() || text.front() != '@') return text;
  const std::string path = text.substr(1);
  std::ifstream in(path, std::ios::binary);
  if (!in) throw UsageError("--body: cannot read '" + path + "'");
  return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

ReportFormat format_flag(const std::string& text) {
  const auto f = parse_report_format(text);
  if (!f) throw UsageError("unknown --format '" + text + "' (rst, csv, json)");
  return *f;
}

OutputFormat output_format_flag(const std::string& text) {
  OutputFormat f{parse_report_format(text), parse_chart_format(text)};
  if (!f.table && !f.chart) {
    throw UsageError("unknown --format '" + text + "' (rst, csv, json, svg, html)");
  }
  return f;
}

std::string self_executable() {
  std::error_code ec;
  const auto path = std::filesystem::read_symlink("/proc/self/exe", ec);
  return ec ? "/proc/self/exe" : path.string();
}

void raise_fd_limit() {
  rlimit limit{};
  if (::getrlimit(RLIMIT_NOFILE, &limit) == 0 && limit.rlim_cur < limit.rlim_max) {
    limit.rlim_cur = limit.rlim_max;
    ::setrlimit(RLIMIT_NOFILE, &limit);
  }
}

}  // namespace iolab
