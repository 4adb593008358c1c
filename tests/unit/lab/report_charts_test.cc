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
  EXPECT_EQ(count(svg, "<circle"), 8u);
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

}  // namespace
}  // namespace iolab
