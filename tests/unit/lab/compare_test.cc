// `iolab compare`: `~` for no significant change, the change with its interval and
// p-value otherwise, warnings for too few trials, and result files read back.
#include "lab/compare.h"

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

namespace iolab {
namespace {

using namespace std::chrono_literals;

ReportRow row(const std::string& label, double rps, std::chrono::nanoseconds latency) {
  ReportRow r;
  r.label = label;
  r.result.requests = static_cast<uint64_t>(rps);
  r.result.elapsed = 1s;
  r.result.spec.target = *parse_url("http://127.0.0.1:8080/remote");
  for (int i = 0; i < 100; ++i) r.result.latency.record(latency);
  r.result.uncorrected = r.result.latency;
  r.usage = ProcessUsage{};
  return r;
}

std::vector<ReportRow> trials(const std::string& label, std::vector<double> rps,
                              std::chrono::nanoseconds latency) {
  std::vector<ReportRow> out;
  for (const double r : rps) out.push_back(row(label, r, latency));
  return out;
}

TEST(CompareTest, IdenticalTrialsShowNoSignificantChange) {
  const auto base = trials("async", {1000, 1010, 990, 1005, 995, 1002, 998, 1001, 999, 1003}, 2ms);
  const auto next = trials("async", {1001, 1009, 991, 1004, 996, 1000, 997, 1002, 1006, 994}, 2ms);
  const Comparison c = compare_sides(compare_side(base), compare_side(next));
  ASSERT_EQ(c.changes.size(), 3u);
  for (const auto& m : c.changes) {
    EXPECT_FALSE(m.significant()) << m.measure;
    EXPECT_TRUE(m.warnings.empty()) << m.measure;
  }
  const std::string text = render_comparison(c, ReportFormat::kRst);
  EXPECT_NE(text.find("async /remote  req/s"), std::string::npos) << text;
  EXPECT_NE(text.find("~"), std::string::npos) << text;
}

TEST(CompareTest, AShiftIsSignificantWithTheRatioItsInterval) {
  const auto base = trials("async", {1000, 1010, 990, 1005, 995, 1002, 998, 1001, 999, 1003}, 2ms);
  const auto next = trials("async", {900, 909, 891, 904, 896, 900, 897, 902, 906, 894}, 3ms);
  const Comparison c = compare_sides(compare_side(base), compare_side(next));
  const MeasureChange& rps = c.changes[0];
  EXPECT_EQ(rps.measure, "req/s");
  EXPECT_TRUE(rps.significant());
  EXPECT_LT(rps.test.p, 0.01);
  EXPECT_NEAR(rps.ratio.ratio, 0.9, 0.005);
  EXPECT_LT(rps.ratio.high, 1);
  EXPECT_TRUE(c.changes[1].significant());  // p50 2 ms → 3 ms
  const std::string text = render_comparison(c, ReportFormat::kRst);
  EXPECT_NE(text.find("-10.0%"), std::string::npos) << text;
  const auto json = comparison_json(c);
  EXPECT_EQ(json["changes"][0]["significant"], true);
  const std::string csv = render_comparison(c, ReportFormat::kCsv);
  EXPECT_EQ(csv.substr(0, csv.find(',')), "variant");
}

TEST(CompareTest, WarnsWhenTrialsAreTooFew) {
  const Comparison three = compare_sides(compare_side(trials("async", {1, 2, 3}, 1ms)),
                                         compare_side(trials("async", {4, 5, 6}, 1ms)));
  EXPECT_NE(three.changes[0].warnings.at(0).find("too few trials to detect"), std::string::npos);
  const Comparison five = compare_sides(compare_side(trials("async", {1, 2, 3, 4, 5}, 1ms)),
                                        compare_side(trials("async", {4, 5, 6, 7, 8}, 1ms)));
  EXPECT_NE(five.changes[0].warnings.at(0).find("for an interval"), std::string::npos);
}

TEST(CompareTest, PairsRowsByVariantAndPathAndNamesTheUnmatched) {
  auto base = trials("async", {1, 2}, 1ms);
  base.push_back(row("fiber", 3, 1ms));
  auto next = trials("async", {1, 2}, 1ms);
  next.push_back(row("threads:10", 3, 1ms));
  const Comparison c = compare_sides(compare_side(base), compare_side(next));
  EXPECT_EQ(c.changes.size(), 3u);
  EXPECT_EQ(c.only_base, std::vector<std::string>{"fiber /remote"});
  EXPECT_EQ(c.only_new, std::vector<std::string>{"threads:10 /remote"});
}

TEST(CompareTest, OneRowAgainstAnotherComparesTheTwo) {
  const Comparison c =
      compare_sides(compare_side(trials("async", {1000, 1010, 990, 1005, 995, 1002}, 2ms)),
                    compare_side(trials("threads:10", {90, 91, 89, 90, 92, 88}, 9ms)));
  ASSERT_EQ(c.changes.size(), 3u);
  EXPECT_EQ(c.changes[0].key, "async /remote → threads:10 /remote");
  EXPECT_TRUE(c.changes[0].significant());
  EXPECT_TRUE(c.only_base.empty());
  EXPECT_TRUE(c.only_new.empty());
}

TEST(CompareTest, ReadsTheRowsOfAJsonResultFile) {
  TrialRow t{trials("async", {100, 200, 300}, 1ms)};
  const auto json = nlohmann::json::parse(render_trials_report({t}, ReportFormat::kJson, false));
  const auto rows = rows_from_report_json(json);
  ASSERT_EQ(rows.size(), 3u);
  EXPECT_EQ(compare_key(rows[1]), "async /remote");
  EXPECT_EQ(rows[1].result.requests, 200u);
  EXPECT_THROW(rows_from_report_json(nlohmann::json::object()), ResultJsonError);
}

}  // namespace
}  // namespace iolab
