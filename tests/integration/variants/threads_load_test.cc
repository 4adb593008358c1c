// The load engine against the real variant and stub: what one side counts, the other counts too.
#include <gtest/gtest.h>

#include "loadgen/engine.h"
#include "variants/stub.h"
#include "variants/threads_variant.h"

namespace iolab {
namespace {

Url url_for(uint16_t port, const std::string& path) {
  return *parse_url("http://127.0.0.1:" + std::to_string(port) + path);
}

TEST(ThreadsLoadTest, EngineCountEqualsWhatTheVariantAndStubServed) {
  UpstreamStub stub(StubProfile{.delay = 5ms});
  stub.start(Endpoint{"127.0.0.1", 0});
  ThreadsVariant variant(8, UpstreamOptions{.url = url_for(stub.port(), "/")});
  const uint16_t port = variant.start(Endpoint{"127.0.0.1", 0});

  LoadSpec spec;
  spec.target = url_for(port, "/remote");
  spec.connections = 16;
  spec.threads = 2;
  spec.duration = 20s;
  spec.max_requests = 600;
  const LoadResult result = run_load(spec);
  EXPECT_EQ(result.requests, 600u);
  EXPECT_EQ(result.errors.total(), 0u);
  EXPECT_EQ(variant.requests_served(), 600u);
  EXPECT_EQ(stub.requests_served(), 600u);
  EXPECT_EQ(result.latency.count(), 600u);
  EXPECT_GE(result.latency.min(), 5ms);
}

TEST(ThreadsLoadTest, ThroughputStaysWithinTheModelBound) {
  // 4 threads, 50 ms upstream: at most 4 / 0.05 = 80 answers a second, however many connections.
  UpstreamStub stub(StubProfile{.delay = 50ms});
  stub.start(Endpoint{"127.0.0.1", 0});
  ThreadsVariant variant(4, UpstreamOptions{.url = url_for(stub.port(), "/")});
  const uint16_t port = variant.start(Endpoint{"127.0.0.1", 0});

  LoadSpec spec;
  spec.target = url_for(port, "/remote");
  spec.connections = 20;
  spec.threads = 1;
  spec.warmup = 500ms;
  spec.duration = 2s;
  const LoadResult result = run_load(spec);
  const double bound = 4 / 0.05;
  // The upper limit is a hard property of the model (plus the requests in flight at the start of
  // the window); the lower one leaves room for a loaded machine.
  EXPECT_LE(result.rps(), bound * 1.02 + 4 / 2.0);
  EXPECT_GE(result.rps(), bound * 0.7);
  EXPECT_GE(result.latency.min(), 50ms);
}

}  // namespace
}  // namespace iolab
