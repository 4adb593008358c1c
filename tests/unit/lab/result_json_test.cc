#include "lab/result_json.h"

#include "lab/compare.h"
#include "lab/report.h"

#include <gtest/gtest.h>

#include <random>

namespace iolab {
namespace {

std::vector<std::tuple<int64_t, int64_t, uint64_t>> buckets_of(const LatencyHistogram& h) {
  std::vector<std::tuple<int64_t, int64_t, uint64_t>> out;
  h.for_each_bucket([&](int64_t lo, int64_t hi, uint64_t n) { out.emplace_back(lo, hi, n); });
  return out;
}

// Everything a reader can ask of a histogram comes back equal after JSON text and back.
void expect_round_trip(const LatencyHistogram& h, const std::string& what) {
  const std::string text = histogram_to_json(h).dump();
  const LatencyHistogram back = histogram_from_json(nlohmann::json::parse(text));
  EXPECT_EQ(back.count(), h.count()) << what;
  EXPECT_EQ(back.min(), h.min()) << what;
  EXPECT_EQ(back.max(), h.max()) << what;
  EXPECT_EQ(back.mean(), h.mean()) << what;
  EXPECT_EQ(back.out_of_range(), h.out_of_range()) << what;
  for (double p = 0; p <= 100; p += 0.5) EXPECT_EQ(back.percentile(p), h.percentile(p)) << what;
  for (const double p : {99.9, 99.99, 99.999}) {
    EXPECT_EQ(back.percentile(p), h.percentile(p)) << what << " p" << p;
  }
  EXPECT_EQ(buckets_of(back), buckets_of(h)) << what;
  EXPECT_EQ(histogram_to_json(back), histogram_to_json(h)) << what;
}

TEST(ResultJsonTest, HistogramsRoundTripExactly) {
  expect_round_trip(LatencyHistogram(), "empty");

  LatencyHistogram one;
  one.record(std::chrono::nanoseconds(123'456'789));
  expect_round_trip(one, "one sample");

  LatencyHistogram same;
  same.record_n(50'000'123, 1000);
  expect_round_trip(same, "one value many times");

  LatencyHistogram small;
  for (int64_t v = 0; v < 3000; v += 7) small.record_n(v, static_cast<uint64_t>(v % 5 + 1));
  expect_round_trip(small, "exact range and just above");

  std::mt19937_64 random(42);
  for (int trial = 0; trial < 20; ++trial) {
    LatencyHistogram h;
    std::lognormal_distribution<double> latency(std::log(2e6), 1.5 + trial * 0.1);
    const int n = 100 + trial * 997;
    for (int i = 0; i < n; ++i) h.record_n(static_cast<int64_t>(latency(random)), 1 + random() % 3);
    if (trial % 3 == 0) h.record_n(LatencyHistogram::kHighestTrackable, 2);
    if (trial % 4 == 0) h.record(std::chrono::nanoseconds(-1));  // out of range
    expect_round_trip(h, "lognormal trial " + std::to_string(trial));
  }
}

TEST(ResultJsonTest, RejectsInconsistentHistograms) {
  LatencyHistogram h;
  h.record_n(1'000'000, 10);
  nlohmann::json j = histogram_to_json(h);
  nlohmann::json wrong = j;
  wrong["count"] = 11;
  EXPECT_THROW((void)histogram_from_json(wrong), ResultJsonError);
  wrong = j;
  wrong["buckets"][0][0] = 1'000'001;  // not the lowest value of a bucket
  EXPECT_THROW((void)histogram_from_json(wrong), ResultJsonError);
  wrong = j;
  wrong["mean_ns"] = 5;
  EXPECT_THROW((void)histogram_from_json(wrong), ResultJsonError);
  wrong = j;
  wrong.erase("min_ns");
  EXPECT_THROW((void)histogram_from_json(wrong), ResultJsonError);
}

TEST(ResultJsonTest, AWholeResultRoundTrips) {
  LoadResult r;
  r.spec.target = *parse_url("http://127.0.0.1:8080/x?y=1");
  r.spec.connections = 50;
  r.spec.threads = 3;
  r.spec.duration = 1500ms;
  r.spec.warmup = 2s;
  r.spec.timeout = 250us;
  r.spec.max_requests = 9;
  r.spec.rate = 1234.5;
  r.spec.method = "POST";
  r.spec.headers = {"X-A: 1", "X-B: 2"};
  r.spec.body = "{\"k\":\"v\"}";
  for (int i = 1; i <= 1000; ++i) r.latency.record(std::chrono::microseconds(i * 37));
  for (int i = 1; i <= 1000; ++i) r.uncorrected.record(std::chrono::microseconds(i * 11));
  r.requests = 1000;
  r.errors = {1, 2, 3, 4, 5, 6};
  r.protocol_error = "bad chunk size at byte 120 of an answer";
  r.spec.max_head_bytes = 4096;
  r.reconnects = 6;
  r.elapsed = 1'500'000'123ns;
  r.lag_max = 7ms;
  r.lag_mean = 8us;
  r.timeline = {{0, true, 10, 1, 2ms, 3ms}, {1, false, 20, 0, 4ms, 5ms}};

  const LoadResult back = result_from_json(nlohmann::json::parse(result_to_json(r).dump()));
  EXPECT_EQ(result_to_json(back), result_to_json(r));
  EXPECT_EQ(back.spec.target.to_string(), r.spec.target.to_string());
  EXPECT_EQ(back.spec.timeout, 250us);
  EXPECT_EQ(back.spec.headers, r.spec.headers);
  EXPECT_EQ(back.latency.percentile(99.9), r.latency.percentile(99.9));
  EXPECT_EQ(back.uncorrected.mean(), r.uncorrected.mean());
  EXPECT_EQ(back.timeline, r.timeline);
  EXPECT_EQ(back.errors.total(), 21u);
  EXPECT_EQ(back.errors.protocol, 6u);
  EXPECT_EQ(back.protocol_error, r.protocol_error);
  EXPECT_EQ(back.spec.max_head_bytes, 4096u);
  EXPECT_EQ(back.elapsed, r.elapsed);
  EXPECT_DOUBLE_EQ(back.rps(), r.rps());
}

TEST(ResultJsonTest, ReadsResultsStoredBeforeProtocolErrorsWereCounted) {
  LoadResult r;
  r.spec.target = *parse_url("http://127.0.0.1:8080/");
  r.errors.read = 4;
  nlohmann::json old = result_to_json(r);
  old["errors"].erase("protocol");
  old["errors"].erase("first_protocol_error");
  ASSERT_FALSE(old["spec"].contains("max_head_bytes"));  // The default is not written.
  const LoadResult back = result_from_json(old);
  EXPECT_EQ(back.errors.protocol, 0u);
  EXPECT_EQ(back.errors.read, 4u);
  EXPECT_EQ(back.spec.max_head_bytes, LoadSpec{}.max_head_bytes);
}

// Found by result_json_fuzz: an integer field holding a float out of range (1e21) was cast with
// undefined behaviour; an integer out of range wrapped.
TEST(ResultJsonTest, RejectsIntegerFieldsThatAreNotIntegersInRange) {
  nlohmann::json h = histogram_to_json(LatencyHistogram());
  h["sub_bucket_half_bits"] = 9.2e20;
  EXPECT_THROW(histogram_from_json(h), ResultJsonError);
  h["sub_bucket_half_bits"] = 10.0;
  EXPECT_THROW(histogram_from_json(h), ResultJsonError);
  h["sub_bucket_half_bits"] = uint64_t{1} << 40;
  EXPECT_THROW(histogram_from_json(h), ResultJsonError);
  h["sub_bucket_half_bits"] = LatencyHistogram::kSubBucketHalfBits;
  EXPECT_NO_THROW(histogram_from_json(h));
  h["count"] = -1;
  EXPECT_THROW(histogram_from_json(h), ResultJsonError);
}

}  // namespace
}  // namespace iolab

