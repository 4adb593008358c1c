// The /metrics exposition: names, labels, bucket boundaries, and counters that only grow.
#include "daemon/metrics.h"

#include <gtest/gtest.h>
#include <prometheus/metric_family.h>

#include <regex>
#include <set>
#include <string>

#include "core/errors.h"
#include "tests/metrics_text.h"

namespace iolab {
namespace {

using iolab::testing::sample;
using namespace std::chrono_literals;

MetricsSnapshot two_variants() {
  MetricsSnapshot s;
  for (const char* name : {"async", "threads:100"}) {
    VariantMetrics v;
    v.variant = name;
    LatencyHistogram h;
    h.record(50us);   // le 0.0001
    h.record(150ms);  // le 0.15
    h.record(120s);   // above 60 s: +Inf only
    v.stats.total = coarsen(h);
    v.stats.route_total[static_cast<size_t>(Route::kPlaintext)] = coarsen(h);
    v.stats.queue_wait = coarsen(h);
    v.stats.requests = 3;
    v.stats.answers[static_cast<size_t>(Route::kPlaintext)][status_slot(200)] = 2;
    v.stats.answers[static_cast<size_t>(Route::kRemote)][status_slot(504)] = 1;
    v.stats.upstream_timeouts = 1;
    v.restarts = 2;
    v.usage = ProcessUsage{1 << 20, 1 << 20, 7, 1.5};
    s.variants.push_back(v);
  }
  LoadMetrics l{"adhoc", "async", {}, 10, 1};
  s.load.push_back(l);
  s.stub = CoarseHistogram{};
  s.regressions.push_back({"seed-2017", "async", "p99"});
  return s;
}

TEST(MetricsTest, CoarsensIntoTheExportedBucketsFrom100MicrosecondsTo60Seconds) {
  EXPECT_DOUBLE_EQ(kMetricBucketBounds.front(), 0.0001);
  EXPECT_DOUBLE_EQ(kMetricBucketBounds.back(), 60);
  LatencyHistogram h;
  h.record(50us);
  h.record(100us);
  h.record(150ms);
  h.record(61s);
  const CoarseHistogram c = coarsen(h);
  EXPECT_EQ(c.count(), 4u);
  EXPECT_EQ(c.buckets[0], 2u);                   // 50 µs and 100 µs: le 0.0001
  EXPECT_EQ(c.buckets[12], 1u);                  // 150 ms: le 0.15
  EXPECT_EQ(c.buckets[kMetricBuckets - 1], 1u);  // above 60 s
  EXPECT_NEAR(static_cast<double>(c.sum_ns), 61.15015e9, 1e6);
}

TEST(MetricsTest, ExposesEveryDesignMetricWithItsLabels) {
  const std::string text = serialize(to_families(two_variants()));
  for (const char* name :
       {"iolab_server_request_duration_seconds", "iolab_server_queue_wait_seconds",
        "iolab_upstream_request_duration_seconds", "iolab_upstream_pool_wait_seconds",
        "iolab_load_request_duration_seconds", "iolab_stub_request_duration_seconds"}) {
    EXPECT_NE(text.find(std::string("# TYPE ") + name + " histogram"), std::string::npos) << name;
  }
  for (const char* name : {"iolab_server_requests_total", "iolab_variant_cpu_seconds_total",
                           "iolab_variant_restarts_total", "iolab_load_requests_total"}) {
    EXPECT_NE(text.find(std::string("# TYPE ") + name + " counter"), std::string::npos) << name;
  }
  for (const char* name :
       {"iolab_server_inflight_requests", "iolab_server_open_connections",
        "iolab_variant_resident_memory_bytes", "iolab_variant_threads", "iolab_regression"}) {
    EXPECT_NE(text.find(std::string("# TYPE ") + name + " gauge"), std::string::npos) << name;
  }
  const std::string count = "iolab_server_request_duration_seconds_count";
  EXPECT_EQ(sample(text, count + R"({route="/plaintext",variant="async"})"), 3);
  EXPECT_EQ(sample(text, count + R"({route="/remote",variant="async"})"), 0);
  const std::string requests = "iolab_server_requests_total";
  EXPECT_EQ(sample(text, requests + R"({code="504",route="/remote",variant="async"})"), 1);
  EXPECT_EQ(sample(text, requests + R"({code="200",route="/plaintext",variant="async"})"), 2);
  EXPECT_EQ(sample(text, requests + R"({code="other",route="other",variant="async"})"), 0);
  EXPECT_EQ(sample(text, R"(iolab_variant_restarts_total{variant="threads:100"})"), 2);
  EXPECT_EQ(sample(text, R"(iolab_variant_threads{variant="threads:100"})"), 7);
  EXPECT_EQ(
      sample(text, R"(iolab_load_requests_total{outcome="error",scenario="adhoc",target="async"})"),
      1);
  EXPECT_EQ(sample(text, R"(iolab_regression{measure="p99",scenario="seed-2017",variant="async"})"),
            1);
  EXPECT_EQ(sample(text, "iolab_stub_request_duration_seconds_count"), 0);
}

TEST(MetricsTest, BucketsAreCumulativeAndEndAtInfEqualToCount) {
  const std::string text = serialize(to_families(two_variants()));
  const std::string series = R"(iolab_server_queue_wait_seconds_bucket{variant="async",le=")";
  EXPECT_EQ(sample(text, series + "0.0001\"}"), 1);
  EXPECT_EQ(sample(text, series + "0.11\"}"), 1);
  EXPECT_EQ(sample(text, series + "0.2\"}"), 2);
  EXPECT_EQ(sample(text, series + "60\"}"), 2);
  EXPECT_EQ(sample(text, series + "+Inf\"}"), 3);
  EXPECT_EQ(sample(text, R"(iolab_server_queue_wait_seconds_count{variant="async"})"), 3);
  // Every bound of the exported range, in order, once per series.
  const std::regex le(
      R"re(iolab_server_queue_wait_seconds_bucket\{variant="async",le="([^"]+)"\})re");
  std::vector<std::string> bounds;
  for (std::sregex_iterator it(text.begin(), text.end(), le), end; it != end; ++it) {
    bounds.push_back((*it)[1]);
  }
  ASSERT_EQ(bounds.size(), kMetricBuckets);
  EXPECT_EQ(bounds.front(), "0.0001");
  EXPECT_EQ(bounds[bounds.size() - 2], "60");
  EXPECT_EQ(bounds.back(), "+Inf");
}

TEST(MetricsTest, BuildInfoAndRunsByStateComeFromTheRegistry) {
  DaemonMetrics metrics("1.2.3", "abc123");
  auto store = metrics.count_runs(std::make_unique<InMemoryRunStore>());
  RunRecord run;
  run.id = store->add_run(run);
  run.state = RunState::kRunning;
  store->update_run(run);
  store->update_run(run);  // the same state again counts once
  run.state = RunState::kDone;
  store->update_run(run);
  const std::string text = metrics.render(metrics.snapshot(std::nullopt, std::nullopt));
  EXPECT_EQ(sample(text, R"(iolab_build_info{revision="abc123",version="1.2.3"})"), 1);
  EXPECT_EQ(sample(text, R"(iolab_runs_total{state="queued"})"), 1);
  EXPECT_EQ(sample(text, R"(iolab_runs_total{state="running"})"), 1);
  EXPECT_EQ(sample(text, R"(iolab_runs_total{state="done"})"), 1);
  EXPECT_EQ(sample(text, R"(iolab_runs_total{state="failed"})"), 0);
}

TEST(MetricsTest, ASuccessorWorkerContinuesItsSlotSoCountersOnlyGrow) {
  DaemonMetrics metrics("v", "r");
  const auto region = metrics.region_for("async");
  EXPECT_EQ(metrics.region_for("async"), region);
  SharedWorkerStats& slot = region->layout().slots[1];
  {
    ServerStats first;
    for (int i = 0; i < 5; ++i) first.record_answer(Route::kRemote, 200, 1ms);
    StatsPublisher publisher(first, slot, 10ms);
  }  // the worker exits: its last copy stays
  ServerStats second;
  second.record_answer(Route::kRemote, 502, 2ms);
  StatsPublisher publisher(second, slot, 10ms);
  publisher.publish();
  const MetricsSnapshot s = metrics.snapshot(std::string("async"), std::nullopt);
  ASSERT_EQ(s.variants.size(), 1u);
  EXPECT_EQ(s.variants[0].stats.requests, 6u);
  EXPECT_EQ(s.variants[0].stats.total.count(), 6u);
  const auto remote = static_cast<size_t>(Route::kRemote);
  EXPECT_EQ(s.variants[0].stats.route_total[remote].count(), 6u);
  EXPECT_EQ(s.variants[0].stats.answers[remote][status_slot(200)], 5u);
  EXPECT_EQ(s.variants[0].stats.answers[remote][status_slot(502)], 1u);
  EXPECT_GT(s.variants[0].stats.cpu_ns, 0u);
}

TEST(MetricsTest, TwoWorkerSetsOfOneVariantGetDisjointSlots) {
  const auto region = StatsRegion::create();
  EXPECT_EQ(region->acquire(2), 0);
  EXPECT_EQ(region->acquire(3), 2);
  region->release(0, 2);
  EXPECT_EQ(region->acquire(1), 0);
  EXPECT_EQ(region->acquire(2), 5);
  EXPECT_THROW(region->acquire(StatsRegion::kMaxSlots), StartError);
}

TEST(MetricsTest, LoadCountersIncludeTheRunningRunAndKeepItAfterItEnds) {
  DaemonMetrics metrics("v", "r");
  LoadProgress progress;
  metrics.begin_load("adhoc", "async", &progress);
  progress.add(7, 1);
  auto s = metrics.snapshot(std::nullopt, std::nullopt);
  ASSERT_EQ(s.load.size(), 1u);
  EXPECT_EQ(s.load[0].responses, 7u);
  progress.add(3, 0);
  LoadResult result;
  result.latency.record(5ms);
  metrics.end_load(&result, progress);
  s = metrics.snapshot(std::nullopt, std::nullopt);
  EXPECT_EQ(s.load[0].responses, 10u);
  EXPECT_EQ(s.load[0].errors, 1u);
  EXPECT_EQ(s.load[0].latency.count(), 1u);
}

}  // namespace
}  // namespace iolab
