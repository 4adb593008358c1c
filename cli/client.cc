#include "cli/client.h"

#include <httplib.h>
#include <yaml-cpp/yaml.h>

#include <cctype>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <iostream>
#include <nlohmann/json.hpp>
#include <sstream>
#include <stdexcept>
#include <thread>

#include "core/endpoint.h"

namespace iolab {
namespace {

using nlohmann::json;
using namespace std::chrono_literals;

class Client {
 public:
  explicit Client(const std::string& url) {
    std::string error;
    const auto parsed = parse_url(url, &error);
    if (!parsed) throw std::runtime_error("--daemon: " + error);
    client_ = std::make_unique<httplib::Client>(parsed->endpoint.host, parsed->endpoint.port);
    client_->set_tcp_nodelay(true);
    client_->set_connection_timeout(5s);
    client_->set_read_timeout(30s);
    if (const char* token = std::getenv("IOLAB_TOKEN"); token && *token) {
      client_->set_bearer_token_auth(token);
    }
    where_ = parsed->endpoint.to_string();
  }

  httplib::Result get(const std::string& path) { return checked(client_->Get(path), path); }
  httplib::Result post(const std::string& path, const std::string& body, const char* type) {
    return checked(client_->Post(path, body, type), path);
  }
  httplib::Result del(const std::string& path) { return checked(client_->Delete(path), path); }

 private:
  httplib::Result checked(httplib::Result r, const std::string& path) {
    if (!r) {
      throw std::runtime_error("daemon at " + where_ + ": " + httplib::to_string(r.error()));
    }
    if (r->status >= 400) {
      std::string message = r->body;
      const json body = json::parse(r->body, nullptr, false);
      if (body.is_object() && body.contains("error")) {
        const json& e = body["error"];
        message = e.value("message", std::string());
        const std::string field = e.value("field", std::string());
        if (!field.empty()) message += " (field " + field + ")";
      }
      throw std::runtime_error(path + ": " + std::to_string(r->status) + " " + message);
    }
    return r;
  }

