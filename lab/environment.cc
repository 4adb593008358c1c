#include "lab/environment.h"

#include <sys/utsname.h>
#include <unistd.h>

#include <fstream>
#include <string>
#include <thread>

namespace iolab {
namespace {

std::string cpu_model() {
  std::ifstream in("/proc/cpuinfo");
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind("model name", 0) != 0) continue;
    const auto colon = line.find(':');
    if (colon == std::string::npos) break;
    const auto start = line.find_first_not_of(" \t", colon + 1);
    return start == std::string::npos ? "" : line.substr(start);
  }
  return "unknown";
}

}  // namespace

nlohmann::json run_environment() {
  utsname name{};
  ::uname(&name);
  return {{"host", name.nodename},
          {"kernel", std::string(name.sysname) + " " + name.release},
          {"machine", name.machine},
          {"cpu_model", cpu_model()},
          {"cpus", std::thread::hardware_concurrency()},
          {"iolab_version", IOLAB_VERSION},
          {"iolab_revision", IOLAB_GIT_REVISION}};
}

}  // namespace iolab
