#include "lab/report_charts.h"

#include <gtest/gtest.h>

#include <string>

namespace iolab {
namespace {

using namespace std::chrono_literals;

ReportRow row(const std::string& label, std::chrono::nanoseconds latency, uint64_t requests) {
  ReportRow r;
  r.label = label;
  for (uint64_t i = 0; i < requests; ++i) r.result.latency.record(latency + (i % 10) * 1ms);
  r.result.requests = requests;
  r.result.elapsed = 1s;
  return r;
}

// The text of the chart `name` of a report (its <g class="chart NAME"> up to the next chart).
std::string chart(const std::string& svg, const std::string& name) {
  const auto at = svg.find("<g class=\"chart " + name + "\"");
  if (at == std::string::npos) return {};
  return svg.substr(at, svg.find("<g class=\"chart ", at + 1) - at);
}

size_t count(const std::string& text, const std::string& what) {
  size_t n = 0;
  for (auto at = text.find(what); at != std::string::npos; at = text.find(what, at + 1)) ++n;
  return n;
}

TEST(ReportChartsTest, SvgHasABarPerVariantAndFourPercentilesEachOnALogAxis) {
  const std::string svg =
      render_svg_report({row("async", 100ms, 1900), row("threads:10", 1600ms, 380)});
  EXPECT_EQ(svg.rfind("<svg xmlns=\"http://www.w3.org/2000/svg\"", 0), 0u);
  EXPECT_NE(svg.find("Requests per variant"), std::string::npos);
  EXPECT_NE(svg.find("log scale"), std::string::npos);
  EXPECT_NE(svg.find(">1900<"), std::string::npos);
  // p50 a circle, p99 a square, p99.9 a diamond, max a triangle: the colour is the variant's.
  const std::string latency = chart(svg, "latency");
  EXPECT_EQ(count(latency, "<circle"), 2u + 1u);  // + the legend's
  EXPECT_EQ(count(latency, "class=\"marker\""), 2u + 1u);
  EXPECT_EQ(count(latency, "<polygon"), 4u + 2u);
  // Decade ticks: 100 ms and 1000 ms and 10000 ms.
  EXPECT_NE(svg.find(">100</text>"), std::string::npos);
  EXPECT_NE(svg.find(">1000</text>"), std::string::npos);
  EXPECT_NE(svg.find(">10000</text>"), std::string::npos);
  EXPECT_EQ(svg.substr(svg.size() - 7), "</svg>\n");
}

TEST(ReportChartsTest, EscapesLabels) {
  const std::string svg = render_svg_report({row("http://127.0.0.1/?a=1&b=<2>", 1ms, 10)});
  EXPECT_EQ(svg.find("&b"), std::string::npos);
  EXPECT_NE(svg.find("a=1&amp;b=&lt;2&gt;"), std::string::npos);
}

TEST(ReportChartsTest, HtmlIsSelfContainedWithTheTableAndTheCharts) {
  const std::string html =
      render_html_report({row("async", 100ms, 1900), row("http://127.0.0.1/?a,b", 1ms, 5)}, "seed");
  EXPECT_EQ(html.rfind("<!DOCTYPE html>", 0), 0u);
  EXPECT_NE(html.find("<title>seed</title>"), std::string::npos);
  EXPECT_NE(html.find("<th>p99.9</th>"), std::string::npos);
  EXPECT_NE(html.find("<td>async</td>"), std::string::npos);
  // A comma in a label stays in its cell.
  EXPECT_NE(html.find("<td>http://127.0.0.1/?a,b</td>"), std::string::npos);
  EXPECT_NE(html.find("<svg"), std::string::npos);
  EXPECT_EQ(html.find("<script"), std::string::npos);
  EXPECT_EQ(html.find("src="), std::string::npos);
  EXPECT_EQ(html.find("href="), std::string::npos);
}

TEST(ReportChartsTest, AnEmptyReportIsStillADocument) {
  EXPECT_NE(render_svg_report({}).find("</svg>"), std::string::npos);
  EXPECT_NE(render_html_report({}, "none").find("</html>"), std::string::npos);
}

TEST(ReportChartsTest, EveryChartHasOneSeriesPerVariantInTheVariantsColour) {
  const std::string svg =
      render_svg_report({row("async", 100ms, 1900), row("threads:10", 1600ms, 380)});
  for (const char* name : {"requests", "latency", "spectrum", "timeline", "decomposition"}) {
    const std::string c = chart(svg, name);
    ASSERT_FALSE(c.empty()) << name;
    EXPECT_EQ(count(c, "data-variant=\"async\""), 1u) << name;
    EXPECT_EQ(count(c, "data-variant=\"threads:10\""), 1u) << name;
  }
  // Okabe–Ito blue for the first variant, orange for the second, in every chart.
  EXPECT_NE(chart(svg, "requests").find("fill=\"#E69F00\""), std::string::npos);
  EXPECT_NE(chart(svg, "spectrum").find("stroke=\"#E69F00\""), std::string::npos);
}

TEST(ReportChartsTest, TheSpectrumAxisReachesTheHighestPercentileTheAnswersResolve) {
  // 12,345 answers resolve percentile 1 − 1/12345 = 99.9919 %: the axis runs to 99.999 %.
  const std::string spectrum =
      chart(render_svg_report({row("async", 100ms, 12345), row("fiber", 100ms, 50)}), "spectrum");
  EXPECT_NE(spectrum.find("data-axis-nines=\"5\""), std::string::npos);
  EXPECT_NE(spectrum.find(">99.999%</text>"), std::string::npos);
  EXPECT_EQ(spectrum.find(">99.9999%</text>"), std::string::npos);
  EXPECT_NE(spectrum.find("data-top-nines=\"4.091\""), std::string::npos);
  EXPECT_NE(spectrum.find("data-top-nines=\"1.699\""), std::string::npos);
  EXPECT_NE(spectrum.find(">90%</text>"), std::string::npos);
}

TEST(ReportChartsTest, TheTimelineDrawsEachSecondAndShadesTheWarmUp) {
  ReportRow r = row("async", 100ms, 100);
  for (int64_t s = 0; s < 4; ++s) {
    r.result.timeline.push_back(TimelinePoint{s, s == 0, 25, 0, 100ms, 110ms});
  }
  const std::string timeline = chart(render_svg_report({r}), "timeline");
  EXPECT_EQ(count(timeline, "class=\"warmup\""), 2u);
  EXPECT_EQ(count(timeline, "<polyline"), 2u);
  EXPECT_NE(timeline.find(">req/s</text>"), std::string::npos);
  EXPECT_NE(timeline.find("p99 (ms, log)"), std::string::npos);
}

TEST(ReportChartsTest, TheDecompositionSaysNotMeasuredRatherThanZero) {
  ReportRow async = row("async", 100ms, 100);
  async.server = ServerLayers{{100, 100 * 101'000'000ull},
                              {100, 100 * 50'000ull},
                              {100, 100 * 100'000'000ull},
                              {100, 100 * 10'000ull}};
  ReportRow threads = row("threads:10", 1600ms, 100);
  threads.server = ServerLayers{{100, 100 * 101'000'000ull}, {}, {100, 100 * 100'000'000ull}, {}};
  const ReportRow target = row("http://127.0.0.1:1/", 1ms, 10);
  const std::string d = chart(render_svg_report({async, threads, target}), "decomposition");
  const auto part = [&](const std::string& variant) {
    const auto at = d.find("data-variant=\"" + variant + "\"");
    return d.substr(at, d.find("</g>", at) - at);
  };
  EXPECT_EQ(part("async").find("not measured"), std::string::npos) << part("async");
  EXPECT_NE(part("async").find("upstream: 100 ms"), std::string::npos) << part("async");
  EXPECT_NE(part("threads:10").find("queue wait not measured"), std::string::npos);
  EXPECT_NE(part("threads:10").find("pool wait not measured"), std::string::npos);
  // 1.6 s seen by the load against 101 ms in the handler: the rest waited outside it.
  EXPECT_NE(part("threads:10").find("outside the handlers: "), std::string::npos);
  EXPECT_NE(part("http://127.0.0.1:1/").find("not measured"), std::string::npos);
}

TEST(ReportChartsTest, TrialsAddIntervalsAsWhiskers) {
  TrialRow trials;
  for (int t = 0; t < 6; ++t) trials.trials.push_back(row("async", 100ms + t * 1ms, 1000 + t));
  const std::string with = render_trials_charts({trials}, ChartFormat::kSvg, {});
  EXPECT_GE(count(chart(with, "requests"), "class=\"whisker\""), 1u);
  EXPECT_NE(chart(with, "requests").find("median of the trials"), std::string::npos);
  EXPECT_GE(count(chart(with, "latency"), "class=\"whisker\""), 2u);
  EXPECT_GE(count(chart(with, "spectrum"), "class=\"whisker\""), 1u);
  const std::string without = render_svg_report({row("async", 100ms, 1000)});
  EXPECT_EQ(count(without, "class=\"whisker\""), 0u);
}

TEST(ReportChartsTest, AComparisonShowsEachChangeWithItsInterval) {
  Comparison c;
  MeasureChange m;
  m.key = "async /remote";
  m.measure = "p99";
  m.ratio = RatioCi{2.0, 1.5, 2.5, 0.95, true, true};
  m.test.significant = true;
  c.changes.push_back(m);
  m.measure = "p50";
  m.ratio = RatioCi{1.01, 0.98, 1.04, 0.95, true, true};
  m.test.significant = false;
  c.changes.push_back(m);
  const std::string svg = render_comparison_charts(c, ChartFormat::kSvg, {});
  EXPECT_EQ(count(svg, "class=\"whisker\""), 2u);
  EXPECT_NE(svg.find(">+100%</text>"), std::string::npos);
  EXPECT_NE(svg.find(">~ +1%</text>"), std::string::npos);
  const std::string html = render_comparison_charts(c, ChartFormat::kHtml, "a <b>");
  EXPECT_NE(html.find("<title>a &lt;b&gt;</title>"), std::string::npos);
  EXPECT_NE(html.find("<table id=\"comparison\">"), std::string::npos);
}

}  // namespace
}  // namespace iolab
