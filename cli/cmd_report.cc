// `iolab report ID --daemon URL`: a stored experiment's (or run's) report, from a daemon.

#include <CLI/CLI.hpp>
#include <memory>
#include <stdexcept>
#include <string>

#include "cli/client.h"
#include "cli/commands.h"
#include "cli/flags.h"

namespace iolab {
namespace {

struct ReportFlags {
  std::string id;
  bool run = false;
  DaemonClientOptions client;
};

int cmd_report(const ReportFlags& f) {
  (void)output_format_flag(f.client.format);
  try {
    print_daemon_report(f.client, f.id, f.run);
  } catch (const std::invalid_argument& e) {
    throw UsageError(e.what());
  }
  return 0;
}

}  // namespace

Command add_report_command(CLI::App& app) {
  auto flags = std::make_shared<ReportFlags>();
  ReportFlags& report = *flags;
  auto* report_cmd = app.add_subcommand("report", "a stored experiment's (or run's) report");
  report_cmd->add_option("id", report.id, "experiment id (a run id with --run)")->required();
  report_cmd->add_option("--daemon", report.client.url, "daemon URL, as http://127.0.0.1:7070")
      ->required();
  report_cmd->add_option("--format", report.client.format, "rst, csv, json, svg or html")
      ->capture_default_str();
  report_cmd->add_flag("--wide", report.client.wide, "add rps, errors, bound%");
  report_cmd->add_flag("--run", report.run, "ID is a run, not an experiment");
  return {report_cmd, [flags] { return cmd_report(*flags); }};
}

}  // namespace iolab
