// The shipped config/iolab.yaml: every key present, the documented defaults.
#include <gtest/gtest.h>

#include <string>

#include "daemon/config.h"

namespace iolab {
namespace {

TEST(DaemonConfigFileTest, TheShippedFileParsesToTheDefaults) {
  const DaemonConfig shipped =
      load_config_file(std::string(IOLAB_SOURCE_DIR) + "/config/iolab.yaml");
  const DaemonConfig defaults;
  EXPECT_EQ(shipped.api_listen.to_string(), defaults.api_listen.to_string());
  EXPECT_EQ(shipped.token_file, defaults.token_file);
  EXPECT_EQ(shipped.api_max_connections, defaults.api_max_connections);
  EXPECT_EQ(shipped.state_dir, defaults.state_dir);
  EXPECT_EQ(shipped.variant_listen.to_string(), defaults.variant_listen.to_string());
  EXPECT_FALSE(shipped.variant_default);
  EXPECT_FALSE(shipped.upstream_url);
  EXPECT_EQ(shipped.upstream_profile.delay, defaults.upstream_profile.delay);
  EXPECT_EQ(shipped.upstream_profile.body_bytes, defaults.upstream_profile.body_bytes);
  EXPECT_EQ(shipped.allowed_targets, defaults.allowed_targets);
  EXPECT_EQ(shipped.max_connections, defaults.max_connections);
  EXPECT_EQ(shipped.max_duration, defaults.max_duration);
  EXPECT_EQ(shipped.max_queued_runs, defaults.max_queued_runs);
  EXPECT_EQ(shipped.max_queued_time, defaults.max_queued_time);
}

}  // namespace
}  // namespace iolab
