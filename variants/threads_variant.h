#pragma once

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>

#include "variants/variant.h"

namespace httplib {
class Server;
}

namespace iolab {

struct ThreadsUpstreamCall;

/// Flask with N threads: cpp-httplib's server with ThreadPool(N). Each pool thread owns one
/// connection at a time and makes the upstream call with its own blocking httplib::Client
/// (keep-alive), so at most N requests per worker are in progress: the bound is N / delay.
class ThreadsVariant final : public Variant {
 public:
  ThreadsVariant(int threads, UpstreamOptions upstream);
  ~ThreadsVariant() override;

  uint16_t start(const Endpoint& listen) override;
  void stop() override;
  /// Queue wait is not recorded: cpp-httplib gives no hook between a connection becoming
  /// readable and its handler starting.
  const ServerStats& stats() const override { return stats_; }
  std::string name() const override;

 private:
  void handle_remote(std::string& body, int& status);
  /// Ends upstream calls past their deadline (see UpstreamCall in the .cc); runs until stopped.
  void watch_deadlines(const std::stop_token& stop);

  /// Where the listener thread is; see start().
  enum class ListenState : uint8_t { kStarting, kAccepting, kEnded };
  void set_listen_state(ListenState state);
  /// Makes the accept loop end whether or not it has started; see stop().
  void end_accept_loop();

  int threads_;
  UpstreamOptions upstream_;
  ServerStats stats_;
  std::mutex calls_mutex_;
  std::vector<std::shared_ptr<ThreadsUpstreamCall>> calls_;  // One per pool thread that called.
  std::mutex listen_mutex_;
  std::condition_variable listen_changed_;
  ListenState listen_state_ = ListenState::kStarting;  // Guarded by listen_mutex_.
  int stop_fd_ = -1;  // A duplicate of the listening socket, ours to shut down and close.
  std::unique_ptr<httplib::Server> server_;
  std::jthread listener_;
  std::jthread watchdog_;
};

}  // namespace iolab
