// One suite over every RunStore: what one keeps, the other keeps.
#include "daemon/run_store.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <memory>
#include <thread>

namespace iolab {
namespace {

std::filesystem::path fresh_dir(const std::string& name) {
  const auto dir = std::filesystem::temp_directory_path() /
                   ("iolab_store_" + name + "_" + std::to_string(::getpid()));
  std::filesystem::remove_all(dir);
  return dir;
}

template <typename Store>
struct StoreFactory;

template <>
struct StoreFactory<InMemoryRunStore> {
  std::unique_ptr<RunStore> open() { return std::make_unique<InMemoryRunStore>(); }
};

template <>
struct StoreFactory<SqliteRunStore> {
  std::filesystem::path dir =
      fresh_dir(::testing::UnitTest::GetInstance()->current_test_info()->name());
  ~StoreFactory() { std::filesystem::remove_all(dir); }
  std::unique_ptr<RunStore> open() { return std::make_unique<SqliteRunStore>(dir.string()); }
};

RunRecord sample_run(const std::string& label) {
  RunRecord r;
  r.label = label;
  r.spec = {{"connections", 10}, {"duration", "1s"}};
  r.created_at = "2024-05-01T12:00:00Z";
  return r;
}

template <typename Store>
class RunStoreTest : public ::testing::Test {
 protected:
  StoreFactory<Store> factory_;
  std::unique_ptr<RunStore> store_ = factory_.open();
};

using Stores = ::testing::Types<InMemoryRunStore, SqliteRunStore>;
TYPED_TEST_SUITE(RunStoreTest, Stores);

TYPED_TEST(RunStoreTest, AssignsIncreasingIdsFromOne) {
  EXPECT_EQ(this->store_->add_run(sample_run("a")), 1);
  EXPECT_EQ(this->store_->add_run(sample_run("b")), 2);
  EXPECT_EQ(this->store_->run(2)->label, "b");
  EXPECT_FALSE(this->store_->run(3));
  EXPECT_FALSE(this->store_->run(0));
}

TYPED_TEST(RunStoreTest, KeepsEveryFieldOfARun) {
  RunRecord r = sample_run("threads:10");
  r.id = this->store_->add_run(r);
  r.state = RunState::kDone;
  r.experiment_id = 7;
  r.result = {{"measured", {{"requests", 90}, {"latency", {{"buckets", {{1000, 3}, {2000, 1}}}}}}},
              {"timeline", nlohmann::json::array({{{"second", 0}, {"requests", 90}}})}};
  r.environment = {{"host", "h"}, {"iolab_revision", "abc"}};
  r.error = "";
  r.started_at = "2024-05-01T12:00:01Z";
  r.finished_at = "2024-05-01T12:00:02Z";
  ASSERT_TRUE(this->store_->update_run(r));
  EXPECT_EQ(*this->store_->run(r.id), r);
}

TYPED_TEST(RunStoreTest, UpdatingAMissingRunChangesNothing) {
  RunRecord r = sample_run("x");
  r.id = 42;
  EXPECT_FALSE(this->store_->update_run(r));
  EXPECT_TRUE(this->store_->runs({}).empty());
}

TYPED_TEST(RunStoreTest, ListsNewestFirstWithLimitAndLabel) {
  for (const char* label : {"a", "b", "a", "c", "a"}) this->store_->add_run(sample_run(label));
  const auto all = this->store_->runs({});
  ASSERT_EQ(all.size(), 5u);
  EXPECT_EQ(all.front().id, 5);
  EXPECT_EQ(all.back().id, 1);
  RunQuery q;
  q.limit = 2;
  q.label = "a";
  const auto two = this->store_->runs(q);
  ASSERT_EQ(two.size(), 2u);
  EXPECT_EQ(two[0].id, 5);
  EXPECT_EQ(two[1].id, 3);
}

TYPED_TEST(RunStoreTest, ListsAnExperimentsRunsInOrder) {
  ExperimentRecord e{0, "seed", "name: seed\n", "2024-05-01T12:00:00Z"};
  e.id = this->store_->add_experiment(e);
  EXPECT_EQ(e.id, 1);
  EXPECT_EQ(*this->store_->experiment(1), e);
  EXPECT_FALSE(this->store_->experiment(2));
  this->store_->add_run(sample_run("loose"));
  for (const char* label : {"async", "fiber"}) {
    RunRecord r = sample_run(label);
    r.experiment_id = e.id;
    this->store_->add_run(r);
  }
  RunQuery q;
  q.experiment_id = e.id;
  const auto rows = this->store_->runs(q);
  ASSERT_EQ(rows.size(), 2u);
  EXPECT_EQ(rows[0].label, "async");
  EXPECT_EQ(rows[1].label, "fiber");
}

TYPED_TEST(RunStoreTest, InterruptsOnlyUnfinishedRuns) {
  for (RunState s : {RunState::kQueued, RunState::kRunning, RunState::kDone, RunState::kFailed,
                     RunState::kCancelled}) {
    RunRecord r = sample_run("x");
    r.id = this->store_->add_run(r);
    r.state = s;
    this->store_->update_run(r);
  }
  EXPECT_EQ(this->store_->interrupt_unfinished("2024-05-02T00:00:00Z"), 2u);
  EXPECT_EQ(this->store_->run(1)->state, RunState::kInterrupted);
  EXPECT_EQ(this->store_->run(2)->state, RunState::kInterrupted);
  EXPECT_EQ(this->store_->run(2)->finished_at, "2024-05-02T00:00:00Z");
  EXPECT_EQ(this->store_->run(3)->state, RunState::kDone);
  EXPECT_EQ(this->store_->run(4)->state, RunState::kFailed);
  EXPECT_EQ(this->store_->run(5)->state, RunState::kCancelled);
}

TYPED_TEST(RunStoreTest, TakesWritersFromManyThreads) {
  std::vector<std::jthread> writers;
  for (int t = 0; t < 4; ++t) {
    writers.emplace_back([this] {
      for (int i = 0; i < 25; ++i) {
        RunRecord r = sample_run("w");
        r.id = this->store_->add_run(r);
        r.state = RunState::kDone;
        EXPECT_TRUE(this->store_->update_run(r));
      }
    });
  }
  writers.clear();
  RunQuery q;
  q.limit = 1000;
  EXPECT_EQ(this->store_->runs(q).size(), 100u);
}

TEST(RunStateTest, NamesRoundTrip) {
  for (RunState s : {RunState::kQueued, RunState::kRunning, RunState::kDone, RunState::kFailed,
                     RunState::kCancelled, RunState::kInterrupted}) {
    EXPECT_EQ(parse_run_state(to_string(s)), s);
  }
  EXPECT_FALSE(parse_run_state("finished"));
  EXPECT_FALSE(is_final(RunState::kRunning));
  EXPECT_TRUE(is_final(RunState::kInterrupted));
}

// Durability is the SQLite store's alone: the in-memory one forgets by design.
TEST(SqliteRunStoreTest, SurvivesReopeningAndMarksUnfinishedRunsInterrupted) {
  const auto dir = fresh_dir("reopen");
  RunRecord r = sample_run("threads:10");
  {
    SqliteRunStore store(dir.string());
    r.id = store.add_run(r);
    r.state = RunState::kRunning;
    store.update_run(r);
  }
  SqliteRunStore store(dir.string());
  EXPECT_EQ(store.interrupt_unfinished("now"), 1u);
  EXPECT_EQ(store.run(r.id)->state, RunState::kInterrupted);
  EXPECT_EQ(store.add_run(sample_run("next")), 2);
}

TEST(SqliteRunStoreTest, UsesWalInTheStateDir) {
  const auto dir = fresh_dir("wal");
  {
    SqliteRunStore store(dir.string());
    store.add_run(sample_run("x"));
    EXPECT_TRUE(std::filesystem::exists(dir / "runs.db-wal"));
  }
  EXPECT_TRUE(std::filesystem::exists(dir / "runs.db"));
  std::filesystem::remove_all(dir);
}

TEST(SqliteRunStoreTest, AnUnusableDirIsAnError) {
  EXPECT_THROW(SqliteRunStore("/proc/iolab-cannot-be-here"), std::runtime_error);
}

}  // namespace
}  // namespace iolab
