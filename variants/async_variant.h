#pragma once

#include <cstdint>
#include <memory>
#include <thread>

#include "variants/server_stats.h"
#include "variants/variant.h"

namespace iolab {

class AsyncLoop;

/// aiohttp's model: one epoll event loop per worker process serving every connection, with
/// non-blocking upstream calls over a pool of keep-alive connections. Nothing blocks: a request
/// waiting for its upstream costs a few hundred bytes of state, not a thread or a stack.
class AsyncVariant final : public Variant {
 public:
  /// `pool_size` caps the upstream connections (0: no cap); a request that finds none free
  /// waits for one, and that wait is recorded as pool wait (see AsyncUpstreamPool).
  AsyncVariant(UpstreamOptions upstream, int pool_size);
  ~AsyncVariant() override;

  uint16_t serve(int listen_fd) override;
  void stop() override;
  std::string name() const override { return "async"; }
  const ServerStats& stats() const override { return stats_; }

 private:
  UpstreamOptions upstream_;
  int pool_size_;
  ServerStats stats_;
  std::unique_ptr<AsyncLoop> loop_;
  std::jthread thread_;
};

}  // namespace iolab