  std::unique_ptr<httplib::Client> client_;
  std::string where_;
};

std::string report_query(const DaemonClientOptions& o) {
  return "?format=" + o.format + (o.wide ? "&wide=true" : "");
}

// A scenario name in a URL path: unreserved characters pass, the rest is %-encoded.
std::string path_escape(const std::string& text) {
  std::string out;
  for (const unsigned char c : text) {
    if (std::isalnum(c) || c == '-' || c == '_' || c == '.' || c == '~') {
      out += static_cast<char>(c);
    } else {
      char hex[4];
      std::snprintf(hex, sizeof(hex), "%%%02X", c);
      out += hex;
    }
  }
  return out;
}

}  // namespace

void print_daemon_report(const DaemonClientOptions& options, const std::string& id, bool run) {
  if (id.empty() || id.find_first_not_of("0123456789") != std::string::npos) {
    throw std::invalid_argument("ID must be a number, got '" + id + "'");
  }
  Client client(options.url);
  const auto r = client.get(std::string(run ? "/api/v1/runs/" : "/api/v1/experiments/") + id +
                            "/report" + report_query(options));
  std::cout << r->body << std::flush;
}

// "rps -94.7% p=1.2e-05" for a change point that begins at a night; "rps outlier" for a night
// set aside; empty otherwise.
std::string change_text(const char* measure, const json& v) {
  char text[96];
  if (v.contains("change") && v["change"].is_object()) {
    std::snprintf(text, sizeof(text), "%s %+.1f%% p=%.2g", measure,
                  v["change"]["relative_change"].get<double>() * 100,
                  v["change"]["p"].get<double>());
    return text;
  }
  if (v.value("outlier", false)) return std::string(measure) + " outlier";
  return {};
}

void print_daemon_history(const DaemonClientOptions& options, const std::string& scenario) {
  if (scenario.empty()) throw std::invalid_argument("SCENARIO must not be empty");
  Client client(options.url);
  const auto r = client.get("/api/v1/history/" + path_escape(scenario));
  if (options.format == "json") {
    std::cout << r->body << std::flush;
    return;
  }
  const json body = json::parse(r->body);
  const char* rule =
      "==================== ================ ====== ========== ========== ========== ========== "
      "======= ==================================";
  std::printf("%s\n%-20s %-16s %6s %10s %10s %10s %10s %-7s %s\n%s\n", rule, "night", "variant",
              "trials", "rps", "rps_level", "p99_ms", "p99_level", "flag", "change points", rule);
  bool insufficient = false;
  for (const auto& n : body["nights"]) {
    const json& rps = n["throughput"];
    const json& p99 = n["p99"];
    std::string flag = rps["judged"].get<bool>() ? "ok" : "-";
    const bool rps_flag = rps["regressed"].get<bool>();
    const bool p99_flag = p99["regressed"].get<bool>();
    if (rps_flag && p99_flag) {
      flag = "RPS+P99";
    } else if (rps_flag) {
      flag = "RPS";
    } else if (p99_flag) {
      flag = "P99";
    }
    const auto level = [](const json& v, double scale, const char* format) {
      if (!v["judged"].get<bool>()) return std::string("-");
      char text[32];
      std::snprintf(text, sizeof(text), format, v["level"].get<double>() * scale);
      return std::string(text);
    };
    char p99_ms[32];
    std::snprintf(p99_ms, sizeof(p99_ms), "%.3f%s", n["p99_s"].get<double>() * 1000,
                  p99["insufficient"].get<bool>() ? "*" : "");
    insufficient |= p99["insufficient"].get<bool>();
    std::string changes = change_text("rps", rps);
    const std::string p99_change = change_text("p99", p99);
    if (!p99_change.empty()) changes += (changes.empty() ? "" : "; ") + p99_change;
    std::printf("%-20s %-16s %6llu %10.1f %10s %10s %10s %-7s %s\n",
                n["night"].get<std::string>().c_str(), n["variant"].get<std::string>().c_str(),
                static_cast<unsigned long long>(n.value("trials", uint64_t{1})),
                n["rps"].get<double>(), level(rps, 1, "%.1f").c_str(), p99_ms,
                level(p99, 1000, "%.3f").c_str(), flag.c_str(), changes.c_str());
  }
  std::printf("%s\n", rule);
  std::printf(
      "level: the mean since the latest change (before the change, when flagged). change points: "
      "E-divisive means with a t-test over the whole series, where the new level begins.\n");
  if (insufficient) {
    std::printf("*: a trial holds fewer answers than regression.min_answers: p99 not judged\n");
  }
  std::fflush(stdout);
}

void print_daemon_compare(const DaemonClientOptions& options, const std::string& base,
                          const std::string& next) {
  Client client(options.url);
  const auto r = client.get("/api/v1/compare?base=" + path_escape(base) +
                            "&new=" + path_escape(next) + "&format=" + options.format);
  std::cout << r->body << std::flush;
}

int run_experiment_on_daemon(const DaemonClientOptions& options, const std::string& file,
                             std::stop_token stop, int trials) {
  std::ifstream in(file);
  if (!in) throw std::invalid_argument(file + ": cannot read the file");
  std::stringstream text;
  text << in.rdbuf();
  std::string body = text.str();
  if (trials > 0) {
    // --trials overrides the file's key; the daemon reads and checks the file as it is.
    YAML::Node root;
    try {
      root = YAML::Load(body);
    } catch (const YAML::Exception& e) {
      throw std::invalid_argument(file + ": " + e.what());
    }
    if (!root.IsMap()) throw std::invalid_argument(file + ": expected a mapping");
    root["trials"] = trials;
    YAML::Emitter out;
    out << root;
    body = out.c_str();
  }
  Client client(options.url);
  const json created =
      json::parse(client.post("/api/v1/experiments", body, "application/yaml")->body);
  const std::string path = "/api/v1/experiments/" + std::to_string(created["id"].get<int64_t>());
  std::cerr << "experiment " << created["name"].get<std::string>() << " is " << path << " on "
            << options.url << ", " << created["runs"].size() << " runs\n";

  json experiment = created;
  while (true) {
    const std::string state = experiment["state"];
    if (state != "queued" && state != "running") break;
    if (stop.stop_requested()) {
      for (const auto& run : experiment["runs"]) {
        const std::string s = run["state"];
        if (s == "queued" || s == "running") {
          try {
            client.del("/api/v1/runs/" + std::to_string(run["id"].get<int64_t>()));
          } catch (const std::exception&) {
            // Ended meanwhile: nothing to cancel.
          }
        }
      }
      std::cerr << "iolab: cancelled\n";
      return 1;
    }
    for (const auto& run : experiment["runs"]) {
      const std::string s = run["state"];
      if (s == "running" && run["progress"].is_object()) {
        const json& p = run["progress"];
        std::fprintf(stderr, "%-14s %5.0fs/%.0fs %10llu answers %8llu errors %8llu req/s\n",
                     run["label"].get<std::string>().c_str(), p["elapsed_s"].get<double>(),
                     p["total_s"].get<double>(),
                     static_cast<unsigned long long>(p["requests"].get<uint64_t>()),
                     static_cast<unsigned long long>(p["errors"].get<uint64_t>()),
                     static_cast<unsigned long long>(p["current_rps"].get<uint64_t>()));
      }
    }
    std::this_thread::sleep_for(1s);
    experiment = json::parse(client.get(path)->body);
  }
  std::cout << client.get(path + "/report" + report_query(options))->body << std::flush;
  const bool done = experiment["state"] == "done";
  if (!done)
    std::cerr << "iolab: experiment ended " << experiment["state"].get<std::string>() << "\n";
  const json regressions = experiment.value("regressions", json::array());
  // The rst report already lists them under the table; a csv or json report stays parseable.
  if (options.format != "rst") {
    for (const auto& f : regressions) {
      std::cerr << "REGRESSION " << f["scenario"].get<std::string>() << " "
                << f["variant"].get<std::string>() << " " << f["measure"].get<std::string>()
                << " (run " << f["run_id"].get<int64_t>() << ")\n";
    }
  }
  if (!regressions.empty()) {
    std::cerr << "iolab: " << regressions.size() << " regression(s) against the nights before\n";
  }
  return done && regressions.empty() ? 0 : 1;
}

}  // namespace iolab
