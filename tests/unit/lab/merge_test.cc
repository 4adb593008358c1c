// Merging segments' results: exact histograms, sums, the wall-clock timeline, and refusals.
#include "lab/merge.h"

#include <gtest/gtest.h>

#include <random>
#include <string>
#include <vector>

#include "core/endpoint.h"
#include "loadgen/segment.h"

namespace iolab {
namespace {

using namespace std::chrono_literals;
using std::chrono::nanoseconds;

LoadSpec whole_spec() {
  LoadSpec spec;
  spec.target = *parse_url("http://127.0.0.1:8080/x");
  spec.connections = 90;
  spec.threads = 3;
  spec.rate = 900;
  spec.duration = 10s;
  spec.warmup = 1s;
  return spec;
}

// Segment `i` of `n` of whole_spec(), started `offset` after a common instant.
LoadResult part(uint64_t i, uint64_t n, nanoseconds offset = 0ns) {
  LoadResult r;
  r.spec = segment_spec(whole_spec(), Segment::nth(i, n));
  r.host = "host" + std::to_string(i);
  r.started_at = std::chrono::system_clock::time_point(1'800'000'000s) +
                 std::chrono::duration_cast<std::chrono::system_clock::duration>(offset);
  r.start_skew = offset;
  r.elapsed = 10s;
  return r;
}

TEST(MergeTest, TheMergedHistogramIsTheHistogramOfEveryLatencyRecordedInOne) {
  std::mt19937_64 random(42);
  std::lognormal_distribution<double> latency_ms(1.0, 1.2);
  LatencyHistogram all;
  std::vector<LoadResult> parts = {part(0, 3), part(1, 3), part(2, 3)};
  for (int k = 0; k < 30000; ++k) {
    const auto value = nanoseconds(static_cast<int64_t>(latency_ms(random) * 1e6));
    all.record(value);
    LoadResult& p = parts[random() % 3];
    p.latency.record(value);
    p.uncorrected.record(value);
    ++p.requests;
  }
  const MergedRun merged = merge_segments(parts);
  EXPECT_TRUE(merged.warnings.empty());
  const LoadResult& r = merged.result;
  EXPECT_EQ(r.requests, 30000u);
  EXPECT_EQ(r.latency.count(), all.count());
  for (const double p : {0.0, 10.0, 50.0, 90.0, 99.0, 99.9, 99.99, 100.0}) {
    EXPECT_EQ(r.latency.percentile(p), all.percentile(p)) << p;
  }
  EXPECT_EQ(r.latency.mean(), all.mean());
  EXPECT_EQ(r.spec.connections, 90);
  EXPECT_EQ(r.spec.rate, 900);
  EXPECT_FALSE(r.spec.segment);
  EXPECT_EQ(r.segments.size(), 3u);
  EXPECT_EQ(r.host, "host0,host1,host2");
}

TEST(MergeTest, TwoPeaksMakeTheMeanOfTheSegmentsP99sWrongAndTheMergedP99Right) {
  // One segment's connections reach a slow shard: 1 % of all answers at 1 s, 99 % at 10 ms.
  std::vector<LoadResult> parts = {part(0, 2), part(1, 2)};
  parts[0].latency.record_n(10'000'000, 9900);
  parts[1].latency.record_n(10'000'000, 9800);
  parts[1].latency.record_n(1'000'000'000, 200);
  for (LoadResult& p : parts) p.requests = p.latency.count();
  const double p99_a = static_cast<double>(parts[0].latency.percentile(99).count());
  const double p99_b = static_cast<double>(parts[1].latency.percentile(99).count());
  const double averaged = (p99_a + p99_b) / 2;  // ~505 ms: no answer took that long
  const LoadResult r = merge_segments(parts).result;
  // 200 slow of 19,900: 1.005 % above 10 ms, so the p99 is a slow answer, and p98.9 a fast one.
  EXPECT_NEAR(static_cast<double>(r.latency.percentile(99).count()), 1e9, 1e9 / 1000);
  EXPECT_NEAR(static_cast<double>(r.latency.percentile(98.9).count()), 1e7, 1e7 / 1000);
  EXPECT_GT(std::abs(averaged - static_cast<double>(r.latency.percentile(99).count())), 4e8);
}

TEST(MergeTest, CountersAddUpAndTheTimelineAlignsByWallClockSecond) {
  std::vector<LoadResult> parts = {part(0, 2), part(1, 2, 1s)};  // the second started 1 s later
  parts[0].errors.connect = 1;
  parts[1].errors.timeout = 2;
  parts[1].errors.protocol = 5;
  parts[1].protocol_error = "bad Content-Length at byte 17 of an answer";
  parts[0].reconnects = 3;
  parts[1].resent = 4;
  parts[0].lag_max = 5ms;
  parts[1].lag_max = 7ms;
  for (int s = 0; s < 3; ++s) {
    parts[0].timeline.push_back({s, s == 0, 10, 0, 1ms, 2ms});
    parts[1].timeline.push_back({s, s == 0, 20, 1, 3ms, 4ms});
  }
  const MergedRun merged = merge_segments(parts);
  const LoadResult& r = merged.result;
  EXPECT_EQ(r.errors.connect, 1u);
  EXPECT_EQ(r.errors.timeout, 2u);
  EXPECT_EQ(r.errors.protocol, 5u);
  EXPECT_EQ(r.protocol_error, "segment 1/2:1: bad Content-Length at byte 17 of an answer");
  EXPECT_EQ(r.reconnects, 3u);
  EXPECT_EQ(r.resent, 4u);
  EXPECT_EQ(r.lag_max, 7ms);
  ASSERT_EQ(r.timeline.size(), 4u);
  EXPECT_EQ(r.timeline[0].requests, 10u);  // only the first segment had begun
  EXPECT_EQ(r.timeline[1].requests, 30u);
  EXPECT_EQ(r.timeline[1].errors, 1u);
  EXPECT_EQ(r.timeline[1].p99, 4ms);  // the larger: an upper bound of the merged second's p99
  EXPECT_EQ(r.timeline[3].requests, 20u);
  EXPECT_EQ(*r.start_skew, 1s);
  // From the first window's start to the last one's end: 1 s more than each.
  EXPECT_EQ(r.elapsed, 11s);
  // 1 s apart in a 10 s run is more than 1 %: the segment 1 s from the median start (of two,
  // the later) is named; the windows are equally long.
  ASSERT_EQ(merged.warnings.size(), 1u);
  EXPECT_NE(merged.warnings[0].find("segment 0:1/2) started 1s away"), std::string::npos)
      << merged.warnings[0];
}

TEST(MergeTest, RefusesWhatIsNotOneRunAndWarnsOfMissingSegments) {
  EXPECT_THROW(merge_segments({}), MergeError);
  LoadResult whole;
  whole.spec = whole_spec();
  EXPECT_THROW(merge_segments({whole}), MergeError);
  EXPECT_THROW(merge_segments({part(0, 2), part(0, 2)}), MergeError);  // overlap
  LoadResult other = part(1, 2);
  other.spec.duration = 20s;
  try {
    merge_segments({part(0, 2), other});
    FAIL() << "segments of two runs were merged";
  } catch (const MergeError& e) {
    EXPECT_NE(std::string(e.what()).find("duration differs"), std::string::npos) << e.what();
  }
  const MergedRun partial = merge_segments({part(0, 3), part(2, 3)});
  ASSERT_EQ(partial.warnings.size(), 1u);
  EXPECT_NE(partial.warnings[0].find("1/3:2/3"), std::string::npos) << partial.warnings[0];
}

}  // namespace
}  // namespace iolab
