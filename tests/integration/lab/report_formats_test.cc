// Every command that prints a report prints its charts too: `--format svg|html` on real runs.
#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <string>

#include "tests/integration/run_iolab.h"

namespace iolab {
namespace {

using namespace iolab::testing;
namespace fs = std::filesystem;

size_t count(const std::string& text, const std::string& what) {
  size_t n = 0;
  for (auto at = text.find(what); at != std::string::npos; at = text.find(what, at + 1)) ++n;
  return n;
}

std::string chart(const std::string& page, const std::string& name) {
  const auto at = page.find("<g class=\"chart " + name + "\"");
  if (at == std::string::npos) return {};
  return page.substr(at, page.find("</svg>", at) - at);
}

fs::path scratch(const std::string& name) {
  const fs::path dir = fs::temp_directory_path() /
                       ("iolab_report_formats_" + std::to_string(::getpid()) + "_" + name);
  fs::remove_all(dir);
  fs::create_directories(dir);
  return dir;
}

TEST(ReportFormatsTest, ARunPrintsAnHtmlReportWithTheWorkersOwnLayers) {
  const Outcome o = run_iolab(
      "run --variant async -c 20 -t 1 -d 1s --warmup 500ms --upstream-delay 10ms --format html");
  ASSERT_EQ(o.exit_code, 0) << o.err;
  EXPECT_EQ(o.out.rfind("<!DOCTYPE html>", 0), 0u);
  EXPECT_NE(o.out.find("<title>iolab run async /remote</title>"), std::string::npos);
  EXPECT_EQ(count(o.out, "<svg"), 5u);
  for (const char* name : {"requests", "latency", "spectrum", "timeline", "decomposition"}) {
    EXPECT_EQ(count(chart(o.out, name), "data-variant=\"async\""), 1u) << name;
  }
  // The workers published their layers: the upstream's share is drawn, not "not measured".
  const std::string decomposition = chart(o.out, "decomposition");
  EXPECT_NE(decomposition.find("async upstream: "), std::string::npos) << decomposition;
  EXPECT_EQ(decomposition.find("kept no layers"), std::string::npos) << decomposition;
  // Every second of the run is on the timeline, warm-up shaded.
  EXPECT_EQ(count(chart(o.out, "timeline"), "class=\"warmup\""), 2u);
}

TEST(ReportFormatsTest, AnExperimentPrintsSvgAndItsOutDirHoldsTheHtmlToo) {
  const fs::path dir = scratch("experiment");
  std::ofstream(dir / "tiny.yaml") << "name: tiny\nupstream: {delay: 10ms}\n"
                                      "load: {connections: 20, threads: 1, duration: 1s}\n"
                                      "variants:\n  - kind: fiber\n";
  const Outcome o = run_iolab("experiment " + (dir / "tiny.yaml").string() +
                              " --format svg --out " + (dir / "out").string());
  ASSERT_EQ(o.exit_code, 0) << o.err;
  EXPECT_EQ(o.out.rfind("<svg xmlns=\"http://www.w3.org/2000/svg\"", 0), 0u)
      << o.out.substr(0, 200);
  EXPECT_EQ(count(o.out, "<svg"), 1u) << "one document stacks every chart";
  EXPECT_EQ(count(o.out, "<g class=\"chart "), 5u);
  const std::string html = slurp(dir / "out" / "tiny.html");
  EXPECT_NE(html.find("<title>iolab experiment tiny</title>"), std::string::npos);
  EXPECT_EQ(count(html, "<svg"), 5u);
  for (const char* ext : {"rst", "csv", "json"})
    EXPECT_TRUE(fs::exists(dir / "out" / ("tiny." + std::string(ext))));

  // The JSON it wrote compares against itself as a chart.
  const std::string json = (dir / "out" / "tiny.json").string();
  const Outcome c = run_iolab("compare " + json + " " + json + " --format html");
  ASSERT_EQ(c.exit_code, 0) << c.err;
  EXPECT_NE(c.out.find("<g class=\"chart comparison\""), std::string::npos);
  EXPECT_NE(c.out.find("data-variant=\"fiber /remote\""), std::string::npos);
  fs::remove_all(dir);
}

TEST(ReportFormatsTest, AnUnknownFormatNamesTheFiveThereAre) {
  for (const char* args : {"run --variant async --format pdf", "compare a.json b.json --format pdf",
                           "experiment x.yaml --format pdf"}) {
    const Outcome o = run_iolab(args);
    EXPECT_EQ(o.exit_code, 2) << args;
    EXPECT_NE(o.err.find("unknown --format 'pdf' (rst, csv, json, svg, html)"), std::string::npos)
        << args << ": " << o.err;
  }
}

}  // namespace
}  // namespace iolab
