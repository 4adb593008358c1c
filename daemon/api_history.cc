#include "daemon/api.h"
#include "daemon/api_http.h"
#include "daemon/api_views.h"

namespace iolab {
namespace {

using nlohmann::json;

json change_json(const ChangePoint& c) {
  return {{"before", c.mean_before},
          {"after", c.mean_after},
          {"relative_change", c.relative_change},
          {"p", c.p}};
}

json measure_json(const MeasureVerdict& v) {
  json j = {{"judged", v.judged},   {"insufficient", v.insufficient},
            {"outlier", v.outlier}, {"regressed", v.regressed},
            {"level", v.level},     {"change", v.change ? change_json(*v.change) : json(nullptr)}};
  if (v.alert) {
    json alert = change_json(v.alert->change);
    alert["since_run_id"] = v.alert->run_id;
    alert["since"] = v.alert->night;
    j["alert"] = alert;
  } else {
    j["alert"] = nullptr;
  }
  return j;
}

// One row per night of the scenario (an experiment row: its trials), oldest first: its values,
// the change points that begin at it over the whole series, and whether it raised the alert
// when it ran.
void history(ApiContext& api, const httplib::Request& req, httplib::Response& res) {
  const std::string scenario = req.matches[1];
  json rows = json::array();
  for (const auto& j : judge_history(api.history.nights(scenario))) {
    const RegressionVerdict& v = j.verdict;
    rows.push_back({{"night", j.night.night},
                    {"experiment_id", j.night.experiment_id},
                    {"run_id", j.night.run_id},
                    {"variant", j.night.variant},
                    {"trials", j.night.measure.trials},
                    {"min_answers", j.night.measure.min_answers},
                    {"rps", j.night.measure.rps},
                    {"p99_s", j.night.measure.p99_s},
                    {"judged", v.throughput.judged},
                    {"throughput", measure_json(v.throughput)},
                    {"p99", measure_json(v.p99)},
                    {"throughput_regressed", v.throughput.regressed},
                    {"p99_regressed", v.p99.regressed},
                    // The level each measure was judged against (names from before change
                    // points, which judged against a median).
                    {"median_rps", v.throughput.level},
                    {"median_p99_s", v.p99.level}});
  }
  reply(res, 200, {{"scenario", scenario}, {"nights", rows}});
}

// What is regressed now, and every change point of every series (the trend a graph shows).
void regressions(ApiContext& api, const httplib::Request&, httplib::Response& res) {
  json flags = json::array();
  for (const auto& f : api.history.regressions()) flags.push_back(flag_json(f));
  json changes = json::array();
  for (const auto& j : api.history.judged_nights()) {
    for (const auto& [measure, v] :
         {std::pair{"throughput", &j.verdict.throughput}, std::pair{"p99", &j.verdict.p99}}) {
      if (!v->change) continue;
      json c = change_json(*v->change);
      c["scenario"] = j.night.scenario;
      c["variant"] = j.night.variant;
      c["measure"] = measure;
      c["run_id"] = j.night.run_id;
      c["night"] = j.night.night;
      changes.push_back(std::move(c));
    }
  }
  reply(res, 200, {{"regressions", flags}, {"change_points", changes}});
}

}  // namespace

void add_history_routes(httplib::Server& s, ApiContext& api) {
  s.Get(R"(/api/v1/history/([^/]+))", wrap(api, history));
  s.Get("/api/v1/regressions", wrap(api, regressions));
}

}  // namespace iolab
