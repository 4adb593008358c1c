#pragma once

#include <yaml-cpp/yaml.h>

#include <chrono>
#include <set>
#include <string>

#include "core/endpoint.h"
#include "core/errors.h"

namespace iolab {

/// Parses `text`; a syntax error throws ConfigError "ORIGIN:LINE: what is wrong".
YAML::Node load_yaml(const std::string& text, const std::string& origin);

/// Reads typed values out of a YAML document for the config and experiment files. Every failure
/// throws ConfigError as "ORIGIN:LINE: KEY: what is wrong".
class YamlReader {
 public:
  explicit YamlReader(std::string origin) : origin_(std::move(origin)) {}

  [[noreturn]] void fail(const YAML::Node& node, const std::string& key,
                         const std::string& message) const;
  /// A mapping whose keys are all in `allowed`.
  void require_map(const YAML::Node& node, const std::string& key,
                   const std::set<std::string>& allowed) const;
  std::string scalar(const YAML::Node& node, const std::string& key) const;
  /// "500ms", "20s", "5m"; zero only when `allow_zero`.
  std::chrono::nanoseconds duration(const YAML::Node& node, const std::string& key,
                                    bool allow_zero = false) const;
  long long integer(const YAML::Node& node, const std::string& key, long long lo,
                    long long hi) const;
  double number(const YAML::Node& node, const std::string& key, double lo, double hi) const;
  /// "10%" or a fraction "0.1"; returned as a fraction in (0, max].
  double percent(const YAML::Node& node, const std::string& key, double max) const;
  /// "127.0.0.1:7070".
  Endpoint endpoint(const YAML::Node& node, const std::string& key) const;

 private:
  std::string origin_;
};

}  // namespace iolab
