#include "lab/yaml_reader.h"

#include <cmath>
#include <sstream>
#include <stdexcept>

#include "core/duration.h"

namespace iolab {

YAML::Node load_yaml(const std::string& text, const std::string& origin) {
  try {
    return YAML::Load(text);
  } catch (const YAML::Exception& e) {
    throw ConfigError(origin + ":" + std::to_string(e.mark.line + 1) + ": " + e.msg);
  }
}

void YamlReader::fail(const YAML::Node& node, const std::string& key,
                      const std::string& message) const {
  std::ostringstream out;
  out << origin_;
  if (node.IsDefined() && node.Mark().line >= 0) out << ":" << node.Mark().line + 1;
  out << ": " << key << ": " << message;
  throw ConfigError(out.str());
}

void YamlReader::require_map(const YAML::Node& node, const std::string& key,
                             const std::set<std::string>& allowed) const {
  if (!node.IsMap()) fail(node, key.empty() ? "(top level)" : key, "expected a mapping");
  for (const auto& item : node) {
    // A key that is a list, a mapping or null ("[a]: 1") has no name: as<std::string>() would
    // throw yaml-cpp's own exception instead of a ConfigError naming the line.
    if (!item.first.IsScalar())
      fail(item.first, key.empty() ? "(top level)" : key, "expected a plain key name");
    const auto name = item.first.Scalar();
    if (!allowed.contains(name)) {
      fail(item.first, key.empty() ? name : key + "." + name, "unknown key");
    }
  }
}

std::string YamlReader::scalar(const YAML::Node& node, const std::string& key) const {
  if (!node.IsScalar()) fail(node, key, "expected a single value");
  return node.Scalar();
}

std::chrono::nanoseconds YamlReader::duration(const YAML::Node& node, const std::string& key,
                                              bool allow_zero) const {
  const auto text = scalar(node, key);
  const auto d = parse_duration(text);
  if (!d || (d->count() == 0 && !allow_zero)) {
    fail(node, key, "bad duration '" + text + "' (use 500ms, 20s, 5m)");
  }
  return *d;
}

long long YamlReader::integer(const YAML::Node& node, const std::string& key, long long lo,
                              long long hi) const {
  const auto text = scalar(node, key);
  long long value = 0;
  try {
    size_t used = 0;
    value = std::stoll(text, &used);
    if (used != text.size()) throw std::invalid_argument(text);
  } catch (const std::exception&) {
    fail(node, key, "expected an integer, got '" + text + "'");
  }
  if (value < lo || value > hi) {
    fail(node, key,
         std::to_string(value) + " is out of range " + std::to_string(lo) + ".." +
             std::to_string(hi));
  }
  return value;
}

double YamlReader::number(const YAML::Node& node, const std::string& key, double lo,
                          double hi) const {
  const auto text = scalar(node, key);
  double value = 0;
  try {
    size_t used = 0;
    value = std::stod(text, &used);
    if (used != text.size()) throw std::invalid_argument(text);
  } catch (const std::exception&) {
    fail(node, key, "expected a number, got '" + text + "'");
  }
  if (!(value >= lo && value <= hi)) {
    fail(node, key, text + " is out of range " + std::to_string(lo) + ".." + std::to_string(hi));
  }
  return value;
}

// "10%" or a fraction "0.1"; returned as a fraction in (0, max].
double YamlReader::percent(const YAML::Node& node, const std::string& key, double max) const {
  std::string text = scalar(node, key);
  const bool pct = !text.empty() && text.back() == '%';
  if (pct) text.pop_back();
  double value = 0;
  try {
    size_t used = 0;
    value = std::stod(text, &used);
    if (used != text.size()) throw std::invalid_argument(text);
  } catch (const std::exception&) {
    fail(node, key, "expected a percentage like 10%, got '" + node.Scalar() + "'");
  }
  if (pct) value /= 100;
  if (!(value > 0 && value <= max)) {
    fail(node, key,
         "must be above 0 % and at most " + std::to_string(std::lround(max * 100)) + " %");
  }
  return value;
}

Endpoint YamlReader::endpoint(const YAML::Node& node, const std::string& key) const {
  const auto text = scalar(node, key);
  const auto e = parse_endpoint(text);
  if (!e || !e->sockaddr()) fail(node, key, "bad address '" + text + "' (use 127.0.0.1:7070)");
  return *e;
}

}  // namespace iolab
