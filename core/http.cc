#include "core/http.h"

#include <charconv>
#include <limits>

namespace iolab {
namespace {

std::string_view trim(std::string_view s) noexcept {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

bool contains_token(std::string_view value, std::string_view token) noexcept {
  while (!value.empty()) {
    const size_t comma = value.find(',');
    if (equals_ignore_case(trim(value.substr(0, comma)), token)) return true;
    if (comma == std::string_view::npos) break;
    value.remove_prefix(comma + 1);
  }
  return false;
}

}  // namespace

bool equals_ignore_case(std::string_view a, std::string_view b) noexcept {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i) {
    char x = a[i];
    char y = b[i];
    if (x >= 'A' && x <= 'Z') x = static_cast<char>(x - 'A' + 'a');
    if (y >= 'A' && y <= 'Z') y = static_cast<char>(y - 'A' + 'a');
    if (x != y) return false;
  }
  return true;
}

ParseStatus parse_request_head(std::string_view buffer, RequestHead& head) noexcept {
  const size_t end = buffer.find("\r\n\r\n");
  if (end == std::string_view::npos) {
    return buffer.size() > kMaxRequestHeadBytes ? ParseStatus::kInvalid : ParseStatus::kIncomplete;
  }
  if (end + 4 > kMaxRequestHeadBytes) return ParseStatus::kInvalid;
  head = RequestHead{};
  head.head_bytes = end + 4;
  std::string_view rest = buffer.substr(0, end + 2);

  const size_t line_end = rest.find("\r\n");
  std::string_view line = rest.substr(0, line_end);
  rest.remove_prefix(line_end + 2);
  const size_t sp1 = line.find(' ');
  const size_t sp2 = line.rfind(' ');
  if (sp1 == std::string_view::npos || sp1 == 0 || sp2 == sp1) return ParseStatus::kInvalid;
  head.method = line.substr(0, sp1);
  head.target = line.substr(sp1 + 1, sp2 - sp1 - 1);
  const std::string_view version = line.substr(sp2 + 1);
  if (head.target.empty() || head.target.find(' ') != std::string_view::npos) {
    return ParseStatus::kInvalid;
  }
  if (version == "HTTP/1.0") {
    head.keep_alive = false;
  } else if (version != "HTTP/1.1") {
    return ParseStatus::kInvalid;
  }
  const size_t question = head.target.find('?');
  head.path = head.target.substr(0, question);
  if (question != std::string_view::npos) head.query = head.target.substr(question + 1);

  while (!rest.empty()) {
    const size_t eol = rest.find("\r\n");
    const std::string_view header = rest.substr(0, eol);
    rest.remove_prefix(eol + 2);
    const size_t colon = header.find(':');
    if (colon == std::string_view::npos || colon == 0) return ParseStatus::kInvalid;
    const std::string_view name = header.substr(0, colon);
    const std::string_view value = trim(header.substr(colon + 1));
    if (equals_ignore_case(name, "content-length")) {
      const auto [p, ec] =
          std::from_chars(value.data(), value.data() + value.size(), head.content_length);
      if (ec != std::errc() || p != value.data() + value.size()) return ParseStatus::kInvalid;
      // Callers wait for head_bytes + content_length bytes and then drop them: a length near
      // SIZE_MAX would wrap that sum and frame the next request inside this one.
      if (head.content_length > std::numeric_limits<size_t>::max() - head.head_bytes) {
        return ParseStatus::kInvalid;
      }
    } else if (equals_ignore_case(name, "transfer-encoding")) {
      return ParseStatus::kInvalid;
    } else if (equals_ignore_case(name, "connection")) {
      if (contains_token(value, "close")) head.keep_alive = false;
      if (contains_token(value, "keep-alive")) head.keep_alive = true;
    }
  }
  return ParseStatus::kComplete;
}

std::optional<std::string_view> query_param(std::string_view query,
                                            std::string_view name) noexcept {
  while (!query.empty()) {
    const size_t amp = query.find('&');
    const std::string_view pair = query.substr(0, amp);
    const size_t eq = pair.find('=');
    if (pair.substr(0, eq) == name) {
      return eq == std::string_view::npos ? std::string_view{} : pair.substr(eq + 1);
    }
    if (amp == std::string_view::npos) break;
    query.remove_prefix(amp + 1);
  }
  return std::nullopt;
}

std::string_view reason_phrase(int status) noexcept {
  switch (status) {
    case 200:
      return "OK";
    case 204:
      return "No Content";
    case 400:
      return "Bad Request";
    case 404:
      return "Not Found";
    case 408:
      return "Request Timeout";
    case 429:
      return "Too Many Requests";
    case 500:
      return "Internal Server Error";
    case 502:
      return "Bad Gateway";
    case 503:
      return "Service Unavailable";
    case 504:
      return "Gateway Timeout";
    default:
      return "Unknown";
  }
}

}  // namespace iolab
