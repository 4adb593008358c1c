// The engine against answers it did not write, case by case: scripted raw answers, then nginx,
// aiohttp and gunicorn. Each case sends a known number of requests (max_requests) and states
// how many answers and errors of each cause it must count. docs/usage.md ("Reading what servers
// send") says where iolab deliberately counts otherwise than wrk, and why.

#include <gtest/gtest.h>

#include <string>

#include "loadgen/engine.h"
#include "tests/integration/loadgen/outside_servers.h"
#include "tests/integration/loadgen/scripted_server.h"
#include "tests/integration/loadgen/test_servers.h"

namespace iolab {
namespace {

using testing::OutsideServer;
using testing::Script;
using testing::ScriptedServer;

constexpr uint64_t kRequests = 40;

// A bounded run: kRequests requests over `connections`, ended by its last answer (or by the
// deadline, which a correct engine never reaches).
LoadSpec bounded(int port, int connections = 4) {
  LoadSpec spec = testing::spec_for(port, connections, 1);
  spec.max_requests = kRequests;
  spec.duration = 30s;
  spec.timeout = 10s;
  return spec;
}

LoadSpec bounded_post(int port, size_t body_bytes, int connections = 4) {
  LoadSpec spec = bounded(port, connections);
  spec.method = "POST";
  spec.body.assign(body_bytes, 'b');
  return spec;
}

uint64_t errors_but_status(const LoadResult& r) { return r.errors.total() - r.errors.status; }

std::string counts(const LoadResult& r) {
  const ErrorCounts& e = r.errors;
  return std::to_string(r.requests) + " answers; connect " + std::to_string(e.connect) + " read " +
         std::to_string(e.read) + " write " + std::to_string(e.write) + " timeout " +
         std::to_string(e.timeout) + " status " + std::to_string(e.status) + " protocol " +
         std::to_string(e.protocol) + " (" + r.protocol_error + ")";
}

// Every request answered, none failed but by its status.
void expect_all_answered(const LoadResult& r, uint64_t status_errors = 0) {
  EXPECT_EQ(r.requests, kRequests) << counts(r);
  EXPECT_EQ(errors_but_status(r), 0u) << counts(r);
  EXPECT_EQ(r.errors.status, status_errors) << counts(r);
}

// ---- Early answers: before the request's body is all sent -----------------------------------

const std::string k413 =
    "HTTP/1.1 413 Request Entity Too Large\r\nContent-Length: 0\r\nConnection: close\r\n\r\n";
const std::string kOk = "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok";

TEST(ConformanceTest, CountsAnEarlyAnswerFollowedByACloseWithItsStatus) {
  // nginx's 413 for a body over client_max_body_size, scripted: answer after the head, close
  // with the body unread (a reset).
  ScriptedServer server({k413, true, true});
  expect_all_answered(run_load(bounded_post(server.port(), 8 << 20)), kRequests);
}

TEST(ConformanceTest, AbandonsTheBodyAfterAnEarlyAnswerOnAKeptAliveConnection) {
  // A handler that answers without reading the body, on a connection kept alive.
  ScriptedServer server({kOk, true, false});
  expect_all_answered(run_load(bounded_post(server.port(), 8 << 20)));
}

TEST(ConformanceTest, CountsEarlyAnswersInTheOpenLoop) {
  ScriptedServer server({kOk, true, false});
  // Bodies larger than loopback's socket buffers take: the answer comes while one is sent.
  LoadSpec spec = bounded_post(server.port(), 8 << 20, 2);
  spec.rate = 200;
  expect_all_answered(run_load(spec));
}

TEST(ConformanceTest, CountsEveryEarlyAnswerOfAPipelinedBatch) {
  ScriptedServer server({k413, true, true});
  LoadSpec spec = bounded_post(server.port(), 4 << 20, 2);
  spec.pipeline = 4;
  expect_all_answered(run_load(spec), kRequests);
}

// ---- Heads, chunks, codings ------------------------------------------------------------------

TEST(ConformanceTest, ReadsAnAnswerWithAHeaderLineOver64KiB) {
  ScriptedServer server({"HTTP/1.1 200 OK\r\nSet-Cookie: a=" + std::string(100 << 10, 'c') +
                         "\r\nContent-Length: 2\r\n\r\nok"});
  expect_all_answered(run_load(bounded(server.port())));
}

TEST(ConformanceTest, CountsAHeadOverItsLimitAsAProtocolErrorSayingWhere) {
  ScriptedServer server({"HTTP/1.1 200 OK\r\nSet-Cookie: a=" + std::string(100 << 10, 'c') +
                         "\r\nContent-Length: 2\r\n\r\nok"});
  LoadSpec spec = bounded(server.port(), 1);
  spec.max_head_bytes = 64 << 10;
  const LoadResult r = run_load(spec);
  EXPECT_EQ(r.requests, 0u) << counts(r);
  EXPECT_EQ(r.errors.protocol, kRequests) << counts(r);
  EXPECT_EQ(r.errors.read, 0u) << counts(r);
  EXPECT_EQ(r.protocol_error, "response head over its size limit at byte 65,536 of an answer");
}

TEST(ConformanceTest, ReadsAZeroPaddedChunkSize) {
  ScriptedServer server(
      {"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
       "0000000000000005\r\nhello\r\n0\r\n\r\n"});
  expect_all_answered(run_load(bounded(server.port())));
}

TEST(ConformanceTest, FramesTransferEncodingIdentityByContentLength) {
  ScriptedServer server(
      {"HTTP/1.1 200 OK\r\nTransfer-Encoding: identity\r\nContent-Length: 2\r\n\r\nok"});
  LoadSpec spec = bounded(server.port());
  spec.timeout = 2s;  // Waiting for a close that never comes would time out.
  expect_all_answered(run_load(spec));
}

TEST(ConformanceTest, CountsEveryRequestOfALostPipelinedBatch) {
  ScriptedServer server({"", false, false, true});
  LoadSpec spec = bounded(server.port(), 1);
  spec.max_requests = 16;
  spec.pipeline = 16;
  spec.timeout = 300ms;
  const LoadResult r = run_load(spec);
  EXPECT_EQ(r.requests, 0u) << counts(r);
  EXPECT_EQ(r.errors.timeout, 16u) << counts(r);
  EXPECT_EQ(r.errors.total(), 16u) << counts(r);
}

TEST(ConformanceTest, CountsGarbageAsAProtocolErrorWithItsReason) {
  ScriptedServer server({"hello\r\n\r\n"});
  const LoadResult r = run_load(bounded(server.port(), 1));
  EXPECT_EQ(r.requests, 0u) << counts(r);
  EXPECT_EQ(r.errors.protocol, kRequests) << counts(r);
  EXPECT_EQ(r.errors.read, 0u) << counts(r);
  EXPECT_EQ(r.protocol_error, "not an HTTP/1.x response at byte 0 of an answer");
}

// ---- Where iolab counts otherwise than wrk (docs/usage.md) -----------------------------------

struct Case {
  const char* name;
  const char* method;
  std::string answer;
};

TEST(ConformanceTest, CountsAnswersWrkMiscounts) {
  const Case cases[] = {
      {"HEAD with a body's Content-Length", "HEAD",
       "HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n"},
      {"1xx before the answer", "GET", "HTTP/1.1 100 Continue\r\n\r\n" + kOk},
      {"304 with a Content-Length", "GET",
       "HTTP/1.1 304 Not Modified\r\nContent-Length: 100\r\n\r\n"},
      {"close-delimited body", "GET", "HTTP/1.1 200 OK\r\n\r\nok"},
      {"LF-only line ends", "GET", "HTTP/1.1 200 OK\nContent-Length: 2\n\nok"},
      {"equal duplicate Content-Length", "GET",
       "HTTP/1.1 200 OK\r\nContent-Length: 2\r\nContent-Length: 2\r\n\r\nok"},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.name);
    const bool close_delimited = std::string(c.name) == "close-delimited body";
    ScriptedServer server({c.answer, false, close_delimited});
    LoadSpec spec = bounded(server.port());
    spec.method = c.method;
    expect_all_answered(run_load(spec));
  }
}

// ---- Real servers -------------------------------------------------------------------------

TEST(ConformanceTest, NginxAnswers413ToABodyOverItsLimit) {
  const OutsideServer nginx =
      testing::start_nginx("client_max_body_size 1m;\n location / { return 200 'ok'; }");
  ASSERT_TRUE(nginx.ready()) << nginx.why_not();
  expect_all_answered(run_load(bounded_post(nginx.port(), 8 << 20)), kRequests);
}

TEST(ConformanceTest, AiohttpHeaderOver64KiB) {
  // nginx cannot send one: its configuration refuses a parameter that long.
  const OutsideServer aiohttp = testing::start_aiohttp();
  ASSERT_TRUE(aiohttp.ready()) << aiohttp.why_not();
  LoadSpec spec = bounded(aiohttp.port());
  spec.target.target = "/big";
  expect_all_answered(run_load(spec));
}

TEST(ConformanceTest, AiohttpHandlerThatNeverReadsTheBody) {
  const OutsideServer aiohttp = testing::start_aiohttp();
  ASSERT_TRUE(aiohttp.ready()) << aiohttp.why_not();
  expect_all_answered(run_load(bounded_post(aiohttp.port(), 8 << 20)));
}

TEST(ConformanceTest, GunicornSyncWorkerThatNeverReadsTheBody) {
  const OutsideServer gunicorn = testing::start_gunicorn();
  ASSERT_TRUE(gunicorn.ready()) << gunicorn.why_not();
  expect_all_answered(run_load(bounded_post(gunicorn.port(), 4 << 20)));
}

}  // namespace
}  // namespace iolab
