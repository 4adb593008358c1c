#include "daemon/api.h"
#include "daemon/api_http.h"
#include "daemon/api_views.h"

namespace iolab {
namespace {

using nlohmann::json;

json active_json(const std::optional<VariantHost::Active>& a) {
  if (!a) return nullptr;
  json j = variant_json(a->spec);
  j["port"] = a->port;
  j["state"] = a->in_use ? "in_use" : "running";
  j["restarts"] = a->restarts;
  j["pids"] = a->pids;
  return j;
}

// The parameters each kind takes, with their ranges (VariantLimits).
json kinds_json() {
  const VariantSpec defaults;
  const std::pair<VariantField, json> fields[] = {
      {VariantField::kThreads, {{"required", true}}},
      {VariantField::kWorkers, {{"default", defaults.workers}}},
      {VariantField::kPoolSize, {{"default", defaults.pool_size}}},
      {VariantField::kStackBytes, {{"default", defaults.stack_bytes}}}};
  json kinds = json::array();
  for (const auto& kind : variant_kinds()) {
    json params = json::object();
    for (const auto& [field, extra] : fields) {
      if (!VariantLimits::applies(kind, field)) continue;
      const VariantLimits::Range range = VariantLimits::range(field);
      json p = {{"type", "integer"}, {"min", range.min}, {"max", range.max}};
      p.update(extra);
      params[std::string(variant_field_name(field))] = p;
    }
    kinds.push_back({{"kind", kind}, {"parameters", params}});
  }
  return kinds;
}

json upstream_json(const ApiContext& api) {
  const UpstreamRoute route = api.host.upstream();
  json j = profile_json(route.builtin ? *route.builtin : api.config().upstream_profile);
  j["url"] = route.url.to_string();
  j["builtin"] = route.builtin.has_value();
  return j;
}

}  // namespace

void add_variant_routes(httplib::Server& s, ApiContext& api) {
  s.Get("/api/v1/variants", wrap([&api](const httplib::Request&, httplib::Response& res) {
          reply(res, 200, {{"kinds", kinds_json()}, {"active", active_json(api.host.active())}});
        }));

  s.Get("/api/v1/variant", wrap([&api](const httplib::Request&, httplib::Response& res) {
          const json active = active_json(api.host.active());
          if (active.is_null()) {
            throw ApiError(404, "no_variant",
                           "no variant is active (PUT /api/v1/variant starts one)");
          }
          reply(res, 200, active);
        }));

  s.Put("/api/v1/variant", wrap([&api](const httplib::Request& req, httplib::Response& res) {
          const JsonBody body =
              json_body(req, {"kind", "threads", "workers", "pool_size", "stack_bytes", "accept"});
          reply(res, 200, active_json(api.host.switch_to(variant_from_body(body))));
        }));

  s.Delete("/api/v1/variant", wrap([&api](const httplib::Request&, httplib::Response& res) {
             api.host.remove();
             res.status = 204;
           }));

  s.Get("/api/v1/upstream", wrap([&api](const httplib::Request&, httplib::Response& res) {
          reply(res, 200, upstream_json(api));
        }));

  s.Put(
      "/api/v1/upstream", wrap([&api](const httplib::Request& req, httplib::Response& res) {
        const JsonBody b = json_body(
            req, {"delay", "distribution", "faults", "max_delay", "body_bytes", "max_body_bytes"});
        const UpstreamRoute route = api.host.upstream();
        const StubProfile p = upstream_from_body(b, route.builtin ? *route.builtin : StubProfile{});
        if (!route.builtin) {
          throw ApiError(409, "external_upstream",
                         "upstream.url names an external upstream; its profile is not ours to set");
        }
        if (api.queue.running()) {
          throw ApiError(409, "run_in_progress",
                         "a run is in progress; change the upstream after it");
        }
        api.host.set_profile(p);
        reply(res, 200, upstream_json(api));
      }));
}

}  // namespace iolab
