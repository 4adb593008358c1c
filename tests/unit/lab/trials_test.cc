// Repeated trials: interleaved order, the summary of a row's trials, and the table.
#include "lab/trials.h"

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "lab/report.h"

namespace iolab {
namespace {

using namespace std::chrono_literals;

ReportRow row(const std::string& label, uint64_t requests, std::chrono::nanoseconds latency) {
  ReportRow r;
  r.label = label;
  r.result.requests = requests;
  r.result.elapsed = 1s;
  for (uint64_t i = 0; i < requests; ++i) r.result.latency.record(latency);
  r.result.uncorrected = r.result.latency;
  return r;
}

TEST(TrialsTest, RunsRowsInterleavedAndKeepsEveryTrial) {
  std::vector<std::string> order;
  const auto rows = run_interleaved(3, 2, [&](size_t r, int t) {
    order.push_back(std::to_string(r) + "/" + std::to_string(t));
    return row(std::to_string(r), 10, 1ms);
  });
  EXPECT_EQ(order, (std::vector<std::string>{"0/0", "1/0", "2/0", "0/1", "1/1", "2/1"}));
  ASSERT_EQ(rows.size(), 3u);
  for (const auto& r : rows) EXPECT_EQ(r.trials.size(), 2u);
  EXPECT_EQ(rows[2].label(), "2");
}

TEST(TrialsTest, StopsBeforeTheNextTrial) {
  std::stop_source stop;
  const auto rows = run_interleaved(
      2, 5,
      [&](size_t r, int t) {
        if (r == 1 && t == 1) stop.request_stop();
        return row("v", 1, 1ms);
      },
      stop.get_token());
  EXPECT_EQ(rows[0].trials.size(), 2u);
  EXPECT_EQ(rows[1].trials.size(), 2u);
}

TEST(TrialsTest, SummarisesTheMedianOfTheTrialsAndMergesTheirHistograms) {
  TrialRow trials;
  for (int i = 1; i <= 7; ++i) trials.trials.push_back(row("async", 100 * i, i * 1ms));
  const TrialSummary s = summarize_trials(trials);
  EXPECT_EQ(s.label, "async");
  EXPECT_EQ(s.trials, 7u);
  EXPECT_DOUBLE_EQ(s.rps.median, 400);
  EXPECT_TRUE(s.rps.has_interval);  // 7 trials: [x(1), x(7)] covers 98.4 %
  EXPECT_DOUBLE_EQ(s.rps.low, 100);
  EXPECT_DOUBLE_EQ(s.rps.high, 700);
  EXPECT_NEAR(s.p50_ms.median, 4, 0.01);
  EXPECT_EQ(s.requests, 2800u);
  EXPECT_EQ(s.merged.count(), 2800u);
}

TEST(TrialsTest, FiveTrialsShowTheirWidestIntervalMarked) {
  TrialRow five;
  for (int i = 0; i < 5; ++i) five.trials.push_back(row("async", 100 + i, 2ms));
  const TrialSummary s = summarize_trials(five);
  ASSERT_TRUE(s.rps.has_interval);
  EXPECT_DOUBLE_EQ(s.rps.low, 100);
  EXPECT_DOUBLE_EQ(s.rps.high, 104);
  EXPECT_NEAR(s.rps.confidence, 0.9375, 1e-9);
  const std::string table = render_trials_report({five}, ReportFormat::kRst, false);
  EXPECT_NE(table.find("102.0 [100.0, 104.0]*"), std::string::npos) << table;
  EXPECT_NE(table.find("93.8 %"), std::string::npos) << table;
}

TEST(TrialsTest, OneTrialKeepsTodaysTableExactly) {
  const std::vector<ReportRow> rows = {row("async", 100, 2ms), row("threads:10", 50, 4ms)};
  for (const auto format : {ReportFormat::kRst, ReportFormat::kCsv, ReportFormat::kJson}) {
    EXPECT_EQ(render_trials_report(single_trials(rows), format, false),
              render_report(rows, format, false));
  }
}

TEST(TrialsTest, TheTableShowsMediansWithIntervalsBesideTheMergedPercentiles) {
  TrialRow few{{row("async", 100, 1ms), row("async", 110, 1ms), row("async", 90, 1ms)}};
  TrialRow many;
  for (int i = 0; i < 6; ++i) many.trials.push_back(row("fiber", 100 + i, 2ms));
  const std::string table = render_trials_report({few, many}, ReportFormat::kRst, false);
  EXPECT_NE(table.find("trials"), std::string::npos) << table;
  EXPECT_NE(table.find("100.0 ±∞"), std::string::npos) << table;
  EXPECT_NE(table.find("102.5 [100.0, 105.0]"), std::string::npos) << table;
  EXPECT_NE(table.find("order statistics"), std::string::npos) << table;
  const std::string csv = render_trials_report({few, many}, ReportFormat::kCsv, false);
  EXPECT_EQ(csv.substr(0, csv.find('\n')),
            "variant,trials,confidence,rps,rps_low,rps_high,p50,p50_low,p50_high,p99,p99_low,"
            "p99_high,merged_p50,merged_p99,merged_p99.9,merged_max,requests,errors");
  const auto json = nlohmann::json::parse(render_trials_report({few}, ReportFormat::kJson, false));
  ASSERT_EQ(json.size(), 3u);
  EXPECT_EQ(json[2]["trial"], 2);
  EXPECT_EQ(json[2]["trials"], 3);
}

}  // namespace
}  // namespace iolab
