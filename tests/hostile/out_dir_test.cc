// `iolab experiment --out DIR`: the report files stay in DIR whatever the experiment's name.
#include <gtest/gtest.h>

#include "tests/hostile/hostile.h"

namespace iolab::hostile {
namespace {

// Every regular file under `dir`, relative.
std::vector<std::string> files_under(const fs::path& dir) {
  std::vector<std::string> out;
  for (const auto& e : fs::recursive_directory_iterator(dir)) {
    if (e.is_regular_file()) out.push_back(fs::relative(e.path(), dir).string());
  }
  return out;
}

TEST(OutDirTest, ANameWithDotDotOrAnAbsolutePathWritesInsideTheOutFolder) {
  const fs::path dir = testing::fresh_test_dir("out_dir");
  const fs::path out = dir / "reports";
  const fs::path outside = dir / "outside";
  for (const std::string& name :
       {std::string("../escaped"), (outside / "absolute").string(), std::string("..")}) {
    SCOPED_TRACE(name);
    std::ofstream(dir / "e.yaml") << "name: \"" << name << "\"\n"
                                  << "upstream: {delay: 1ms}\n"
                                  << "load: {connections: 1, threads: 1, duration: 100ms}\n"
                                  << "variants: [{kind: async, workers: 1}]\n";
    const auto o =
        testing::run_iolab("experiment " + (dir / "e.yaml").string() + " --out " + out.string());
    EXPECT_EQ(o.exit_code, 0) << o.err;
  }
  // Only the reports folder (and the experiment file) hold anything.
  for (const auto& f : files_under(dir)) {
    EXPECT_TRUE(f == "e.yaml" || f.rfind("reports/", 0) == 0) << f << " was written outside";
  }
  EXPECT_FALSE(fs::exists(outside));
  EXPECT_EQ(files_under(out).size(), 12u);  // three names, four formats each (rst csv json html)
  fs::remove_all(dir);
}

}  // namespace
}  // namespace iolab::hostile
