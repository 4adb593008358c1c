#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <thread>

#include "variants/variant.h"

namespace httplib {
class Server;
}

namespace iolab {

/// Flask with N threads: cpp-httplib's server with ThreadPool(N). Each pool thread owns one
/// connection at a time and makes the upstream call with its own blocking httplib::Client
/// (keep-alive), so at most N requests per worker are in progress: the bound is N / delay.
class ThreadsVariant final : public Variant {
 public:
  ThreadsVariant(int threads, UpstreamOptions upstream);
  ~ThreadsVariant() override;

  uint16_t start(const Endpoint& listen) override;
  void stop() override;
  uint64_t requests_served() const override { return served_.load(std::memory_order_relaxed); }
  std::string name() const override;

 private:
  void handle_remote(std::string& body, int& status);

  int threads_;
  UpstreamOptions upstream_;
  std::atomic<uint64_t> served_{0};
  std::unique_ptr<httplib::Server> server_;
  std::jthread listener_;
};

}  // namespace iolab
