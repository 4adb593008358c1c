// Fault injection on the run store: the daemon SIGKILLed while it writes a run's
// result leaves a store that opens intact: earlier runs as they were, the run it was writing
// interrupted (never half-written), and new runs stored after it.
//
// The kill mid-write is made deterministic by the store's fault hook: with
// IOLAB_FAULT=kill-in-store-write, SqliteRunStore::update_run writes a final result inside an
// open transaction, flushes its pages to the WAL and raises SIGKILL before COMMIT.
#include <gtest/gtest.h>
#include <signal.h>
#include <sqlite3.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <map>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "tests/integration/daemon/daemon_client.h"
#include "tests/integration/daemon/daemon_process.h"

namespace iolab {
namespace {

using testing::ApiClient;
using testing::DaemonProcess;
using testing::fresh_test_dir;
using testing::json;
using Clock = std::chrono::steady_clock;
using namespace std::chrono_literals;
namespace fs = std::filesystem;

struct StoredRun {
  int64_t id = 0;
  std::string state;
  std::string result;  // the stored text; empty when there is none
  std::string started_at;
};

/// What a fresh connection sees in `DIR/runs.db`: `PRAGMA integrity_check` and every run.
struct StoreView {
  std::string integrity;  // "ok" when intact
  std::vector<StoredRun> runs;
};

StoreView open_store(const fs::path& state_dir) {
  StoreView view;
  sqlite3* db = nullptr;
  const std::string path = (state_dir / "runs.db").string();
  if (sqlite3_open_v2(path.c_str(), &db, SQLITE_OPEN_READWRITE, nullptr) != SQLITE_OK) {
    view.integrity = std::string("cannot open: ") + (db ? sqlite3_errmsg(db) : "no memory");
    sqlite3_close(db);
    return view;
  }
  sqlite3_busy_timeout(db, 5000);
  const auto text = [](sqlite3_stmt* st, int col) {
    const auto* p = reinterpret_cast<const char*>(sqlite3_column_text(st, col));
    return p ? std::string(p) : std::string();
  };
  sqlite3_stmt* st = nullptr;
  if (sqlite3_prepare_v2(db, "PRAGMA integrity_check", -1, &st, nullptr) == SQLITE_OK) {
    while (sqlite3_step(st) == SQLITE_ROW) {
      view.integrity += (view.integrity.empty() ? "" : "; ") + text(st, 0);
    }
  } else {
    view.integrity = sqlite3_errmsg(db);
  }
  sqlite3_finalize(st);
  if (sqlite3_prepare_v2(db, "SELECT id, state, result, started_at FROM runs ORDER BY id", -1, &st,
                         nullptr) == SQLITE_OK) {
    while (sqlite3_step(st) == SQLITE_ROW) {
      view.runs.push_back({sqlite3_column_int64(st, 0), text(st, 1), text(st, 2), text(st, 3)});
    }
  } else {
    view.integrity += std::string("; cannot read runs: ") + sqlite3_errmsg(db);
  }
  sqlite3_finalize(st);
  sqlite3_close(db);
  return view;
}

uint32_t big_endian(const unsigned char* p) {
  return (uint32_t{p[0]} << 24) | (uint32_t{p[1]} << 16) | (uint32_t{p[2]} << 8) | p[3];
}

// Frames in `DIR/runs.db-wal` after its last commit frame: pages of a transaction that was
// being written and never committed. (The WAL format: a 32-byte header with the page size at
// offset 8, then frames of a 24-byte header, whose bytes 4..7 are non-zero only in a commit
// frame, and one page.)
int uncommitted_wal_frames(const fs::path& state_dir) {
  std::ifstream in(state_dir / "runs.db-wal", std::ios::binary);
  const std::string wal((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  if (wal.size() < 32) return 0;
  const auto* bytes = reinterpret_cast<const unsigned char*>(wal.data());
  const size_t page = big_endian(bytes + 8);
  int since_commit = 0;
  for (size_t at = 32; page > 0 && at + 24 + page <= wal.size(); at += 24 + page) {
    since_commit = big_endian(bytes + at + 4) != 0 ? 0 : since_commit + 1;
  }
  return since_commit;
}

bool is_final_state(const std::string& s) {
  return s == "done" || s == "failed" || s == "cancelled" || s == "interrupted";
}

// Every stored run is whole: a known state; a result, where there is one, that parses and
// belongs to a finished run; every finished-with-a-measure run has one.
void expect_whole(const StoreView& view) {
  EXPECT_EQ(view.integrity, "ok");
  for (const StoredRun& r : view.runs) {
    SCOPED_TRACE("run " + std::to_string(r.id) + " (" + r.state + ")");
    EXPECT_TRUE(is_final_state(r.state) || r.state == "queued" || r.state == "running");
    if (r.state == "done") {
      EXPECT_FALSE(r.result.empty());
    }
    if (r.result.empty()) continue;
    EXPECT_TRUE(is_final_state(r.state));
    const json result = json::parse(r.result, nullptr, /*allow_exceptions=*/false);
    ASSERT_TRUE(result.is_object()) << r.result.substr(0, 200);
    EXPECT_TRUE(result.contains("measured"));
  }
}

class StoreCrashTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fresh_test_dir("store_crash");
    std::ofstream(dir_ / "iolab.yaml") << "api: {listen: 127.0.0.1:0}\n"
                                       << "state_dir: " << state().string() << "\n"
                                       << "variant: {default: \"threads:4\"}\n"
                                       << "upstream: {profile: {delay: 5ms}}\n"
                                       << "load: {max_connections: 50, max_duration: 1m}\n";
  }
  void TearDown() override { fs::remove_all(dir_); }

  fs::path state() const { return dir_ / "state"; }

  std::unique_ptr<DaemonProcess> start(const std::map<std::string, std::string>& env = {}) {
    return std::make_unique<DaemonProcess>(dir_, dir_ / "iolab.yaml", env);
  }

  static int64_t post_run(ApiClient& api, const std::string& duration) {
    const auto r =
        api.post("/api/v1/runs",
                 {{"connections", 2}, {"threads", 1}, {"duration", duration}, {"warmup", "0s"}});
    EXPECT_EQ(r.status, 201) << r.text;
    return r.body.value("id", int64_t{0});
  }

  fs::path dir_;
};

TEST_F(StoreCrashTest, ADaemonKilledMidWriteOfAResultLeavesAStoreThatOpensIntact) {
  json first;
  {
    auto daemon = start();
    ASSERT_NE(daemon->port(), 0);
    ApiClient api(daemon->port());
    first = api.wait_final(post_run(api, "300ms"));
    ASSERT_EQ(first["state"], "done");
    daemon->signal(SIGTERM);
    int killed_by = -1;
    ASSERT_TRUE(daemon->wait_exit(10s, &killed_by));
    ASSERT_EQ(killed_by, 0) << daemon->err();
  }
  {
    auto daemon = start({{"IOLAB_FAULT", "kill-in-store-write"}});
    ASSERT_NE(daemon->port(), 0);
    ApiClient api(daemon->port());
    EXPECT_EQ(post_run(api, "300ms"), 2);
    int killed_by = -1;
    ASSERT_TRUE(daemon->wait_exit(20s, &killed_by)) << "the fault did not fire";
    ASSERT_EQ(killed_by, SIGKILL) << daemon->err();
  }

  // The kill came mid-write: the WAL ends in pages of the result's transaction, not committed.
  // (The first daemon's clean exit checkpointed and removed the WAL: all of it is the second's.)
  EXPECT_GT(uncommitted_wal_frames(state()), 0);

  // Straight after the crash, before any daemon repairs anything: intact, the first run whole,
  // the second as it was before its result was written (running, no result).
  StoreView view = open_store(state());
  expect_whole(view);
  ASSERT_EQ(view.runs.size(), 2u);
  EXPECT_EQ(view.runs[0].state, "done");
  EXPECT_EQ(view.runs[1].state, "running");
  EXPECT_FALSE(view.runs[1].started_at.empty());
  EXPECT_TRUE(view.runs[1].result.empty()) << "the uncommitted result is visible";

  {
    auto daemon = start();
    ASSERT_NE(daemon->port(), 0) << "the daemon does not start on the crashed store";
    ApiClient api(daemon->port());
    EXPECT_EQ(api.get("/api/v1/runs/1").body, first);
    const json second = api.get("/api/v1/runs/2").body;
    EXPECT_EQ(second["state"], "interrupted");
    EXPECT_TRUE(second["result"].is_null());
    EXPECT_FALSE(second["finished_at"].is_null());
    const int64_t third = post_run(api, "200ms");
    EXPECT_EQ(third, 3);
    EXPECT_EQ(api.wait_final(third)["state"], "done");
    daemon->signal(SIGTERM);
    ASSERT_TRUE(daemon->wait_exit(10s));
  }
  view = open_store(state());
  expect_whole(view);
  ASSERT_EQ(view.runs.size(), 3u);
  EXPECT_EQ(view.runs[1].state, "interrupted");
  EXPECT_EQ(view.runs[2].state, "done");
}

TEST_F(StoreCrashTest, SigkillsAtRandomMomentsAroundTheEndOfARunNeverCorruptTheStore) {
  constexpr int kIterations = 10;
  constexpr auto kBudget = 20s;  // stop early on a slow machine, after kMinIterations
  constexpr int kMinIterations = 4;
  const unsigned seed = std::random_device{}();
  SCOPED_TRACE("seed " + std::to_string(seed));
  std::mt19937 random(seed);
  // From the run's start: before its end, across the result's write, and after it.
  std::uniform_int_distribution<int> kill_after_ms(100, 800);

  const auto started = Clock::now();
  int iterations = 0;
  int done = 0;
  int interrupted = 0;
  std::map<int64_t, std::string> results;  // of runs stored done, as first seen
  auto daemon = start();
  for (; iterations < kIterations; ++iterations) {
    if (iterations >= kMinIterations && Clock::now() - started > kBudget) break;
    ASSERT_NE(daemon->port(), 0) << "iteration " << iterations << ": no daemon";
    ApiClient api(daemon->port());
    // The run the last daemon was doing when it died: finished, or interrupted by this start.
    if (iterations > 0) {
      const json last = api.get("/api/v1/runs/" + std::to_string(iterations)).body;
      const std::string state = last.value("state", "");
      EXPECT_TRUE(state == "done" || state == "interrupted") << last.dump().substr(0, 300);
      done += state == "done" ? 1 : 0;
      interrupted += state == "interrupted" ? 1 : 0;
    }
    const int64_t id = post_run(api, "200ms");
    ASSERT_EQ(id, iterations + 1);
    api.wait_run(id, [](const json& r) { return r["state"] != "queued"; });
    std::this_thread::sleep_for(std::chrono::milliseconds(kill_after_ms(random)));
    daemon->signal(SIGKILL);
    ASSERT_TRUE(daemon->wait_exit(5s)) << "iteration " << iterations;

    const StoreView view = open_store(state());
    SCOPED_TRACE("iteration " + std::to_string(iterations));
    expect_whole(view);
    ASSERT_EQ(view.runs.size(), static_cast<size_t>(id));
    for (const StoredRun& r : view.runs) {
      if (r.state != "done") continue;
      // A stored result never changes after the fact.
      const auto [it, fresh] = results.emplace(r.id, r.result);
      if (!fresh) {
        EXPECT_EQ(it->second, r.result) << "run " << r.id;
      }
    }
    daemon = start();
  }
  ASSERT_NE(daemon->port(), 0);
  ApiClient api(daemon->port());
  const json last = api.get("/api/v1/runs/" + std::to_string(iterations)).body;
  EXPECT_TRUE(last["state"] == "done" || last["state"] == "interrupted") << last.dump();
  // New runs are stored after it all.
  const int64_t next = post_run(api, "200ms");
  EXPECT_EQ(next, iterations + 1);
  EXPECT_EQ(api.wait_final(next)["state"], "done");
  daemon->signal(SIGTERM);
  ASSERT_TRUE(daemon->wait_exit(10s));
  expect_whole(open_store(state()));
  EXPECT_GE(iterations, kMinIterations);
  std::cerr << "[ INFO     ] " << iterations << " kills: of the runs they hit, " << done
            << " had their result stored, " << interrupted << " were interrupted\n";
}

}  // namespace
}  // namespace iolab
