#include "core/http.h"

#include <gtest/gtest.h>

#include "core/endpoint.h"

namespace iolab {
namespace {

TEST(RequestHeadTest, ParsesPathQueryAndKeepAlive) {
  RequestHead head;
  const std::string req = "GET /x?delay=50ms&size=3 HTTP/1.1\r\nHost: a\r\n\r\nGET /next";
  ASSERT_EQ(parse_request_head(req, head), ParseStatus::kComplete);
  EXPECT_EQ(head.method, "GET");
  EXPECT_EQ(head.path, "/x");
  EXPECT_EQ(head.query, "delay=50ms&size=3");
  EXPECT_TRUE(head.keep_alive);
  EXPECT_EQ(head.head_bytes, req.find("GET /next"));
  EXPECT_EQ(query_param(head.query, "delay"), "50ms");
  EXPECT_EQ(query_param(head.query, "size"), "3");
  EXPECT_FALSE(query_param(head.query, "status").has_value());
}

TEST(RequestHeadTest, HonoursConnectionCloseAndHttp10) {
  RequestHead head;
  ASSERT_EQ(parse_request_head("GET / HTTP/1.1\r\nConnection: Close\r\n\r\n", head),
            ParseStatus::kComplete);
  EXPECT_FALSE(head.keep_alive);
  ASSERT_EQ(parse_request_head("GET / HTTP/1.0\r\n\r\n", head), ParseStatus::kComplete);
  EXPECT_FALSE(head.keep_alive);
  ASSERT_EQ(parse_request_head("GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n", head),
            ParseStatus::kComplete);
  EXPECT_TRUE(head.keep_alive);
}

TEST(RequestHeadTest, WaitsForTheBlankLineAndRejectsGarbage) {
  RequestHead head;
  EXPECT_EQ(parse_request_head("GET / HTTP/1.1\r\nHost: a\r\n", head), ParseStatus::kIncomplete);
  EXPECT_EQ(parse_request_head("garbage\r\n\r\n", head), ParseStatus::kInvalid);
  EXPECT_EQ(parse_request_head("GET / SPDY/3\r\n\r\n", head), ParseStatus::kInvalid);
  EXPECT_EQ(parse_request_head("GET / HTTP/1.1\r\nNoColon\r\n\r\n", head), ParseStatus::kInvalid);
  EXPECT_EQ(parse_request_head("POST / HTTP/1.1\r\nContent-Length: x\r\n\r\n", head),
            ParseStatus::kInvalid);
  EXPECT_EQ(parse_request_head(std::string(kMaxRequestHeadBytes + 1, 'a'), head),
            ParseStatus::kInvalid);
}

TEST(EndpointTest, ParsesAddressesAndUrls) {
  EXPECT_EQ(parse_endpoint("127.0.0.1:8080")->port, 8080);
  EXPECT_EQ(parse_endpoint(":0")->host, "127.0.0.1");
  EXPECT_FALSE(parse_endpoint("example.com:80").has_value());
  EXPECT_FALSE(parse_endpoint("127.0.0.1:99999").has_value());

  const auto url = parse_url("http://127.0.0.1:8080/remote?x=1");
  ASSERT_TRUE(url.has_value());
  EXPECT_EQ(url->endpoint.port, 8080);
  EXPECT_EQ(url->target, "/remote?x=1");
  EXPECT_EQ(url->host_header, "127.0.0.1:8080");
  EXPECT_TRUE(url->endpoint.is_loopback());
  EXPECT_EQ(parse_url("http://localhost")->target, "/");
  EXPECT_FALSE(parse_url("http://10.0.0.1/")->endpoint.is_loopback());

  std::string error;
  EXPECT_FALSE(parse_url("https://127.0.0.1/", &error).has_value());
  EXPECT_NE(error.find("http://"), std::string::npos);
  EXPECT_FALSE(parse_url("http://example.com/", &error).has_value());
  EXPECT_FALSE(parse_url("http://127.0.0.1:0/", &error).has_value());
}

// Found by request_head_fuzz: head_bytes + content_length wrapped around, so a variant waited for
// a few bytes and then took the next request for this one's body.
TEST(RequestHeadTest, RejectsAContentLengthThatWrapsTheRequestSize) {
  RequestHead head;
  EXPECT_EQ(
      parse_request_head(
          "POST / HTTP/1.1\r\nContent-Length: 18446744073709551615\r\n\r\nGET / HTTP/1.1", head),
      ParseStatus::kInvalid);
  EXPECT_EQ(parse_request_head("POST / HTTP/1.1\r\nContent-Length: 1048576\r\n\r\n", head),
            ParseStatus::kComplete);
  EXPECT_EQ(head.content_length, 1048576u);
}

}  // namespace
}  // namespace iolab
