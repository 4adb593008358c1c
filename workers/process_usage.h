#pragma once

#include <sys/types.h>

#include <cstdint>
#include <vector>

namespace iolab {

/// What a set of processes uses, read from /proc. Sums over the processes.
struct ProcessUsage {
  uint64_t rss_bytes = 0;       ///< Resident now (VmRSS).
  uint64_t peak_rss_bytes = 0;  ///< Highest resident size each process reached (VmHWM), summed.
  int threads = 0;
  double cpu_seconds = 0;  ///< User + system time since each process started.

  ProcessUsage& operator+=(const ProcessUsage& o);
};

/// Reads /proc/PID/status and /proc/PID/stat; a process that is gone counts as zero.
ProcessUsage read_usage(pid_t pid);

/// The sum over `pids`.
ProcessUsage read_usage(const std::vector<pid_t>& pids);

}  // namespace iolab
