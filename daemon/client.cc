#include "daemon/client.h"

#include <httplib.h>

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

int run_experiment_on_daemon(const DaemonClientOptions& options, const std::string& file,
                             std::stop_token stop) {
  std::ifstream in(file);
  if (!in) throw std::invalid_argument(file + ": cannot read the file");
  std::stringstream text;
  text << in.rdbuf();
  Client client(options.url);
  const json created =
      json::parse(client.post("/api/v1/experiments", text.str(), "application/yaml")->body);
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
  return done ? 0 : 1;
}

}  // namespace iolab
