#pragma once

#include <string>

#include "loadgen/load_spec.h"

namespace iolab {

/// The bytes of the one request every connection of a run sends, built once before the run:
/// "METHOD target HTTP/1.1", the Host header from the URL (unless `spec.headers` has one), the
/// extra headers in order, a Content-Length when there is a body or the method usually carries
/// one, then the body. Throws RunError naming the field when the method or a header is not
/// valid HTTP, or a header contradicts the body (Content-Length, Transfer-Encoding).
std::string build_request(const LoadSpec& spec);

}  // namespace iolab
