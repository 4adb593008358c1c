// `iolab compare BASE NEW`: whether NEW differs from BASE, per variant and measure, as Go's
// benchstat says it (lab/compare.h). BASE and NEW are result files written by `--format json`
// (`iolab run` or `iolab experiment`, best with --trials), or with --daemon experiment ids
// (42) or run ids (run:17) on that daemon.

#include <CLI/CLI.hpp>
#include <fstream>
#include <iostream>
#include <memory>
#include <nlohmann/json.hpp>
#include <stdexcept>
#include <string>

#include "cli/client.h"
#include "cli/commands.h"
#include "cli/flags.h"
#include "lab/compare.h"
#include "lab/report_charts.h"

namespace iolab {
namespace {

struct CompareFlags {
  std::string base;
  std::string next;
  std::string daemon;
  std::string format = "rst";
};

CompareSide side_from_file(const std::string& path) {
  std::ifstream in(path);
  if (!in) throw UsageError(path + ": cannot read the file (give a --format json result)");
  const nlohmann::json json = nlohmann::json::parse(in, nullptr, false);
  if (json.is_discarded()) throw UsageError(path + ": not JSON (give a --format json result)");
  try {
    return compare_side(rows_from_report_json(json));
  } catch (const ResultJsonError& e) {
    throw UsageError(path + ": " + e.what());
  }
}

int cmd_compare(const CompareFlags& f) {
  const OutputFormat format = output_format_flag(f.format);
  if (!f.daemon.empty()) {
    try {
      print_daemon_compare(DaemonClientOptions{f.daemon, f.format, false}, f.base, f.next);
    } catch (const std::invalid_argument& e) {
      throw UsageError(e.what());
    }
    return 0;
  }
  const Comparison c = compare_sides(side_from_file(f.base), side_from_file(f.next));
  if (c.changes.empty()) {
    throw UsageError(
        "BASE and NEW have no variant in common (compare pairs rows by variant "
        "and path)");
  }
  if (format.chart) {
    std::cout << render_comparison_charts(c, *format.chart,
                                          "iolab compare " + f.base + " " + f.next);
  } else {
    std::cout << render_comparison(c, *format.table);
  }
  std::cout << std::flush;
  return 0;
}

}  // namespace

Command add_compare_command(CLI::App& app) {
  auto flags = std::make_shared<CompareFlags>();
  CompareFlags& f = *flags;
  auto* cmd = app.add_subcommand(
      "compare", "whether NEW differs from BASE: medians with intervals, change, p-value");
  cmd->add_option("base", f.base, "BASE: a --format json result file, or an id with --daemon")
      ->required();
  cmd->add_option("new", f.next, "NEW: the same")->required();
  cmd->add_option("--daemon", f.daemon,
                  "compare experiments (42) or runs (run:17) stored on this daemon");
  cmd->add_option("--format", f.format, "rst, csv, json (the table), svg or html (a chart)")
      ->capture_default_str();
  return {cmd, [flags] { return cmd_compare(*flags); }};
}

}  // namespace iolab
