#pragma once

#include <nlohmann/json.hpp>

namespace iolab {

/// Where a run ran: `{"host","kernel","cpu_model","cpus","iolab_version","iolab_revision"}`,
/// read from uname(2) and /proc/cpuinfo. Any thread.
nlohmann::json run_environment();

}  // namespace iolab
