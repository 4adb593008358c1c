#pragma once

#include <cstddef>
#include <optional>
#include <string_view>

namespace iolab {

/// The head of one HTTP/1.x request, viewing into the caller's buffer.
struct RequestHead {
  std::string_view method;
  std::string_view target;  ///< Path and query as sent.
  std::string_view path;
  std::string_view query;  ///< After '?', without it; empty when absent.
  bool keep_alive =
      true;  ///< HTTP/1.1 default, unless "Connection: close" (or 1.0 without keep-alive).
  size_t content_length = 0;  ///< head_bytes + content_length never overflows.
  size_t head_bytes = 0;      ///< Bytes up to and including the blank line.
};

enum class ParseStatus { kComplete, kIncomplete, kInvalid };

/// Largest request head accepted; longer is kInvalid.
inline constexpr size_t kMaxRequestHeadBytes = 16 * 1024;

/// Parses a request head at the start of `buffer`. Chunked request bodies are kInvalid (nothing
/// iolab serves takes a body). Never allocates or throws.
ParseStatus parse_request_head(std::string_view buffer, RequestHead& head) noexcept;

/// The raw value of `name` in a query string ("a=1&delay=50ms"), or nullopt.
std::optional<std::string_view> query_param(std::string_view query, std::string_view name) noexcept;

/// Case-insensitive ASCII comparison, for header names and tokens.
bool equals_ignore_case(std::string_view a, std::string_view b) noexcept;

/// The reason phrase for common status codes ("OK", "Bad Gateway"); "Unknown" otherwise.
std::string_view reason_phrase(int status) noexcept;

}  // namespace iolab
