#include "lab/experiment.h"

#include <gtest/gtest.h>

namespace iolab {
namespace {

TEST(ExperimentTest, ExpandsThreadListsIntoOneVariantEach) {
  const ExperimentSpec e = parse_experiment(R"(
name: seed-2017
upstream: {delay: 100ms, body_bytes: 612}
load: {connections: 400, threads: 2, duration: 20s, warmup: 2s, timeout: 10s, path: /remote}
variants:
  - {kind: threads, threads: [10, 20], workers: 2}
  - {kind: threads, threads: 50, workers: 1}
)",
                                            "seed.yaml");
  EXPECT_EQ(e.name, "seed-2017");
  EXPECT_EQ(e.upstream.delay, 100ms);
  EXPECT_EQ(e.load.connections, 400);
  EXPECT_EQ(e.load.duration, 20s);
  EXPECT_EQ(e.load.warmup, 2s);
  ASSERT_EQ(e.variants.size(), 3u);
  EXPECT_EQ(e.variants[0].name(), "threads:10");
  EXPECT_EQ(e.variants[1].name(), "threads:20");
  EXPECT_EQ(e.variants[2].name(), "threads:50");
  EXPECT_EQ(e.variants[2].workers, 1);
}

struct BadFile {
  const char* yaml;
  const char* message;
};

TEST(ExperimentTest, RejectsBadFilesNamingLineAndKey) {
  const BadFile cases[] = {
      {"name: x\nload: {connections: 1}\nvariants: []\n",
       "f.yaml:3: variants: expected a non-empty list"},
      {"name: x\nload: {connections: 0}\nvariants: [{kind: threads, threads: 1}]\n",
       "f.yaml:2: load.connections: 0 is out of range"},
      {"name: x\nload: {duration: 5x}\nvariants: [{kind: threads, threads: 1}]\n",
       "load.duration: bad duration '5x'"},
      {"name: x\nload: {}\nvariants: [{kind: nosuch}]\n", "variants[0].kind: unknown variant"},
      {"name: x\nload: {}\nvariants: [{kind: threads}]\n", "variants[0].threads: missing"},
      {"name: x\nload: {}\nvariants: [{kind: threads, threads: [1, -3]}]\n",
       "variants[0].threads: -3 is out of range"},
      {"name: x\nload: {}\nextra: 1\nvariants: [{kind: threads, threads: 1}]\n",
       "f.yaml:3: extra: unknown key"},
      {"load: {}\nvariants: [{kind: threads, threads: 1}]\n", "name: missing"},
      {"name: [unclosed\n", "f.yaml:"},
  };
  for (const BadFile& c : cases) {
    try {
      parse_experiment(c.yaml, "f.yaml");
      ADD_FAILURE() << "accepted: " << c.yaml;
    } catch (const ConfigError& e) {
      EXPECT_NE(std::string(e.what()).find(c.message), std::string::npos)
          << "got: " << e.what() << "\nwant: " << c.message;
    }
  }
}

// Found by experiment_fuzz: a key that is a mapping escaped as yaml-cpp's BadConversion.
TEST(ExperimentTest, AKeyThatIsNotAScalarIsAConfigError) {
  try {
    parse_experiment("name: x\nload: {}\nvariants:\n  - {kind: async, {a: 1}: 2}\n", "e.yaml");
    ADD_FAILURE();
  } catch (const ConfigError& e) {
    EXPECT_EQ(std::string(e.what()), "e.yaml:4: variants[0]: expected a plain key name");
  }
}

// Found by experiment_fuzz: "threads:5" passed as a kind and failed only when the run started.
TEST(ExperimentTest, AKindWithAPoolSizeIsRefused) {
  EXPECT_THROW(parse_experiment("name: x\nload: {}\nvariants:\n  - kind: threads:5\n", "e.yaml"),
               ConfigError);
}

// Found by experiment_fuzz: `nights` below the default min_nights (3) left every night unjudged.
// Since change points a window below 4 nights cannot hold a confirmed change and is
// refused; the minimum may never exceed the window.
TEST(ExperimentTest, AWindowTooShortForAChangeIsRefused) {
  EXPECT_THROW(parse_experiment(
                   "name: x\nload: {}\nregression: {nights: 1}\nvariants: [{kind: async}]\n",
                   "e.yaml"),
               ConfigError);
  EXPECT_THROW(parse_experiment("name: x\nload: {}\nregression: {window: 4, min_nights: 5}\n"
                                "variants: [{kind: async}]\n",
                                "e.yaml"),
               ConfigError);
}

}  // namespace
}  // namespace iolab
