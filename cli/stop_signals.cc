#include "cli/stop_signals.h"

#include <pthread.h>

namespace iolab {

StopSignals::StopSignals() {
  sigemptyset(&set_);
  sigaddset(&set_, SIGINT);
  sigaddset(&set_, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &set_, nullptr);
}

void StopSignals::wait() const {
  int received = 0;
  sigwait(&set_, &received);
}

std::stop_token StopSignals::watch() {
  watcher_ = std::jthread([set = set_, source = source_]() mutable {
    int received = 0;
    sigwait(&set, &received);
    source.request_stop();
  });
  watcher_.detach();
  return source_.get_token();
}

}  // namespace iolab
