#include "loadgen/preflight.h"

#include <arpa/inet.h>
#include <poll.h>
#include <sys/resource.h>
#include <sys/socket.h>

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstring>
#include <string>

#include "core/duration.h"
#include "loadgen/engine.h"
#include "loadgen/run_context.h"

namespace iolab {
namespace {

constexpr int kProbeTimeoutMs = 2000;
// Descriptors kept free beyond the connections: epoll sets, the probe, the rest of the process.
constexpr rlim_t kSpareFds = 64;
constexpr int kMaxPipeline = 1024;
// An answer's head may be as small as a status line; more than 64 MiB is no longer a head.
constexpr uint64_t kMinHeadBytes = 64;
constexpr uint64_t kMaxHeadBytes = uint64_t{64} << 20;

}  // namespace

uint64_t raise_open_file_limit() {
  rlimit limit{};
  if (::getrlimit(RLIMIT_NOFILE, &limit) != 0) return 0;
  if (limit.rlim_cur < limit.rlim_max) {
    rlimit raised = limit;
    raised.rlim_cur = limit.rlim_max;
    if (::setrlimit(RLIMIT_NOFILE, &raised) == 0) limit = raised;
  }
  return limit.rlim_cur == RLIM_INFINITY ? UINT64_MAX : static_cast<uint64_t>(limit.rlim_cur);
}

void reserve_open_files(int connections, uint64_t others, const std::string& others_what) {
  const uint64_t limit = raise_open_file_limit();
  const uint64_t needed = static_cast<uint64_t>(connections) + others + kSpareFds;
  if (needed <= limit) return;
  std::string message = "connections: " + std::to_string(connections) + " need " +
                        std::to_string(needed) + " open files in this process";
  if (others != 0) {
    message += " (" + std::to_string(connections) + " for the load, " + std::to_string(others) +
               " for " + others_what + ", " + std::to_string(kSpareFds) + " spare)";
  }
  message += " but RLIMIT_NOFILE allows " + std::to_string(limit) +
             "; use fewer connections or raise the limit (ulimit -n, systemd LimitNOFILE=)";
  throw RunError(message);
}

namespace loadgen {
namespace {

std::string spec_source(const RunContext& context) {
  char text[INET_ADDRSTRLEN] = {};
  ::inet_ntop(AF_INET, &context.source.sin_addr, text, sizeof(text));
  return text;
}

// A segment's share must lie inside its whole run, and agree with it on the loop.
void validate_segment(const LoadSpec& spec) {
  if (!spec.segment) return;
  const SegmentSpec& s = *spec.segment;
  const auto whole = static_cast<uint64_t>(s.whole_connections);
  if (s.whole_connections < 1 ||
      s.segment.first_of(whole) + static_cast<uint64_t>(spec.connections) > whole) {
    throw RunError("segment " + s.segment.to_string() + ": " +
                   std::to_string(spec.connections) + " connections do not fit in the whole " +
                   "run's " + std::to_string(s.whole_connections));
  }
  if ((s.whole_rate > 0) != (spec.rate > 0) || !std::isfinite(s.whole_rate)) {
    throw RunError("segment " + s.segment.to_string() +
                   ": the whole run and its share disagree on the open loop");
  }
}

}  // namespace

void validate(LoadSpec& spec) {
  if (spec.connections < 1) {
    throw RunError("connections must be at least 1, got " + std::to_string(spec.connections));
  }
  if (spec.threads < 1) {
    throw RunError("threads must be at least 1, got " + std::to_string(spec.threads));
  }
  // More threads than connections would leave loops with nothing to do.
  spec.threads = std::min(spec.threads, spec.connections);
  if (spec.duration <= 0s) {
    throw RunError("duration must be positive, got " + format_duration(spec.duration));
  }
  if (spec.warmup < 0s) {
    throw RunError("warmup must not be negative, got " + format_duration(spec.warmup));
  }
  if (spec.timeout <= 0s) {
    throw RunError("timeout must be positive, got " + format_duration(spec.timeout));
  }
  if (!std::isfinite(spec.rate) || spec.rate < 0) {
    throw RunError("rate must be a positive number of requests per second, got " +
                   std::to_string(spec.rate));
  }
  if (spec.pipeline < 1 || spec.pipeline > kMaxPipeline) {
    throw RunError("pipeline must be between 1 and " + std::to_string(kMaxPipeline) + ", got " +
                   std::to_string(spec.pipeline));
  }
  if (spec.max_head_bytes < kMinHeadBytes || spec.max_head_bytes > kMaxHeadBytes) {
    throw RunError("max_head_bytes must be between " + std::to_string(kMinHeadBytes) + " and " +
                   std::to_string(kMaxHeadBytes) + ", got " + std::to_string(spec.max_head_bytes));
  }
  if (spec.rate > 0 && spec.pipeline > 1) {
    throw RunError("pipeline: the open loop (rate) keeps one request per connection in flight");
  }
  if (!spec.target.endpoint.sockaddr()) {
    throw RunError(std::string("target host '") + spec.target.endpoint.host +
                   "' is not an IPv4 address or localhost");
  }
  if (!spec.source.empty() && !Endpoint{spec.source, 0}.sockaddr()) {
    throw RunError("source address '" + spec.source + "' is not an IPv4 address");
  }
  validate_segment(spec);
  if (spec.target.target.empty()) spec.target.target.push_back('/');
}

void probe(const Endpoint& endpoint, const RunContext& context) {
  const sockaddr_in& addr = context.addr;
  auto fail = [&](int code) {
    throw RunError("cannot connect to " + endpoint.to_string() + ": " + std::strerror(code));
  };
  const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) fail(errno);
  if (!bind_source(fd, context)) {
    const int code = errno;
    close_quietly(fd);
    throw RunError("cannot bind to the source address " + spec_source(context) + ": " +
                   std::strerror(code));
  }
  int error = 0;
  if (::connect(fd, reinterpret_cast<const sockaddr*>(&addr), sizeof(addr)) != 0) {
    error = errno;
    if (error == EINPROGRESS) {
      pollfd pfd{fd, POLLOUT, 0};
      int ready = 0;
      do {
        ready = ::poll(&pfd, 1, kProbeTimeoutMs);
      } while (ready < 0 && errno == EINTR);
      if (ready == 0) {
        error = ETIMEDOUT;
      } else {
        socklen_t len = sizeof(error);
        if (::getsockopt(fd, SOL_SOCKET, SO_ERROR, &error, &len) != 0) error = errno;
      }
    }
  }
  close_quietly(fd);
  if (error != 0) fail(error);
}

}  // namespace loadgen
}  // namespace iolab
