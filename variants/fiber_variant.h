#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <thread>

#include "variants/server_stats.h"
#include "variants/variant.h"

namespace iolab {

class FiberReactor;

/// gevent's model (and, with `blocking_upstream`, meinheld's as the article ran it): one
/// Boost.Fiber per connection, written in blocking style, on one thread per worker.
///
/// A read, write or connect that would block parks only its fiber (FiberReactor sleeps in
/// epoll). With `blocking_upstream` the upstream call is a plain blocking socket call instead,
/// which stalls the thread and so every fiber of the worker: one upstream call at a time.
class FiberVariant final : public Variant {
 public:
  FiberVariant(UpstreamOptions upstream, bool blocking_upstream, size_t stack_bytes);
  ~FiberVariant() override;

  uint16_t serve(int listen_fd) override;
  void stop() override;
  std::string name() const override { return blocking_ ? "fiber-blocking" : "fiber"; }
  const ServerStats& stats() const override { return stats_; }

 private:
  void run(int listen_fd);
  void serve_connection(int fd);

  UpstreamOptions upstream_;
  bool blocking_;
  size_t stack_bytes_;
  ServerStats stats_;
  std::atomic<FiberReactor*> reactor_{nullptr};
  std::jthread thread_;
};

}  // namespace iolab
