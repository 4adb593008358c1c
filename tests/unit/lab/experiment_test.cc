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
  EXPECT_THROW(
      parse_experiment("name: x\nload: {}\nregression: {nights: 1}\nvariants: [{kind: async}]\n",
                       "e.yaml"),
      ConfigError);
  EXPECT_THROW(parse_experiment("name: x\nload: {}\nregression: {window: 4, min_nights: 5}\n"
                                "variants: [{kind: async}]\n",
                                "e.yaml"),
               ConfigError);
}

TEST(ExperimentTest, ReadsTheUpstreamsDistributionFaultsAndEachRowsAcceptMode) {
  const ExperimentSpec e = parse_experiment(R"(
name: tail
upstream:
  distribution: lognormal(p50=100ms, p99=1s)
  faults: {error: 1%, close: 0.5%, reset: 0, status: 503}
load: {connections: 400}
variants:
  - {kind: threads, threads: 200, accept: reuseport}
  - {kind: async}
)",
                                            "tail.yaml");
  ASSERT_TRUE(e.upstream.distribution);
  EXPECT_EQ(e.upstream.distribution->to_string(), "lognormal(p50=100ms, p99=1s)");
  EXPECT_DOUBLE_EQ(e.upstream.faults.error, 0.01);
  EXPECT_DOUBLE_EQ(e.upstream.faults.close, 0.005);
  EXPECT_DOUBLE_EQ(e.upstream.faults.reset, 0);
  EXPECT_EQ(e.upstream.faults.error_status, 503);
  ASSERT_EQ(e.variants.size(), 2u);
  EXPECT_EQ(e.variants[0].accept, AcceptMode::kReusePort);
  EXPECT_EQ(e.variants[0].name(), "threads:200/reuseport");
  EXPECT_EQ(e.variants[1].accept, AcceptMode::kShared);
  EXPECT_EQ(e.variants[1].name(), "async");
}

TEST(ExperimentTest, RefusesABadDistributionFaultsOrAcceptMode) {
  const BadFile cases[] = {
      {"name: x\nupstream: {distribution: 'gamma(1s)'}\nvariants: [{kind: async}]\n",
       "f.yaml:2: upstream.distribution: unknown distribution 'gamma'"},
      {"name: x\nupstream: {delay: 1s, distribution: 1s}\nvariants: [{kind: async}]\n",
       "upstream.distribution: give delay or distribution, not both"},
      {"name: x\nupstream: {faults: {error: 60%, reset: 50%}}\nvariants: [{kind: async}]\n",
       "upstream.faults: error, close and reset add up to more than 100 %"},
      {"name: x\nupstream: {faults: {drop: 1%}}\nvariants: [{kind: async}]\n", "upstream.faults"},
      {"name: x\nload: {}\nvariants: [{kind: async, accept: fork}]\n",
       "f.yaml:3: variants[0].accept: must be shared or reuseport"},
  };
  for (const auto& c : cases) {
    try {
      parse_experiment(c.yaml, "f.yaml");
      ADD_FAILURE() << "accepted: " << c.yaml;
    } catch (const ConfigError& e) {
      EXPECT_NE(std::string(e.what()).find(c.message), std::string::npos)
          << "got: " << e.what() << "\nwant: " << c.message;
    }
  }
}

TEST(ExperimentTest, ParseVariantReadsAnAcceptModeAfterASlash) {
  EXPECT_EQ(parse_variant("threads:200/reuseport")->accept, AcceptMode::kReusePort);
  EXPECT_EQ(parse_variant("async/shared")->accept, AcceptMode::kShared);
  EXPECT_EQ(parse_variant("fiber")->accept, AcceptMode::kShared);
  std::string error;
  EXPECT_FALSE(parse_variant("async/fork", &error));
  EXPECT_NE(error.find("unknown accept mode"), std::string::npos);
  EXPECT_EQ(parse_variant(parse_variant("threads:7/reuseport")->name())->threads, 7);
}

}  // namespace
}  // namespace iolab
