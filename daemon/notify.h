#pragma once

#include <chrono>
#include <optional>
#include <string>

namespace iolab {

/// Sends `state` ("READY=1", "WATCHDOG=1", "RELOADING=1", ...) to the service manager through
/// $NOTIFY_SOCKET: one AF_UNIX datagram, a path or an abstract name (leading '@'), as
/// sd_notify(3) does without libsystemd. Returns false when NOTIFY_SOCKET is unset or the send
/// failed (outside systemd that is the normal case). Any thread.
bool notify_service_manager(const std::string& state);

/// How often to send "WATCHDOG=1": half of $WATCHDOG_USEC, when it is set (and $WATCHDOG_PID,
/// if set, names this process); nullopt otherwise.
std::optional<std::chrono::microseconds> watchdog_interval();

}  // namespace iolab
