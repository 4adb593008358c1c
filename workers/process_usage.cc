#include "workers/process_usage.h"

#include <unistd.h>

#include <fstream>
#include <sstream>
#include <string>

namespace iolab {

ProcessUsage& ProcessUsage::operator+=(const ProcessUsage& o) {
  rss_bytes += o.rss_bytes;
  peak_rss_bytes += o.peak_rss_bytes;
  threads += o.threads;
  cpu_seconds += o.cpu_seconds;
  return *this;
}

ProcessUsage read_usage(pid_t pid) {
  ProcessUsage usage;
  const std::string dir = "/proc/" + std::to_string(pid);
  std::ifstream status(dir + "/status");
  std::string line;
  while (std::getline(status, line)) {
    std::istringstream fields(line);
    std::string key;
    uint64_t value = 0;
    fields >> key >> value;
    if (key == "VmRSS:") usage.rss_bytes = value * 1024;
    if (key == "VmHWM:") usage.peak_rss_bytes = value * 1024;
    if (key == "Threads:") usage.threads = static_cast<int>(value);
  }
  std::ifstream stat(dir + "/stat");
  std::string text((std::istreambuf_iterator<char>(stat)), std::istreambuf_iterator<char>());
  // Fields after the command name, which is in parentheses and may hold spaces.
  const size_t close = text.rfind(')');
  if (close != std::string::npos) {
    std::istringstream rest(text.substr(close + 2));
    std::string field;
    uint64_t utime = 0;
    uint64_t stime = 0;
    for (int i = 3; i <= 15 && rest >> field; ++i) {
      if (i == 14) utime = std::stoull(field);
      if (i == 15) stime = std::stoull(field);
    }
    usage.cpu_seconds =
        static_cast<double>(utime + stime) / static_cast<double>(::sysconf(_SC_CLK_TCK));
  }
  return usage;
}

ProcessUsage read_usage(const std::vector<pid_t>& pids) {
  ProcessUsage total;
  for (pid_t pid : pids) total += read_usage(pid);
  return total;
}

}  // namespace iolab
