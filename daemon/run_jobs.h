#pragma once

#include <cstddef>
#include <memory>
#include <string>
#include <vector>

#include "daemon/api.h"
#include "daemon/api_requests.h"
#include "lab/experiment.h"

namespace iolab {

// What the run queue executes for the REST API. Both go through lab/ (load_variant(),
// load_target(), Lab::run_variant()): the daemon has no run path of its own.

/// An ad-hoc run (POST /api/v1/runs): `request.target`, or the active variant leased from the
/// host for the run's length. Its load counts in /metrics under scenario "adhoc".
RunQueue::Job adhoc_run_job(ApiContext& api, RunBody request);

/// Row `row` of `experiment` (POST /api/v1/experiments): a fresh Lab with the experiment's
/// upstream. Its load counts in /metrics under the row's scenario. Every row's job shares the
/// one spec: an experiment of N rows holds one copy, not N.
RunQueue::Job experiment_row_job(ApiContext& api, std::shared_ptr<const ExperimentSpec> experiment,
                                 size_t row);

/// After a start on a store a dead daemon left: each run it was running becomes `interrupted`
/// (with an error saying so); each run still queued is queued again, in its order, from its
/// stored spec under the current config, or `failed` with the reason when it no longer can be.
/// Returns one log line per run.
std::vector<std::string> recover_runs(ApiContext& api);

}  // namespace iolab
