#include "daemon/api.h"
#include "daemon/api_http.h"
#include "daemon/api_views.h"

namespace iolab {
namespace {

using nlohmann::json;

// One row per night of the scenario, oldest first, each judged against the nights before it.
void history(ApiContext& api, const httplib::Request& req, httplib::Response& res) {
  const std::string scenario = req.matches[1];
  json rows = json::array();
  for (const auto& j : judge_history(api.history.nights(scenario))) {
    rows.push_back({{"night", j.night.night},
                    {"experiment_id", j.night.experiment_id},
                    {"run_id", j.night.run_id},
                    {"variant", j.night.variant},
                    {"rps", j.night.measure.rps},
                    {"p99_s", j.night.measure.p99_s},
                    {"history", j.verdict.history},
                    {"judged", j.verdict.judged},
                    {"median_rps", j.verdict.median_rps},
                    {"median_p99_s", j.verdict.median_p99_s},
                    {"throughput_regressed", j.verdict.throughput},
                    {"p99_regressed", j.verdict.p99}});
  }
  reply(res, 200, {{"scenario", scenario}, {"nights", rows}});
}

void regressions(ApiContext& api, const httplib::Request&, httplib::Response& res) {
  json flags = json::array();
  for (const auto& f : api.history.regressions()) flags.push_back(flag_json(f));
  reply(res, 200, {{"regressions", flags}});
}

}  // namespace

void add_history_routes(httplib::Server& s, ApiContext& api) {
  s.Get(R"(/api/v1/history/([^/]+))", wrap(api, history));
  s.Get("/api/v1/regressions", wrap(api, regressions));
}

}  // namespace iolab
