// One suite over every RunStore: what one keeps, the other keeps.
#include "store/run_store.h"

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

TYPED_TEST(RunStoreTest, FiltersFinishedExperimentRowsAndCutsResultsToTheirSummary) {
  const nlohmann::json full = {{"measured",
                                {{"rps", 1234.5},
                                 {"requests", 24690},
                                 {"latency_ms", {{"p50", 1.0}, {"p99", 9.5}}},
                                 {"latency", {{"buckets", nlohmann::json::array({1, 2, 3})}}},
                                 {"timeline", nlohmann::json::array({{{"second", 0}}})}}},
                               {"usage", {{"cpu_seconds", 1.5}}}};
  const auto add = [&](RunState state, std::optional<int64_t> experiment, nlohmann::json result) {
    RunRecord r = sample_run("async");
    r.state = state;
    r.experiment_id = experiment;
    r.result = std::move(result);
    return this->store_->add_run(r);
  };
  add(RunState::kDone, std::nullopt, full);                        // 1: ad hoc
  const int64_t night = add(RunState::kDone, 7, full);             // 2
  add(RunState::kFailed, 7, nullptr);                              // 3: failed
  const int64_t odd = add(RunState::kDone, 7, {{"measured", 5}});  // 4: no object
  const int64_t bare = add(RunState::kDone, 8, nlohmann::json());  // 5: no result

  RunQuery q;
  q.state = RunState::kDone;
  q.in_experiment = true;
  q.summary = true;
  const auto rows = this->store_->runs(q);
  ASSERT_EQ(rows.size(), 3u);
  EXPECT_EQ(rows[0].id, bare);
  EXPECT_TRUE(rows[0].result.is_null());
  EXPECT_EQ(rows[1].id, odd);
  EXPECT_EQ(rows[1].result, (nlohmann::json{{"measured", nlohmann::json::object()}}));
  EXPECT_EQ(rows[2].id, night);
  EXPECT_EQ(rows[2].result,
            (nlohmann::json{
                {"measured",
                 {{"rps", 1234.5}, {"requests", 24690}, {"latency_ms", {{"p50", 1.0}, {"p99", 9.5}}}}}}));
  EXPECT_EQ(rows[2].result, result_summary(full)) << "both stores cut alike";
  // Without `summary` the whole result comes back.
  q.summary = false;
  EXPECT_EQ(this->store_->runs(q)[2].result, full);
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
