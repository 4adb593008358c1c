#pragma once

// A small JSON-over-HTTP client for the daemon's tests.

#include <gtest/gtest.h>
#include <httplib.h>

#include <chrono>
#include <functional>
#include <nlohmann/json.hpp>
#include <string>
#include <thread>

namespace iolab::testing {

using nlohmann::json;
using namespace std::chrono_literals;

struct Reply {
  int status = 0;  ///< 0: no answer at all.
  std::string text;
  json body;  ///< Parsed when the answer is JSON; null otherwise.
  std::string location;
  std::string content_type;
};

class ApiClient {
 public:
  explicit ApiClient(uint16_t port, std::string token = "") : client_("127.0.0.1", port) {
    client_.set_tcp_nodelay(true);
    client_.set_connection_timeout(5s);
    client_.set_read_timeout(30s);
    if (!token.empty()) client_.set_bearer_token_auth(token.c_str());
  }

  Reply call(const std::string& method, const std::string& path, const std::string& body = "",
             const std::string& type = "application/json", const httplib::Headers& headers = {}) {
    httplib::Result r = method == "GET" ? client_.Get(path, headers)
                        : method == "DELETE"
                            ? (body.empty() ? client_.Delete(path, headers)
                                            : client_.Delete(path, headers, body, type))
                        : method == "PUT" ? client_.Put(path, headers, body, type)
                                          : client_.Post(path, headers, body, type);
    Reply reply;
    if (!r) return reply;
    reply.status = r->status;
    reply.text = r->body;
    reply.location = r->get_header_value("Location");
    reply.content_type = r->get_header_value("Content-Type");
    if (reply.content_type.rfind("application/json", 0) == 0) {
      reply.body = json::parse(r->body, nullptr, false);
    }
    return reply;
  }

  Reply get(const std::string& path) { return call("GET", path); }
  Reply put(const std::string& path, const json& body) { return call("PUT", path, body.dump()); }
  Reply post(const std::string& path, const json& body) { return call("POST", path, body.dump()); }
  Reply del(const std::string& path) { return call("DELETE", path); }

  /// Polls run `id` until `done(run)` holds; fails the test after `limit`.
  json wait_run(int64_t id, const std::function<bool(const json&)>& done,
                std::chrono::seconds limit = 60s) {
    const auto deadline = std::chrono::steady_clock::now() + limit;
    json run;
    while (std::chrono::steady_clock::now() < deadline) {
      run = get("/api/v1/runs/" + std::to_string(id)).body;
      if (done(run)) return run;
      std::this_thread::sleep_for(50ms);
    }
    ADD_FAILURE() << "run " << id << " did not get there in time: " << run.dump().substr(0, 500);
    return run;
  }

  json wait_final(int64_t id, std::chrono::seconds limit = 60s) {
    return wait_run(
        id,
        [](const json& r) {
          const std::string s = r.value("state", "");
          return s != "queued" && s != "running";
        },
        limit);
  }

 private:
  httplib::Client client_;
};

}  // namespace iolab::testing
