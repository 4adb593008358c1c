// The HTML report in a real browser: Debian's Chromium, headless.
#include <gtest/gtest.h>
#include <sys/wait.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "lab/report_charts.h"

namespace iolab {
namespace {

namespace fs = std::filesystem;

std::string slurp(const fs::path& p) {
  std::ifstream in(p);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

// A row of `answers` answers whose latencies climb from base_ms, ten seconds (the first a
// warm-up), and the workers' layers.
ReportRow row(const std::string& label, int base_ms, uint64_t requests, int answers = 1000) {
  ReportRow r;
  r.label = label;
  for (int i = 0; i < answers; ++i)
    r.result.latency.record(std::chrono::milliseconds(base_ms + i % 50));
  r.result.requests = requests;
  r.result.elapsed = std::chrono::seconds(10);
  r.result.spec.connections = 400;
  for (int64_t s = 0; s < 11; ++s) {
    r.result.timeline.push_back(TimelinePoint{s, s == 0, requests / 10, 0,
                                              std::chrono::milliseconds(base_ms),
                                              std::chrono::milliseconds(base_ms + 40)});
  }
  r.bound_rps = 4000;
  const uint64_t n = requests;
  r.server = ServerLayers{{n, n * 101'000'000}, {n, n * 20'000}, {n, n * 100'000'000}, {}};
  return r;
}

size_t count(const std::string& text, const std::string& what) {
  size_t n = 0;
  for (auto at = text.find(what); at != std::string::npos; at = text.find(what, at + 1)) ++n;
  return n;
}

// The DOM of the chart `name` as Chromium parsed it.
std::string chart(const std::string& dom, const std::string& name) {
  const auto at = dom.find("<g class=\"chart " + name + "\"");
  if (at == std::string::npos) return {};
  return dom.substr(at, dom.find("</svg>", at) - at);
}

// Runs Chromium headless on `page` with the flags this sandbox needs (no network, no sandbox
// as root); returns its exit code, stdout in `out`, stderr (the console log) in `err`.
int chromium(const fs::path& page, const std::string& mode, std::string& out, std::string& err) {
  const fs::path dir = fs::path(IOLAB_BINARY_DIR) / "e2e";
  const std::string cmd =
      "ulimit -f 102400; timeout -s KILL 90 chromium --headless --no-sandbox --disable-gpu "
      "--disable-quic --no-first-run --disable-background-networking --disable-component-update "
      "--disable-sync --user-data-dir=" +
      (dir / "profile").string() + " --enable-logging=stderr --v=0 --window-size=1200,1400 " +
      mode + " file://" + page.string() + " >" + (dir / "out.txt").string() + " 2>" +
      (dir / "err.txt").string() + " </dev/null";
  const int status = std::system(cmd.c_str());
  out = slurp(dir / "out.txt");
  err = slurp(dir / "err.txt");
  return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

TEST(HtmlReportTest, LoadsInChromiumWithoutConsoleErrorsAndShowsTableAndCharts) {
  const fs::path dir = fs::path(IOLAB_BINARY_DIR) / "e2e";
  fs::remove_all(dir);
  fs::create_directories(dir);
  const fs::path page = dir / "report.html";
  // 23,456 answers resolve percentile 99.9957 %: the spectrum's axis must reach 99.999 %.
  std::ofstream(page) << render_html_report(
      {row("async", 100, 39736, 23456), row("fiber-blocking", 4000, 160),
       row("threads:200", 105, 36974)},
      "seed-2017 <check & escape>");

  std::string dom;
  std::string log;
  ASSERT_EQ(chromium(page, "--dump-dom", dom, log), 0) << log;
  EXPECT_NE(dom.find("<table"), std::string::npos) << dom.substr(0, 2000);
  EXPECT_EQ(count(dom, "<svg"), 5u) << "one inline SVG per chart";
  for (const char* label : {"async", "fiber-blocking", "threads:200", "39736"}) {
    EXPECT_NE(dom.find(label), std::string::npos) << label;
  }
  for (const char* name : {"requests", "latency", "spectrum", "timeline", "decomposition"}) {
    const std::string c = chart(dom, name);
    ASSERT_FALSE(c.empty()) << name << " is missing";
    EXPECT_EQ(count(c, "class=\"series\""), 3u) << name;
    for (const char* variant : {"async", "fiber-blocking", "threads:200"}) {
      EXPECT_EQ(count(c, std::string("data-variant=\"") + variant + "\""), 1u)
          << name << " " << variant;
    }
  }
  const std::string spectrum = chart(dom, "spectrum");
  EXPECT_NE(spectrum.find("data-axis-nines=\"5\""), std::string::npos);
  EXPECT_NE(spectrum.find(">99.999%</text>"), std::string::npos) << "the axis's last tick";
  EXPECT_NE(spectrum.find("data-top-nines=\"4.370\""), std::string::npos);
  EXPECT_NE(dom.find("&lt;check &amp; escape&gt;"), std::string::npos) << "the title is escaped";
  EXPECT_EQ(dom.find("<check & escape>"), std::string::npos);
  // The page has no script: any console message means a failed load or a broken document.
  EXPECT_EQ(log.find(":CONSOLE("), std::string::npos) << log;

  std::string ignored;
  ASSERT_EQ(chromium(page, "--screenshot=" + (dir / "report.png").string(), ignored, log), 0)
      << log;
  EXPECT_GT(fs::file_size(dir / "report.png"), 10'000u) << "a blank page compresses smaller";
}

TEST(HtmlReportTest, AComparisonLoadsInChromiumWithEachChangeAndItsInterval) {
  const fs::path dir = fs::path(IOLAB_BINARY_DIR) / "e2e";
  fs::create_directories(dir);
  Comparison c;
  for (const char* measure : {"req/s", "p50", "p99"}) {
    MeasureChange m;
    m.key = "async /remote";
    m.measure = measure;
    m.ratio = RatioCi{1.2, 1.1, 1.3, 0.95, true, true};
    m.test.significant = true;
    c.changes.push_back(m);
  }
  const fs::path page = dir / "compare.html";
  std::ofstream(page) << render_comparison_charts(c, ChartFormat::kHtml, "a.json <&> b.json");
  std::string dom;
  std::string log;
  ASSERT_EQ(chromium(page, "--dump-dom", dom, log), 0) << log;
  EXPECT_EQ(count(chart(dom, "comparison"), "class=\"whisker\""), 3u);
  EXPECT_NE(dom.find("a.json &lt;&amp;&gt; b.json"), std::string::npos);
  EXPECT_EQ(log.find(":CONSOLE("), std::string::npos) << log;
}

}  // namespace
}  // namespace iolab
