#pragma once

#include <nlohmann/json.hpp>
#include <stdexcept>
#include <string>

namespace iolab {

/// A request the REST API refuses. Thrown by handlers and rendered by one place as the HTTP
/// status and `{"error":{"code","message","field"}}`; `field` names the offending part of the
/// request (a JSON field, query parameter, path segment or header), empty when it is the whole
/// request.
class ApiError : public std::runtime_error {
 public:
  ApiError(int status, std::string code, const std::string& message, std::string field = "")
      : std::runtime_error(message),
        status_(status),
        code_(std::move(code)),
        field_(std::move(field)) {}

  /// For a 429 or 503: the Retry-After the answer carries, in seconds (0: none).
  ApiError& retry_after(int seconds) {
    retry_after_s_ = seconds;
    return *this;
  }
  int retry_after_s() const { return retry_after_s_; }

  int status() const { return status_; }
  const std::string& code() const { return code_; }
  const std::string& field() const { return field_; }

  nlohmann::json to_json() const {
    return {{"error", {{"code", code_}, {"message", what()}, {"field", field_}}}};
  }

 private:
  int status_;
  std::string code_;
  std::string field_;
  int retry_after_s_ = 0;
};

}  // namespace iolab
