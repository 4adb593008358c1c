#pragma once

// What the hostile tests share: the iolab binary they start (IOLAB_HOSTILE_BINARY in the
// environment names another one, to show a test failing on an older build), a daemon child
// process with a config of the test's own, raw loopback sockets and the daemon's memory.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <functional>
#include <memory>
#include <string>
#include <thread>

/// The binary the hostile tests run: $IOLAB_HOSTILE_BINARY, or the one this build made.
inline const char* iolab_hostile_binary() {
  const char* other = std::getenv("IOLAB_HOSTILE_BINARY");
  return other && *other ? other : IOLAB_BUILT_BINARY;
}

#include "tests/integration/daemon/daemon_client.h"
#include "tests/integration/daemon/daemon_process.h"

namespace iolab::hostile {

using testing::ApiClient;
using testing::DaemonProcess;
using testing::json;
using Clock = std::chrono::steady_clock;
using namespace std::chrono_literals;
namespace fs = std::filesystem;

/// A daemon on a free loopback port with `yaml` as its config (api.listen and state_dir are
/// added unless `yaml` sets them), in a directory of the test's own removed afterwards.
class HostileDaemon {
 public:
  explicit HostileDaemon(const std::string& tag, const std::string& yaml = "",
                         const std::map<std::string, std::string>& env = {})
      : dir_(testing::fresh_test_dir(tag)) {
    std::ofstream config(dir_ / "iolab.yaml");
    if (yaml.find("api:") == std::string::npos) config << "api: {listen: 127.0.0.1:0}\n";
    if (yaml.find("state_dir:") == std::string::npos) {
      config << "state_dir: " << (dir_ / "state").string() << "\n";
    }
    config << yaml;
    config.close();
    start(env);
  }
  ~HostileDaemon() {
    process_.reset();
    std::error_code ec;
    fs::remove_all(dir_, ec);
  }

  /// (Re)starts the daemon on the same config and state.
  void start(const std::map<std::string, std::string>& env = {}) {
    process_.reset();
    process_ = std::make_unique<DaemonProcess>(dir_, dir_ / "iolab.yaml", env);
  }
  DaemonProcess& process() { return *process_; }
  uint16_t port() { return process_->port(); }
  const fs::path& dir() const { return dir_; }

 private:
  fs::path dir_;
  std::unique_ptr<DaemonProcess> process_;
};

/// True while process `pid` lives (and is not a zombie).
inline bool alive(pid_t pid) {
  std::ifstream stat("/proc/" + std::to_string(pid) + "/stat");
  std::string all((std::istreambuf_iterator<char>(stat)), std::istreambuf_iterator<char>());
  const auto paren = all.rfind(')');
  return paren != std::string::npos && paren + 2 < all.size() && all[paren + 2] != 'Z';
}

/// Polls run `id` until `done(run)` holds, at most `limit`; stops early (null) when the daemon
/// `pid` died meanwhile.
inline json wait_run(ApiClient& api, pid_t pid, int64_t id,
                     const std::function<bool(const json&)>& done,
                     std::chrono::seconds limit = 60s) {
  const auto deadline = Clock::now() + limit;
  while (Clock::now() < deadline && alive(pid)) {
    const json run = api.get("/api/v1/runs/" + std::to_string(id)).body;
    if (run.is_object() && done(run)) return run;
    std::this_thread::sleep_for(50ms);
  }
  return nullptr;
}

/// The same until the run ends.
inline json wait_final(ApiClient& api, pid_t pid, int64_t id, std::chrono::seconds limit = 60s) {
  return wait_run(
      api, pid, id,
      [](const json& r) {
        const std::string s = r.value("state", "");
        return s != "queued" && s != "running";
      },
      limit);
}

/// A blocking TCP connection to 127.0.0.1:`port`; -1 when it cannot connect.
inline int connect_loopback(uint16_t port) {
  const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return -1;
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(port);
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
    ::close(fd);
    return -1;
  }
  return fd;
}

// A listener that never accepts: the kernel completes the connections and nothing answers.
class SilentListener {
 public:
  SilentListener() {
    fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof addr;
    if (::bind(fd_, reinterpret_cast<sockaddr*>(&addr), len) == 0 && ::listen(fd_, 64) == 0 &&
        ::getsockname(fd_, reinterpret_cast<sockaddr*>(&addr), &len) == 0) {
      port_ = ntohs(addr.sin_port);
    }
  }
  ~SilentListener() { ::close(fd_); }
  uint16_t port() const { return port_; }

 private:
  int fd_ = -1;
  uint16_t port_ = 0;
};

/// One listener for the whole test program.
inline SilentListener& silent() {
  static SilentListener listener;
  return listener;
}

/// A 10-minute run of one connection on a listener that never answers: it holds the queue, not
/// the machine.
inline json ten_minutes() {
  return {{"target", "http://127.0.0.1:" + std::to_string(silent().port()) + "/"},
          {"connections", 1},
          {"threads", 1},
          {"duration", "10m"},
          {"warmup", "0s"}};
}

/// Raises this process's RLIMIT_NOFILE to its hard limit; returns the limit.
inline rlim_t raise_open_files() {
  rlimit limit{};
  ::getrlimit(RLIMIT_NOFILE, &limit);
  limit.rlim_cur = limit.rlim_max;
  ::setrlimit(RLIMIT_NOFILE, &limit);
  return limit.rlim_cur;
}

/// The resident memory of process `pid` in bytes (VmRSS), 0 when it is gone.
inline uint64_t rss_bytes(pid_t pid) {
  std::ifstream status("/proc/" + std::to_string(pid) + "/status");
  std::string line;
  while (std::getline(status, line)) {
    if (line.rfind("VmRSS:", 0) == 0) return std::stoull(line.substr(6)) * 1024;
  }
  return 0;
}

/// The descriptors process `pid` holds open.
inline size_t open_descriptors(pid_t pid) {
  std::error_code ec;
  size_t n = 0;
  for (auto it = fs::directory_iterator("/proc/" + std::to_string(pid) + "/fd", ec);
       !ec && it != fs::directory_iterator(); it.increment(ec)) {
    ++n;
  }
  return n;
}

}  // namespace iolab::hostile
