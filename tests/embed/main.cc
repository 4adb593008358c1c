// Embeds iolab: a run of a variant against the built-in stub from code (iolab::Lab), and the
// whole daemon started and stopped from code (iolab::Daemon). Exit 0 when both work.
// Usage: embed IOLAB_BINARY STATE_DIR
#include <cstdio>
#include <memory>

#include "daemon/daemon.h"
#include "lab/lab.h"
#include "store/run_store.h"

int main(int argc, char** argv) {
  using namespace std::chrono_literals;
  if (argc != 3) {
    std::fprintf(stderr, "usage: embed IOLAB_BINARY STATE_DIR\n");
    return 2;
  }
  iolab::StubProfile upstream;
  upstream.delay = 5ms;
  iolab::Lab lab(upstream, argv[1]);
  iolab::LoadSpec load;
  load.connections = 4;
  load.threads = 1;
  load.duration = 500ms;
  const auto variant = iolab::parse_variant("threads:4");
  const iolab::ReportRow row = lab.run_variant(*variant, load, "/remote");
  std::printf("embedded run: %llu answers, %llu errors, %.0f req/s\n",
              static_cast<unsigned long long>(row.result.requests),
              static_cast<unsigned long long>(row.result.errors.total()), row.result.rps());
  if (row.result.requests == 0 || row.result.errors.total() != 0) return 1;

  iolab::DaemonConfig config;
  config.api_listen = iolab::Endpoint{"127.0.0.1", 0};
  config.state_dir = argv[2];
  iolab::Daemon daemon(config, argv[1], std::make_unique<iolab::InMemoryRunStore>());
  const uint16_t port = daemon.start();
  std::printf("embedded daemon: API on port %u\n", static_cast<unsigned>(port));
  daemon.stop();
  return port != 0 ? 0 : 1;
}
