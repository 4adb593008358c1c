#include <filesystem>

#include "core/duration.h"
#include "daemon/api.h"
#include "daemon/api_http.h"
#include "daemon/api_views.h"
#include "daemon/run_jobs.h"
#include "lab/lab.h"

namespace iolab {
namespace {

using nlohmann::json;

json run_spec_json(const RunBody& r) {
  return {{"target", r.target ? json(r.target->to_string()) : json(nullptr)},
          {"path", r.target ? r.target->target : r.path},
          {"connections", r.load.connections},
          {"threads", r.load.threads},
          {"duration", format_duration(r.load.duration)},
          {"warmup", format_duration(r.load.warmup)},
          {"rate", r.load.rate},
          {"timeout", format_duration(r.load.timeout)}};
}

// Descriptors this process holds open now.
uint64_t open_descriptors() {
  std::error_code ec;
  uint64_t n = 0;
  for (auto it = std::filesystem::directory_iterator("/proc/self/fd", ec);
       !ec && it != std::filesystem::directory_iterator(); it.increment(ec)) {
    ++n;
  }
  return n;
}

RunRecord find_run(const ApiContext& api, const httplib::Request& req) {
  const int64_t id = id_param(req, "run");
  auto run = api.store.run(id);
  if (!run) throw ApiError(404, "not_found", "no run " + std::to_string(id), "id");
  return *run;
}

void post_run(ApiContext& api, const httplib::Request& req, httplib::Response& res) {
  const JsonBody b = json_body(
      req, {"target", "path", "connections", "threads", "duration", "warmup", "rate", "timeout"});
  const DaemonConfig config = api.config();
  const RunBody request = run_from_body(b, config);
  const auto admission = api.queue.admission();
  admit_to_queue(api, config, 1, request.load.warmup + request.load.duration);
  RunRecord run;
  // Refused here, not failed later: a run this process could not hold is never queued.
  // The daemon's own descriptors count too: those open now (stats regions, the store, the
  // stub, API connections) and the API connections it may still accept.
  const uint64_t held = open_descriptors() + static_cast<uint64_t>(config.api_max_connections);
  const std::string held_what = "the daemon's own descriptors (" + std::to_string(held) +
                                ": open now, and api.max_connections)";
  try {
    if (request.target) {
      reserve_open_files(request.load.connections, held, held_what);
      run.label = request.target->to_string();
    } else {
      const auto active = api.host.active();
      if (active) {
        reserve_open_files(
            request.load.connections,
            upstream_connections_at_most(active->spec, request.load.connections) + held,
            "the upstream stub's side and " + held_what);
      }
      api.host.check_connections(request.load.connections);
      run.label = active ? active->spec.name() : "";
    }
  } catch (const RunError& e) {
    throw ApiError(422, "too_many_connections", e.what(), "connections");
  }
  run.spec = run_spec_json(request);
  run.created_at = utc_now();
  run.id = api.store.add_run(run);
  api.queue.submit(run.id, adhoc_run_job(api, request),
                   request.load.warmup + request.load.duration);
  res.set_header("Location", "/api/v1/runs/" + std::to_string(run.id));
  reply(res, 201, show_run(api, *api.store.run(run.id), true));
}

void list_runs(ApiContext& api, const httplib::Request& req, httplib::Response& res) {
  RunQuery query;
  for (const auto& [key, value] : req.params) {
    if (key != "limit" && key != "variant") {
      throw ApiError(400, "unknown_parameter", "unknown query parameter '" + key + "'", key);
    }
  }
  if (req.has_param("limit")) {
    const std::string text = req.get_param_value("limit");
    const bool digits = !text.empty() && text.size() <= 6 &&
                        text.find_first_not_of("0123456789") == std::string::npos;
    const size_t limit = digits ? std::stoul(text) : 0;
    if (limit < 1 || limit > kMaxListLimit) {
      throw ApiError(400, "bad_parameter",
                     "limit must be an integer from 1 to " + std::to_string(kMaxListLimit),
                     "limit");
    }
    query.limit = limit;
  }
  if (req.has_param("variant")) query.label = req.get_param_value("variant");
  json runs = json::array();
  for (const auto& r : api.store.runs(query)) runs.push_back(show_run(api, r, false));
  reply(res, 200, {{"runs", runs}});
}

void delete_run(ApiContext& api, const httplib::Request& req, httplib::Response& res) {
  const RunRecord run = find_run(api, req);
  switch (api.queue.cancel(run.id)) {
    case RunQueue::Cancel::kCancelled:
      reply(res, 200, show_run(api, *api.store.run(run.id), true));
      return;
    case RunQueue::Cancel::kStopping: {
      json j = show_run(api, *api.store.run(run.id), true);
      j["cancel_requested"] = true;
      reply(res, 202, j);
      return;
    }
    case RunQueue::Cancel::kNotActive:
      break;
  }
  throw ApiError(409, "already_finished",
                 "run " + std::to_string(run.id) + " is " + std::string(to_string(run.state)),
                 "id");
}

// DELETE /api/v1/runs?state=queued: every queued run at once.
void cancel_queued(ApiContext& api, const httplib::Request& req, httplib::Response& res) {
  for (const auto& [key, value] : req.params) {
    if (key != "state") {
      throw ApiError(400, "unknown_parameter", "unknown query parameter '" + key + "'", key);
    }
  }
  if (req.get_param_value("state") != "queued") {
    throw ApiError(400, "bad_parameter", "state must be 'queued' (the runs to cancel)", "state");
  }
  json ids = json::array();
  for (const int64_t id : api.queue.cancel_queued()) ids.push_back(id);
  reply(res, 200, {{"cancelled", ids}});
}

void run_report(ApiContext& api, const httplib::Request& req, httplib::Response& res) {
  bool wide = false;
  const std::string format = format_param(req, wide);
  const RunRecord run = find_run(api, req);
  const auto row = row_from_run(run);
  if (!row) {
    throw ApiError(409, "no_result",
                   "run " + std::to_string(run.id) + " has no result (" +
                       std::string(to_string(run.state)) + ")",
                   "id");
  }
  reply_report(res, {TrialRow{{*row}}}, format, wide, "iolab run " + std::to_string(run.id));
}

void get_run(ApiContext& api, const httplib::Request& req, httplib::Response& res) {
  reply(res, 200, show_run(api, find_run(api, req), true));
}

}  // namespace

void add_run_routes(httplib::Server& s, ApiContext& api) {
  s.Post("/api/v1/runs", wrap(api, post_run));
  s.Get("/api/v1/runs", wrap(api, list_runs));
  s.Delete("/api/v1/runs", wrap(api, cancel_queued));
  s.Get(R"(/api/v1/runs/([^/]+))", wrap(api, get_run));
  s.Delete(R"(/api/v1/runs/([^/]+))", wrap(api, delete_run));
  s.Get(R"(/api/v1/runs/([^/]+)/report)", wrap(api, run_report));
}

}  // namespace iolab
