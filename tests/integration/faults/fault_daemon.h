#pragma once

// `iolab daemon` as a child process for the fault tests: started with a given environment,
// killed at will, bounded in time and output.
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>
#include <string>
#include <thread>

namespace iolab::testing {

namespace fault_daemon_detail {

inline std::string slurp(const std::filesystem::path& p) {
  std::ifstream in(p);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

}  // namespace fault_daemon_detail

/// `iolab daemon --config FILE` as a child process, with `env` added to its environment. Its
/// output goes to files in `dir` capped at 10 MiB (RLIMIT_FSIZE); it dies with the test
/// (PR_SET_PDEATHSIG), at the latest after `lifetime` (an alarm set before exec, which the
/// daemon neither blocks nor handles), and is SIGKILLed on destruction. Its workers die with it
/// (their own PR_SET_PDEATHSIG).
class FaultDaemon {
 public:
  FaultDaemon(const std::filesystem::path& dir, const std::filesystem::path& config,
              const std::map<std::string, std::string>& env = {},
              std::chrono::seconds lifetime = std::chrono::seconds(60))
      : out_(dir / "daemon_out"), err_(dir / "daemon_err") {
    using namespace std::chrono_literals;
    std::filesystem::remove(out_);  // a stale first line would name the wrong port
    pid_ = ::fork();
    if (pid_ == 0) {
      ::prctl(PR_SET_PDEATHSIG, SIGKILL);
      const rlimit fsize{kMaxOutputBytes, kMaxOutputBytes};
      ::setrlimit(RLIMIT_FSIZE, &fsize);
      for (const auto& [name, value] : env) ::setenv(name.c_str(), value.c_str(), 1);
      if (!std::freopen(out_.c_str(), "w", stdout) || !std::freopen(err_.c_str(), "w", stderr)) {
        ::_exit(127);
      }
      ::alarm(static_cast<unsigned>(lifetime.count()));
      ::execl(IOLAB_BINARY, IOLAB_BINARY, "daemon", "--config", config.c_str(),
              static_cast<char*>(nullptr));
      ::_exit(127);
    }
    const auto deadline = std::chrono::steady_clock::now() + 15s;
    while (std::chrono::steady_clock::now() < deadline) {
      const std::string out = fault_daemon_detail::slurp(out_);
      const auto newline = out.find('\n');
      if (newline != std::string::npos) {
        const std::string line = out.substr(0, newline);
        port_ = static_cast<uint16_t>(std::stoi(line.substr(line.rfind(':') + 1)));
        return;
      }
      if (int status = 0; ::waitpid(pid_, &status, WNOHANG) == pid_) {
        pid_ = -1;
        break;
      }
      std::this_thread::sleep_for(20ms);
    }
    ADD_FAILURE() << "the daemon did not print its address; stderr: " << err();
  }

  ~FaultDaemon() {
    if (pid_ > 0) {
      ::kill(pid_, SIGKILL);
      ::waitpid(pid_, nullptr, 0);
    }
  }
  FaultDaemon(const FaultDaemon&) = delete;
  FaultDaemon& operator=(const FaultDaemon&) = delete;

  uint16_t port() const { return port_; }
  pid_t pid() const { return pid_; }
  std::string err() const { return fault_daemon_detail::slurp(err_); }

  /// Sends `signal` to the daemon, when it is still there.
  void signal(int signal) const {
    if (pid_ > 0) ::kill(pid_, signal);
  }

  /// Waits for the daemon to end, at most `limit`. Returns true when it did; `*killed_by` is then
  /// the signal that ended it (0 when it exited).
  bool wait_exit(std::chrono::milliseconds limit, int* killed_by = nullptr) {
    const auto deadline = std::chrono::steady_clock::now() + limit;
    while (std::chrono::steady_clock::now() < deadline) {
      int status = 0;
      if (pid_ > 0 && ::waitpid(pid_, &status, WNOHANG) == pid_) {
        pid_ = -1;
        if (killed_by) *killed_by = WIFSIGNALED(status) ? WTERMSIG(status) : 0;
        return true;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
    return false;
  }

 private:
  static constexpr rlim_t kMaxOutputBytes = 10 * 1024 * 1024;

  std::filesystem::path out_;
  std::filesystem::path err_;
  pid_t pid_ = -1;
  uint16_t port_ = 0;
};

}  // namespace iolab::testing
