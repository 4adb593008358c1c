#pragma once

#include <signal.h>

#include <stop_token>
#include <thread>

namespace iolab {

/// Blocks SIGINT and SIGTERM in every thread started after it; wait() returns on either, or
/// a watcher thread turns them into a stop request.
class StopSignals {
 public:
  StopSignals();

  /// Blocks the caller until SIGINT or SIGTERM.
  void wait() const;

  /// Starts a thread that requests stop on the returned token's source at the first signal.
  /// The thread is detached and may outlive this object, so it owns copies of the set and of the
  /// stop source (a shared handle) rather than pointing back here.
  std::stop_token watch();

 private:
  sigset_t set_{};
  std::stop_source source_;
  std::jthread watcher_;
};

}  // namespace iolab
