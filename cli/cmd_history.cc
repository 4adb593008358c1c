// `iolab history SCENARIO --daemon URL`: a scenario's nightly trend, from a daemon.

#include <CLI/CLI.hpp>
#include <memory>
#include <string>

#include "cli/client.h"
#include "cli/commands.h"
#include "cli/flags.h"

namespace iolab {
namespace {

struct HistoryFlags {
  std::string scenario;
  DaemonClientOptions client;
};

int cmd_history(const HistoryFlags& f) {
  if (f.client.format != "rst" && f.client.format != "json") {
    throw UsageError("unknown --format '" + f.client.format + "' (rst, json)");
  }
  print_daemon_history(f.client, f.scenario);
  return 0;
}

}  // namespace

Command add_history_command(CLI::App& app) {
  auto flags = std::make_shared<HistoryFlags>();
  HistoryFlags& history = *flags;
  auto* history_cmd =
      app.add_subcommand("history", "a scenario's nightly trend, one row per night and variant");
  history_cmd->add_option("scenario", history.scenario, "scenario name")->required();
  history_cmd->add_option("--daemon", history.client.url, "daemon URL, as http://127.0.0.1:7070")
      ->required();
  history_cmd->add_option("--format", history.client.format, "rst or json")->capture_default_str();
  return {history_cmd, [flags] { return cmd_history(*flags); }};
}

}  // namespace iolab
