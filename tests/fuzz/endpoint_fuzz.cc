// Fuzzes the address and URL parsers (core/endpoint.h): `--listen`, `--target`, the config's
// listen addresses and upstream.url, the REST `target` field, stored run specs.
//
// Input: the text. Properties: a parsed endpoint has a socket address and its to_string()
// parses back to the same endpoint; a parsed URL has a target starting with '/', a socket
// address, and its to_string() parses back to the same URL; a failed parse_url() says why.

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "core/endpoint.h"
#include "tests/fuzz/fuzz_check.h"

using iolab::fuzz::check;

// libFuzzer's entry point: its name is fixed.
extern "C" int LLVMFuzzerTestOneInput(  // NOLINT(readability-identifier-naming)
    const uint8_t* data, size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  if (const auto e = iolab::parse_endpoint(text)) {
    check(e->sockaddr().has_value());
    const auto back = iolab::parse_endpoint(e->to_string());
    check(back && back->host == e->host && back->port == e->port);
  }
  std::string error;
  const auto url = iolab::parse_url(text, &error);
  if (!url) {
    check(!error.empty());
    return 0;
  }
  check(!url->target.empty() && url->target.front() == '/');
  check(url->endpoint.port != 0 && url->endpoint.sockaddr().has_value());
  const auto back = iolab::parse_url(url->to_string());
  check(back && back->endpoint.host == url->endpoint.host &&
        back->endpoint.port == url->endpoint.port && back->host_header == url->host_header &&
        back->target == url->target);
  return 0;
}
