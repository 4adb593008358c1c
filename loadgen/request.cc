#include "loadgen/request.h"

#include <string_view>

#include "core/http.h"

namespace iolab {
namespace {

// RFC 9110 token characters: what a method and a header name may contain.
bool is_token(std::string_view s) {
  if (s.empty()) return false;
  for (const char ch : s) {
    const auto c = static_cast<unsigned char>(ch);
    const bool alnum = (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
    if (!alnum && std::string_view("!#$%&'*+-.^_`|~").find(ch) == std::string_view::npos) {
      return false;
    }
  }
  return true;
}

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

}  // namespace

std::string build_request(const LoadSpec& spec) {
  if (!is_token(spec.method)) {
    throw RunError("method: '" + spec.method + "' is not an HTTP method");
  }
  const std::string& target = spec.target.target.empty() ? std::string("/") : spec.target.target;
  if (target.find_first_of(" \r\n") != std::string::npos) {
    throw RunError("target: the path must not contain spaces or line breaks");
  }
  bool has_host = false;
  bool has_length = false;
  std::string headers;
  for (const std::string& line : spec.headers) {
    const size_t colon = line.find(':');
    const std::string_view name =
        colon == std::string::npos ? std::string_view() : std::string_view(line).substr(0, colon);
    if (!is_token(name) || line.find_first_of("\r\n") != std::string::npos) {
      throw RunError("header: '" + line + "' is not 'Name: value'");
    }
    const std::string_view value = trim(std::string_view(line).substr(colon + 1));
    if (equals_ignore_case(name, "Transfer-Encoding")) {
      throw RunError("header: Transfer-Encoding is not supported; the body is sent whole");
    }
    if (equals_ignore_case(name, "Content-Length")) {
      if (value != std::to_string(spec.body.size())) {
        throw RunError("header: '" + line + "' does not match the body's " +
                       std::to_string(spec.body.size()) + " bytes");
      }
      has_length = true;
    }
    has_host = has_host || equals_ignore_case(name, "Host");
    headers.append(name).append(": ").append(value).append("\r\n");
  }

  std::string request = spec.method + " " + target + " HTTP/1.1\r\n";
  if (!has_host) request += "Host: " + spec.target.host_header + "\r\n";
  request += headers;
  // A server waits for a body on POST, PUT and PATCH unless told its length, even when empty.
  const bool carries_body =
      !spec.body.empty() || spec.method == "POST" || spec.method == "PUT" || spec.method == "PATCH";
  if (carries_body && !has_length) {
    request += "Content-Length: " + std::to_string(spec.body.size()) + "\r\n";
  }
  request += "\r\n";
  request += spec.body;
  return request;
}

}  // namespace iolab
