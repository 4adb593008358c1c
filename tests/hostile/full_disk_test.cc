// A disk that fills while a run is in progress: the run fails with a clear error, the daemon
// keeps serving, the result is stored once space returns, and nothing stored before is harmed.
//
// The state_dir is a small tmpfs the test mounts (as root, which the CI is) and unmounts after.
#include <gtest/gtest.h>
#include <signal.h>
#include <sqlite3.h>
#include <sys/mount.h>

#include <cerrno>
#include <cstring>
#include <fstream>

#include "tests/hostile/hostile.h"

namespace iolab::hostile {
namespace {

// `PRAGMA integrity_check` of DIR/runs.db.
std::string integrity(const fs::path& state) {
  sqlite3* db = nullptr;
  std::string result;
  if (sqlite3_open_v2((state / "runs.db").c_str(), &db, SQLITE_OPEN_READONLY, nullptr) ==
      SQLITE_OK) {
    sqlite3_stmt* st = nullptr;
    if (sqlite3_prepare_v2(db, "PRAGMA integrity_check", -1, &st, nullptr) == SQLITE_OK) {
      while (sqlite3_step(st) == SQLITE_ROW) {
        result += reinterpret_cast<const char*>(sqlite3_column_text(st, 0));
      }
    }
    sqlite3_finalize(st);
  }
  sqlite3_close(db);
  return result.empty() ? "cannot open " + (state / "runs.db").string() : result;
}

// Writes `path` until the file system has no room left; returns the bytes written.
size_t fill(const fs::path& path) {
  std::ofstream out(path, std::ios::binary);
  const std::string block(64 * 1024, 'x');
  size_t written = 0;
  for (int i = 0; i < 1 << 14 && out.write(block.data(), block.size()); ++i) {
    out.flush();
    if (!out) break;
    written += block.size();
  }
  return written;
}

class FullDiskTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = testing::fresh_test_dir("full_disk");
    state_ = dir_ / "state";
    fs::create_directories(state_);
    if (::mount("tmpfs", state_.c_str(), "tmpfs", 0, "size=8m") != 0) {
      FAIL() << "cannot mount a tmpfs on " << state_ << " (" << std::strerror(errno)
             << "): this test needs root (CAP_SYS_ADMIN), as the CI runs it";
    }
    mounted_ = true;
  }
  void TearDown() override {
    daemon_.reset();
    if (mounted_ && ::umount(state_.c_str()) != 0) ::umount2(state_.c_str(), MNT_DETACH);
    std::error_code ec;
    fs::remove_all(dir_, ec);
  }

  fs::path dir_;
  fs::path state_;
  bool mounted_ = false;
  std::unique_ptr<HostileDaemon> daemon_;
};

TEST_F(FullDiskTest, ARunEndingOnAFullDiskFailsClearlyTheDaemonServesAndStoresItOnceSpaceReturns) {
  daemon_ = std::make_unique<HostileDaemon>("full_disk_daemon",
                                            "state_dir: " + state_.string() +
                                                "\nvariant: {default: \"threads:4\"}\n"
                                                "upstream: {profile: {delay: 5ms}}\n");
  const uint16_t port = daemon_->port();
  ASSERT_NE(port, 0) << daemon_->process().err();
  ApiClient api(port);
  const auto run = [](const char* duration) {
    return json{{"connections", 2}, {"threads", 1}, {"warmup", "0s"}, {"duration", duration}};
  };

  auto first = api.post("/api/v1/runs", run("300ms"));
  ASSERT_EQ(first.status, 201) << first.text;
  const pid_t pid = daemon_->process().pid();
  const json before = wait_final(api, pid, first.body["id"].get<int64_t>());
  ASSERT_EQ(before["state"], "done");

  auto second = api.post("/api/v1/runs", run("3s"));
  ASSERT_EQ(second.status, 201) << second.text;
  const int64_t id = second.body["id"].get<int64_t>();
  wait_run(api, pid, id, [](const json& r) { return r.value("state", "") == "running"; });
  const fs::path filler = state_ / "filler";
  const size_t filled = fill(filler);
  std::cout << "filled the state_dir's tmpfs with " << filled << " bytes\n";

  const json ended = wait_final(api, pid, id);
  ASSERT_TRUE(alive(pid)) << "the daemon died: " << daemon_->process().err();
  EXPECT_EQ(ended["state"], "failed");
  const std::string error = ended.value("error", "");
  EXPECT_NE(error.find("full"), std::string::npos) << error;
  EXPECT_NE(error.find("held in memory"), std::string::npos) << error;
  EXPECT_EQ(api.get("/healthz").status, 200);
  // A new run is refused plainly while there is no room, and nothing is queued.
  const auto refused = api.post("/api/v1/runs", run("300ms"));
  EXPECT_EQ(refused.status, 507) << refused.text;

  fs::remove(filler);
  const json stored = wait_run(api, pid, id, [](const json& r) {
    return r.value("error", "").find("stored at") != std::string::npos;
  });
  EXPECT_EQ(stored["state"], "failed");
  EXPECT_TRUE(stored["result"].is_object()) << stored.dump().substr(0, 300);
  EXPECT_EQ(api.get("/api/v1/runs/" + std::to_string(first.body["id"].get<int64_t>())).body,
            before);

  daemon_->process().signal(SIGTERM);
  EXPECT_TRUE(daemon_->process().wait_exit(20s));
  EXPECT_EQ(integrity(state_), "ok");
  // What the daemon said of it.
  const std::string log = daemon_->process().err();
  EXPECT_NE(log.find("run " + std::to_string(id) + ": stored"), std::string::npos) << log;
}

}  // namespace
}  // namespace iolab::hostile
