#pragma once

#include <stdexcept>

namespace iolab {

/// Something could not start (bind failed, worker did not come up). Thrown at start-up only;
/// `main` prints it on one line and exits non-zero.
class StartError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

/// A bad config or experiment file: names the file, line and key ("file:line: key: message").
class ConfigError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

}  // namespace iolab
