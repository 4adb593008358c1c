// `iolab merge FILE...`: one run from the results of its segments (`iolab run --segment ...
// --format json`), printed as any run.

#include <CLI/CLI.hpp>
#include <fstream>
#include <iostream>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "cli/commands.h"
#include "cli/flags.h"
#include "lab/compare.h"
#include "lab/merge.h"
#include "lab/report.h"
#include "lab/report_charts.h"
#include "lab/trials.h"
#include "lab/result_json.h"

namespace iolab {
namespace {

struct MergeFlags {
  std::vector<std::string> files;
  std::string format = "rst";
  bool wide = false;
};

// Every row of every file, in order; each must be one segment's result.
std::vector<ReportRow> rows_of(const std::vector<std::string>& files) {
  std::vector<ReportRow> rows;
  for (const std::string& path : files) {
    std::ifstream in(path);
    if (!in) throw UsageError(path + ": cannot read the file");
    const nlohmann::json json = nlohmann::json::parse(in, nullptr, false);
    if (json.is_discarded()) throw UsageError(path + ": not JSON (give a --format json result)");
    try {
      for (ReportRow& row : rows_from_report_json(json)) rows.push_back(std::move(row));
    } catch (const ResultJsonError& e) {
      throw UsageError(path + ": " + e.what());
    }
  }
  return rows;
}

int cmd_merge(const MergeFlags& f) {
  const OutputFormat format = output_format_flag(f.format);
  const std::vector<ReportRow> rows = rows_of(f.files);
  std::vector<LoadResult> parts;
  for (const ReportRow& row : rows) parts.push_back(row.result);
  MergedRun merged;
  try {
    merged = merge_segments(parts);
  } catch (const MergeError& e) {
    throw UsageError(e.what());
  }
  for (const std::string& warning : merged.warnings) {
    std::cerr << "iolab merge: warning: " << warning << "\n";
  }
  ReportRow row{rows.front().label, std::move(merged.result), 0, std::nullopt};
  if (format.chart) {
    const std::string title = "iolab merge " + row.label;
    std::cout << render_trials_charts(single_trials({std::move(row)}), *format.chart, title)
              << std::flush;
  } else {
    std::cout << render_report({row}, *format.table, f.wide) << std::flush;
  }
  return 0;
}

}  // namespace

Command add_merge_command(CLI::App& app) {
  auto flags = std::make_shared<MergeFlags>();
  auto* cmd = app.add_subcommand(
      "merge", "one run from its segments' results (iolab run --segment ... --format json)");
  cmd->add_option("FILE", flags->files, "a segment's result, as --format json wrote it")
      ->required();
  cmd->add_option("--format", flags->format, "rst, csv, json (the table), svg or html (charts)")
      ->capture_default_str();
  cmd->add_flag("--wide", flags->wide, "add rps, errors, bound%");
  return {cmd, [flags] { return cmd_merge(*flags); }};
}

}  // namespace iolab
