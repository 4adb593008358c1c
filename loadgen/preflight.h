#pragma once

// Engine internals, not part of the API: what run_load checks before any load, each throwing
// RunError with a message for the user. (raise_open_file_limit and reserve_open_files, defined
// beside these, are declared in loadgen/engine.h for callers hosting more in the process.)

#include <netinet/in.h>

#include "core/endpoint.h"
#include "loadgen/load_spec.h"
#include "loadgen/run_context.h"

namespace iolab::loadgen {

/// Throws RunError for a spec the engine cannot run; otherwise normalises it as run: threads
/// clamped to connections, an empty path made "/".
void validate(LoadSpec& spec);

/// One connect to the context's address (from its source address, if any) with a timeout, so an
/// unreachable target fails the run up front. Throws RunError naming `endpoint`.
void probe(const Endpoint& endpoint, const RunContext& context);

}  // namespace iolab::loadgen
