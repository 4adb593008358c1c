#pragma once

namespace iolab {

/// The `iolab` command line (see DESIGN.md). Returns the exit code: 0 success, 1 run failure,
/// 2 bad usage; failures are printed as one line on stderr.
int run_cli(int argc, char** argv);

}  // namespace iolab
