#include "loadgen/request.h"

#include <gtest/gtest.h>

namespace iolab {
namespace {

LoadSpec spec_with(std::string method, std::vector<std::string> headers = {},
                   std::string body = "") {
  LoadSpec spec;
  spec.target = *parse_url("http://127.0.0.1:8080/a?b=1");
  spec.method = std::move(method);
  spec.headers = std::move(headers);
  spec.body = std::move(body);
  return spec;
}

std::string error_of(const LoadSpec& spec) {
  try {
    (void)build_request(spec);
  } catch (const RunError& e) {
    return e.what();
  }
  return "";
}

TEST(RequestTest, AGetCarriesTheHostOfTheUrlAndNothingElse) {
  EXPECT_EQ(build_request(spec_with("GET")), "GET /a?b=1 HTTP/1.1\r\nHost: 127.0.0.1:8080\r\n\r\n");
}

TEST(RequestTest, APostCarriesItsHeadersInOrderAndItsBodyWithALength) {
  EXPECT_EQ(build_request(spec_with("POST", {"X-A: 1", "Content-Type:  text/plain "}, "hello")),
            "POST /a?b=1 HTTP/1.1\r\nHost: 127.0.0.1:8080\r\nX-A: 1\r\n"
            "Content-Type: text/plain\r\nContent-Length: 5\r\n\r\nhello");
}

TEST(RequestTest, AnEmptyPostSaysItsLengthIsZero) {
  EXPECT_EQ(build_request(spec_with("POST")),
            "POST /a?b=1 HTTP/1.1\r\nHost: 127.0.0.1:8080\r\nContent-Length: 0\r\n\r\n");
}

TEST(RequestTest, AHostHeaderReplacesTheUrlsAndAMatchingLengthIsKept) {
  EXPECT_EQ(build_request(spec_with("PUT", {"host: example.com", "Content-Length: 2"}, "ab")),
            "PUT /a?b=1 HTTP/1.1\r\nhost: example.com\r\nContent-Length: 2\r\n\r\nab");
}

TEST(RequestTest, BadMethodsAndHeadersAreNamed) {
  EXPECT_NE(error_of(spec_with("")).find("method"), std::string::npos);
  EXPECT_NE(error_of(spec_with("GE T")).find("method"), std::string::npos);
  EXPECT_NE(error_of(spec_with("GET", {"NoColon"})).find("NoColon"), std::string::npos);
  EXPECT_NE(error_of(spec_with("GET", {": empty name"})).find("header"), std::string::npos);
  EXPECT_NE(error_of(spec_with("GET", {"X-A: 1\r\nX-B: 2"})).find("header"), std::string::npos);
  EXPECT_NE(error_of(spec_with("POST", {"Content-Length: 3"}, "ab")).find("2 bytes"),
            std::string::npos);
  EXPECT_NE(error_of(spec_with("POST", {"Transfer-Encoding: chunked"})).find("Transfer-Encoding"),
            std::string::npos);
}

}  // namespace
}  // namespace iolab
