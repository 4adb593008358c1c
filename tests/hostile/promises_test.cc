// What the docs promise a client: the packaged unit's LimitNOFILE admits the largest run
// load.max_connections allows, an experiment's `warmup: 0s` reads as --warmup 0s does, and no
// variant asks for more threads than a machine can hold.
#include <gtest/gtest.h>

#include <regex>

#include "tests/hostile/hostile.h"

namespace iolab::hostile {
namespace {

// LimitNOFILE= of the packaged systemd/iolab.service ($IOLAB_HOSTILE_SOURCE names another
// checkout's).
rlim_t unit_limit_nofile() {
  const char* other = std::getenv("IOLAB_HOSTILE_SOURCE");
  const fs::path src = other && *other ? fs::path(other) : fs::path(IOLAB_SOURCE_DIR);
  std::ifstream unit(src / "systemd/iolab.service");
  std::string line;
  std::smatch m;
  while (std::getline(unit, line)) {
    if (std::regex_match(line, m, std::regex(R"(LimitNOFILE=(\d+))"))) return std::stoul(m[1]);
  }
  return 0;
}

// A daemon with `yaml` and RLIMIT_NOFILE `limit`, its queue held by a 10-minute run.
class HeldQueue {
 public:
  HeldQueue(const std::string& tag, const std::string& yaml, rlim_t limit = 0)
      : dir_(testing::fresh_test_dir(tag)) {
    std::ofstream(dir_ / "iolab.yaml")
        << "api: {listen: 127.0.0.1:0}\nstate_dir: " << (dir_ / "state").string() << "\n"
        << yaml;
    daemon_ = std::make_unique<DaemonProcess>(dir_, dir_ / "iolab.yaml",
                                              std::map<std::string, std::string>{}, 120s, limit);
  }
  ~HeldQueue() {
    daemon_.reset();
    fs::remove_all(dir_);
  }
  /// The API, once the 10-minute run holds the queue; nullopt when the daemon did not start.
  std::unique_ptr<ApiClient> api() {
    if (daemon_->port() == 0) return nullptr;
    auto api = std::make_unique<ApiClient>(daemon_->port());
    const auto r = api->post("/api/v1/runs", ten_minutes());
    EXPECT_EQ(r.status, 201) << r.text;
    wait_run(*api, daemon_->pid(), r.body.value("id", int64_t{0}),
             [](const json& run) { return run.value("state", "") == "running"; });
    return api;
  }
  DaemonProcess& process() { return *daemon_; }

 private:
  fs::path dir_;
  std::unique_ptr<DaemonProcess> daemon_;
};

TEST(PromisesTest, TenThousandConnectionsFitTheUnitsLimitNofile) {
  const rlim_t limit = unit_limit_nofile();
  ASSERT_GT(limit, 0u) << "no LimitNOFILE= in systemd/iolab.service";
  // Under the unit's limit where this host lets a process have it (systemd raises the hard
  // limit; a test without CAP_SYS_RESOURCE cannot), else under the host's.
  rlimit host{};
  ::getrlimit(RLIMIT_NOFILE, &host);
  const rlim_t given = std::min<rlim_t>(limit, host.rlim_max);
  HeldQueue held("promise_nofile", "variant: {default: async}\n", given);
  const auto api = held.api();
  ASSERT_TRUE(api) << held.process().err();
  // Queued behind the 10-minute run: admitted, never started.
  const auto r = api->post("/api/v1/runs", {{"connections", 10000}, {"duration", "1s"}});
  std::cout << "RLIMIT_NOFILE " << given << " (the unit's LimitNOFILE=" << limit
            << "): a 10000-connection run answers " << r.status << "\n";
  if (given == limit) {
    EXPECT_EQ(r.status, 201) << r.text;
  } else if (r.status != 201) {
    // The daemon's own count of what the run needs, against the unit's limit.
    std::smatch m;
    const std::string text = r.text;
    ASSERT_TRUE(std::regex_search(text, m, std::regex(R"(need (\d+) open files)"))) << text;
    EXPECT_LE(std::stoul(m[1]), limit) << text;
  }
  api->call("DELETE", "/api/v1/runs?state=queued");
}

TEST(PromisesTest, AnExperimentsWarmup0sIsAcceptedAndSixtyFourByTenThousandThreadsAreNot) {
  HeldQueue held("promise_experiment", "");
  const auto api = held.api();
  ASSERT_TRUE(api) << held.process().err();
  const auto warm = api->call("POST", "/api/v1/experiments",
                              "name: w\nload: {connections: 1, duration: 1s, warmup: 0s}\n"
                              "variants: [{kind: async, workers: 1}]\n",
                              "application/yaml");
  EXPECT_EQ(warm.status, 201) << warm.text;
  const auto threads = api->call("POST", "/api/v1/experiments",
                                 "name: t\nload: {connections: 1, duration: 1s}\n"
                                 "variants: [{kind: threads, workers: 64, threads: 10000}]\n",
                                 "application/yaml");
  EXPECT_EQ(threads.status, 422) << threads.text;
  EXPECT_NE(threads.text.find("threads in all"), std::string::npos) << threads.text;
  api->call("DELETE", "/api/v1/runs?state=queued");
}

}  // namespace
}  // namespace iolab::hostile
