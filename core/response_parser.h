#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string_view>

namespace iolab {

/// An incremental HTTP/1.x response parser for the load engine's hot path.
///
/// Bytes go in as they arrive, split anywhere (one byte at a time works). The parser keeps only
/// what it needs to frame a response: the status, whether the server wants the connection closed,
/// and where the body ends (Content-Length, chunked, no-body status, or connection close). The body
/// itself is skipped, never stored. A line split across reads is kept in a buffer of
/// kMaxLineBytes, allocated once on first need and reused for the parser's life, so a warm parser
/// allocates nothing. Interim 1xx responses (other than 101) are skipped: the answer is the final
/// response that follows.
///
/// Thread safety: none; one parser per connection, used by the thread that owns the connection.
/// Nothing here throws.
class ResponseParser {
 public:
  /// Longest line (status line, header, chunk size, trailer) accepted, without its line end.
  static constexpr size_t kMaxLineBytes = 8 * 1024;

  enum class Outcome : uint8_t {
    kNeedMore,  ///< Every byte given was consumed; the response is not complete yet.
    kComplete,  ///< A response ended after `consumed` bytes; the rest belong to the next one.
    kError,     ///< The bytes are not a valid response; see error(). Sticky until reset().
  };

  struct FeedResult {
    Outcome outcome;
    size_t consumed;  ///< Bytes of the input used; all of them unless kComplete.
  };

  ResponseParser() = default;
  ResponseParser(ResponseParser&&) noexcept = default;
  ResponseParser& operator=(ResponseParser&&) noexcept = default;

  /// Consumes up to `n` bytes of the response stream. After kComplete, status() and
  /// should_close() describe that response until the next feed(), which starts a new response.
  FeedResult feed(const char* data, size_t n) noexcept;

  /// Tells the parser the peer closed the stream. Returns true when that completes the current
  /// response (a body delimited by connection close); status() and should_close() then describe
  /// it. Returns false otherwise: either nothing of a response was received (see in_progress())
  /// or the response was cut short.
  bool on_eof() noexcept;

  /// Forgets any partial response and error, for a new connection. Keeps the line buffer.
  void reset() noexcept;

  /// Tells the parser the requests were HEAD: every answer ends with its headers, whatever its
  /// Content-Length says. Kept across reset().
  void set_no_body(bool no_body) noexcept { no_body_ = no_body; }

  /// True when some bytes of a response have been consumed but the response is not complete.
  bool in_progress() const noexcept { return started_ && state_ != State::kDone; }

  /// Status code of the response being parsed or just completed; 0 before the status line.
  int status() const noexcept { return status_; }

  /// True when the server asked to close the connection after this response: "Connection:
  /// close", HTTP/1.0 without "Connection: keep-alive", a close-delimited body, or 101.
  bool should_close() const noexcept;

  /// Body bytes of the current (or just completed) response, chunk framing excluded.
  uint64_t body_bytes() const noexcept { return body_bytes_; }

  /// A static, one-line reason for the last kError; empty otherwise.
  std::string_view error() const noexcept { return error_; }

 private:
  enum class State : uint8_t {
    kDone,  // Between responses (also the initial state).
    kStatusLine,
    kHeaders,
    kBody,  // Content-Length bytes remaining in remaining_.
    kChunkSize,
    kChunkData,     // remaining_ bytes of the current chunk.
    kChunkDataEnd,  // The CRLF after a chunk's data.
    kTrailers,
    kCloseDelimited,  // Body runs until EOF.
    kError,
  };
  enum class LineResult : uint8_t { kLine, kNeedMore, kTooLong, kNotHttp };

  void begin_response() noexcept;
  LineResult next_line(const char* data, size_t n, size_t& pos, std::string_view& line) noexcept;
  bool on_line(std::string_view line) noexcept;
  bool on_status_line(std::string_view line) noexcept;
  bool on_header_line(std::string_view line) noexcept;
  bool on_headers_end() noexcept;
  bool on_chunk_size_line(std::string_view line) noexcept;
  bool fail(const char* reason) noexcept;

  std::unique_ptr<char[]> line_;  // kMaxLineBytes, allocated on the first split line.
  size_t line_len_ = 0;
  uint64_t remaining_ = 0;
  uint64_t content_length_ = 0;
  uint64_t body_bytes_ = 0;
  const char* error_ = "";
  int status_ = 0;
  State state_ = State::kDone;
  bool started_ = false;
  bool http10_ = false;
  bool close_ = false;
  bool keep_alive_ = false;
  bool has_content_length_ = false;
  bool chunked_ = false;
  bool has_transfer_encoding_ = false;
  bool no_body_ = false;
};

}  // namespace iolab
