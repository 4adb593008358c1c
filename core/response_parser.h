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
/// itself is skipped, never stored. A response head is limited by its total size
/// (set_max_head_bytes), not by the length of a line: a line split across reads is kept in a
/// buffer of kLineBufferBytes, allocated once on first need and reused for the parser's life, so
/// a warm parser allocates nothing, and a longer split line that the parser does not need to read
/// (any header but Content-Length, Transfer-Encoding and Connection, any trailer) is skipped to
/// its end instead. Interim 1xx responses (other than 101) are skipped: the answer is the final
/// response that follows.
///
/// Thread safety: none; one parser per connection, used by the thread that owns the connection.
/// Nothing here throws.
class ResponseParser {
 public:
  /// Longest split line kept whole: a status line, a framing header (Content-Length,
  /// Transfer-Encoding, Connection) or a chunk size line. Other lines may be longer.
  static constexpr size_t kLineBufferBytes = 8 * 1024;
  /// Default bound on a response head (status line and headers, line ends included; also the
  /// head plus trailers): above wrk's 80 KiB and nginx's proxy buffers.
  static constexpr size_t kDefaultMaxHeadBytes = 128 * 1024;

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

  /// Forgets any partial response and error, for a new connection. Keeps the line buffer and
  /// the settings.
  void reset() noexcept;

  /// The most bytes a response head (with its trailers, if chunked) may take; more is kError.
  /// Kept across reset().
  void set_max_head_bytes(size_t bytes) noexcept { max_head_bytes_ = bytes; }

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

  /// Where the last kError was found: the byte of the response (from its first byte, interim
  /// responses included) at which the offending line begins, or the head's first byte over
  /// its limit.
  uint64_t error_offset() const noexcept { return error_offset_; }

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
  enum class LineResult : uint8_t { kLine, kSkipped, kNeedMore, kTooLong, kHeadTooLarge, kNotHttp };

  void begin_response() noexcept;
  LineResult next_line(const char* data, size_t n, size_t& pos, std::string_view& line) noexcept;
  LineResult buffer_line(const char* start, size_t len, bool ended,
                         std::string_view& line) noexcept;
  bool may_skip_long_line() const noexcept;
  bool counts_toward_head() const noexcept {
    return state_ == State::kStatusLine || state_ == State::kHeaders || state_ == State::kTrailers;
  }
  FeedResult fail_line(LineResult result, size_t pos) noexcept;
  bool on_line(std::string_view line) noexcept;
  bool on_status_line(std::string_view line) noexcept;
  bool on_header_line(std::string_view line) noexcept;
  bool on_headers_end() noexcept;
  bool on_chunk_size_line(std::string_view line) noexcept;
  bool fail(const char* reason) noexcept;

  std::unique_ptr<char[]> line_;  // kLineBufferBytes, allocated on the first split line.
  size_t line_len_ = 0;
  size_t head_bytes_ = 0;  // Of the current head (and trailers), line ends included.
  size_t max_head_bytes_ = kDefaultMaxHeadBytes;
  uint64_t offset_ = 0;       // Bytes of the current response consumed before this feed().
  uint64_t line_offset_ = 0;  // Where the line being read began in the response.
  uint64_t error_offset_ = 0;
  uint64_t overrun_offset_ = 0;  // The head's first byte over its limit.
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
  bool skipping_line_ = false;  // Inside a long line that is skipped to its end.
};

}  // namespace iolab
