#include "core/response_parser.h"

#include <gtest/gtest.h>

#include <string>
#include <string_view>

namespace iolab {
namespace {

using Outcome = ResponseParser::Outcome;

// Feeds `bytes` in pieces of `step` bytes; returns the outcome of the last piece fed and the
// offset just past the consumed bytes of that piece within `bytes`.
struct Fed {
  Outcome outcome;
  size_t end;
};

Fed feed_in_steps(ResponseParser& parser, std::string_view bytes, size_t step) {
  size_t offset = 0;
  while (offset < bytes.size()) {
    const size_t n = std::min(step, bytes.size() - offset);
    const auto result = parser.feed(bytes.data() + offset, n);
    if (result.outcome != Outcome::kNeedMore) return {result.outcome, offset + result.consumed};
    offset += n;
  }
  return {Outcome::kNeedMore, offset};
}

constexpr std::string_view kContentLengthResponse =
    "HTTP/1.1 200 OK\r\nContent-Length: 5\r\nContent-Type: text/plain\r\n\r\nhello";

constexpr std::string_view kChunkedResponse =
    "HTTP/1.1 200 OK\r\n"
    "Transfer-Encoding: chunked\r\n"
    "\r\n"
    "5;name=value\r\nhello\r\n"
    "1A\r\nabcdefghijklmnopqrstuvwxyz\r\n"
    "0\r\n"
    "X-Checksum: abc\r\n"
    "\r\n";

TEST(ResponseParserTest, ParsesContentLengthBody) {
  ResponseParser parser;
  const auto result = parser.feed(kContentLengthResponse.data(), kContentLengthResponse.size());
  EXPECT_EQ(result.outcome, Outcome::kComplete);
  EXPECT_EQ(result.consumed, kContentLengthResponse.size());
  EXPECT_EQ(parser.status(), 200);
  EXPECT_FALSE(parser.should_close());
  EXPECT_FALSE(parser.in_progress());
}

TEST(ResponseParserTest, NeedsMoreUntilTheBodyIsWhole) {
  ResponseParser parser;
  const std::string_view head = kContentLengthResponse.substr(0, kContentLengthResponse.size() - 2);
  const auto first = parser.feed(head.data(), head.size());
  EXPECT_EQ(first.outcome, Outcome::kNeedMore);
  EXPECT_EQ(first.consumed, head.size());
  EXPECT_TRUE(parser.in_progress());
  const auto rest = parser.feed("lo", 2);
  EXPECT_EQ(rest.outcome, Outcome::kComplete);
  EXPECT_EQ(rest.consumed, 2u);
}

TEST(ResponseParserTest, ParsesChunkedBodyWithExtensionsAndTrailers) {
  ResponseParser parser;
  const auto result = parser.feed(kChunkedResponse.data(), kChunkedResponse.size());
  EXPECT_EQ(result.outcome, Outcome::kComplete);
  EXPECT_EQ(result.consumed, kChunkedResponse.size());
  EXPECT_EQ(parser.status(), 200);
  EXPECT_FALSE(parser.should_close());
}

TEST(ResponseParserTest, ParsesChunkedBodySplitAcrossReads) {
  for (size_t step = 2; step < kChunkedResponse.size(); step += 7) {
    ResponseParser parser;
    const Fed fed = feed_in_steps(parser, kChunkedResponse, step);
    EXPECT_EQ(fed.outcome, Outcome::kComplete) << "step " << step;
    EXPECT_EQ(fed.end, kChunkedResponse.size()) << "step " << step;
  }
}

TEST(ResponseParserTest, ParsesEveryResponseFedByteByByte) {
  for (const std::string_view response : {kContentLengthResponse, kChunkedResponse}) {
    ResponseParser parser;
    const Fed fed = feed_in_steps(parser, response, 1);
    EXPECT_EQ(fed.outcome, Outcome::kComplete) << response;
    EXPECT_EQ(fed.end, response.size()) << response;
    EXPECT_EQ(parser.status(), 200);
  }
}

TEST(ResponseParserTest, LeavesThePipelinedNextResponseUnconsumed) {
  const std::string both =
      std::string(kContentLengthResponse) + "HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n";
  ResponseParser parser;
  const auto first = parser.feed(both.data(), both.size());
  ASSERT_EQ(first.outcome, Outcome::kComplete);
  EXPECT_EQ(first.consumed, kContentLengthResponse.size());
  EXPECT_EQ(parser.status(), 200);

  const auto second = parser.feed(both.data() + first.consumed, both.size() - first.consumed);
  ASSERT_EQ(second.outcome, Outcome::kComplete);
  EXPECT_EQ(second.consumed, both.size() - first.consumed);
  EXPECT_EQ(parser.status(), 404);
}

TEST(ResponseParserTest, ReportsConnectionClose) {
  constexpr std::string_view kResponse =
      "HTTP/1.1 200 OK\r\nConnection: Keep-Alive, Close\r\nContent-Length: 0\r\n\r\n";
  ResponseParser parser;
  ASSERT_EQ(parser.feed(kResponse.data(), kResponse.size()).outcome, Outcome::kComplete);
  EXPECT_TRUE(parser.should_close());
}

TEST(ResponseParserTest, ClosesAfterHttp10UnlessKeptAlive) {
  constexpr std::string_view kPlain = "HTTP/1.0 200 OK\r\nContent-Length: 2\r\n\r\nok";
  constexpr std::string_view kKeptAlive =
      "HTTP/1.0 200 OK\r\nConnection: keep-alive\r\nContent-Length: 2\r\n\r\nok";
  ResponseParser parser;
  ASSERT_EQ(parser.feed(kPlain.data(), kPlain.size()).outcome, Outcome::kComplete);
  EXPECT_TRUE(parser.should_close());
  ASSERT_EQ(parser.feed(kKeptAlive.data(), kKeptAlive.size()).outcome, Outcome::kComplete);
  EXPECT_FALSE(parser.should_close());
}

TEST(ResponseParserTest, CompletesNoContentWithoutABody) {
  constexpr std::string_view kResponse = "HTTP/1.1 204 No Content\r\nContent-Length: 10\r\n\r\n";
  ResponseParser parser;
  const auto result = parser.feed(kResponse.data(), kResponse.size());
  EXPECT_EQ(result.outcome, Outcome::kComplete);
  EXPECT_EQ(result.consumed, kResponse.size());
  EXPECT_EQ(parser.status(), 204);
}

TEST(ResponseParserTest, SkipsInterimResponsesToTheFinalOne) {
  constexpr std::string_view kResponse =
      "HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 201 Created\r\nContent-Length: 0\r\n\r\n";
  ResponseParser parser;
  const auto result = parser.feed(kResponse.data(), kResponse.size());
  EXPECT_EQ(result.outcome, Outcome::kComplete);
  EXPECT_EQ(result.consumed, kResponse.size());
  EXPECT_EQ(parser.status(), 201);
}

TEST(ResponseParserTest, CompletesACloseDelimitedBodyOnEof) {
  constexpr std::string_view kResponse = "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n\r\nsome";
  ResponseParser parser;
  EXPECT_EQ(parser.feed(kResponse.data(), kResponse.size()).outcome, Outcome::kNeedMore);
  EXPECT_EQ(parser.feed(" more", 5).outcome, Outcome::kNeedMore);
  EXPECT_TRUE(parser.on_eof());
  EXPECT_EQ(parser.status(), 200);
  EXPECT_TRUE(parser.should_close());
  EXPECT_FALSE(parser.in_progress());
}

TEST(ResponseParserTest, EofMidResponseIsNotComplete) {
  ResponseParser parser;
  EXPECT_EQ(parser.feed(kContentLengthResponse.data(), 20).outcome, Outcome::kNeedMore);
  EXPECT_FALSE(parser.on_eof());
  EXPECT_TRUE(parser.in_progress());
}

TEST(ResponseParserTest, EofBetweenResponsesIsNotInProgress) {
  ResponseParser parser;
  EXPECT_FALSE(parser.on_eof());
  EXPECT_FALSE(parser.in_progress());
  ASSERT_EQ(parser.feed(kContentLengthResponse.data(), kContentLengthResponse.size()).outcome,
            Outcome::kComplete);
  EXPECT_FALSE(parser.on_eof());
  EXPECT_FALSE(parser.in_progress());
}

TEST(ResponseParserTest, RejectsGarbage) {
  constexpr std::string_view kGarbage = "hello there\r\n\r\n";
  ResponseParser parser;
  EXPECT_EQ(parser.feed(kGarbage.data(), kGarbage.size()).outcome, Outcome::kError);
  EXPECT_FALSE(parser.error().empty());
  // Sticky until reset.
  EXPECT_EQ(parser.feed(kContentLengthResponse.data(), kContentLengthResponse.size()).outcome,
            Outcome::kError);
  parser.reset();
  EXPECT_EQ(parser.feed(kContentLengthResponse.data(), kContentLengthResponse.size()).outcome,
            Outcome::kComplete);
}

TEST(ResponseParserTest, RejectsGarbageBeforeItsLineEnds) {
  ResponseParser parser;
  EXPECT_EQ(parser.feed("HT", 2).outcome, Outcome::kNeedMore);
  EXPECT_EQ(parser.feed("XP", 2).outcome, Outcome::kError);
}

TEST(ResponseParserTest, RejectsMalformedFraming) {
  const std::string_view cases[] = {
      "HTTP/1.1 2x0 OK\r\n\r\n",
      "HTTP/1.1 200 OK\r\nContent-Length: 12a\r\n\r\n",
      "HTTP/1.1 200 OK\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n",
      "HTTP/1.1 200 OK\r\nno colon here\r\n\r\n",
      "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
      "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nabc\r\n",
      "HTTP/2.0 200 OK\r\n\r\n",
  };
  for (const std::string_view bytes : cases) {
    ResponseParser parser;
    EXPECT_EQ(parser.feed(bytes.data(), bytes.size()).outcome, Outcome::kError) << bytes;
  }
}

// Fed whole, in 100-byte pieces and in 1000-byte pieces: the outcome must not depend on the split.
void expect_outcome_at_every_split(std::string_view bytes, Outcome outcome, size_t max_head = 0) {
  for (const size_t step : {bytes.size(), size_t{100}, size_t{1000}, size_t{1}}) {
    ResponseParser parser;
    if (max_head != 0) parser.set_max_head_bytes(max_head);
    const Fed fed = feed_in_steps(parser, bytes, step);
    EXPECT_EQ(fed.outcome, outcome) << "in pieces of " << step;
    if (outcome == Outcome::kComplete) EXPECT_EQ(fed.end, bytes.size()) << "in pieces of " << step;
  }
}

std::string with_header(std::string_view name, size_t value_bytes, std::string_view rest) {
  return "HTTP/1.1 200 OK\r\n" + std::string(name) + ": " + std::string(value_bytes, 'a') + "\r\n" +
         std::string(rest);
}

TEST(ResponseParserTest, ReadsAHeaderLineOver64KiBWithinTheHeadLimit) {
  // A large Set-Cookie: its length alone is no reason to refuse the answer.
  const std::string response = with_header("Set-Cookie", 100 * 1024, "Content-Length: 2\r\n\r\nok");
  expect_outcome_at_every_split(response, Outcome::kComplete);
}

TEST(ResponseParserTest, RejectsAHeadOverItsLimitSayingWhere) {
  const std::string response = with_header("X-Big", 2000, "Content-Length: 0\r\n\r\n");
  expect_outcome_at_every_split(response, Outcome::kError, 1024);
  ResponseParser parser;  // Fed whole, then in pieces: the same byte.
  parser.set_max_head_bytes(1024);
  ASSERT_EQ(parser.feed(response.data(), response.size()).outcome, Outcome::kError);
  EXPECT_EQ(parser.error(), "response head over its size limit");
  EXPECT_EQ(parser.error_offset(), 1024u);  // The head's first byte over the limit.
  ResponseParser split;
  split.set_max_head_bytes(1024);
  EXPECT_EQ(feed_in_steps(split, response, 7).outcome, Outcome::kError);
  EXPECT_EQ(split.error_offset(), 1024u);
  // The default limit is at least wrk's 80 KiB.
  EXPECT_GE(ResponseParser::kDefaultMaxHeadBytes, size_t{80} * 1024);
}

TEST(ResponseParserTest, RejectsAFramingHeaderLineOver8KiB) {
  // Content-Length, Transfer-Encoding and Connection are read, so their lines must fit the
  // buffer; anywhere the reads split them.
  for (const std::string_view name : {"Content-Length", "transfer-encoding", "Connection"}) {
    const std::string response = "HTTP/1.1 200 OK\r\n" + std::string(name) + ":" +
                                 std::string(ResponseParser::kLineBufferBytes, ' ') + "0\r\n\r\n";
    expect_outcome_at_every_split(response, Outcome::kError);
  }
}

TEST(ResponseParserTest, SkipsLongTrailersAndFoldedLines) {
  const std::string trailer(20 * 1024, 't');
  const std::string response = "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nX-A: 1\r\n " +
                               trailer + "\r\n\r\n2\r\nok\r\n0\r\nX-T: " + trailer + "\r\n\r\n";
  expect_outcome_at_every_split(response, Outcome::kComplete);
}

TEST(ResponseParserTest, AcceptsAHeaderLineJustUnder8KiBSplitAcrossReads) {
  const std::string head = with_header("Content-Type", ResponseParser::kLineBufferBytes - 20,
                                       "Content-Length: 0\r\n\r\n");
  ResponseParser parser;
  const Fed fed = feed_in_steps(parser, head, 1000);
  EXPECT_EQ(fed.outcome, Outcome::kComplete);
  EXPECT_EQ(fed.end, head.size());
}

TEST(ResponseParserTest, ReadsZeroPaddedChunkSizes) {
  // RFC 9112 7.1: chunk-size = 1*HEXDIG; leading zeros are digits like any other.
  const std::string_view response =
      "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
      "0000000000000005\r\nhello\r\n00000000000000000000\r\n\r\n";
  expect_outcome_at_every_split(response, Outcome::kComplete);
  ResponseParser parser;
  parser.feed(response.data(), response.size());
  EXPECT_EQ(parser.body_bytes(), 5u);
  // Sixteen significant digits are still too many.
  const std::string_view huge =
      "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n1000000000000000\r\n";
  expect_outcome_at_every_split(huge, Outcome::kError);
}

TEST(ResponseParserTest, FramesTransferEncodingIdentityByItsContentLength) {
  const std::string_view response =
      "HTTP/1.1 200 OK\r\nTransfer-Encoding: identity\r\nContent-Length: 5\r\n\r\nhello";
  ResponseParser parser;
  const auto result = parser.feed(response.data(), response.size());
  EXPECT_EQ(result.outcome, Outcome::kComplete);
  EXPECT_EQ(result.consumed, response.size());
  EXPECT_FALSE(parser.should_close());
  // Another coding still makes the body run to the close (RFC 9112 6.3).
  const std::string_view gzip =
      "HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\nContent-Length: 5\r\n\r\nhello";
  ResponseParser other;
  EXPECT_EQ(other.feed(gzip.data(), gzip.size()).outcome, Outcome::kNeedMore);
  EXPECT_TRUE(other.on_eof());
}

TEST(ResponseParserTest, ReusesItselfForManyResponsesOnOneConnection) {
  ResponseParser parser;
  for (int i = 0; i < 1000; ++i) {
    const std::string_view response = i % 2 == 0 ? kContentLengthResponse : kChunkedResponse;
    const Fed fed = feed_in_steps(parser, response, 13);
    ASSERT_EQ(fed.outcome, Outcome::kComplete) << i;
    ASSERT_EQ(fed.end, response.size()) << i;
  }
}

}  // namespace
}  // namespace iolab
