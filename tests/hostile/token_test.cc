// The token file and the Authorization header: whitespace around the token is not the token's,
// the scheme is case-insensitive (RFC 9110), and a token every user can read is refused.
#include <gtest/gtest.h>

#include "tests/hostile/hostile.h"

namespace iolab::hostile {
namespace {

std::string write_token(const std::string& tag, const std::string& text, fs::perms perms) {
  const fs::path file =
      fs::temp_directory_path() / ("iolab_token_" + tag + "_" + std::to_string(::getpid()));
  std::ofstream(file) << text;
  fs::permissions(file, perms);
  return file.string();
}

int status_with(uint16_t port, const std::string& authorization) {
  httplib::Client client("127.0.0.1", port);
  client.set_connection_timeout(5s);
  client.set_read_timeout(10s);
  const auto r = client.Get("/api/v1/runs", {{"Authorization", authorization}});
  return r ? r->status : 0;
}

TEST(TokenTest, WhitespaceAroundTheTokenIsTrimmedAndTheSchemeIsCaseInsensitive) {
  const std::string file =
      write_token("trim", "  abc \t\n", fs::perms::owner_read | fs::perms::owner_write);
  HostileDaemon daemon("token_trim", "api: {listen: 127.0.0.1:0, token_file: " + file + "}\n");
  const uint16_t port = daemon.port();
  ASSERT_NE(port, 0) << daemon.process().err();
  EXPECT_EQ(status_with(port, "Bearer abc"), 200);
  EXPECT_EQ(status_with(port, "bearer abc"), 200);
  EXPECT_EQ(status_with(port, "BEARER abc"), 200);
  EXPECT_EQ(status_with(port, "Bearer   abc"), 200);  // 1*SP after the scheme (RFC 9110)
  EXPECT_EQ(status_with(port, "Bearer abd"), 401);
  EXPECT_EQ(status_with(port, "Basic abc"), 401);
  EXPECT_EQ(status_with(port, "Bearerabc"), 401);
  EXPECT_EQ(ApiClient(port).get("/healthz").status, 200);
  fs::remove(file);
}

TEST(TokenTest, ATokenFileEveryUserCanReadStopsStartUpNamingIt) {
  const std::string file = write_token("world", "abc\n",
                                       fs::perms::owner_read | fs::perms::owner_write |
                                           fs::perms::group_read | fs::perms::others_read);
  HostileDaemon daemon("token_world", "api: {listen: 127.0.0.1:0, token_file: " + file + "}\n");
  EXPECT_EQ(daemon.port(), 0) << "the daemon started with a world-readable token file";
  int killed_by = -1;
  EXPECT_TRUE(daemon.process().wait_exit(10s, &killed_by));
  const std::string err = daemon.process().err();
  EXPECT_NE(err.find("readable by every user"), std::string::npos) << err;
  EXPECT_NE(err.find(file), std::string::npos) << err;
  fs::remove(file);
}

}  // namespace
}  // namespace iolab::hostile
