#include "daemon/api_views.h"

#include "core/duration.h"
#include "lab/result_json.h"

namespace iolab {

using nlohmann::json;

json variant_json(const VariantSpec& v) {
  json j = {{"kind", v.kind},
            {"name", v.name()},
            {"workers", v.workers},
            {"accept", std::string(accept_mode_name(v.accept))}};
  if (v.kind == "threads") j["threads"] = v.threads;
  if (v.kind == "async") j["pool_size"] = v.pool_size;
  if (v.kind.rfind("fiber", 0) == 0) j["stack_bytes"] = v.stack_bytes;
  return j;
}

json profile_json(const StubProfile& p) {
  json j = {{"delay", format_duration(p.delay)},
            {"max_delay", format_duration(p.max_delay)},
            {"body_bytes", p.body_bytes},
            {"max_body_bytes", p.max_body_bytes},
            {"faults",
             {{"error", p.faults.error},
              {"close", p.faults.close},
              {"reset", p.faults.reset},
              {"status", p.faults.error_status}}}};
  if (p.distribution) j["distribution"] = p.distribution->to_string();
  return j;
}

json usage_json(const ProcessUsage& u) {
  return {{"rss_bytes", u.rss_bytes},
          {"peak_rss_bytes", u.peak_rss_bytes},
          {"threads", u.threads},
          {"cpu_seconds", u.cpu_seconds}};
}

ProcessUsage usage_from_json(const json& j) {
  ProcessUsage u;
  u.rss_bytes = j.value("rss_bytes", uint64_t{0});
  u.peak_rss_bytes = j.value("peak_rss_bytes", uint64_t{0});
  u.threads = j.value("threads", 0);
  u.cpu_seconds = j.value("cpu_seconds", 0.0);
  return u;
}

json row_to_json(const ReportRow& row) {
  json j = {{"measured", result_to_json(row.result)},
            {"bound_rps", row.bound_rps},
            {"usage", row.usage ? usage_json(*row.usage) : json(nullptr)},
            {"worker_restarts", row.worker_restarts}};
  if (row.server) j["server"] = server_layers_to_json(*row.server);
  return j;
}

std::optional<ReportRow> row_from_run(const RunRecord& run) {
  if (!run.result.is_object() || !run.result.contains("measured")) return std::nullopt;
  try {
    ReportRow row{run.label, result_from_json(run.result.at("measured")),
                  run.result.value("bound_rps", 0.0), std::nullopt};
    row.worker_restarts = run.result.value("worker_restarts", uint64_t{0});
    if (run.result.contains("usage") && run.result["usage"].is_object()) {
      row.usage = usage_from_json(run.result["usage"]);
    }
    if (run.result.contains("server")) row.server = server_layers_from_json(run.result["server"]);
    return row;
  } catch (const std::exception&) {
    return std::nullopt;
  }
}

json run_json(const RunRecord& run, const std::optional<json>& progress, bool full) {
  json j = {{"id", run.id},
            {"state", std::string(to_string(run.state))},
            {"label", run.label},
            {"experiment_id", run.experiment_id ? json(*run.experiment_id) : json(nullptr)},
            {"spec", run.spec},
            {"created_at", run.created_at},
            {"started_at", run.started_at.empty() ? json(nullptr) : json(run.started_at)},
            {"finished_at", run.finished_at.empty() ? json(nullptr) : json(run.finished_at)},
            {"progress", progress ? *progress : json(nullptr)},
            {"result", run.result},
            {"error", run.error.empty() ? json(nullptr) : json(run.error)},
            {"environment", run.environment}};
  if (!full && run.result.is_object() && run.result.contains("measured")) {
    for (const char* heavy : {"latency", "uncorrected", "timeline"}) {
      j["result"]["measured"].erase(heavy);
    }
  }
  return j;
}

std::string experiment_state(const std::vector<RunRecord>& runs) {
  bool any_started = false;
  for (const auto& r : runs) {
    if (r.state == RunState::kRunning) return "running";
    any_started = any_started || r.state != RunState::kQueued;
  }
  for (const auto& r : runs) {
    if (r.state == RunState::kQueued) return any_started ? "running" : "queued";
  }
  for (const auto& r : runs) {
    if (r.state != RunState::kDone) return std::string(to_string(r.state));
  }
  return "done";
}

json flag_json(const RegressionFlag& f) {
  return {{"scenario", f.scenario},
          {"variant", f.variant},
          {"measure", f.measure},
          {"value", f.value},
          {"before", f.before},
          {"relative_change", f.relative_change},
          {"p", f.p},
          {"run_id", f.run_id},
          {"since_run_id", f.since_run_id},
          {"text", describe(f)}};
}

}  // namespace iolab
