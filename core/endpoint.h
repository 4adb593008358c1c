#pragma once

#include <netinet/in.h>

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace iolab {

/// An IPv4 host and TCP port. Hosts are IPv4 literals or "localhost" (no DNS lookups: iolab
/// only ever talks to addresses given to it literally).
struct Endpoint {
  std::string host = "127.0.0.1";
  uint16_t port = 0;

  std::string to_string() const { return host + ":" + std::to_string(port); }
  /// The socket address, or nullopt when `host` is not an IPv4 literal or "localhost".
  std::optional<sockaddr_in> sockaddr() const;
  /// True for 127.0.0.0/8 and "localhost".
  bool is_loopback() const;
};

/// Parses "HOST:PORT", ":PORT" (loopback) or "PORT". Returns nullopt when malformed.
std::optional<Endpoint> parse_endpoint(std::string_view text);

/// An http:// URL split into what a client needs.
struct Url {
  Endpoint endpoint;
  std::string host_header;   ///< "host" or "host:port", as sent in the Host header.
  std::string target = "/";  ///< Path and query, never empty.

  std::string to_string() const { return "http://" + host_header + target; }
};

/// Parses an http:// URL with an IPv4-literal or "localhost" host. On failure returns nullopt
/// and, if `error` is given, sets it to a one-line reason.
std::optional<Url> parse_url(std::string_view text, std::string* error = nullptr);

}  // namespace iolab
