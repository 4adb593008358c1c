#pragma once

#include <cerrno>
#include <chrono>
#include <cstdint>
#include <string>

#include "core/endpoint.h"

namespace iolab {

/// A listening TCP socket on `listen` (non-blocking, close-on-exec, SO_REUSEADDR; SO_REUSEPORT
/// too when `reuse_port`, so worker processes can share one port). Returns the fd; throws
/// StartError naming the address when it cannot bind or listen.
int open_listener(const Endpoint& listen, bool reuse_port, int backlog = 4096);

/// The port a bound socket has (to read back port 0).
uint16_t bound_port(int fd);

/// After accept() fails for want of descriptors or memory, a server stops accepting for this long
/// instead of spinning on a listener that stays readable; the kernel's backlog holds the rest.
inline constexpr std::chrono::milliseconds kAcceptPause{50};

/// Whether accept() failed with `error` for want of resources (and so will again at once).
inline bool accept_starved(int error) {
  return error == EMFILE || error == ENFILE || error == ENOBUFS || error == ENOMEM;
}

/// What send_pending() did.
enum class SendOutcome : uint8_t {
  kDone,     ///< Every byte of `out` is sent.
  kBlocked,  ///< The socket buffer is full: wait for EPOLLOUT, then call again.
  kFailed,   ///< The peer is gone (or another error): close the socket.
};

/// Sends `out` from `offset` on (non-blocking `fd`), advancing `offset` by what was sent.
/// Never raises SIGPIPE.
SendOutcome send_pending(int fd, const std::string& out, size_t& offset);

/// Sets TCP_NODELAY; without it small answers wait up to 40 ms for Nagle's algorithm.
void set_nodelay(int fd);

}  // namespace iolab
