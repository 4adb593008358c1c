#pragma once

#include <cstdint>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "lab/report.h"
#include "store/regression.h"
#include "store/run_store.h"
#include "variants/stub.h"
#include "variants/variant.h"
#include "workers/process_usage.h"

namespace iolab {

// What the API shows: the JSON views of the daemon's objects (docs/api/openapi.yaml).

nlohmann::json variant_json(const VariantSpec& v);
nlohmann::json profile_json(const StubProfile& p);
nlohmann::json usage_json(const ProcessUsage& u);
ProcessUsage usage_from_json(const nlohmann::json& j);
/// A run's stored result: the engine's result (lossless histograms, timeline) plus what the
/// report needs beside it (bound, usage, worker restarts).
nlohmann::json row_to_json(const ReportRow& row);
/// The row a stored result holds; nullopt when it holds none (or not one this build reads).
std::optional<ReportRow> row_from_run(const RunRecord& run);
/// `full`: with histograms and timeline; else the summaries only (lists).
nlohmann::json run_json(const RunRecord& run, const std::optional<nlohmann::json>& progress,
                        bool full);
/// An experiment's state from its runs': queued, running, done, or the first run's other state.
std::string experiment_state(const std::vector<RunRecord>& runs);
nlohmann::json flag_json(const RegressionFlag& f);

}  // namespace iolab
