#include "daemon/api.h"
#include "daemon/api_http.h"
#include "workers/process_usage.h"

namespace iolab {

void add_health_routes(httplib::Server& s, ApiContext& api) {
  s.Get("/healthz", wrap([](const httplib::Request&, httplib::Response& res) {
          reply(res, 200, {{"status", "ok"}});
        }));

  s.Get("/readyz", wrap([&api](const httplib::Request&, httplib::Response& res) {
          const VariantHost::Readiness r = api.host.readiness();
          // A variant switch does not make the daemon unready: its API and upstream serve.
          const bool ready = r.upstream_up;
          reply(res, ready ? 200 : 503,
                {{"status", ready ? "ready" : "not ready"},
                 {"upstream", r.upstream_up ? "up" : "down"},
                 {"variant", r.variant}});
        }));

  // Read from the workers' shared memory and /proc at scrape time.
  s.Get("/metrics", wrap([&api](const httplib::Request&, httplib::Response& res) {
          const VariantHost::Scrape host = api.host.scrape();
          std::optional<ProcessUsage> usage;
          if (host.active) usage = read_usage(host.pids);
          MetricsSnapshot snapshot = api.metrics.snapshot(host.active, usage);
          snapshot.stub = host.stub;
          snapshot.stub_delays = host.stub_delays;
          snapshot.stub_faults = host.stub_faults;
          for (const auto& f : api.history.regressions()) {
            snapshot.regressions.push_back({f.scenario, f.variant, f.measure});
          }
          res.status = 200;
          res.set_content(api.metrics.render(snapshot), "text/plain; version=0.0.4; charset=utf-8");
        }));
}

}  // namespace iolab
