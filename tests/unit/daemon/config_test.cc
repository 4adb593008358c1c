#include "daemon/config.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <string>

namespace iolab {
namespace {

std::string error_of(const std::string& yaml) {
  try {
    parse_config(yaml, "iolab.yaml");
  } catch (const ConfigError& e) {
    return e.what();
  }
  return "";
}

TEST(DaemonConfigTest, ReadsEveryKey) {
  const DaemonConfig c = parse_config(R"(
api: {listen: 0.0.0.0:9000, token_file: /etc/iolab/token}
state_dir: /tmp/x
variant: {listen: 127.0.0.1:8081, default: "threads:100"}
upstream:
  listen: 127.0.0.1:8082
  url: http://127.0.0.1:80/
  profile: {delay: 50ms, max_delay: 1s, body_bytes: 100, max_body_bytes: 1000}
load: {allowed_targets: [127.0.0.0/8, 10.0.0.5, localhost], max_connections: 500, max_duration: 30s}
)",
                                      "t.yaml");
  EXPECT_EQ(c.api_listen.to_string(), "0.0.0.0:9000");
  EXPECT_EQ(c.token_file, "/etc/iolab/token");
  EXPECT_EQ(c.state_dir, "/tmp/x");
  EXPECT_EQ(c.variant_listen.port, 8081);
  ASSERT_TRUE(c.variant_default);
  EXPECT_EQ(c.variant_default->name(), "threads:100");
  EXPECT_EQ(c.upstream_listen.port, 8082);
  ASSERT_TRUE(c.upstream_url);
  EXPECT_EQ(c.upstream_url->endpoint.port, 80);
  EXPECT_EQ(c.upstream_profile.delay, std::chrono::milliseconds(50));
  EXPECT_EQ(c.upstream_profile.max_delay, std::chrono::seconds(1));
  EXPECT_EQ(c.upstream_profile.body_bytes, 100u);
  EXPECT_EQ(c.upstream_profile.max_body_bytes, 1000u);
  EXPECT_EQ(c.allowed_targets.size(), 3u);
  EXPECT_EQ(c.max_connections, 500);
  EXPECT_EQ(c.max_duration, std::chrono::seconds(30));
}

TEST(DaemonConfigTest, AnEmptyFileKeepsTheDefaults) {
  const DaemonConfig defaults;
  const DaemonConfig parsed = parse_config("# nothing\n", "t.yaml");
  EXPECT_EQ(parsed.max_connections, defaults.max_connections);
  EXPECT_EQ(parsed.api_listen.to_string(), defaults.api_listen.to_string());
}

TEST(DaemonConfigTest, ErrorsNameFileLineAndKey) {
  struct Case {
    const char* yaml;
    const char* expected;
  };
  const Case cases[] = {
      {"api:\n  listen: 127.0.0.1:1\n  lisen: x\n", "iolab.yaml:3: api.lisen: unknown key"},
      {"nosuch: 1\n", "iolab.yaml:1: nosuch: unknown key"},
      {"api:\n  listen: nowhere\n", "iolab.yaml:2: api.listen: bad address"},
      {"api:\n  listen: 0.0.0.0:7070\n", "iolab.yaml:2: api.listen: a non-loopback address needs"},
      {"variant:\n  default: threads:0\n", "iolab.yaml:2: variant.default:"},
      {"variant:\n  default: nosuch\n", "iolab.yaml:2: variant.default: unknown variant"},
      {"upstream:\n  url: https://x/\n", "iolab.yaml:2: upstream.url:"},
      {"upstream:\n  profile:\n    delay: 5x\n",
       "iolab.yaml:3: upstream.profile.delay: bad duration"},
      {"upstream:\n  profile:\n    body_bytes: -1\n", "iolab.yaml:3: upstream.profile.body_bytes:"},
      {"upstream:\n  profile:\n    colour: red\n",
       "iolab.yaml:3: upstream.profile.colour: unknown key"},
      {"load:\n  max_connections: 0\n", "iolab.yaml:2: load.max_connections: 0 is out of range"},
      {"load:\n  max_connections: many\n",
       "iolab.yaml:2: load.max_connections: expected an integer"},
      {"load:\n  max_duration: 0s\n", "iolab.yaml:2: load.max_duration: bad duration"},
      {"load:\n  allowed_targets: [127.0.0.0/33]\n",
       "iolab.yaml:2: load.allowed_targets[0]: bad entry"},
      {"load:\n  allowed_targets: 127.0.0.1\n",
       "iolab.yaml:2: load.allowed_targets: expected a list"},
      {"state_dir: ''\n", "iolab.yaml:1: state_dir: must not be empty"},
      {"api: [1, 2]\n", "iolab.yaml:1: api: expected a mapping"},
  };
  for (const Case& c : cases) {
    const std::string error = error_of(c.yaml);
    EXPECT_EQ(error.rfind(c.expected, 0), 0u) << c.yaml << "\ngot: " << error;
  }
}

TEST(DaemonConfigTest, AMissingFileIsNamed) {
  try {
    load_config_file("/nonexistent/iolab.yaml");
    FAIL();
  } catch (const ConfigError& e) {
    EXPECT_NE(std::string(e.what()).find("/nonexistent/iolab.yaml"), std::string::npos);
  }
}

TEST(DaemonConfigTest, AllowedTargetsMatchAddressesBlocksAndLocalhost) {
  const std::vector<std::string> allowed{"127.0.0.0/8", "10.1.2.3", "192.168.0.0/16"};
  EXPECT_TRUE(target_allowed(allowed, Endpoint{"127.0.0.1", 80}));
  EXPECT_TRUE(target_allowed(allowed, Endpoint{"127.255.0.9", 80}));
  EXPECT_TRUE(target_allowed(allowed, Endpoint{"localhost", 80}));
  EXPECT_TRUE(target_allowed(allowed, Endpoint{"10.1.2.3", 80}));
  EXPECT_FALSE(target_allowed(allowed, Endpoint{"10.1.2.4", 80}));
  EXPECT_TRUE(target_allowed(allowed, Endpoint{"192.168.44.1", 80}));
  EXPECT_FALSE(target_allowed(allowed, Endpoint{"192.169.0.1", 80}));
  EXPECT_FALSE(target_allowed({"127.0.0.1"}, Endpoint{"127.0.0.2", 80}));
  EXPECT_TRUE(target_allowed({"0.0.0.0/0"}, Endpoint{"8.8.8.8", 80}));
  EXPECT_FALSE(target_allowed(allowed, Endpoint{"not-an-ip", 80}));
}

// Found by config_fuzz: a key that is a list or a mapping escaped as yaml-cpp's BadConversion
// instead of a ConfigError naming the line.
TEST(DaemonConfigTest, AKeyThatIsNotAScalarIsAConfigError) {
  for (const char* yaml : {"[a]: 1\n", "api:\n  {listen: x}: 1\n", "? \n: 1\n"}) {
    try {
      parse_config(yaml, "iolab.yaml");
      ADD_FAILURE() << yaml;
    } catch (const ConfigError& e) {
      EXPECT_NE(std::string(e.what()).find("expected a plain key name"), std::string::npos)
          << e.what();
    }
  }
}

// Found by config_fuzz: a max_body_bytes below the default body_bytes (612) was accepted, and the
// stub served more than its own cap.
TEST(DaemonConfigTest, AMaxBodyBelowTheBodyIsRefused) {
  try {
    parse_config("upstream:\n  profile:\n    max_body_bytes: 100\n", "iolab.yaml");
    ADD_FAILURE();
  } catch (const ConfigError& e) {
    EXPECT_EQ(std::string(e.what()),
              "iolab.yaml:3: upstream.profile.max_body_bytes: is below upstream.profile.body_bytes "
              "(612)");
  }
  const DaemonConfig ok = parse_config(
      "upstream:\n  profile:\n    max_body_bytes: 100\n    body_bytes: 100\n", "iolab.yaml");
  EXPECT_EQ(ok.upstream_profile.body_bytes, 100u);
}

}  // namespace
}  // namespace iolab
