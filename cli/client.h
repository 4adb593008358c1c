#pragma once

#include <stop_token>
#include <string>

namespace iolab {

/// The daemon as a client sees it: `iolab report … --daemon URL` and `iolab experiment FILE
/// --daemon URL`. A bearer token, if the daemon needs one, comes from the IOLAB_TOKEN
/// environment variable. Failures throw std::runtime_error with a one-line reason (a refused
/// request carries the daemon's error message and field).
struct DaemonClientOptions {
  std::string url;             ///< "http://127.0.0.1:7070"
  std::string format = "rst";  ///< rst, csv or json
  bool wide = false;
};

/// Prints the report of experiment `id` (or of run `id` when `run` is true) on stdout.
void print_daemon_report(const DaemonClientOptions& options, const std::string& id, bool run);

/// Prints scenario's nightly trend on stdout: one row per night and variant with the level it
/// was judged against, a flag where it regressed, and the change points with their magnitude
/// and p-value (`format` rst or json).
void print_daemon_history(const DaemonClientOptions& options, const std::string& scenario);

/// Submits the experiment file, shows progress on stderr (a line a second) until every run
/// ends, then prints the report on stdout. When `stop` is requested, cancels the experiment's
/// runs still queued or running. Regressions against the nights before (see regression.h)
/// follow the report. `trials` > 0 overrides the file's `trials`. Returns 0 when every run is
/// done and none regressed, 1 otherwise.
int run_experiment_on_daemon(const DaemonClientOptions& options, const std::string& file,
                             std::stop_token stop, int trials = 0);

/// Prints NEW compared with BASE (experiment ids, or run:ID) as the daemon computes it
/// (GET /api/v1/compare), in `format` rst, csv or json.
void print_daemon_compare(const DaemonClientOptions& options, const std::string& base,
                          const std::string& next);

}  // namespace iolab
