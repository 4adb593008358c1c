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

ReportRow row(const std::string& label, int base_ms, uint64_t requests) {
  ReportRow r;
  r.label = label;
  for (int i = 0; i < 1000; ++i)
    r.result.latency.record(std::chrono::milliseconds(base_ms + i % 50));
  r.result.requests = requests;
  r.result.elapsed = std::chrono::seconds(10);
  r.result.spec.connections = 400;
  r.bound_rps = 4000;
  return r;
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
  std::ofstream(page) << render_html_report(
      {row("async", 100, 39736), row("fiber-blocking", 4000, 160), row("threads:200", 105, 36974)},
      "seed-2017 <check & escape>");

  std::string dom;
  std::string log;
  ASSERT_EQ(chromium(page, "--dump-dom", dom, log), 0) << log;
  EXPECT_NE(dom.find("<table"), std::string::npos) << dom.substr(0, 2000);
  EXPECT_NE(dom.find("<svg"), std::string::npos);
  for (const char* label : {"async", "fiber-blocking", "threads:200", "39736"}) {
    EXPECT_NE(dom.find(label), std::string::npos) << label;
  }
  EXPECT_NE(dom.find("&lt;check &amp; escape&gt;"), std::string::npos) << "the title is escaped";
  // The page has no script: any console message means a failed load or a broken document.
  EXPECT_EQ(log.find(":CONSOLE("), std::string::npos) << log;

  std::string ignored;
  ASSERT_EQ(chromium(page, "--screenshot=" + (dir / "report.png").string(), ignored, log), 0)
      << log;
  EXPECT_GT(fs::file_size(dir / "report.png"), 10'000u) << "a blank page compresses smaller";
}

}  // namespace
}  // namespace iolab
