// `iolab experiment FILE`: a matrix of embedded runs from a YAML file, or with --daemon the
// same file submitted to a daemon.

#include <CLI/CLI.hpp>
#include <cctype>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <memory>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

#include "cli/client.h"
#include "cli/commands.h"
#include "cli/flags.h"
#include "cli/stop_signals.h"
#include "core/duration.h"
#include "core/errors.h"
#include "lab/experiment.h"
#include "lab/lab.h"
#include "lab/report.h"
#include "lab/report_charts.h"
#include "lab/trials.h"

namespace iolab {
namespace {

struct ExperimentFlags {
  std::string file;
  std::string format = "rst";
  bool wide = false;
  std::string out;
  std::string daemon;
  int trials = 0;  // 0: the file's `trials`
};

std::string report_title(const std::string& name) { return "iolab experiment " + name; }

// A file name from the experiment's name that stays in its folder: letters, digits, '.', '-'
// and '_' kept, anything else (a '/', a byte past ASCII) '_', no leading dot.
std::string file_stem(const std::string& name) {
  std::string stem;
  for (const unsigned char c : name) {
    stem += std::isalnum(c) || c == '.' || c == '-' || c == '_' ? static_cast<char>(c) : '_';
  }
  stem.erase(0, stem.find_first_not_of('.'));
  return stem.empty() ? "experiment" : stem;
}

// --out: the report in every format, each in NAME.FORMAT (NAME as file_stem() makes it).
void write_reports(const std::string& out, const std::string& name,
                   const std::vector<TrialRow>& rows) {
  std::filesystem::create_directories(out);
  const std::string stem = file_stem(name);
  for (const auto& [ext, fmt] :
       {std::pair{"rst", ReportFormat::kRst}, std::pair{"csv", ReportFormat::kCsv},
        std::pair{"json", ReportFormat::kJson}}) {
    std::ofstream(std::filesystem::path(out) / (stem + "." + ext))
        << render_trials_report(rows, fmt, true);
  }
  std::ofstream(std::filesystem::path(out) / (stem + ".html"))
      << render_trials_charts(rows, ChartFormat::kHtml, report_title(name));
}

int run_embedded(const ExperimentFlags& f) {
  const OutputFormat format = output_format_flag(f.format);
  ExperimentSpec experiment;
  try {
    experiment = load_experiment_file(f.file);
  } catch (const ConfigError& e) {
    throw UsageError(e.what());
  }
  if (f.trials > 0) experiment.trials = f.trials;
  StopSignals signals;
  const std::stop_token stop = signals.watch();
  raise_fd_limit();
  std::cerr << "experiment " << experiment.name << ": " << experiment.variants.size()
            << " variants, " << experiment.load.connections << " connections, "
            << format_duration(experiment.load.duration) << " each, upstream "
            << experiment.upstream.delays().to_string();
  if (experiment.upstream.faults.any()) std::cerr << " with faults";
  if (experiment.trials > 1) std::cerr << ", " << experiment.trials << " trials interleaved";
  std::cerr << "\n";
  Lab lab(experiment.upstream, self_executable());
  const std::vector<TrialRow> rows =
      lab.run_experiment_trials(experiment, experiment.trials, stop, stderr_progress());
  if (format.chart) {
    std::cout << render_trials_charts(rows, *format.chart, report_title(experiment.name));
  } else {
    std::cout << render_trials_report(rows, *format.table, f.wide);
  }
  std::cout << std::flush;
  if (!f.out.empty()) write_reports(f.out, experiment.name, rows);
  if (stop.stop_requested()) {
    size_t ran = 0;
    for (const auto& row : rows) ran += row.trials.size();
    std::cerr << "iolab: interrupted after " << ran << " of "
              << experiment.variants.size() * static_cast<size_t>(experiment.trials) << " runs\n";
    return kExitFailure;
  }
  return 0;
}

int submit_to_daemon(const ExperimentFlags& f) {
  (void)output_format_flag(f.format);
  StopSignals signals;
  const std::stop_token stop = signals.watch();
  try {
    return run_experiment_on_daemon(DaemonClientOptions{f.daemon, f.format, f.wide}, f.file, stop,
                                    f.trials);
  } catch (const std::invalid_argument& e) {
    throw UsageError(e.what());
  }
}

int cmd_experiment(const ExperimentFlags& f) {
  if (f.trials != 0) require_range("--trials", f.trials, 1, kMaxTrials);
  return f.daemon.empty() ? run_embedded(f) : submit_to_daemon(f);
}

}  // namespace

Command add_experiment_command(CLI::App& app) {
  auto flags = std::make_shared<ExperimentFlags>();
  ExperimentFlags& exp = *flags;
  auto* exp_cmd = app.add_subcommand("experiment", "a matrix of embedded runs from a YAML file");
  exp_cmd->add_option("file", exp.file, "experiment file")->required();
  exp_cmd->add_option("--format", exp.format, "rst, csv, json (the table), svg or html (charts)")
      ->capture_default_str();
  exp_cmd->add_flag("--wide", exp.wide, "add rps, errors, bound%");
  exp_cmd->add_option("--out", exp.out, "also write NAME.rst, .csv, .json and .html here");
  exp_cmd->add_option("--daemon", exp.daemon, "submit to the daemon at this URL instead");
  exp_cmd->add_option("--trials", exp.trials,
                      "run every row N times, interleaved (default: the file's trials, or 1)");
  return {exp_cmd, [flags] { return cmd_experiment(*flags); }};
}

}  // namespace iolab
