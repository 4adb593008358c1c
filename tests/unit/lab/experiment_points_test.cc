// The experiment keys the nightly suite needs: per-variant scenario, path and rate, and the
// regression policy.
#include <gtest/gtest.h>

#include "lab/experiment.h"

namespace iolab {
namespace {

TEST(ExperimentPointsTest, EachVariantMaySetScenarioPathAndRate) {
  const auto spec = parse_experiment(R"(
name: nightly
load: {connections: 10, path: /remote, rate: 0}
variants:
  - {kind: async}
  - {kind: async, scenario: plaintext, path: /plaintext}
  - {kind: threads, threads: [10, 20], scenario: open-loop, rate: 2000}
)",
                                     "nightly.yaml");
  ASSERT_EQ(spec.variants.size(), 4u);
  ASSERT_EQ(spec.points.size(), 4u);
  EXPECT_EQ(spec.points[0].scenario, "nightly");
  EXPECT_EQ(spec.points[0].path, "/remote");
  EXPECT_EQ(spec.points[0].rate, 0);
  EXPECT_EQ(spec.points[1].scenario, "plaintext");
  EXPECT_EQ(spec.points[1].path, "/plaintext");
  EXPECT_EQ(spec.points[2].scenario, "open-loop");
  EXPECT_EQ(spec.points[3].rate, 2000);
  EXPECT_EQ(spec.variants[3].threads, 20);
}

// Change points replaced "10 % below the median of 7 nights": the defaults are
// Otava's (p ≤ 0.001, a window of 50) and a p99 needs 10,000 answers per trial.
TEST(ExperimentPointsTest, RegressionPolicyDefaultsToChangePointsAtOnePerMille) {
  const auto spec = parse_experiment("name: x\nload: {}\nvariants: [{kind: async}]\n", "x.yaml");
  EXPECT_EQ(spec.regression, RegressionPolicy{});
  EXPECT_DOUBLE_EQ(spec.regression.max_p, 0.001);
  EXPECT_EQ(spec.regression.window, 50);
  EXPECT_EQ(spec.regression.min_answers, 10000u);
  EXPECT_DOUBLE_EQ(spec.regression.throughput_drop, 0);
  EXPECT_EQ(spec.trials, 1);
}

TEST(ExperimentPointsTest, RegressionPolicyIsRead) {
  const auto spec = parse_experiment(R"(name: x
load: {}
trials: 5
regression: {window: 30, min_nights: 2, throughput_drop: 20%, p99_rise: 0.3, max_p: 0.01,
             min_answers: 500, alert_nights: 3}
variants: [{kind: async}]
)",
                                     "x.yaml");
  EXPECT_EQ(spec.trials, 5);
  EXPECT_EQ(spec.regression.window, 30);
  EXPECT_EQ(spec.regression.min_nights, 2);
  EXPECT_DOUBLE_EQ(spec.regression.throughput_drop, 0.2);
  EXPECT_DOUBLE_EQ(spec.regression.p99_rise, 0.3);
  EXPECT_DOUBLE_EQ(spec.regression.max_p, 0.01);
  EXPECT_EQ(spec.regression.min_answers, 500u);
  EXPECT_EQ(spec.regression.alert_nights, 3);
}

TEST(ExperimentPointsTest, NightsIsTheWindowsOldName) {
  const auto spec = parse_experiment(
      "name: x\nload: {}\nregression: {nights: 7}\nvariants: [{kind: async}]\n", "x.yaml");
  EXPECT_EQ(spec.regression.window, 7);
  EXPECT_THROW(parse_experiment("name: x\nload: {}\nregression: {nights: 7, window: 9}\n"
                                "variants: [{kind: async}]\n",
                                "x.yaml"),
               ConfigError);
}

TEST(ExperimentPointsTest, BadValuesNameFileLineAndKey) {
  const auto message = [](const std::string& text) {
    try {
      parse_experiment(text, "x.yaml");
    } catch (const ConfigError& e) {
      return std::string(e.what());
    }
    return std::string("no error");
  };
  EXPECT_EQ(
      message(
          "name: x\nload: {}\nregression: {throughput_drop: 150%}\nvariants: [{kind: async}]\n"),
      "x.yaml:3: regression.throughput_drop: must be above 0 % and at most 100 %");
  EXPECT_EQ(message("name: x\nload: {}\ntrials: 0\nvariants: [{kind: async}]\n"),
            "x.yaml:3: trials: 0 is out of range 1..1000");
  EXPECT_EQ(message("name: x\nload: {}\nvariants:\n  - {kind: async, path: remote}\n"),
            "x.yaml:4: variants[0].path: must start with '/'");
  EXPECT_NE(message("name: x\nload: {}\nvariants:\n  - {kind: async, rate: fast}\n")
                .find("variants[0].rate: expected a number"),
            std::string::npos);
}

TEST(ExperimentPointsTest, TheShippedNightlySuiteParses) {
  const auto spec = load_experiment_file(IOLAB_SOURCE_DIR "/config/experiments/nightly.yaml");
  EXPECT_EQ(spec.name, "nightly");
  ASSERT_EQ(spec.points.size(), spec.variants.size());
  bool plaintext = false;
  bool open_loop = false;
  for (const auto& p : spec.points) {
    plaintext = plaintext || p.path == "/plaintext";
    open_loop = open_loop || p.rate > 0;
  }
  EXPECT_TRUE(plaintext);
  EXPECT_TRUE(open_loop);
}

}  // namespace
}  // namespace iolab
