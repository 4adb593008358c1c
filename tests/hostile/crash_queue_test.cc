// A daemon SIGKILLed with runs in its queue: on the next start the run it was doing is
// interrupted with a reason, the ones that never started run after all, and the log says what
// became of each.
#include <gtest/gtest.h>
#include <signal.h>

#include "tests/hostile/hostile.h"

namespace iolab::hostile {
namespace {

TEST(CrashQueueTest, AfterASigkillQueuedRunsAreQueuedAgainAndEachIsLogged) {
  HostileDaemon daemon("crash_queue",
                       "variant: {default: \"threads:2\"}\nupstream: {profile: {delay: 5ms}}\n");
  ASSERT_NE(daemon.port(), 0) << daemon.process().err();
  std::vector<int64_t> ids;
  {
    ApiClient api(daemon.port());
    for (const char* duration : {"30s", "300ms", "300ms"}) {
      const auto r =
          api.post("/api/v1/runs",
                   {{"connections", 2}, {"threads", 1}, {"duration", duration}, {"warmup", "0s"}});
      ASSERT_EQ(r.status, 201) << r.text;
      ids.push_back(r.body["id"].get<int64_t>());
    }
    ASSERT_FALSE(wait_run(api, daemon.process().pid(), ids[0], [](const json& r) {
                   return r.value("state", "") == "running";
                 }).is_null());
    int killed_by = 0;
    daemon.process().signal(SIGKILL);
    ASSERT_TRUE(daemon.process().wait_exit(10s, &killed_by));
    ASSERT_EQ(killed_by, SIGKILL);
  }

  daemon.start();
  ASSERT_NE(daemon.port(), 0) << daemon.process().err();
  ApiClient api(daemon.port());
  const pid_t pid = daemon.process().pid();
  const json first = api.get("/api/v1/runs/" + std::to_string(ids[0])).body;
  EXPECT_EQ(first["state"], "interrupted");
  const std::string error = first["error"].is_string() ? first["error"].get<std::string>() : "";
  EXPECT_NE(error.find("the daemon stopped"), std::string::npos) << first.dump().substr(0, 300);
  for (size_t i = 1; i < ids.size(); ++i) {
    const json run = wait_final(api, pid, ids[i]);
    ASSERT_TRUE(run.is_object()) << daemon.process().err();
    EXPECT_EQ(run["state"], "done") << run.dump().substr(0, 300);
  }
  const std::string log = daemon.process().err();
  EXPECT_NE(log.find("run " + std::to_string(ids[0]) + ": interrupted"), std::string::npos) << log;
  for (size_t i = 1; i < ids.size(); ++i) {
    EXPECT_NE(log.find("run " + std::to_string(ids[i]) + ": queued again"), std::string::npos)
        << log;
  }
}

}  // namespace
}  // namespace iolab::hostile
