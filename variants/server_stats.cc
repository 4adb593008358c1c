#include "variants/server_stats.h"

#include "core/http.h"

namespace iolab {

std::string http_response(int status, std::string_view content_type, std::string_view body,
                          bool keep_alive) {
  std::string out;
  out.reserve(160 + body.size());
  out.append("HTTP/1.1 ").append(std::to_string(status)).append(" ");
  out.append(reason_phrase(status)).append("\r\nServer: iolab\r\nContent-Type: ");
  out.append(content_type).append("\r\nContent-Length: ").append(std::to_string(body.size()));
  out.append(keep_alive ? "\r\n\r\n" : "\r\nConnection: close\r\n\r\n");
  out.append(body);
  return out;
}

std::string remote_body(int upstream_status, uint64_t upstream_bytes) {
  return std::string(R"({"upstream_status":)")
      .append(std::to_string(upstream_status))
      .append(R"(,"upstream_bytes":)")
      .append(std::to_string(upstream_bytes))
      .append("}");
}

std::string upstream_error_body(bool timed_out, std::string_view detail) {
  return std::string(R"({"error":")")
      .append(timed_out ? "upstream timeout" : "upstream failed")
      .append(R"(","detail":")")
      .append(detail)
      .append("\"}");
}

}  // namespace iolab
