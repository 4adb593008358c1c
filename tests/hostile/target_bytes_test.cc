// Targets holding bytes HTTP does not allow in a request target: refused with 422 naming the
// field, never sent on the wire nor made a metric label.
#include <gtest/gtest.h>

#include "tests/hostile/hostile.h"

namespace iolab::hostile {
namespace {

TEST(TargetBytesTest, NulControlCrLfSpaceAndNonAsciiInATargetAre422NamingTheField) {
  HostileDaemon daemon("target_bytes");
  ASSERT_NE(daemon.port(), 0) << daemon.process().err();
  ApiClient api(daemon.port());
  const std::string base = "http://127.0.0.1:9/";
  for (const std::string& bytes :
       {std::string("a\0b", 3), std::string("a\x01"), std::string("a\r\nX-Injected: 1"),
        std::string("a b"), std::string("caf\xc3\xa9"), std::string("a\x7f")}) {
    const auto r = api.post("/api/v1/runs",
                            {{"target", base + bytes}, {"connections", 1}, {"duration", "10ms"}});
    SCOPED_TRACE(json(base + bytes).dump());
    EXPECT_EQ(r.status, 422) << r.text;
    EXPECT_EQ(r.body.value("/error/code"_json_pointer, ""), "bad_url") << r.text;
    EXPECT_EQ(r.body.value("/error/field"_json_pointer, ""), "target") << r.text;
  }
  // Nothing was queued.
  EXPECT_EQ(api.get("/api/v1/runs").body["runs"].size(), 0u);
}

}  // namespace
}  // namespace iolab::hostile