namespace iolab {
namespace {

TEST(ServerLayersJsonTest, RoundTripsThroughAReportRowWithoutLosingAnUnmeasuredLayer) {
  ReportRow row;
  row.label = "threads:10";
  row.result.spec.target = *parse_url("http://127.0.0.1:8080/remote");
  row.result.latency.record(std::chrono::milliseconds(100));
  row.result.requests = 1;
  row.server = ServerLayers{{3, 3 * 101'000'000ull}, {}, {3, 3 * 100'000'000ull}, {}};
  const auto json = nlohmann::json::parse(render_report({row}, ReportFormat::kJson, false));
  ASSERT_TRUE(json[0].contains("server"));
  EXPECT_EQ(json[0]["server"]["queue_wait"]["count"], 0);
  const std::vector<ReportRow> back = rows_from_report_json(json);
  ASSERT_TRUE(back.at(0).server.has_value());
  EXPECT_DOUBLE_EQ(back[0].server->total.mean_ms(), 101.0);
  EXPECT_DOUBLE_EQ(back[0].server->upstream.mean_ms(), 100.0);
  EXPECT_FALSE(back[0].server->queue_wait.measured());
  EXPECT_FALSE(back[0].server->pool_wait.measured());
  // A row without layers (a --target run, an older file) has none, not zeros.
  row.server.reset();
  const auto plain = nlohmann::json::parse(render_report({row}, ReportFormat::kJson, false));
  EXPECT_FALSE(plain[0].contains("server"));
  EXPECT_FALSE(rows_from_report_json(plain).at(0).server.has_value());
}

}  // namespace
}  // namespace iolab
