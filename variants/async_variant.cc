#include "variants/async_variant.h"

#include <unistd.h>

#include "variants/async_loop.h"
#include "variants/net.h"

namespace iolab {

AsyncVariant::AsyncVariant(UpstreamOptions upstream, int pool_size)
    : upstream_(std::move(upstream)), pool_size_(pool_size) {}

AsyncVariant::~AsyncVariant() { stop(); }

uint16_t AsyncVariant::serve(int fd) {
  const uint16_t port = bound_port(fd);
  try {
    loop_ = std::make_unique<AsyncLoop>(upstream_, pool_size_, stats_, fd);
  } catch (...) {
    ::close(fd);
    throw;
  }
  // The listener is in the epoll set and listening: connections queue in its backlog until the
  // thread's first epoll_wait, and a stop() before that is seen through the eventfd.
  thread_ = std::jthread([this](const std::stop_token& stop) { loop_->run(stop); });
  return port;
}

void AsyncVariant::stop() {
  if (!thread_.joinable()) return;
  thread_.request_stop();
  loop_->wake();
  thread_.join();
  loop_.reset();
}

}  // namespace iolab
