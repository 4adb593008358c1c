// Segments: shares of a whole run that add up to it exactly, and how a process finds its own.
#include "loadgen/segment.h"

#include <gtest/gtest.h>

#include <map>
#include <string>
#include <vector>

#include "loadgen/load_spec.h"

namespace iolab {
namespace {

// Totals that do not divide evenly, and the edges.
const std::vector<uint64_t> kTotals = {
    0,  1,  2,   3,    7,    10,    63,        64,
    65, 97, 400, 1000, 9973, 30000, 1'000'003, 18'446'744'073'709'551'557ULL};

TEST(SegmentTest, EqualSharesOfAnyTotalAddUpExactlyAndTileIt) {
  for (uint64_t n = 1; n <= 64; ++n) {
    for (const uint64_t total : kTotals) {
      uint64_t sum = 0;
      uint64_t next_first = 0;
      for (uint64_t i = 0; i < n; ++i) {
        const Segment s = Segment::nth(i, n);
        EXPECT_EQ(s.first_of(total), next_first) << i << "/" << n << " of " << total;
        next_first = s.first_of(total) + s.share_of(total);
        sum += s.share_of(total);
        // Equal shares differ by at most one.
        EXPECT_LE(s.share_of(total), total / n + 1);
        EXPECT_GE(s.share_of(total), total / n);
      }
      EXPECT_EQ(sum, total) << n << " segments of " << total;
    }
  }
}

TEST(SegmentTest, UnequalSharesOfASequenceAddUpExactly) {
  for (const char* text :
       {"0,1/4,1", "0,1/3,1/2,0.9,1", "0,0.001,0.5,0.999,1", "0,1/7,2/7,3/7,4/7,5/7,6/7,1"}) {
    const auto sequence = parse_segment_sequence(text);
    ASSERT_TRUE(sequence) << text;
    for (const uint64_t total : kTotals) {
      uint64_t sum = 0;
      for (uint64_t i = 0; i + 1 < sequence->size(); ++i) {
        sum += segment_of_sequence(*sequence, i)->share_of(total);
      }
      EXPECT_EQ(sum, total) << text << " of " << total;
    }
    EXPECT_FALSE(segment_of_sequence(*sequence, sequence->size() - 1));
  }
}

TEST(SegmentTest, ASpecSplitsConnectionsRateAndRequestsWithoutLoss) {
  LoadSpec whole;
  whole.connections = 1000;
  whole.threads = 4;
  whole.rate = 12345.5;
  whole.max_requests = 99991;
  for (uint64_t n = 1; n <= 64; ++n) {
    int connections = 0;
    double rate = 0;
    uint64_t requests = 0;
    for (uint64_t i = 0; i < n; ++i) {
      const LoadSpec part = segment_spec(whole, Segment::nth(i, n));
      connections += part.connections;
      rate += part.rate;
      requests += part.max_requests;
      ASSERT_TRUE(part.segment);
      EXPECT_EQ(part.segment->whole_connections, 1000);
      EXPECT_EQ(part.segment->whole_rate, whole.rate);
      EXPECT_LE(part.threads, part.connections);
    }
    EXPECT_EQ(connections, 1000);
    EXPECT_NEAR(rate, whole.rate, 1e-9 * whole.rate);
    EXPECT_EQ(requests, whole.max_requests);
  }
}

TEST(SegmentTest, ASegmentWithoutConnectionsIsRefusedNamingIt) {
  LoadSpec whole;
  whole.connections = 3;
  try {
    (void)segment_spec(whole, Segment::nth(1, 4));  // floor(3/2) - floor(3/4) = 1
    (void)segment_spec(whole, Segment::nth(0, 4));  // floor(3/4) - 0 = 0
    FAIL() << "a segment with no connection was accepted";
  } catch (const RunError& e) {
    EXPECT_NE(std::string(e.what()).find("gets none of them"), std::string::npos) << e.what();
  }
}

TEST(SegmentTest, ParsesBothFormsAndNamesWhatIsWrong) {
  EXPECT_EQ(Segment::parse("0/3")->to_string(), "0:1/3");
  EXPECT_EQ(Segment::parse("2/3")->to_string(), "2/3:1");
  EXPECT_EQ(Segment::parse("1/4:0.5")->to_string(), "1/4:1/2");
  EXPECT_EQ(Segment::parse("0:1")->to_string(), "0:1");
  EXPECT_TRUE(Segment::parse("0:1")->whole());
  const std::map<std::string, std::string> bad = {
      {"3/3", "0-based"},           {"1/0", "neither I/N"},      {"x", "neither I/N"},
      {"1/2:1/3", "below its end"}, {"0:3/2", "above 1"},        {"0:1/x", "not a fraction"},
      {"-1/3", "neither I/N"},      {"0.5:0.5", "below its end"}};
  for (const auto& [text, why] : bad) {
    std::string error;
    EXPECT_FALSE(Segment::parse(text, &error)) << text;
    EXPECT_NE(error.find(why), std::string::npos) << text << ": " << error;
  }
  for (const char* text : {"0,1", "0,1/2,1"}) EXPECT_TRUE(parse_segment_sequence(text)) << text;
  for (const char* text : {"1/2,1", "0,1/2", "0,1/2,1/3,1", "0,,1", ""}) {
    EXPECT_FALSE(parse_segment_sequence(text)) << text;
  }
}

// choose_segment() with a fake environment.
std::optional<SegmentChoice> choose(const SegmentFlags& flags,
                                    std::map<std::string, std::string> env) {
  return choose_segment(flags, [env = std::move(env)](const char* name) -> const char* {
    const auto it = env.find(name);
    return it == env.end() ? nullptr : it->second.c_str();
  });
}

TEST(SegmentTest, TheRankComesFromTheEngineThatStartedTheProcess) {
  EXPECT_FALSE(choose({}, {{"SLURM_PROCID", "1"}, {"SLURM_NTASKS", "3"}}))
      << "no segment flag: the whole run, whatever the environment";
  auto c = choose({"", "auto", ""}, {{"SLURM_PROCID", "1"}, {"SLURM_NTASKS", "3"}});
  EXPECT_EQ(c->segment, Segment::nth(1, 3));
  EXPECT_EQ(c->rank_from, "SLURM_PROCID");
  c = choose({"", "4", ""}, {{"JOB_COMPLETION_INDEX", "3"}});
  EXPECT_EQ(c->segment, Segment::nth(3, 4));
  EXPECT_EQ(c->rank_from, "JOB_COMPLETION_INDEX");
  c = choose({"", "auto", ""}, {{"OMPI_COMM_WORLD_RANK", "0"}, {"OMPI_COMM_WORLD_SIZE", "2"}});
  EXPECT_EQ(c->segment, Segment::nth(0, 2));
  c = choose({"", "", "0,1/4,1"}, {{"SLURM_PROCID", "1"}, {"SLURM_NTASKS", "2"}});
  EXPECT_EQ(c->segment.to_string(), "1/4:1");
  c = choose({"1/4:1", "", "0,1/4,1"}, {});
  EXPECT_EQ(c->rank_from, "--segment");
  // What is wrong, named.
  const std::vector<std::pair<SegmentFlags, std::map<std::string, std::string>>> bad = {
      {{"", "3", ""}, {}},                                                   // no engine
      {{"", "auto", ""}, {{"JOB_COMPLETION_INDEX", "0"}}},                   // no count
      {{"", "3", ""}, {{"SLURM_PROCID", "0"}, {"SLURM_NTASKS", "2"}}},       // disagree
      {{"", "2", ""}, {{"JOB_COMPLETION_INDEX", "2"}}},                      // past the end
      {{"", "2", ""}, {{"JOB_COMPLETION_INDEX", "x"}}},                      // not a number
      {{"0/2", "2", ""}, {}},                                                // both flags
      {{"0:1/3", "", "0,1/4,1"}, {}},                                        // not in sequence
      {{"", "", "0,1/4,1"}, {{"SLURM_PROCID", "0"}, {"SLURM_NTASKS", "3"}}}  // sizes differ
  };
  for (const auto& [flags, env] : bad) {
    EXPECT_THROW(choose(flags, env), std::invalid_argument)
        << flags.segment << " " << flags.segments << " " << flags.sequence;
  }
}

}  // namespace
}  // namespace iolab
