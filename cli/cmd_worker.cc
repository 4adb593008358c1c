// `iolab worker`: internal and hidden; one variant worker process, spawned by the supervisor.

#include <CLI/CLI.hpp>
#include <cstddef>
#include <memory>
#include <string>

#include "cli/commands.h"
#include "cli/flags.h"
#include "variants/variant.h"
#include "workers/supervisor.h"

namespace iolab {
namespace {

struct WorkerFlags {
  std::string variant;
  int pool_size = 0;
  size_t stack_bytes = 64 * 1024;
  std::string listen;
  std::string upstream;
  std::string upstream_timeout = "10s";
  int ready_fd = -1;
  int stats_fd = -1;
  int stats_slot = -1;
  int listen_fd = -1;
};

int cmd_worker(const WorkerFlags& f) {
  std::string error;
  auto variant = parse_variant(f.variant, &error);
  if (!variant) throw UsageError(error);
  variant->pool_size = f.pool_size;
  variant->stack_bytes = f.stack_bytes;
  if (auto e = VariantLimits::check(*variant)) throw UsageError(e->to_string());
  UpstreamOptions upstream;
  upstream.url = admitted_url("--upstream", f.upstream);
  upstream.timeout = duration_flag("--upstream-timeout", f.upstream_timeout);
  raise_fd_limit();
  return run_worker(*variant, upstream, endpoint_flag("--listen", f.listen), f.ready_fd, f.stats_fd,
                    f.stats_slot, f.listen_fd);
}

}  // namespace

Command add_worker_command(CLI::App& app) {
  auto flags = std::make_shared<WorkerFlags>();
  WorkerFlags& worker = *flags;
  auto* worker_cmd = app.add_subcommand("worker", "");
  worker_cmd->group("");
  worker_cmd->add_option("--variant", worker.variant)->required();
  worker_cmd->add_option("--listen", worker.listen)->required();
  worker_cmd->add_option("--upstream", worker.upstream)->required();
  worker_cmd->add_option("--upstream-timeout", worker.upstream_timeout);
  worker_cmd->add_option("--ready-fd", worker.ready_fd);
  worker_cmd->add_option("--stats-fd", worker.stats_fd);
  worker_cmd->add_option("--stats-slot", worker.stats_slot);
  worker_cmd->add_option("--listen-fd", worker.listen_fd);
  worker_cmd->add_option("--pool-size", worker.pool_size);
  worker_cmd->add_option("--stack-bytes", worker.stack_bytes);
  return {worker_cmd, [flags] { return cmd_worker(*flags); }};
}

}  // namespace iolab
