#include "daemon/api.h"
#include "daemon/api_http.h"
#include "daemon/api_views.h"
#include "lab/compare.h"
#include "lab/report_charts.h"

namespace iolab {
namespace {

// One side of a comparison: "42" or "experiment:42" is an experiment's runs (every trial of
// every row), "run:17" one run.
std::vector<ReportRow> side_rows(const ApiContext& api, const httplib::Request& req,
                                 const char* param) {
  if (!req.has_param(param)) {
    throw ApiError(400, "bad_parameter", std::string("give ?") + param + "=ID", param);
  }
  std::string text = req.get_param_value(param);
  bool run = false;
  if (text.rfind("run:", 0) == 0) {
    run = true;
    text = text.substr(4);
  } else if (text.rfind("experiment:", 0) == 0) {
    text = text.substr(11);
  }
  int64_t id = 0;
  try {
    size_t used = 0;
    id = std::stoll(text, &used);
    if (used != text.size() || id < 1) throw std::invalid_argument(text);
  } catch (const std::exception&) {
    throw ApiError(400, "bad_parameter",
                   std::string(param) +
                       " must be an experiment id (42, experiment:42) or a run "
                       "id (run:17), got '" +
                       req.get_param_value(param) + "'",
                   param);
  }
  std::vector<RunRecord> runs;
  if (run) {
    auto r = api.store.run(id);
    if (!r) throw ApiError(404, "not_found", "no run " + std::to_string(id), param);
    runs.push_back(std::move(*r));
  } else {
    if (!api.store.experiment(id)) {
      throw ApiError(404, "not_found", "no experiment " + std::to_string(id), param);
    }
    RunQuery query;
    query.experiment_id = id;
    query.limit = 100000;
    runs = api.store.runs(query);
  }
  std::vector<ReportRow> rows;
  for (const auto& r : runs) {
    if (r.state != RunState::kDone) continue;
    if (auto row = row_from_run(r)) rows.push_back(std::move(*row));
  }
  if (rows.empty()) {
    throw ApiError(409, "no_result", std::string(param) + " has no finished run to compare", param);
  }
  return rows;
}

// GET /api/v1/compare?base=…&new=…[&format=rst|csv|json|svg|html]: NEW against BASE
// (lab/compare.h).
void compare(ApiContext& api, const httplib::Request& req, httplib::Response& res) {
  for (const auto& [key, value] : req.params) {
    if (key != "base" && key != "new" && key != "format") {
      throw ApiError(400, "unknown_parameter", "unknown query parameter '" + key + "'", key);
    }
  }
  const std::string text = req.has_param("format") ? req.get_param_value("format") : "json";
  const auto format = parse_report_format(text);
  const auto chart = parse_chart_format(text);
  if (!format && !chart) {
    throw ApiError(400, "bad_parameter",
                   "format must be rst, csv, json, svg or html, got '" + text + "'", "format");
  }
  const Comparison c = compare_sides(compare_side(side_rows(api, req, "base")),
                                     compare_side(side_rows(api, req, "new")));
  if (chart) {
    res.status = 200;
    res.set_content(render_comparison_charts(c, *chart,
                                             "iolab compare " + req.get_param_value("base") + " " +
                                                 req.get_param_value("new")),
                    *chart == ChartFormat::kSvg ? "image/svg+xml" : "text/html; charset=utf-8");
    return;
  }
  if (*format == ReportFormat::kJson) {
    reply(res, 200, comparison_json(c));
    return;
  }
  res.status = 200;
  res.set_content(render_comparison(c, *format),
                  *format == ReportFormat::kCsv ? "text/csv" : "text/plain; charset=utf-8");
}

}  // namespace

void add_compare_routes(httplib::Server& s, ApiContext& api) {
  s.Get("/api/v1/compare", wrap(api, compare));
}

}  // namespace iolab
