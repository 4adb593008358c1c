#include "daemon/api.h"

#include <algorithm>
#include <cctype>
#include <string_view>

#include "core/duration.h"
#include "daemon/api_http.h"
#include "daemon/api_views.h"

namespace iolab {
namespace {

// Compared in constant time: the token is a secret.
bool token_matches(const std::string& given, const std::string& expected) {
  unsigned diff = given.size() == expected.size() ? 0 : 1;
  for (size_t i = 0; i < std::min(given.size(), expected.size()); ++i) {
    diff |= static_cast<unsigned>(given[i] ^ expected[i]);
  }
  return diff == 0;
}

// The token of an `Authorization: Bearer TOKEN` header; the scheme is case-insensitive (RFC 9110
// 11.1) and one or more spaces may follow it. Empty when the header is not of that form.
std::string bearer_token(const std::string& header) {
  constexpr std::string_view kScheme = "bearer";
  if (header.size() <= kScheme.size()) return "";
  for (size_t i = 0; i < kScheme.size(); ++i) {
    if (std::tolower(static_cast<unsigned char>(header[i])) != kScheme[i]) return "";
  }
  size_t at = kScheme.size();
  if (header[at] != ' ') return "";
  while (at < header.size() && header[at] == ' ') ++at;
  return header.substr(at);
}

void render_server_error(const httplib::Request& req, httplib::Response& res) {
  if (!res.body.empty()) return;
  if (res.status == 413) {
    reply_error(
        res,
        ApiError(413, "body_too_large",
                 "the request body exceeds " + std::to_string(kMaxBodyBytes) + " bytes", "body"));
  } else if (res.status == 404) {
    reply_error(res, ApiError(404, "not_found", "no such path: " + req.path, "path"));
  } else {
    reply_error(res, ApiError(res.status, "bad_request", "the request was refused"));
  }
}

}  // namespace

httplib::Server::Handler wrap(ApiHandler handler) {
  return [handler = std::move(handler)](const httplib::Request& req, httplib::Response& res) {
    try {
      handler(req, res);
    } catch (const ApiError& e) {
      reply_error(res, e);
    } catch (const StoreFullError& e) {
      reply_error(res, ApiError(507, "store_full",
                                std::string(e.what()) + ": nothing was stored; retry once the "
                                                        "state_dir has room"));
    } catch (const std::exception& e) {
      reply_error(res, ApiError(500, "internal", e.what()));
    }
  };
}

httplib::Server::Handler wrap(ApiContext& api, ApiRoute route) {
  return wrap(
      [&api, route](const httplib::Request& req, httplib::Response& res) { route(api, req, res); });
}

void install_api(httplib::Server& s, ApiContext& api) {
  s.set_tcp_nodelay(true);
  s.set_payload_max_length(kMaxBodyBytes);
  s.set_pre_routing_handler([&api](const httplib::Request& req, httplib::Response& res) {
    if (api.token.empty() || req.path == "/healthz") {
      return httplib::Server::HandlerResponse::Unhandled;
    }
    const std::string given = bearer_token(req.get_header_value("Authorization"));
    if (!given.empty() && token_matches(given, api.token)) {
      return httplib::Server::HandlerResponse::Unhandled;
    }
    reply_error(res, ApiError(401, "unauthorized", "a valid 'Authorization: Bearer' is needed",
                              "Authorization"));
    return httplib::Server::HandlerResponse::Handled;
  });
  s.set_error_handler(render_server_error);
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
  add_health_routes(s, api);
  add_variant_routes(s, api);
  add_run_routes(s, api);
  add_experiment_routes(s, api);
  add_history_routes(s, api);
  add_compare_routes(s, api);
}

void admit_to_queue(const ApiContext& api, const DaemonConfig& config, size_t runs,
                    std::chrono::nanoseconds length) {
  const auto [queued, queued_time] = api.queue.queued();
  const auto max_runs = static_cast<size_t>(config.max_queued_runs);
  std::string over;
  if (queued + runs > max_runs) {
    over = std::to_string(runs) + " more run(s) would exceed load.max_queued_runs " +
           std::to_string(max_runs) + " (" + std::to_string(queued) + " queued)";
  } else if (queued_time + length * static_cast<int64_t>(runs) > config.max_queued_time) {
    over = std::to_string(runs) + " more run(s) of " + format_duration(length) +
           " would exceed load.max_queued_time " + format_duration(config.max_queued_time) + " (" +
           format_duration(queued_time) + " queued)";
  }
  if (!over.empty()) {
    throw ApiError(429, "queue_full",
                   over + "; retry later, or cancel queued runs (DELETE /api/v1/runs?state=queued)")
        .retry_after(api.queue.seconds_to_next_end());
  }
}

nlohmann::json show_run(const ApiContext& api, const RunRecord& stored, bool full) {
  // A run that ended while the store had no room is shown as the queue holds it.
  const auto held = api.queue.unsaved(stored.id);
  const RunRecord& run = held ? *held : stored;
  // The queue lets go of a run just after storing its end: a final run shows no progress.
  return run_json(run, run.state == RunState::kRunning ? api.queue.progress(run.id) : std::nullopt,
                  full);
}

}  // namespace iolab
