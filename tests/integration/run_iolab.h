#pragma once

// Runs the iolab binary as a user would, for the tests that check its exit codes and output.
#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>

namespace iolab::testing {

struct Outcome {
  int exit_code = -1;
  std::string out;
  std::string err;
};

inline std::string slurp(const std::filesystem::path& p) {
  std::ifstream in(p);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

/// `iolab ARGS` with no input, bounded in time (120 s) and output size (10 MiB) so that a hang
/// cannot fill the disk. `max_open_files`, when not 0, is its RLIMIT_NOFILE (soft and hard).
inline Outcome run_iolab(const std::string& args, int max_open_files = 0) {
  const auto dir = std::filesystem::temp_directory_path();
  const std::string tag = std::to_string(::getpid());
  const auto out = dir / ("iolab_test_out_" + tag);
  const auto err = dir / ("iolab_test_err_" + tag);
  const std::string nofile =
      max_open_files == 0 ? "" : "ulimit -n " + std::to_string(max_open_files) + "; ";
  const std::string cmd = "ulimit -f 10240; " + nofile + "timeout -s KILL 120 " +
                          std::string(IOLAB_BINARY) + " " + args + " >" + out.string() + " 2>" +
                          err.string() + " </dev/null";
  const int status = std::system(cmd.c_str());
  Outcome o{WIFEXITED(status) ? WEXITSTATUS(status) : -1, slurp(out), slurp(err)};
  std::filesystem::remove(out);
  std::filesystem::remove(err);
  return o;
}

}  // namespace iolab::testing
