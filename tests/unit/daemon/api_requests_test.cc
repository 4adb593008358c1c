#include "daemon/api_requests.h"

#include <gtest/gtest.h>

#include "daemon/api_error.h"

namespace iolab {
namespace {

using namespace std::chrono_literals;

// The ApiError a call throws; fails the test when it throws none.
template <typename Fn>
ApiError refusal(Fn&& fn) {
  try {
    fn();
  } catch (const ApiError& e) {
    return e;
  }
  ADD_FAILURE() << "no ApiError";
  return ApiError(0, "", "");
}

TEST(ApiRequestsTest, ARunBodyFillsDefaultsAndKeepsTheLimits) {
  const DaemonConfig config;
  const RunBody r = run_from_body(
      JsonBody(R"({"connections": 4, "threads": 8})", {"connections", "threads"}), config);
  EXPECT_EQ(r.load.connections, 4);
  EXPECT_EQ(r.load.threads, 4);
  EXPECT_EQ(r.load.duration, 10s);
  EXPECT_FALSE(r.target.has_value());
  const ApiError e = refusal(
      [&] { run_from_body(JsonBody(R"({"connections": 100001})", {"connections"}), config); });
  EXPECT_EQ(e.status(), 422);
  EXPECT_EQ(e.field(), "connections");
}

// Found by api_requests_fuzz: a number too large for a double is nlohmann's out_of_range, not a
// parse_error, and escaped as a 500.
TEST(ApiRequestsTest, ANumberTooLargeForADoubleIsBadJson) {
  const ApiError e = refusal([] { JsonBody(R"({"rate": 1e400})", {"rate"}); });
  EXPECT_EQ(e.status(), 400);
  EXPECT_EQ(e.code(), "bad_json");
}

// Found by api_requests_fuzz: the parse error echoes the body's bytes, and an answer holding
// bytes that are not UTF-8 failed to render.
TEST(ApiRequestsTest, AnErrorEchoingBytesThatAreNotUtf8StillRenders) {
  const ApiError e = refusal([] { JsonBody("{\"target\": \"http://\xff\xfe\"}", {"target"}); });
  EXPECT_EQ(e.code(), "bad_json");
  std::string text;
  EXPECT_NO_THROW(text = render_answer(e.to_json()));
  EXPECT_NE(text.find("bad_json"), std::string::npos);
  EXPECT_EQ(text.back(), '\n');
}

// Found by api_requests_fuzz: YAML is read byte for byte, so an experiment name that is not UTF-8
// reached the run store, whose JSON cannot hold it.
TEST(ApiRequestsTest, AnExperimentBodyThatIsNotUtf8IsRefused) {
  const DaemonConfig config;
  const ApiError e = refusal([&] {
    experiment_from_body("name: \xff\nload: {}\nvariants: [{kind: async}]\n", false, config);
  });
  EXPECT_EQ(e.status(), 400);
  EXPECT_EQ(e.code(), "bad_yaml");
  const ExperimentSpec ok =
      experiment_from_body("name: n\nload: {}\nvariants: [{kind: async}]\n", false, config);
  EXPECT_EQ(ok.name, "n");
}

}  // namespace
}  // namespace iolab
