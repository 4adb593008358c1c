// `iolab`: the command line (README.md, `iolab --help`). Each command, its flags and what it does
// live in cli/cmd_*.cc; here the commands are declared in `--help` order and the one parsed is run.
// Exit codes: 0 success, 1 run failure, 2 bad usage; failures are one line on stderr.

#include <CLI/CLI.hpp>
#include <algorithm>
#include <exception>
#include <iostream>
#include <string>
#include <vector>

#include "cli/commands.h"
#include "cli/flags.h"

namespace iolab {
namespace {

// CLI11's own words for an unknown subcommand name the whole usage; ours is one line.
bool unknown_command(const CLI::App& app, int argc, char** argv) {
  if (argc <= 1 || argv[1][0] == '-') return false;
  const auto commands = app.get_subcommands([](const CLI::App*) { return true; });
  return std::none_of(commands.begin(), commands.end(),
                      [&](const CLI::App* c) { return c->get_name() == argv[1]; });
}

int run_cli(int argc, char** argv) {
  CLI::App app{"iolab: which concurrency model serves an I/O-bound service best, measured"};
  app.require_subcommand(1);
  app.set_version_flag("--version", std::string(IOLAB_VERSION " (" IOLAB_GIT_REVISION ")"));
  const std::vector<Command> commands = {
      add_run_command(app),     add_experiment_command(app), add_daemon_command(app),
      add_history_command(app), add_report_command(app),     add_compare_command(app),
      add_merge_command(app),
      add_stub_command(app),    add_serve_command(app),      add_worker_command(app),
  };

  if (unknown_command(app, argc, argv)) {
    std::cerr << "iolab: unknown command '" << argv[1]
              << "' (run, experiment, compare, stub, serve, daemon, report, history)\n";
    return kExitUsage;
  }
  try {
    app.parse(argc, argv);
  } catch (const CLI::CallForHelp& e) {
    return app.exit(e);
  } catch (const CLI::CallForAllHelp& e) {
    return app.exit(e);
  } catch (const CLI::CallForVersion& e) {
    return app.exit(e);
  } catch (const CLI::ParseError& e) {
    std::cerr << "iolab: " << e.what() << "\n";
    return kExitUsage;
  }

  try {
    for (const Command& command : commands) {
      if (command.app->parsed()) return command.run();
    }
  } catch (const UsageError& e) {
    std::cerr << "iolab: " << e.what() << "\n";
    return kExitUsage;
  } catch (const std::exception& e) {
    std::cerr << "iolab: " << e.what() << "\n";
    return kExitFailure;
  }
  return kExitUsage;
}

}  // namespace
}  // namespace iolab

int main(int argc, char** argv) { return iolab::run_cli(argc, argv); }
