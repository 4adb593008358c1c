// `iolab stub`: the upstream stub alone, until SIGINT or SIGTERM.

#include <CLI/CLI.hpp>
#include <cstdint>
#include <iostream>
#include <memory>
#include <string>

#include "cli/commands.h"
#include "cli/flags.h"
#include "cli/stop_signals.h"
#include "core/duration.h"
#include "variants/stub.h"

namespace iolab {
namespace {

struct StubFlags {
  std::string listen = "127.0.0.1:0";
  std::string delay = "100ms";
  std::string max_delay = "60s";
  int body_bytes = 612;
};

int cmd_stub(const StubFlags& f) {
  StubProfile profile;
  profile.delay = duration_flag("--delay", f.delay, true);
  profile.max_delay = duration_flag("--max-delay", f.max_delay, true);
  require_range("--body-bytes", f.body_bytes, 0, 16 << 20);
  profile.body_bytes = static_cast<size_t>(f.body_bytes);
  const Endpoint listen = endpoint_flag("--listen", f.listen);
  StopSignals signals;
  raise_fd_limit();
  UpstreamStub stub(profile);
  const uint16_t port = stub.start(listen);
  std::cout << "iolab stub listening on " << listen.host << ":" << port << " (delay "
            << format_duration(profile.delay) << ")" << std::endl;
  signals.wait();
  stub.stop();
  return 0;
}

}  // namespace

Command add_stub_command(CLI::App& app) {
  auto flags = std::make_shared<StubFlags>();
  StubFlags& stub = *flags;
  auto* stub_cmd = app.add_subcommand("stub", "the upstream stub alone");
  stub_cmd->add_option("--listen", stub.listen, "address")->capture_default_str();
  stub_cmd->add_option("--delay", stub.delay, "answer delay")->capture_default_str();
  stub_cmd->add_option("--max-delay", stub.max_delay, "cap on ?delay=")->capture_default_str();
  stub_cmd->add_option("--body-bytes", stub.body_bytes, "page size")->capture_default_str();
  return {stub_cmd, [flags] { return cmd_stub(*flags); }};
}

}  // namespace iolab
