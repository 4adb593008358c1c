#include "lab/report.h"

#include <gtest/gtest.h>

namespace iolab {
namespace {

ReportRow row(const std::string& label, std::initializer_list<int> latencies_ms,
              uint64_t requests) {
  ReportRow r;
  r.label = label;
  for (int ms : latencies_ms) r.result.latency.record(std::chrono::milliseconds(ms));
  r.result.requests = requests;
  r.result.elapsed = std::chrono::seconds(20);
  r.result.spec.connections = 400;
  r.bound_rps = 4000;
  return r;
}

// Percentiles are the highest value of their histogram bucket (within 0.1 %, never below the
// sample): 200 ms reads back as 200.02 ms; min and max are exact.
TEST(ReportTest, RstIsTheSeedTableWithItsColumnsInOrder) {
  const std::string table =
      render_report({row("threads:10", {100, 200, 300}, 1797), row("async", {150}, 30702)},
                    ReportFormat::kRst, false);
  const std::string expected =
      "========== ====== ====== ====== ====== ====== ====== ======== ========\n"
      "variant    min    p50    p99    p99.9  max    mean   duration requests\n"
      "========== ====== ====== ====== ====== ====== ====== ======== ========\n"
      "threads:10 100.00 200.02 300.00 300.00 300.00 200.00 20.00    1797\n"
      "async      150.00 150.00 150.00 150.00 150.00 150.00 20.00    30702\n"
      "========== ====== ====== ====== ====== ====== ====== ======== ========\n";
  EXPECT_EQ(table, expected);
}

TEST(ReportTest, WideAddsRpsErrorsAndBound) {
  ReportRow r = row("threads:10", {100}, 4000);
  r.result.errors.timeout = 3;
  const std::string table = render_report({r}, ReportFormat::kRst, true);
  EXPECT_NE(table.find("rps   errors bound%"), std::string::npos) << table;
  EXPECT_NE(table.find("200.0 3      5.0"), std::string::npos) << table;
}

TEST(ReportTest, WideSplitsErrorsByCause) {
  ReportRow r = row("threads:10", {100}, 4000);
  r.result.errors.timeout = 3;
  r.result.errors.protocol = 29943;
  const std::string table = render_report({r}, ReportFormat::kRst, true);
  EXPECT_NE(table.find("cpu_s causes"), std::string::npos) << table;
  EXPECT_NE(table.find(" timeout=3/protocol=29943\n"), std::string::npos) << table;
  const std::string csv = render_report({r}, ReportFormat::kCsv, false);
  EXPECT_NE(csv.find(",timeout=3/protocol=29943\n"), std::string::npos) << csv;
}

TEST(ReportTest, NamesTheFirstProtocolErrorUnderTheTable) {
  ReportRow r = row("threads:10", {100}, 4000);
  r.result.errors.protocol = 2;
  r.result.protocol_error = "not an HTTP/1.x response at byte 0 of an answer";
  const std::string table = render_report({r}, ReportFormat::kRst, false);
  EXPECT_NE(table.find("=\nthreads:10: first protocol error: not an HTTP/1.x response at byte 0 "
                       "of an answer\n"),
            std::string::npos)
      << table;
  const ReportRow clean = row("async", {100}, 4000);
  EXPECT_EQ(render_report({clean}, ReportFormat::kRst, false).find("protocol"), std::string::npos);
}

TEST(ReportTest, WideShowsTheWorkersPeakMemoryAndCpu) {
  ReportRow r = row("async", {100}, 4000);
  r.usage = ProcessUsage{.peak_rss_bytes = 3 << 20, .threads = 2, .cpu_seconds = 1.5};
  const std::string table = render_report({r}, ReportFormat::kRst, true);
  EXPECT_NE(table.find("bound% rss_mb cpu_s"), std::string::npos) << table;
  EXPECT_NE(table.find("5.0    3.0    1.50"), std::string::npos) << table;
}

TEST(ReportTest, EmptyRowsShowDashesNotZeros) {
  const std::string csv = render_report({row("threads:1", {}, 0)}, ReportFormat::kCsv, false);
  EXPECT_NE(csv.find("threads:1,-,-,-,-,-,-,20.00,0"), std::string::npos) << csv;
}

TEST(ReportTest, FormatsAreNamed) {
  EXPECT_EQ(parse_report_format("rst"), ReportFormat::kRst);
  EXPECT_EQ(parse_report_format("json"), ReportFormat::kJson);
  EXPECT_FALSE(parse_report_format("xml").has_value());
}

}  // namespace
}  // namespace iolab
