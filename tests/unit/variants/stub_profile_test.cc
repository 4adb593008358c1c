// The stub's delay distributions and faults, drawn by the sampler with a fixed seed: what the
// stub serves is what the profile asks for.
#include "variants/stub_profile.h"

#include <gtest/gtest.h>

#include <array>
#include <cmath>

#include "core/histogram.h"

namespace iolab {
namespace {

using std::chrono::nanoseconds;

constexpr int kDraws = 100000;
constexpr uint64_t kSeed = 20170923;

DelayDistribution parsed(std::string_view text) {
  std::string error;
  const auto d = parse_delay_distribution(text, &error);
  EXPECT_TRUE(d) << text << ": " << error;
  return d.value_or(DelayDistribution{});
}

struct DistributionCase {
  const char* text;
};

class StubDelayDistributionTest : public ::testing::TestWithParam<DistributionCase> {};

// 100,000 served delays (into the stub's own histogram type) against the distribution's
// quantiles: p50, p90 and p99 within 2 %.
TEST_P(StubDelayDistributionTest, ServedDelaysMatchTheAskedQuantilesWithinTwoPercent) {
  StubProfile profile;
  profile.distribution = parsed(GetParam().text);
  StubSampler sampler(profile, kSeed);
  LatencyHistogram served;
  for (int i = 0; i < kDraws; ++i) served.record(sampler.delay());
  ASSERT_EQ(served.count(), static_cast<uint64_t>(kDraws));
  for (const double q : {0.50, 0.90, 0.99}) {
    const double want = static_cast<double>(profile.distribution->quantile(q).count());
    const double got = static_cast<double>(served.percentile(q * 100).count());
    EXPECT_NEAR(got, want, want * 0.02) << GetParam().text << " q=" << q;
  }
}

INSTANTIATE_TEST_SUITE_P(Kinds, StubDelayDistributionTest,
                         ::testing::Values(DistributionCase{"100ms"},
                                           DistributionCase{"uniform(50ms, 150ms)"},
                                           DistributionCase{"exponential(100ms)"},
                                           DistributionCase{"lognormal(p50=100ms, p99=1s)"},
                                           DistributionCase{"mixture(95%: 100ms, 5%: 2s)"},
                                           DistributionCase{"mixture(80%: uniform(90ms, 110ms), "
                                                            "20%: lognormal(p50=300ms, p99=2s))"}));

TEST(StubDelayDistributionTest, QuantilesAreThoseOfTheNamedDistribution) {
  const auto lognormal = parsed("lognormal(p50=100ms, p99=1s)");
  EXPECT_NEAR(static_cast<double>(lognormal.quantile(0.5).count()), 100e6, 1e3);
  EXPECT_NEAR(static_cast<double>(lognormal.quantile(0.99).count()), 1e9, 1e4);
  const auto exponential = parsed("exponential(100ms)");
  EXPECT_NEAR(static_cast<double>(exponential.quantile(0.5).count()), 100e6 * std::log(2), 1e3);
  const auto mixture = parsed("mixture(99%: 100ms, 1%: 2s)");
  EXPECT_EQ(mixture.quantile(0.5), std::chrono::milliseconds(100));
  EXPECT_EQ(mixture.quantile(0.995), std::chrono::seconds(2));
  EXPECT_EQ(mixture.mean(), std::chrono::milliseconds(119));
  // A log-normal's mean lies above its median: exp(sigma^2 / 2) with sigma = ln(10) / z(0.99).
  EXPECT_NEAR(static_cast<double>(lognormal.mean().count()), 163.2e6, 1e6);
}

TEST(StubDelayDistributionTest, TextFormReadsBackToTheSameDistribution) {
  for (const char* text :
       {"100ms", "uniform(50ms, 150ms)", "exponential(2s)", "lognormal(p50=100ms, p99=1s)",
        "mixture(99%: 100ms, 1%: 2s)", "mixture(99.5%: lognormal(p50=10ms, p99=20ms), 0.5%: 1s)"}) {
    const auto d = parsed(text);
    EXPECT_EQ(d.to_string(), text);
    EXPECT_EQ(parsed(d.to_string()), d);
  }
  EXPECT_EQ(parsed("fixed(100ms)"), DelayDistribution::fixed(std::chrono::milliseconds(100)));
}

TEST(StubDelayDistributionTest, RefusesWhatIsNotADistributionWithAReason) {
  const std::array<std::pair<const char*, const char*>, 8> cases{{
      {"", "bad duration"},
      {"gamma(1s)", "unknown distribution 'gamma'"},
      {"uniform(2s, 1s)", "uniform's high is below its low"},
      {"lognormal(p50=1s, p99=100ms)", "lognormal's p99 is below its p50"},
      {"lognormal(p99=1s, p50=100ms)", "expected p50=DURATION"},
      {"mixture(50%: 1s, 40%: 2s)", "a mixture's weights must sum to 100%"},
      {"mixture(50%: 1s, 50%: mixture(100%: 1s))", "a mixture's part cannot be a mixture"},
      {"100ms extra", "unexpected text after the distribution"},
  }};
  for (const auto& [text, reason] : cases) {
    std::string error;
    EXPECT_FALSE(parse_delay_distribution(text, &error)) << text;
    EXPECT_NE(error.find(reason), std::string::npos) << text << ": " << error;
  }
}

TEST(StubDelayDistributionTest, DrawnDelaysAreCappedAtTheProfilesMaximum) {
  StubProfile profile;
  profile.distribution = parsed("exponential(1s)");
  profile.max_delay = std::chrono::milliseconds(500);
  StubSampler sampler(profile, kSeed);
  int capped = 0;
  for (int i = 0; i < 1000; ++i) {
    const nanoseconds d = sampler.delay();
    EXPECT_LE(d, profile.max_delay);
    capped += d == profile.max_delay ? 1 : 0;
  }
  EXPECT_GT(capped, 0);  // P(exp > mean / 2) ~ 61 %
}

// 100,000 draws at 1 % each: 1 % +- 0.2 % of each fault (the bounds are six standard deviations).
TEST(StubFaultTest, OnePercentOfEachFaultOver100000Draws) {
  StubProfile profile;
  profile.faults = StubFaults{.error = 0.01, .close = 0.01, .reset = 0.01};
  StubSampler sampler(profile, kSeed);
  std::array<int, kStubFaultCount> counts{};
  for (int i = 0; i < kDraws; ++i) ++counts[static_cast<size_t>(sampler.fault())];
  for (const StubFault f : {StubFault::kError, StubFault::kClose, StubFault::kReset}) {
    const double share = counts[static_cast<size_t>(f)] / static_cast<double>(kDraws);
    EXPECT_NEAR(share, 0.01, 0.002) << kStubFaultNames[static_cast<size_t>(f)];
  }
  EXPECT_NEAR(counts[0] / static_cast<double>(kDraws), 0.97, 0.006);
}

TEST(StubFaultTest, NoFaultsDrawsNone) {
  StubSampler sampler(StubProfile{}, kSeed);
  for (int i = 0; i < 1000; ++i) ASSERT_EQ(sampler.fault(), StubFault::kNone);
}

}  // namespace
}  // namespace iolab
