#include "daemon/daemon.h"

#include <httplib.h>
#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <fstream>
#include <initializer_list>
#include <limits>
#include <set>
#include <sstream>

#include "core/duration.h"
#include "core/errors.h"
#include "daemon/api_error.h"
#include "daemon/api_requests.h"
#include "lab/environment.h"
#include "lab/experiment.h"
#include "lab/lab.h"
#include "daemon/metrics.h"
#include "workers/process_usage.h"
#include "lab/report.h"
#include "lab/report_charts.h"
#include "lab/result_json.h"

namespace iolab {
namespace {

using nlohmann::json;

constexpr size_t kMaxBodyBytes = 1 << 20;
constexpr size_t kMaxListLimit = 1000;
constexpr const char* kJson = "application/json";

// ---------------------------------------------------------------------------------------------
// Request reading: every refusal is an ApiError naming the field.

std::string content_type(const httplib::Request& req) {
  std::string type = req.get_header_value("Content-Type");
  type = type.substr(0, type.find(';'));
  while (!type.empty() && type.back() == ' ') type.pop_back();
  std::transform(type.begin(), type.end(), type.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return type;
}

void require_content_type(const httplib::Request& req, std::initializer_list<const char*> types) {
  const std::string type = content_type(req);
  for (const char* t : types) {
    if (type == t) return;
  }
  std::string list;
  for (const char* t : types) list += (list.empty() ? "" : ", ") + std::string(t);
  throw ApiError(415, "unsupported_media_type",
                 "Content-Type '" + type + "' is not accepted here (use " + list + ")",
                 "Content-Type");
}

// A JSON object body (api_requests.h), after its Content-Type.
JsonBody json_body(const httplib::Request& req, std::initializer_list<std::string> allowed) {
  require_content_type(req, {kJson});
  return JsonBody(req.body, allowed);
}

int64_t id_param(const httplib::Request& req, const char* what) {
  const std::string text = req.matches[1];
  int64_t id = 0;
  const bool digits = !text.empty() && text.size() <= 18 &&
                      text.find_first_not_of("0123456789") == std::string::npos;
  if (digits) id = std::stoll(text);
  if (id <= 0)
    throw ApiError(404, "not_found", std::string("no ") + what + " '" + text + "'", "id");
  return id;
}

void reply(httplib::Response& res, int status, const json& body) {
  res.status = status;
  res.set_content(render_answer(body), kJson);
}

void reply_error(httplib::Response& res, const ApiError& e) {
  reply(res, e.status(), e.to_json());
  if (e.status() == 401) res.set_header("WWW-Authenticate", "Bearer");
}

// ---------------------------------------------------------------------------------------------
// What the API shows.

json variant_json(const VariantSpec& v) {
  json j = {{"kind", v.kind}, {"name", v.name()}, {"workers", v.workers}};
  if (v.kind == "threads") j["threads"] = v.threads;
  if (v.kind == "async") j["pool_size"] = v.pool_size;
  if (v.kind.rfind("fiber", 0) == 0) j["stack_bytes"] = v.stack_bytes;
  return j;
}

json profile_json(const StubProfile& p) {
  return {{"delay", format_duration(p.delay)},
          {"max_delay", format_duration(p.max_delay)},
          {"body_bytes", p.body_bytes},
          {"max_body_bytes", p.max_body_bytes}};
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

// A run's stored result: the engine's result (lossless histograms, timeline) plus what the
// report needs beside it.
json row_to_json(const ReportRow& row, uint64_t worker_restarts) {
  return {{"measured", result_to_json(row.result)},
          {"bound_rps", row.bound_rps},
          {"usage", row.usage ? usage_json(*row.usage) : json(nullptr)},
          {"worker_restarts", worker_restarts}};
}

std::optional<ReportRow> row_from_run(const RunRecord& run) {
  if (!run.result.is_object() || !run.result.contains("measured")) return std::nullopt;
  try {
    ReportRow row{run.label, result_from_json(run.result.at("measured")),
                  run.result.value("bound_rps", 0.0), std::nullopt};
    if (run.result.contains("usage") && run.result["usage"].is_object()) {
      row.usage = usage_from_json(run.result["usage"]);
    }
    return row;
  } catch (const std::exception&) {
    return std::nullopt;
  }
}

// `full`: with histograms and timeline; else the summaries only (lists).
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

json policy_json(const RegressionPolicy& p) {
  return {{"nights", p.nights},
          {"min_nights", p.min_nights},
          {"throughput_drop", p.throughput_drop},
          {"p99_rise", p.p99_rise}};
}

RegressionPolicy policy_from_json(const json& j) {
  RegressionPolicy p;
  if (!j.is_object()) return p;
  p.nights = j.value("nights", p.nights);
  p.min_nights = j.value("min_nights", p.min_nights);
  p.throughput_drop = j.value("throughput_drop", p.throughput_drop);
  p.p99_rise = j.value("p99_rise", p.p99_rise);
  return p;
}

json flag_json(const RegressionFlag& f) {
  return {{"scenario", f.scenario}, {"variant", f.variant}, {"measure", f.measure},
          {"value", f.value},       {"median", f.median},   {"run_id", f.run_id}};
}

}  // namespace

// ---------------------------------------------------------------------------------------------

struct Daemon::RunRequest : RunBody {};

/// The REST handlers: parse, validate in full, then apply.
class Daemon::Api {
 public:
  explicit Api(Daemon& d) : d_(d) {}

  void install(httplib::Server& s) {
    s.set_tcp_nodelay(true);
    s.set_payload_max_length(kMaxBodyBytes);
    s.set_keep_alive_timeout(2);
    s.set_pre_routing_handler([this](const httplib::Request& req, httplib::Response& res) {
      if (d_.token_.empty() || req.path == "/healthz")
        return httplib::Server::HandlerResponse::Unhandled;
      const std::string expected = "Bearer " + d_.token_;
      const std::string given = req.get_header_value("Authorization");
      // Compared in constant time: the token is a secret.
      unsigned diff = given.size() == expected.size() ? 0 : 1;
      for (size_t i = 0; i < std::min(given.size(), expected.size()); ++i) {
        diff |= static_cast<unsigned>(given[i] ^ expected[i]);
      }
      if (diff == 0) return httplib::Server::HandlerResponse::Unhandled;
      reply_error(res, ApiError(401, "unauthorized", "a valid 'Authorization: Bearer' is needed",
                                "Authorization"));
      return httplib::Server::HandlerResponse::Handled;
    });
    s.set_error_handler([](const httplib::Request& req, httplib::Response& res) {
      if (!res.body.empty()) return;
      if (res.status == 413) {
        reply_error(res,
                    ApiError(413, "body_too_large",
                             "the request body exceeds " + std::to_string(kMaxBodyBytes) + " bytes",
                             "body"));
      } else if (res.status == 404) {
        reply_error(res, ApiError(404, "not_found", "no such path: " + req.path, "path"));
      } else {
        reply_error(res, ApiError(res.status, "bad_request", "the request was refused"));
      }
    });
    s.set_exception_handler(
        [](const httplib::Request&, httplib::Response& res, std::exception_ptr ep) {
          std::string what = "unknown error";
          try {
            std::rethrow_exception(ep);
          } catch (const std::exception& e) {
            what = e.what();
          } catch (...) {
          }
          reply_error(res, ApiError(500, "internal", what));
        });

    s.Get("/healthz", wrap(&Api::healthz));
    s.Get("/readyz", wrap(&Api::readyz));
    s.Get("/metrics", wrap(&Api::metrics));
    s.Get("/api/v1/variants", wrap(&Api::variants));
    s.Get("/api/v1/variant", wrap(&Api::get_variant));
    s.Put("/api/v1/variant", wrap(&Api::put_variant));
    s.Delete("/api/v1/variant", wrap(&Api::delete_variant));
    s.Get("/api/v1/upstream", wrap(&Api::get_upstream));
    s.Put("/api/v1/upstream", wrap(&Api::put_upstream));
    s.Post("/api/v1/runs", wrap(&Api::post_run));
    s.Get("/api/v1/runs", wrap(&Api::list_runs));
    s.Get(R"(/api/v1/runs/([^/]+))", wrap(&Api::get_run));
    s.Delete(R"(/api/v1/runs/([^/]+))", wrap(&Api::delete_run));
    s.Get(R"(/api/v1/runs/([^/]+)/report)", wrap(&Api::run_report));
    s.Post("/api/v1/experiments", wrap(&Api::post_experiment));
    s.Get(R"(/api/v1/experiments/([^/]+))", wrap(&Api::get_experiment));
    s.Get(R"(/api/v1/experiments/([^/]+)/report)", wrap(&Api::experiment_report));
    s.Get(R"(/api/v1/history/([^/]+))", wrap(&Api::history));
    s.Get("/api/v1/regressions", wrap(&Api::regressions));
  }

 private:
  using Method = void (Api::*)(const httplib::Request&, httplib::Response&);

  httplib::Server::Handler wrap(Method m) {
    return [this, m](const httplib::Request& req, httplib::Response& res) {
      try {
        (this->*m)(req, res);
      } catch (const ApiError& e) {
        reply_error(res, e);
      } catch (const std::exception& e) {
        reply_error(res, ApiError(500, "internal", e.what()));
      }
    };
  }

  // -- health

  void healthz(const httplib::Request&, httplib::Response& res) {
    reply(res, 200, {{"status", "ok"}});
  }

  void readyz(const httplib::Request&, httplib::Response& res) {
    const std::lock_guard lock(d_.state_mutex_);
    const bool stub_up = d_.config_.upstream_url || (d_.stub_ && d_.stub_port_ != 0);
    const bool variant_up = !d_.active_ || d_.supervisor_ != nullptr;
    const bool ready = stub_up && variant_up;
    reply(res, ready ? 200 : 503,
          {{"status", ready ? "ready" : "not ready"},
           {"upstream", stub_up ? "up" : "down"},
           {"variant", d_.active_ ? (variant_up ? "up" : "down") : "none"}});
  }

  // -- metrics: read from the workers' shared memory and /proc at scrape time

  void metrics(const httplib::Request&, httplib::Response& res) {
    std::optional<std::string> active;
    std::optional<ProcessUsage> usage;
    std::optional<CoarseHistogram> stub;
    {
      const std::lock_guard lock(d_.state_mutex_);
      if (d_.active_ && d_.supervisor_) {
        active = d_.active_->name();
        usage = read_usage(d_.supervisor_->pids());
      }
      if (d_.stub_) stub = coarsen(d_.stub_->latency());
    }
    MetricsSnapshot snapshot = d_.metrics_->snapshot(active, usage);
    snapshot.stub = stub;
    for (const auto& f : d_.regressions()) {
      snapshot.regressions.push_back({f.scenario, f.variant, f.measure});
    }
    res.status = 200;
    res.set_content(d_.metrics_->render(snapshot), "text/plain; version=0.0.4; charset=utf-8");
  }

  // -- variants

  json active_variant_locked() const {
    if (!d_.active_ || !d_.supervisor_) return nullptr;
    json j = variant_json(*d_.active_);
    j["port"] = d_.supervisor_->port();
    j["state"] = d_.variant_in_use_ ? "in_use" : "running";
    j["restarts"] = d_.supervisor_->restarts();
    j["pids"] = d_.supervisor_->pids();
    return j;
  }

  void variants(const httplib::Request&, httplib::Response& res) {
    const json workers = {{"type", "integer"}, {"min", 1}, {"max", kApiMaxWorkers}, {"default", 2}};
    json kinds = json::array();
    for (const auto& kind : variant_kinds()) {
      json params = {{"workers", workers}};
      if (kind == "threads") {
        params["threads"] = {
            {"type", "integer"}, {"min", 1}, {"max", kApiMaxPoolThreads}, {"required", true}};
      }
      if (kind == "async") {
        params["pool_size"] = {{"type", "integer"}, {"min", 0}, {"max", 1000000}, {"default", 0}};
      }
      if (kind.rfind("fiber", 0) == 0) {
        params["stack_bytes"] = {
            {"type", "integer"}, {"min", 16 * 1024}, {"max", 64 << 20}, {"default", 64 * 1024}};
      }
      kinds.push_back({{"kind", kind}, {"parameters", params}});
    }
    const std::lock_guard lock(d_.state_mutex_);
    reply(res, 200, {{"kinds", kinds}, {"active", active_variant_locked()}});
  }

  void get_variant(const httplib::Request&, httplib::Response& res) {
    const std::lock_guard lock(d_.state_mutex_);
    const json active = active_variant_locked();
    if (active.is_null()) {
      throw ApiError(404, "no_variant", "no variant is active (PUT /api/v1/variant starts one)");
    }
    reply(res, 200, active);
  }

  void put_variant(const httplib::Request& req, httplib::Response& res) {
    const JsonBody body =
        json_body(req, {"kind", "threads", "workers", "pool_size", "stack_bytes"});
    const VariantSpec spec = variant_from_body(body);
    const std::lock_guard lock(d_.state_mutex_);
    if (d_.variant_in_use_) {
      throw ApiError(409, "variant_in_use", "a run is loading the active variant", "kind");
    }
    const std::optional<VariantSpec> previous = d_.active_;
    if (d_.supervisor_) d_.supervisor_->stop();
    d_.supervisor_.reset();
    d_.active_.reset();
    try {
      d_.start_variant_locked(spec);
    } catch (const std::exception& e) {
      // Nothing half-applied: bring the previous variant back.
      if (previous) {
        try {
          d_.start_variant_locked(*previous);
        } catch (const std::exception&) {
        }
      }
      throw ApiError(500, "start_failed", std::string("the variant did not start: ") + e.what(),
                     "kind");
    }
    reply(res, 200, active_variant_locked());
  }

  void delete_variant(const httplib::Request&, httplib::Response& res) {
    const std::lock_guard lock(d_.state_mutex_);
    if (d_.variant_in_use_) {
      throw ApiError(409, "variant_in_use", "a run is loading the active variant");
    }
    if (d_.supervisor_) d_.supervisor_->stop();
    d_.supervisor_.reset();
    d_.active_.reset();
    res.status = 204;
  }

  // -- upstream

  json upstream_locked() const {
    json j = profile_json(d_.profile_);
    j["url"] = d_.upstream_url_locked().to_string();
    j["builtin"] = !d_.config_.upstream_url.has_value();
    return j;
  }

  void get_upstream(const httplib::Request&, httplib::Response& res) {
    const std::lock_guard lock(d_.state_mutex_);
    reply(res, 200, upstream_locked());
  }

  void put_upstream(const httplib::Request& req, httplib::Response& res) {
    const JsonBody b = json_body(req, {"delay", "max_delay", "body_bytes", "max_body_bytes"});
    StubProfile current;
    {
      const std::lock_guard lock(d_.state_mutex_);
      current = d_.profile_;
    }
    const StubProfile p = upstream_from_body(b, current);
    const std::lock_guard lock(d_.state_mutex_);
    if (d_.config_.upstream_url) {
      throw ApiError(409, "external_upstream",
                     "upstream.url names an external upstream; its profile is not ours to set");
    }
    if (d_.queue_->running()) {
      throw ApiError(409, "run_in_progress", "a run is in progress; change the upstream after it");
    }
    // The variant's workers hold the stub's URL: the new stub takes the same port.
    auto stub = std::make_unique<UpstreamStub>(p);
    d_.stub_->stop();
    try {
      stub->start(Endpoint{d_.config_.upstream_listen.host, d_.stub_port_});
    } catch (const std::exception& e) {
      d_.stub_ = std::make_unique<UpstreamStub>(d_.profile_);
      d_.stub_->start(Endpoint{d_.config_.upstream_listen.host, d_.stub_port_});
      throw ApiError(500, "start_failed", std::string("the stub did not restart: ") + e.what());
    }
    d_.stub_ = std::move(stub);
    d_.profile_ = p;
    reply(res, 200, upstream_locked());
  }

  // -- runs

  static json run_spec_json(const RunRequest& r) {
    return {{"target", r.target ? json(r.target->to_string()) : json(nullptr)},
            {"path", r.target ? r.target->target : r.path},
            {"connections", r.load.connections},
            {"threads", r.load.threads},
            {"duration", format_duration(r.load.duration)},
            {"warmup", format_duration(r.load.warmup)},
            {"rate", r.load.rate},
            {"timeout", format_duration(r.load.timeout)}};
  }

  json show_run(const RunRecord& run, bool full) const {
    // The queue lets go of a run just after storing its end: a final run shows no progress.
    return run_json(
        run, run.state == RunState::kRunning ? d_.queue_->progress(run.id) : std::nullopt, full);
  }

  void post_run(const httplib::Request& req, httplib::Response& res) {
    const JsonBody b = json_body(
        req, {"target", "path", "connections", "threads", "duration", "warmup", "rate", "timeout"});
    const RunRequest request{run_from_body(b, d_.config())};
    RunRecord run;
    {
      const std::lock_guard lock(d_.state_mutex_);
      if (!request.target && !d_.active_) {
        throw ApiError(409, "no_variant",
                       "no target given and no variant active (PUT /api/v1/variant first)",
                       "target");
      }
      run.label = request.target ? request.target->to_string() : d_.active_->name();
      // Refused here, not failed later: a run this process could not hold is never queued.
      try {
        if (request.target) {
          reserve_open_files(request.load.connections);
        } else {
          check_open_files(*d_.active_, request.load.connections);
        }
      } catch (const RunError& e) {
        throw ApiError(422, "too_many_connections", e.what(), "connections");
      }
    }
    run.spec = run_spec_json(request);
    run.created_at = utc_now();
    run.id = d_.store_->add_run(run);
    d_.queue_->submit(run.id,
                      [this, request](std::stop_token stop, LiveRun& live, RunRecord& record) {
                        return d_.execute_run(request, stop, live, record);
                      });
    res.set_header("Location", "/api/v1/runs/" + std::to_string(run.id));
    reply(res, 201, show_run(*d_.store_->run(run.id), true));
  }

  void list_runs(const httplib::Request& req, httplib::Response& res) {
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
    for (const auto& r : d_.store_->runs(query)) runs.push_back(show_run(r, false));
    reply(res, 200, {{"runs", runs}});
  }

  RunRecord find_run(const httplib::Request& req) const {
    const int64_t id = id_param(req, "run");
    auto run = d_.store_->run(id);
    if (!run) throw ApiError(404, "not_found", "no run " + std::to_string(id), "id");
    return *run;
  }

  void get_run(const httplib::Request& req, httplib::Response& res) {
    reply(res, 200, show_run(find_run(req), true));
  }

  void delete_run(const httplib::Request& req, httplib::Response& res) {
    const RunRecord run = find_run(req);
    switch (d_.queue_->cancel(run.id)) {
      case RunQueue::Cancel::kCancelled:
        reply(res, 200, show_run(*d_.store_->run(run.id), true));
        return;
      case RunQueue::Cancel::kStopping: {
        json j = show_run(*d_.store_->run(run.id), true);
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

  // rst, csv, json (the table), svg or html (charts); validated.
  static std::string format_param(const httplib::Request& req, bool& wide) {
    for (const auto& [key, value] : req.params) {
      if (key != "format" && key != "wide") {
        throw ApiError(400, "unknown_parameter", "unknown query parameter '" + key + "'", key);
      }
    }
    const std::string text = req.has_param("format") ? req.get_param_value("format") : "rst";
    if (!parse_report_format(text) && text != "svg" && text != "html") {
      throw ApiError(400, "bad_parameter",
                     "format must be rst, csv, json, svg or html, got '" + text + "'", "format");
    }
    const std::string w = req.has_param("wide") ? req.get_param_value("wide") : "false";
    if (w != "true" && w != "false" && w != "1" && w != "0") {
      throw ApiError(400, "bad_parameter", "wide must be true or false", "wide");
    }
    wide = w == "true" || w == "1";
    return text;
  }

  static void reply_report(httplib::Response& res, const std::vector<ReportRow>& rows,
                           const std::string& format, bool wide, const std::string& title) {
    res.status = 200;
    if (format == "svg") {
      res.set_content(render_svg_report(rows), "image/svg+xml");
      return;
    }
    if (format == "html") {
      res.set_content(render_html_report(rows, title), "text/html; charset=utf-8");
      return;
    }
    const ReportFormat f = *parse_report_format(format);
    const char* type = f == ReportFormat::kJson  ? kJson
                       : f == ReportFormat::kCsv ? "text/csv"
                                                 : "text/plain; charset=utf-8";
    res.set_content(render_report(rows, f, wide), type);
  }

  void run_report(const httplib::Request& req, httplib::Response& res) {
    bool wide = false;
    const std::string format = format_param(req, wide);
    const RunRecord run = find_run(req);
    const auto row = row_from_run(run);
    if (!row) {
      throw ApiError(409, "no_result",
                     "run " + std::to_string(run.id) + " has no result (" +
                         std::string(to_string(run.state)) + ")",
                     "id");
    }
    reply_report(res, {*row}, format, wide, "iolab run " + std::to_string(run.id));
  }

  // -- experiments

  void post_experiment(const httplib::Request& req, httplib::Response& res) {
    require_content_type(
        req, {kJson, "application/yaml", "application/x-yaml", "text/yaml", "text/x-yaml"});
    const ExperimentSpec spec =
        experiment_from_body(req.body, content_type(req) == kJson, d_.config());

    ExperimentRecord experiment{0, spec.name, req.body, utc_now()};
    experiment.id = d_.store_->add_experiment(experiment);
    std::vector<int64_t> ids;
    for (const VariantSpec& v : spec.variants) {
      RunRecord run;
      run.label = v.name();
      run.experiment_id = experiment.id;
      json load = spec_to_json(spec.load);
      load.erase("target");
      const ExperimentPoint& point = spec.points[ids.size()];
      load["rate"] = point.rate;
      run.spec = {{"experiment", spec.name},
                  {"scenario", point.scenario},
                  {"variant", variant_json(v)},
                  {"path", point.path},
                  {"upstream", profile_json(spec.upstream)},
                  {"load", load},
                  {"regression", policy_json(spec.regression)}};
      run.created_at = experiment.created_at;
      ids.push_back(d_.store_->add_run(run));
    }
    for (size_t i = 0; i < ids.size(); ++i) {
      d_.queue_->submit(
          ids[i], [this, spec, i](std::stop_token stop, LiveRun& live, RunRecord& record) {
            record.environment = run_environment();
            Lab lab(spec.upstream, d_.executable_);
            // /metrics: the workers publish into the variant's region; the load series of the
            // scenario count the run's measured window when it ends.
            lab.stats_regions = [this](const std::string& name) {
              return d_.metrics_->region_for(name);
            };
            const std::string scenario =
                spec.points[i].scenario.empty() ? spec.name : spec.points[i].scenario;
            d_.metrics_->begin_load(scenario, spec.variants[i].name(), nullptr);
            LoadSpec load = spec.load;
            load.rate = spec.points[i].rate;
            const ReportRow row =
                lab.run_variant(spec.variants[i], load, spec.points[i].path, stop,
                                [&live](const std::string&, std::chrono::nanoseconds elapsed,
                                        std::chrono::nanoseconds total,
                                        const LoadProgress& p) { live.update(elapsed, total, p); });
            d_.metrics_->end_load(&row.result, row.result.requests, row.result.errors.total());
            return row_to_json(row, 0);
          });
    }
    res.set_header("Location", "/api/v1/experiments/" + std::to_string(experiment.id));
    reply(res, 201, show_experiment(experiment));
  }

  json show_experiment(const ExperimentRecord& e) const {
    RunQuery query;
    query.experiment_id = e.id;
    query.limit = 100000;
    const auto runs = d_.store_->runs(query);
    json list = json::array();
    for (const auto& r : runs) list.push_back(show_run(r, false));
    // The experiment's own rows, each judged against the nights before it; once it has ended
    // (reading the history is not for every progress poll).
    json flags = json::array();
    const std::string state = experiment_state(runs);
    if (state != "queued" && state != "running") {
      for (const auto& f : d_.experiment_regressions(e.id)) flags.push_back(flag_json(f));
    }
    return {{"id", e.id},
            {"name", e.name},
            {"state", experiment_state(runs)},
            {"created_at", e.created_at},
            {"runs", list},
            {"regressions", flags}};
  }

  ExperimentRecord find_experiment(const httplib::Request& req) const {
    const int64_t id = id_param(req, "experiment");
    auto e = d_.store_->experiment(id);
    if (!e) throw ApiError(404, "not_found", "no experiment " + std::to_string(id), "id");
    return *e;
  }

  void get_experiment(const httplib::Request& req, httplib::Response& res) {
    reply(res, 200, show_experiment(find_experiment(req)));
  }

  void experiment_report(const httplib::Request& req, httplib::Response& res) {
    bool wide = false;
    const std::string format = format_param(req, wide);
    const ExperimentRecord e = find_experiment(req);
    RunQuery query;
    query.experiment_id = e.id;
    query.limit = 100000;
    std::vector<ReportRow> rows;
    for (const auto& run : d_.store_->runs(query)) {
      if (auto row = row_from_run(run)) rows.push_back(std::move(*row));
    }
    reply_report(res, rows, format, wide, "iolab experiment " + e.name);
    // The table's regressions follow it in the text report; csv and json stay parseable.
    if (format == "rst") {
      for (const auto& f : d_.experiment_regressions(e.id)) res.body += describe(f) + "\n";
    }
  }

  // -- history

  // One row per night of the scenario, oldest first, each judged against the nights before it.
  void history(const httplib::Request& req, httplib::Response& res) {
    const std::string scenario = req.matches[1];
    json rows = json::array();
    for (const auto& j : judge_history(d_.nights(scenario))) {
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

  void regressions(const httplib::Request&, httplib::Response& res) {
    json flags = json::array();
    for (const auto& f : d_.regressions()) flags.push_back(flag_json(f));
    reply(res, 200, {{"regressions", flags}});
  }

  Daemon& d_;
};

// ---------------------------------------------------------------------------------------------

Daemon::Daemon(DaemonConfig config, std::string executable, std::unique_ptr<RunStore> store)
    : config_(std::move(config)),
      executable_(std::move(executable)),
      store_(std::move(store)),
      profile_(config_.upstream_profile) {}

Daemon::~Daemon() { stop(); }

Url Daemon::upstream_url_locked() const {
  if (config_.upstream_url) return *config_.upstream_url;
  // A stub bound to every address is still reached over loopback.
  const std::string host = config_.upstream_listen.is_loopback() ? config_.upstream_listen.host
                                                                 : std::string("127.0.0.1");
  return *parse_url("http://" + host + ":" + std::to_string(stub_port_) + "/");
}

void Daemon::start_variant_locked(const VariantSpec& spec) {
  WorkerSetSpec workers;
  workers.executable = executable_;
  workers.variant = spec;
  workers.upstream.url = upstream_url_locked();
  workers.upstream.timeout = std::max<std::chrono::nanoseconds>(10s, profile_.delay * 2);
  workers.listen = config_.variant_listen;
  workers.stats = metrics_->region_for(spec.name());
  auto supervisor = std::make_unique<Supervisor>(workers);
  supervisor->start();
  supervisor_ = std::move(supervisor);
  active_ = spec;
}

uint16_t Daemon::start() {
  if (!config_.token_file.empty()) {
    std::ifstream in(config_.token_file);
    if (!in) throw StartError("api.token_file: cannot read " + config_.token_file);
    std::getline(in, token_);
    while (!token_.empty() && std::isspace(static_cast<unsigned char>(token_.back()))) {
      token_.pop_back();
    }
    if (token_.empty()) throw StartError("api.token_file: " + config_.token_file + " is empty");
  } else if (!config_.api_listen.is_loopback()) {
    throw StartError("api.listen " + config_.api_listen.to_string() +
                     " is not loopback: api.token_file is required");
  }
  if (!store_) {
    try {
      store_ = std::make_unique<SqliteRunStore>(config_.state_dir);
    } catch (const std::exception& e) {
      throw StartError(std::string("state_dir: ") + e.what());
    }
  }
  metrics_ = std::make_unique<DaemonMetrics>(IOLAB_VERSION, IOLAB_GIT_REVISION);
  store_ = metrics_->count_runs(std::move(store_));
  store_->interrupt_unfinished(utc_now());

  {
    const std::lock_guard lock(state_mutex_);
    if (!config_.upstream_url) {
      stub_ = std::make_unique<UpstreamStub>(profile_);
      stub_port_ = stub_->start(config_.upstream_listen);
    }
    if (config_.variant_default) start_variant_locked(*config_.variant_default);
  }
  queue_ = std::make_unique<RunQueue>(*store_);

  server_ = std::make_unique<httplib::Server>();
  api_ = std::make_unique<Api>(*this);
  api_->install(*server_);
  const int port = config_.api_listen.port == 0
                       ? server_->bind_to_any_port(config_.api_listen.host)
                       : (server_->bind_to_port(config_.api_listen.host, config_.api_listen.port)
                              ? config_.api_listen.port
                              : -1);
  if (port <= 0) {
    stop();
    throw StartError("api.listen: cannot bind " + config_.api_listen.to_string());
  }
  port_ = static_cast<uint16_t>(port);
  server_thread_ = std::jthread([this] { server_->listen_after_bind(); });
  return port_;
}

void Daemon::stop() {
  if (stopped_) return;
  stopped_ = true;
  // The running run first: its partial result is saved while the rest shuts down.
  if (queue_) queue_->stop();
  if (server_) server_->stop();
  if (server_thread_.joinable()) server_thread_.join();
  const std::lock_guard lock(state_mutex_);
  if (supervisor_) supervisor_->stop();
  supervisor_.reset();
  if (stub_) stub_->stop();
}

DaemonConfig Daemon::config() const {
  const std::lock_guard lock(state_mutex_);
  return config_;
}

std::vector<std::string> Daemon::reload(const DaemonConfig& next) {
  std::vector<std::string> log;
  const std::lock_guard lock(state_mutex_);
  const auto keep = [&](bool same, const char* key) {
    if (!same) log.push_back(std::string(key) + ": changed, applied at the next restart");
  };
  keep(next.api_listen.to_string() == config_.api_listen.to_string(), "api.listen");
  keep(next.token_file == config_.token_file, "api.token_file");
  keep(next.state_dir == config_.state_dir, "state_dir");
  keep(next.variant_listen.to_string() == config_.variant_listen.to_string(), "variant.listen");
  keep(next.upstream_listen.to_string() == config_.upstream_listen.to_string(), "upstream.listen");
  keep((next.upstream_url ? next.upstream_url->to_string() : "") ==
           (config_.upstream_url ? config_.upstream_url->to_string() : ""),
       "upstream.url");
  if (next.allowed_targets != config_.allowed_targets) {
    config_.allowed_targets = next.allowed_targets;
    log.push_back("load.allowed_targets: applied");
  }
  if (next.max_connections != config_.max_connections) {
    config_.max_connections = next.max_connections;
    log.push_back("load.max_connections: applied (" + std::to_string(next.max_connections) + ")");
  }
  if (next.max_duration != config_.max_duration) {
    config_.max_duration = next.max_duration;
    log.push_back("load.max_duration: applied (" + format_duration(next.max_duration) + ")");
  }
  const StubProfile& p = next.upstream_profile;
  const StubProfile& old = config_.upstream_profile;
  const bool profile_changed = p.delay != old.delay || p.max_delay != old.max_delay ||
                               p.body_bytes != old.body_bytes ||
                               p.max_body_bytes != old.max_body_bytes;
  if (profile_changed && !stub_) {
    log.push_back("upstream.profile: not applied (upstream.url names an external upstream)");
  } else if (profile_changed && queue_ && queue_->running()) {
    log.push_back("upstream.profile: not applied, a run is in progress (reload after it)");
  } else if (profile_changed) {
    // The variant's workers hold the stub's URL: the new stub takes the same port.
    auto stub = std::make_unique<UpstreamStub>(p);
    stub_->stop();
    try {
      stub->start(Endpoint{config_.upstream_listen.host, stub_port_});
      stub_ = std::move(stub);
      profile_ = p;
      config_.upstream_profile = p;
      log.push_back("upstream.profile: applied (delay " + format_duration(p.delay) + ")");
    } catch (const std::exception& e) {
      stub_ = std::make_unique<UpstreamStub>(profile_);
      stub_->start(Endpoint{config_.upstream_listen.host, stub_port_});
      log.push_back(std::string("upstream.profile: not applied, the stub did not restart: ") +
                    e.what());
    }
  }
  if (log.empty()) log.push_back("no change");
  return log;
}

std::vector<NightResult> Daemon::nights(const std::string& scenario) const {
  // Only finished experiment rows, and only their measured summary: this runs on a metrics
  // scrape, and reading every run whole made its cost and the daemon's memory grow with the
  // store (bench/soak.sh: +50 MiB RSS over 230 ad-hoc runs).
  RunQuery query;
  query.limit = 100000;
  query.state = RunState::kDone;
  query.in_experiment = true;
  query.summary = true;
  std::vector<RunRecord> runs = store_->runs(query);
  std::vector<NightResult> nights;
  // The store lists newest first; a history reads oldest first.
  for (auto it = runs.rbegin(); it != runs.rend(); ++it) {
    const RunRecord& r = *it;
    if (r.state != RunState::kDone || !r.experiment_id || !r.spec.is_object()) continue;
    const auto s = r.spec.find("scenario");
    if (s == r.spec.end() || !s->is_string()) continue;
    if (!scenario.empty() && *s != scenario) continue;
    if (!r.result.is_object() || !r.result.contains("measured")) continue;
    const json& m = r.result["measured"];
    NightResult n;
    n.scenario = s->get<std::string>();
    n.variant = r.label;
    n.night = r.finished_at.empty() ? r.created_at : r.finished_at;
    n.run_id = r.id;
    n.experiment_id = *r.experiment_id;
    n.measure.rps = m.value("rps", 0.0);
    if (m.contains("latency_ms") && m["latency_ms"].is_object()) {
      n.measure.p99_s = m["latency_ms"].value("p99", 0.0) / 1000;
    }
    n.policy = policy_from_json(r.spec.value("regression", json()));
    nights.push_back(std::move(n));
  }
  return nights;
}

std::vector<JudgedNight> Daemon::judged_nights() const {
  // The history is read again only when the newest runs changed (a metrics scrape, a poll).
  RunQuery newest;
  newest.limit = 8;
  std::string key;
  for (const auto& r : store_->runs(newest)) {
    key += std::to_string(r.id) + std::string(to_string(r.state)) + ",";
  }
  const std::lock_guard lock(history_mutex_);
  if (key != history_key_ || key.empty()) {
    history_ = judge_history(nights());
    history_key_ = key;
  }
  return history_;
}

std::vector<RegressionFlag> Daemon::experiment_regressions(int64_t experiment_id) const {
  std::vector<RegressionFlag> flags;
  for (const auto& judged : judged_nights()) {
    if (judged.night.experiment_id != experiment_id) continue;
    for (auto& f : flags_of(judged)) flags.push_back(std::move(f));
  }
  return flags;
}

std::vector<RegressionFlag> Daemon::regressions() const {
  return current_regressions(judged_nights());
}

nlohmann::json Daemon::execute_run(const RunRequest& request, std::stop_token stop, LiveRun& live,
                                   RunRecord& record) {
  LoadSpec load = request.load;
  Supervisor* supervisor = nullptr;
  double bound_rps = 0;
  {
    const std::lock_guard lock(state_mutex_);
    if (request.target) {
      load.target = *request.target;
    } else {
      if (!supervisor_) throw RunError("no variant is active");
      // POST checked the variant active then; a switch while the run was queued may need more.
      // Before any load, a run that cannot hold its connections fails whole, with the reason.
      check_open_files(*active_, load.connections);
      variant_in_use_ = true;
      supervisor = supervisor_.get();
      record.label = active_->name();
      record.spec["variant"] = variant_json(*active_);
      load.target.endpoint = Endpoint{"127.0.0.1", supervisor->port()};
      load.target.host_header = load.target.endpoint.to_string();
      load.target.target = request.path;
      if (request.path == "/remote" && !config_.upstream_url && profile_.delay.count() > 0) {
        bound_rps = load.connections / to_seconds(profile_.delay);
      }
    }
  }
  struct Release {
    Daemon* d;
    bool active;
    ~Release() {
      if (!active) return;
      const std::lock_guard lock(d->state_mutex_);
      d->variant_in_use_ = false;
    }
  } release{this, supervisor != nullptr};

  record.environment = run_environment();
  store_->update_run(record);

  const auto total = load.warmup + load.duration;
  const ProcessUsage before = supervisor ? read_usage(supervisor->pids()) : ProcessUsage{};
  const uint64_t restarts_before = supervisor ? supervisor->restarts() : 0;
  LoadProgress progress([&](const TimelinePoint& point) {
    const auto elapsed = std::chrono::seconds(point.second + 1);
    live.update(std::min<std::chrono::nanoseconds>(elapsed, total), total, progress);
  });
  metrics_->begin_load("adhoc", record.label, &progress);
  struct EndLoad {  // a run that throws still ends its load series
    DaemonMetrics* m;
    const LoadProgress& p;
    bool ended = false;
    ~EndLoad() {
      if (!ended) m->end_load(nullptr, p);
    }
  } end_load{metrics_.get(), progress};
  ReportRow row{record.label, run_load(load, stop, &progress), bound_rps, std::nullopt};
  metrics_->end_load(&row.result, progress);
  end_load.ended = true;
  uint64_t restarts = 0;
  if (supervisor) {
    ProcessUsage after = read_usage(supervisor->pids());
    after.cpu_seconds = std::max(0.0, after.cpu_seconds - before.cpu_seconds);
    row.usage = after;
    restarts = supervisor->restarts() - restarts_before;
  }
  return row_to_json(row, restarts);
}

}  // namespace iolab
