#include "core/endpoint.h"

#include <arpa/inet.h>

#include <charconv>

namespace iolab {
namespace {

std::optional<uint16_t> parse_port(std::string_view text) {
  unsigned value = 0;
  const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (text.empty() || ec != std::errc() || end != text.data() + text.size() || value > 65535) {
    return std::nullopt;
  }
  return static_cast<uint16_t>(value);
}

}  // namespace

std::optional<sockaddr_in> Endpoint::sockaddr() const {
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(port);
  const std::string literal = host == "localhost" ? "127.0.0.1" : host;
  if (inet_pton(AF_INET, literal.c_str(), &addr.sin_addr) != 1) return std::nullopt;
  return addr;
}

bool Endpoint::is_loopback() const {
  const auto addr = sockaddr();
  return addr && (ntohl(addr->sin_addr.s_addr) >> 24) == 127;
}

std::optional<Endpoint> parse_endpoint(std::string_view text) {
  Endpoint endpoint;
  const size_t colon = text.rfind(':');
  if (colon != std::string_view::npos) {
    if (colon > 0) endpoint.host = std::string(text.substr(0, colon));
    text = text.substr(colon + 1);
  }
  const auto port = parse_port(text);
  if (!port || !endpoint.sockaddr()) return std::nullopt;
  endpoint.port = *port;
  return endpoint;
}

std::optional<Url> parse_url(std::string_view text, std::string* error) {
  auto fail = [&](std::string reason) -> std::optional<Url> {
    if (error) *error = std::move(reason);
    return std::nullopt;
  };
  constexpr std::string_view kScheme = "http://";
  if (text.substr(0, kScheme.size()) != kScheme) {
    return fail("only http:// URLs are supported: '" + std::string(text) + "'");
  }
  text.remove_prefix(kScheme.size());
  const size_t slash = text.find_first_of("/?");
  const std::string_view authority = text.substr(0, slash);
  Url url;
  if (slash != std::string_view::npos) url.target = std::string(text.substr(slash));
  if (url.target.front() == '?') url.target = std::string("/").append(url.target);
  const size_t colon = authority.rfind(':');
  url.endpoint.host = std::string(authority.substr(0, colon));
  url.endpoint.port = 80;
  if (colon != std::string_view::npos) {
    const auto port = parse_port(authority.substr(colon + 1));
    if (!port || *port == 0) return fail("bad port in URL '" + std::string(authority) + "'");
    url.endpoint.port = *port;
  }
  if (url.endpoint.host.empty()) return fail("URL has no host");
  if (!url.endpoint.sockaddr()) {
    return fail("host '" + url.endpoint.host + "' is not an IPv4 address or localhost");
  }
  url.host_header = std::string(authority);
  return url;
}

}  // namespace iolab
