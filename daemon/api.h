#pragma once

#include <httplib.h>

#include <functional>
#include <string>

#include "daemon/config.h"
#include "daemon/metrics.h"
#include "daemon/run_queue.h"
#include "daemon/variant_host.h"
#include "store/history.h"
#include "store/run_store.h"

namespace iolab {

/// What the REST handlers work on; every part outlives the server. Each part is thread-safe.
struct ApiContext {
  VariantHost& host;
  RunQueue& queue;
  RunStore& store;
  History& history;
  DaemonMetrics& metrics;
  std::function<DaemonConfig()> config;  ///< The config in force (a copy).
  std::string executable;                ///< The iolab binary an experiment's workers run as.
  std::string token;                     ///< Bearer token; empty: none needed.
};

/// A handler that may throw ApiError (rendered as its status and `{"error":{…}}`).
using ApiHandler = std::function<void(const httplib::Request&, httplib::Response&)>;
/// `handler` with its ApiError (and any other exception, as 500 internal) rendered.
httplib::Server::Handler wrap(ApiHandler handler);

/// A route's handler over the API's context.
using ApiRoute = void (*)(ApiContext& api, const httplib::Request& req, httplib::Response& res);
/// `route` bound to `api`, wrapped as above.
httplib::Server::Handler wrap(ApiContext& api, ApiRoute route);

/// The REST API v1 on `server`: authentication, error rendering and every route below.
void install_api(httplib::Server& server, ApiContext& api);

// One function per resource, each in its own file (api_<resource>.cc).

/// GET /healthz, /readyz, /metrics.
void add_health_routes(httplib::Server& server, ApiContext& api);
/// GET /api/v1/variants; GET, PUT, DELETE /api/v1/variant; GET, PUT /api/v1/upstream.
void add_variant_routes(httplib::Server& server, ApiContext& api);
/// POST, GET /api/v1/runs; GET, DELETE /api/v1/runs/{id}; GET /api/v1/runs/{id}/report.
void add_run_routes(httplib::Server& server, ApiContext& api);
/// POST /api/v1/experiments; GET /api/v1/experiments/{id} and its /report.
void add_experiment_routes(httplib::Server& server, ApiContext& api);
/// GET /api/v1/history/{scenario}, /api/v1/regressions.
void add_history_routes(httplib::Server& server, ApiContext& api);
/// GET /api/v1/compare?base=…&new=…: two experiments' (or runs') trials compared.
void add_compare_routes(httplib::Server& server, ApiContext& api);

/// Throws ApiError 429 `queue_full` (with Retry-After: when the running run ends) unless
/// `runs` more runs of `length` each fit in the queue under `config`'s load.max_queued_runs and
/// load.max_queued_time. Call with the queue's admission() held until the runs are submitted.
void admit_to_queue(const ApiContext& api, const DaemonConfig& config, size_t runs,
                    std::chrono::nanoseconds length);

/// A run's JSON with its live progress while it runs (`full`: histograms and timeline too).
nlohmann::json show_run(const ApiContext& api, const RunRecord& run, bool full);

}  // namespace iolab
