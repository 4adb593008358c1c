#pragma once

// `iolab daemon` as a child process, for the tests that start, signal and kill it.
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
#include <map>
#include <optional>
#include <string>
#include <thread>

#include "tests/integration/run_iolab.h"

namespace iolab::testing {

/// An empty directory of the running test's own, `<tmp>/iolab_<tag>_<pid>_<test name>`, for a
/// daemon's config, state and output. The fixture removes it in TearDown.
inline std::filesystem::path fresh_test_dir(const std::string& tag) {
  const auto dir = std::filesystem::temp_directory_path() /
                   ("iolab_" + tag + "_" + std::to_string(::getpid()) + "_" +
                    ::testing::UnitTest::GetInstance()->current_test_info()->name());
  std::filesystem::remove_all(dir);
  std::filesystem::create_directories(dir);
  return dir;
}

/// `iolab daemon --config FILE` as a child process, with `env` added to its environment and, when
/// `max_open_files` is not 0, that RLIMIT_NOFILE (soft and hard). Its
/// stdout and stderr go to files in `dir`, capped at 10 MiB (RLIMIT_FSIZE); it dies with the test
/// (PR_SET_PDEATHSIG), at the latest after `lifetime` (an alarm set before exec, which the daemon
/// neither blocks nor handles), and is SIGKILLed on destruction. Its workers die with it (their
/// own PR_SET_PDEATHSIG). Not thread-safe: one test thread drives it.
class DaemonProcess {
 public:
  DaemonProcess(const std::filesystem::path& dir, const std::filesystem::path& config,
                const std::map<std::string, std::string>& env = {},
                std::chrono::seconds lifetime = std::chrono::seconds(120),
                rlim_t max_open_files = 0)
      : out_(dir / "daemon_out"), err_(dir / "daemon_err") {
    std::filesystem::remove(out_);  // a stale first line would name the wrong port
    pid_ = ::fork();
    if (pid_ == 0) {
      ::prctl(PR_SET_PDEATHSIG, SIGKILL);
      const rlimit fsize{kMaxOutputBytes, kMaxOutputBytes};
      ::setrlimit(RLIMIT_FSIZE, &fsize);
      if (max_open_files != 0) {
        const rlimit nofile{max_open_files, max_open_files};
        ::setrlimit(RLIMIT_NOFILE, &nofile);
      }
      for (const auto& [name, value] : env) ::setenv(name.c_str(), value.c_str(), 1);
      if (!std::freopen(out_.c_str(), "w", stdout) || !std::freopen(err_.c_str(), "w", stderr)) {
        ::_exit(127);
      }
      ::alarm(static_cast<unsigned>(lifetime.count()));
      ::execl(IOLAB_BINARY, IOLAB_BINARY, "daemon", "--config", config.c_str(),
              static_cast<char*>(nullptr));
      ::_exit(127);
    }
  }

  ~DaemonProcess() {
    if (pid_ > 0) {
      ::kill(pid_, SIGKILL);
      ::waitpid(pid_, nullptr, 0);
    }
  }
  DaemonProcess(const DaemonProcess&) = delete;
  DaemonProcess& operator=(const DaemonProcess&) = delete;

  /// The port from the first line of stdout ("... listening on 127.0.0.1:PORT"), waiting for
  /// it at most 15 s the first time; 0 when it never came (the daemon failed or exited).
  uint16_t port() {
    using namespace std::chrono_literals;
    const auto deadline = std::chrono::steady_clock::now() + 15s;
    while (port_ == 0 && pid_ > 0 && std::chrono::steady_clock::now() < deadline) {
      const std::string out = slurp(out_);
      const auto newline = out.find('\n');
      if (newline != std::string::npos) {
        const std::string line = out.substr(0, newline);
        port_ = static_cast<uint16_t>(std::stoi(line.substr(line.rfind(':') + 1)));
        break;
      }
      if (wait_status(0ms)) break;  // It exited without a word.
      std::this_thread::sleep_for(10ms);
    }
    return port_;
  }
  std::string url() { return "http://127.0.0.1:" + std::to_string(port()); }
  pid_t pid() const { return pid_; }
  std::string err() const { return slurp(err_); }

  /// Sends `signal` to the daemon, while it is there.
  void signal(int signal) const {
    if (pid_ > 0) ::kill(pid_, signal);
  }

  /// Waits for the daemon to end, at most `limit`: its wait status, or nullopt if it did not.
  std::optional<int> wait_status(std::chrono::milliseconds limit) {
    const auto deadline = std::chrono::steady_clock::now() + limit;
    do {
      int status = 0;
      if (pid_ > 0 && ::waitpid(pid_, &status, WNOHANG) == pid_) {
        pid_ = -1;
        exit_status_ = status;
      }
      if (exit_status_) return exit_status_;
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
    } while (std::chrono::steady_clock::now() < deadline);
    return std::nullopt;
  }

  /// Waits for the daemon to end, at most `limit`. Returns true when it did; `*killed_by` is then
  /// the signal that ended it (0 when it exited).
  bool wait_exit(std::chrono::milliseconds limit, int* killed_by = nullptr) {
    const auto status = wait_status(limit);
    if (status && killed_by) *killed_by = WIFSIGNALED(*status) ? WTERMSIG(*status) : 0;
    return status.has_value();
  }

  /// Sends `signal` and waits for the exit, at most `limit`. Returns the wait status, or -1
  /// when it did not exit in time.
  int signal_and_wait(int signal, std::chrono::milliseconds limit) {
    this->signal(signal);
    return wait_status(limit).value_or(-1);
  }

  /// Waits until stderr holds `text` `count` times, at most `limit`.
  bool wait_err(const std::string& text, size_t count = 1,
                std::chrono::milliseconds limit = std::chrono::seconds(15)) const {
    const auto deadline = std::chrono::steady_clock::now() + limit;
    while (std::chrono::steady_clock::now() < deadline) {
      const std::string e = err();
      size_t found = 0;
      for (size_t at = e.find(text); at != std::string::npos; at = e.find(text, at + 1)) ++found;
      if (found >= count) return true;
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    return false;
  }

 private:
  static constexpr rlim_t kMaxOutputBytes = 10 * 1024 * 1024;

  std::filesystem::path out_;
  std::filesystem::path err_;
  pid_t pid_ = -1;
  uint16_t port_ = 0;
  std::optional<int> exit_status_;
};

}  // namespace iolab::testing
