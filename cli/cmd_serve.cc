// `iolab serve KIND`: one variant alone in worker processes, until SIGINT or SIGTERM.

#include <CLI/CLI.hpp>
#include <cstdint>
#include <iostream>
#include <memory>
#include <optional>
#include <string>

#include "cli/commands.h"
#include "cli/flags.h"
#include "cli/stop_signals.h"
#include "variants/stub.h"
#include "variants/variant.h"
#include "workers/supervisor.h"

namespace iolab {
namespace {

struct ServeFlags {
  std::string kind;
  std::string listen = "127.0.0.1:0";
  std::string upstream;
  std::string upstream_delay = "100ms";
  std::string upstream_timeout = "10s";
  int workers = 2;
};

int cmd_serve(const ServeFlags& f) {
  std::string error;
  auto variant = parse_variant(f.kind, &error);
  if (!variant) throw UsageError(error);
  require_variant_range("--workers", VariantField::kWorkers, f.workers);
  variant->workers = f.workers;
  WorkerSetSpec spec;
  spec.executable = self_executable();
  spec.variant = *variant;
  spec.listen = endpoint_flag("--listen", f.listen);
  spec.upstream.timeout = duration_flag("--upstream-timeout", f.upstream_timeout);

  StopSignals signals;
  raise_fd_limit();
  std::optional<UpstreamStub> stub;
  if (f.upstream.empty()) {
    StubProfile profile;
    profile.delay = duration_flag("--upstream-delay", f.upstream_delay, true);
    stub.emplace(profile);
    const uint16_t port = stub->start(Endpoint{"127.0.0.1", 0});
    spec.upstream.url = *parse_url("http://127.0.0.1:" + std::to_string(port) + "/");
  } else {
    spec.upstream.url = admitted_url("--upstream", f.upstream);
  }
  Supervisor supervisor(spec);
  const uint16_t port = supervisor.start();
  std::cout << "iolab serving " << variant->name() << " on " << spec.listen.host << ":" << port
            << " (" << variant->workers << " workers), upstream " << spec.upstream.url.to_string()
            << std::endl;
  signals.wait();
  supervisor.stop();
  return 0;
}

}  // namespace

Command add_serve_command(CLI::App& app) {
  auto flags = std::make_shared<ServeFlags>();
  ServeFlags& serve = *flags;
  auto* serve_cmd = app.add_subcommand("serve", "one variant alone, in worker processes");
  serve_cmd->add_option("kind", serve.kind, "variant, as threads:100")->required();
  serve_cmd->add_option("--listen", serve.listen, "address")->capture_default_str();
  serve_cmd->add_option("--upstream", serve.upstream, "upstream URL (default: built-in stub)");
  serve_cmd->add_option("--upstream-delay", serve.upstream_delay, "built-in stub delay")
      ->capture_default_str();
  serve_cmd->add_option("--upstream-timeout", serve.upstream_timeout, "then 504")
      ->capture_default_str();
  serve_cmd->add_option("--workers", serve.workers, "worker processes")->capture_default_str();
  return {serve_cmd, [flags] { return cmd_serve(*flags); }};
}

}  // namespace iolab
