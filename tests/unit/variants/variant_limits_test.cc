#include <gtest/gtest.h>

#include <string>

#include "variants/variant.h"

namespace iolab {
namespace {

using Reason = VariantLimitError::Reason;

TEST(VariantLimitsTest, AcceptsTheEndsOfEveryRange) {
  EXPECT_FALSE(VariantLimits::check("threads", VariantField::kThreads, 1));
  EXPECT_FALSE(VariantLimits::check("threads", VariantField::kThreads, 10000));
  EXPECT_FALSE(VariantLimits::check("async", VariantField::kWorkers, 1));
  EXPECT_FALSE(VariantLimits::check("async", VariantField::kWorkers, 64));
  EXPECT_FALSE(VariantLimits::check("async", VariantField::kPoolSize, 0));
  EXPECT_FALSE(VariantLimits::check("async", VariantField::kPoolSize, 1000000));
  EXPECT_FALSE(VariantLimits::check("fiber", VariantField::kStackBytes, 16 * 1024));
  EXPECT_FALSE(VariantLimits::check("fiber-blocking", VariantField::kStackBytes, 64 << 20));
}

TEST(VariantLimitsTest, NamesTheFieldAndTheRangeOfAValueJustOutside) {
  struct Case {
    const char* kind;
    VariantField field;
    int64_t value;
    const char* text;
  };
  const Case cases[] = {
      {"threads", VariantField::kThreads, 0, "threads must be between 1 and 10000, got 0"},
      {"threads", VariantField::kThreads, 10001, "threads must be between 1 and 10000, got 10001"},
      {"threads", VariantField::kWorkers, 0, "workers must be between 1 and 64, got 0"},
      {"fiber", VariantField::kWorkers, 65, "workers must be between 1 and 64, got 65"},
      {"async", VariantField::kPoolSize, -1, "pool_size must be between 0 and 1000000, got -1"},
      {"async", VariantField::kPoolSize, 1000001,
       "pool_size must be between 0 and 1000000, got 1000001"},
      {"fiber", VariantField::kStackBytes, 16 * 1024 - 1,
       "stack_bytes must be between 16384 and 67108864, got 16383"},
      {"fiber-blocking", VariantField::kStackBytes, (64 << 20) + 1,
       "stack_bytes must be between 16384 and 67108864, got 67108865"},
  };
  for (const Case& c : cases) {
    const auto error = VariantLimits::check(c.kind, c.field, c.value);
    ASSERT_TRUE(error) << c.text;
    EXPECT_EQ(error->field, c.field);
    EXPECT_EQ(error->reason, Reason::kOutOfRange);
    EXPECT_EQ(error->value, c.value);
    EXPECT_EQ(error->min, VariantLimits::range(c.field).min);
    EXPECT_EQ(error->max, VariantLimits::range(c.field).max);
    EXPECT_EQ(error->to_string(), c.text);
    // Without the name, so that a caller can put its own (a flag, a YAML key) first.
    EXPECT_EQ(std::string(variant_field_name(c.field)) + " " + error->message, c.text);
  }
}

TEST(VariantLimitsTest, RefusesAFieldTheKindDoesNotTakeWhateverItsValue) {
  struct Case {
    const char* kind;
    VariantField field;
    const char* text;
  };
  const Case cases[] = {
      {"async", VariantField::kThreads, "only kind 'threads' takes threads"},
      {"fiber", VariantField::kThreads, "only kind 'threads' takes threads"},
      {"threads", VariantField::kPoolSize, "only kind 'async' has a pool"},
      {"fiber-blocking", VariantField::kPoolSize, "only kind 'async' has a pool"},
      {"threads", VariantField::kStackBytes, "only fiber kinds have stacks"},
      {"async", VariantField::kStackBytes, "only fiber kinds have stacks"},
  };
  for (const Case& c : cases) {
    // In range or not, the kind does not take it: that is what is wrong.
    const auto error = VariantLimits::check(c.kind, c.field, VariantLimits::range(c.field).min);
    ASSERT_TRUE(error) << c.text;
    EXPECT_EQ(error->field, c.field);
    EXPECT_EQ(error->reason, Reason::kNotApplicable);
    EXPECT_EQ(error->to_string(), c.text);
  }
}

TEST(VariantLimitsTest, EveryKindTakesWorkers) {
  for (const auto& kind : variant_kinds()) {
    EXPECT_TRUE(VariantLimits::applies(kind, VariantField::kWorkers)) << kind;
  }
  EXPECT_TRUE(VariantLimits::applies("fiber", VariantField::kStackBytes));
  EXPECT_TRUE(VariantLimits::applies("fiber-blocking", VariantField::kStackBytes));
  EXPECT_FALSE(VariantLimits::applies("fiber", VariantField::kPoolSize));
}

TEST(VariantLimitsTest, AcceptsEveryParsedKindWithItsDefaults) {
  for (const std::string kind : {"threads:100", "async", "fiber", "fiber-blocking"}) {
    const auto spec = parse_variant(kind);
    ASSERT_TRUE(spec) << kind;
    EXPECT_FALSE(VariantLimits::check(*spec)) << kind;
  }
}

TEST(VariantLimitsTest, ChecksAWholeSpecFieldByFieldInOrder) {
  VariantSpec spec = *parse_variant("threads:100");
  spec.workers = 65;
  spec.pool_size = 5;
  auto error = VariantLimits::check(spec);
  ASSERT_TRUE(error);
  EXPECT_EQ(error->field, VariantField::kWorkers);

  spec.workers = 2;
  error = VariantLimits::check(spec);
  ASSERT_TRUE(error);
  EXPECT_EQ(error->field, VariantField::kPoolSize);
  EXPECT_EQ(error->reason, Reason::kNotApplicable);

  VariantSpec fiber = *parse_variant("fiber");
  fiber.stack_bytes = 8 * 1024;
  error = VariantLimits::check(fiber);
  ASSERT_TRUE(error);
  EXPECT_EQ(error->to_string(), "stack_bytes must be between 16384 and 67108864, got 8192");

  VariantSpec async = *parse_variant("async");
  async.pool_size = 64;
  EXPECT_FALSE(VariantLimits::check(async));
  async.stack_bytes = 128 * 1024;
  error = VariantLimits::check(async);
  ASSERT_TRUE(error);
  EXPECT_EQ(error->to_string(), "only fiber kinds have stacks");
}

TEST(VariantLimitsTest, AStackTooLargeForInt64IsOutOfRangeNotAccepted) {
  VariantSpec fiber = *parse_variant("fiber");
  fiber.stack_bytes = ~size_t{0};
  const auto error = VariantLimits::check(fiber);
  ASSERT_TRUE(error);
  EXPECT_EQ(error->reason, Reason::kOutOfRange);
}

TEST(VariantLimitsTest, ParseVariantTakesItsThreadRangeFromTheLimits) {
  std::string error;
  EXPECT_EQ(parse_variant("threads:1")->threads, 1);
  EXPECT_EQ(parse_variant("threads:10000")->threads, 10000);
  for (const char* bad : {"threads:0", "threads:10001", "threads:-1", "threads:x",
                          "threads:", "threads:99999999999999999999"}) {
    EXPECT_FALSE(parse_variant(bad, &error)) << bad;
    EXPECT_EQ(error, "bad thread count in variant '" + std::string(bad) + "' (1..10000)");
  }
  EXPECT_FALSE(parse_variant("threads", &error));
  EXPECT_EQ(error, "variant 'threads' needs a pool size, as in threads:100");
  EXPECT_FALSE(parse_variant("async:3", &error));
  EXPECT_EQ(error, "variant 'async' takes no parameter");
}

}  // namespace
}  // namespace iolab
