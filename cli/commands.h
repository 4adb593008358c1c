#pragma once

#include <functional>

namespace CLI {
class App;
}

namespace iolab {

/// One `iolab` subcommand: its CLI11 declaration, and what runs it once the command line
/// parsed into it. `run` returns the exit code and throws UsageError (exit 2) or any other
/// std::exception (exit 1); the flags it reads live as long as `run`.
struct Command {
  CLI::App* app = nullptr;
  std::function<int()> run;
};

/// Each declares its subcommand on `app` (the order of the calls is the order of `--help`).
Command add_run_command(CLI::App& app);
Command add_experiment_command(CLI::App& app);
Command add_daemon_command(CLI::App& app);
Command add_history_command(CLI::App& app);
Command add_report_command(CLI::App& app);
Command add_compare_command(CLI::App& app);
Command add_merge_command(CLI::App& app);
Command add_stub_command(CLI::App& app);
Command add_serve_command(CLI::App& app);
/// Internal and hidden: the supervisor spawns `iolab worker` for each variant worker process.
Command add_worker_command(CLI::App& app);

}  // namespace iolab
