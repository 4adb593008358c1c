#include <algorithm>

#include "daemon/api.h"
#include "daemon/api_http.h"
#include "daemon/api_views.h"
#include "daemon/run_jobs.h"
#include "lab/result_json.h"
#include "lab/trials.h"

namespace iolab {
namespace {

using nlohmann::json;

std::vector<RunRecord> rows_of(const ApiContext& api, int64_t experiment_id) {
  RunQuery query;
  query.experiment_id = experiment_id;
  query.limit = 100000;
  return api.store.runs(query);
}

json show_experiment(const ApiContext& api, const ExperimentRecord& e) {
  const auto runs = rows_of(api, e.id);
  json list = json::array();
  for (const auto& r : runs) list.push_back(show_run(api, r, false));
  // The experiment's own rows, each judged against the nights before it; once it has ended
  // (reading the history is not for every progress poll).
  json flags = json::array();
  const std::string state = experiment_state(runs);
  if (state != "queued" && state != "running") {
    for (const auto& f : api.history.experiment_regressions(e.id)) flags.push_back(flag_json(f));
  }
  return {{"id", e.id},   {"name", e.name},      {"state", state}, {"created_at", e.created_at},
          {"runs", list}, {"regressions", flags}};
}

ExperimentRecord find_experiment(const ApiContext& api, const httplib::Request& req) {
  const int64_t id = id_param(req, "experiment");
  auto e = api.store.experiment(id);
  if (!e) throw ApiError(404, "not_found", "no experiment " + std::to_string(id), "id");
  return *e;
}

// Row `i`'s stored spec for trial `trial`: what it will run, as the history and the reports
// read it.
json row_spec(const ExperimentSpec& spec, size_t i, int trial) {
  json load = spec_to_json(spec.load);
  load.erase("target");
  const ExperimentPoint& point = spec.points[i];
  load["rate"] = point.rate;
  return {{"experiment", spec.name},
          {"scenario", point.scenario},
          {"variant", variant_json(spec.variants[i])},
          {"path", point.path},
          {"upstream", profile_json(spec.upstream)},
          {"load", load},
          {"regression", policy_json(spec.regression)},
          {"row", i},
          {"trial", trial},
          {"trials", spec.trials}};
}

// The experiment's runs as its rows' trials: by the row index each run's spec holds (runs
// stored before trials hold none and are one row each).
std::vector<TrialRow> trial_rows(const std::vector<RunRecord>& runs) {
  std::vector<TrialRow> rows;
  std::vector<int64_t> row_of;
  for (const auto& run : runs) {
    auto row = row_from_run(run);
    if (!row) continue;
    const int64_t index = run.spec.is_object() && run.spec.contains("row")
                              ? run.spec.value("row", int64_t{-1})
                              : -1 - static_cast<int64_t>(rows.size());
    const auto at = std::find(row_of.begin(), row_of.end(), index);
    if (at == row_of.end()) {
      row_of.push_back(index);
      rows.push_back(TrialRow{{std::move(*row)}});
    } else {
      rows[static_cast<size_t>(at - row_of.begin())].trials.push_back(std::move(*row));
    }
  }
  return rows;
}

void post_experiment(ApiContext& api, const httplib::Request& req, httplib::Response& res) {
  require_content_type(
      req, {kJson, "application/yaml", "application/x-yaml", "text/yaml", "text/x-yaml"});
  const DaemonConfig config = api.config();
  const ExperimentSpec spec = experiment_from_body(req.body, content_type(req) == kJson, config);
  const auto length = spec.load.warmup + spec.load.duration;
  const auto admission = api.queue.admission();
  admit_to_queue(api, config, spec.variants.size() * static_cast<size_t>(spec.trials), length);

  ExperimentRecord experiment{0, spec.name, req.body, utc_now()};
  experiment.id = api.store.add_experiment(experiment);
  // Every trial is a run of its own, queued interleaved (A, B, C, A, B, C…) so that drift on
  // the machine hits every row alike; the queue runs them in order.
  std::vector<std::pair<int64_t, size_t>> ids;
  for (int trial = 0; trial < spec.trials; ++trial) {
    for (size_t i = 0; i < spec.variants.size(); ++i) {
      RunRecord run;
      run.label = spec.variants[i].name();
      run.experiment_id = experiment.id;
      run.spec = row_spec(spec, i, trial);
      run.created_at = experiment.created_at;
      ids.emplace_back(api.store.add_run(run), i);
    }
  }
  const auto shared = std::make_shared<const ExperimentSpec>(spec);
  for (const auto& [id, i] : ids) {
    api.queue.submit(id, experiment_row_job(api, shared, i), length);
  }
  res.set_header("Location", "/api/v1/experiments/" + std::to_string(experiment.id));
  reply(res, 201, show_experiment(api, experiment));
}

void get_experiment(ApiContext& api, const httplib::Request& req, httplib::Response& res) {
  reply(res, 200, show_experiment(api, find_experiment(api, req)));
}

void experiment_report(ApiContext& api, const httplib::Request& req, httplib::Response& res) {
  bool wide = false;
  const std::string format = format_param(req, wide);
  const ExperimentRecord e = find_experiment(api, req);
  reply_report(res, trial_rows(rows_of(api, e.id)), format, wide, "iolab experiment " + e.name);
  // The table's regressions follow it in the text report; csv and json stay parseable.
  if (format == "rst") {
    for (const auto& f : api.history.experiment_regressions(e.id)) res.body += describe(f) + "\n";
  }
}

}  // namespace

void add_experiment_routes(httplib::Server& s, ApiContext& api) {
  s.Post("/api/v1/experiments", wrap(api, post_experiment));
  s.Get(R"(/api/v1/experiments/([^/]+))", wrap(api, get_experiment));
  s.Get(R"(/api/v1/experiments/([^/]+)/report)", wrap(api, experiment_report));
}

}  // namespace iolab
