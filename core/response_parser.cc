#include "core/response_parser.h"

#include <algorithm>
#include <array>
#include <cstring>
#include <new>

#include "core/http.h"

namespace iolab {
namespace {

constexpr std::string_view kHttpPrefix = "HTTP/1.";
// 15 significant hex digits stay well below 2^64; more is never a real chunk. Leading zeros are
// not significant (RFC 9112 7.1 sets no bound on the digits).
constexpr size_t kMaxChunkSizeDigits = 15;
// 18 decimal digits stay below 2^63.
constexpr size_t kMaxContentLengthDigits = 18;

std::string_view trim(std::string_view s) noexcept {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

// RFC 9110 token characters, as a table: every header name of every response passes through.
constexpr std::array<bool, 256> kTokenChars = [] {
  std::array<bool, 256> table{};
  for (int c = '0'; c <= '9'; ++c) table[static_cast<size_t>(c)] = true;
  for (int c = 'a'; c <= 'z'; ++c) table[static_cast<size_t>(c)] = true;
  for (int c = 'A'; c <= 'Z'; ++c) table[static_cast<size_t>(c)] = true;
  for (const char c : std::string_view("!#$%&'*+-.^_`|~")) {
    table[static_cast<unsigned char>(c)] = true;
  }
  return table;
}();

bool is_token_char(char c) noexcept { return kTokenChars[static_cast<unsigned char>(c)]; }

// `name` equals `lower` (all lower case), ignoring the case of `name`. Inlined here: most headers
// of a response are compared against a name or two before they are skipped.
bool is_named(std::string_view name, std::string_view lower) noexcept {
  if (name.size() != lower.size()) return false;
  for (size_t i = 0; i < name.size(); ++i) {
    if ((name[i] | 0x20) != lower[i]) return false;
  }
  return true;
}

int hex_value(char c) noexcept {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

// Calls fn(token) for each comma-separated, trimmed, non-empty token of a header value.
template <typename Fn>
void for_each_token(std::string_view value, Fn&& fn) noexcept {
  while (true) {
    const size_t comma = value.find(',');
    const std::string_view token = trim(value.substr(0, comma));
    if (!token.empty()) fn(token);
    if (comma == std::string_view::npos) return;
    value.remove_prefix(comma + 1);
  }
}

}  // namespace

bool ResponseParser::should_close() const noexcept {
  return close_ || (http10_ && !keep_alive_) || status_ == 101;
}

void ResponseParser::reset() noexcept {
  begin_response();
  state_ = State::kDone;
  started_ = false;
  status_ = 0;
}

void ResponseParser::begin_response() noexcept {
  state_ = State::kStatusLine;
  line_len_ = 0;
  head_bytes_ = 0;
  skipping_line_ = false;
  remaining_ = 0;
  content_length_ = 0;
  body_bytes_ = 0;
  error_ = "";
  status_ = 0;
  http10_ = false;
  close_ = false;
  keep_alive_ = false;
  has_content_length_ = false;
  chunked_ = false;
  has_transfer_encoding_ = false;
}

bool ResponseParser::fail(const char* reason) noexcept {
  state_ = State::kError;
  error_ = reason;
  return false;
}

ResponseParser::FeedResult ResponseParser::fail_line(LineResult result, size_t pos) noexcept {
  switch (result) {
    case LineResult::kHeadTooLarge:
      fail("response head over its size limit");
      error_offset_ = overrun_offset_;
      break;
    case LineResult::kNotHttp:
      fail("not an HTTP/1.x response");
      break;
    default:
      if (state_ == State::kStatusLine) {
        fail("status line over 8 KiB");
      } else if (state_ == State::kHeaders) {
        fail("Content-Length, Transfer-Encoding or Connection header line over 8 KiB");
      } else if (state_ == State::kChunkSize) {
        fail("chunk size line over 8 KiB");
      } else {
        fail("chunk data longer than its size");
      }
      break;
  }
  if (result != LineResult::kHeadTooLarge) error_offset_ = line_offset_;
  return {Outcome::kError, pos};
}

ResponseParser::FeedResult ResponseParser::feed(const char* data, size_t n) noexcept {
  if (state_ == State::kError) return {Outcome::kError, 0};
  if (state_ == State::kDone) {
    begin_response();
    started_ = false;
    offset_ = 0;
  }
  if (n > 0) started_ = true;
  size_t pos = 0;
  while (pos < n) {
    switch (state_) {
      case State::kBody:
      case State::kChunkData: {
        const uint64_t take = std::min<uint64_t>(remaining_, n - pos);
        pos += static_cast<size_t>(take);
        remaining_ -= take;
        body_bytes_ += take;
        if (remaining_ == 0) {
          if (state_ == State::kChunkData) {
            state_ = State::kChunkDataEnd;
          } else {
            state_ = State::kDone;
            return {Outcome::kComplete, pos};
          }
        }
        break;
      }
      case State::kCloseDelimited:
        body_bytes_ += n - pos;
        pos = n;
        break;
      case State::kError:
        return {Outcome::kError, pos};
      case State::kDone:
        return {Outcome::kComplete, pos};
      default: {
        const size_t line_start = pos;
        std::string_view line;
        const LineResult result = next_line(data, n, pos, line);
        if (result == LineResult::kNeedMore) {
          offset_ += n;
          return {Outcome::kNeedMore, n};
        }
        if (result == LineResult::kSkipped) break;
        if (result != LineResult::kLine) return fail_line(result, line_start);
        if (!on_line(line)) {
          error_offset_ = line_offset_;
          return {Outcome::kError, pos};
        }
        if (state_ == State::kDone) return {Outcome::kComplete, pos};
        break;
      }
    }
  }
  offset_ += n;
  return {Outcome::kNeedMore, n};
}

bool ResponseParser::on_eof() noexcept {
  if (state_ != State::kCloseDelimited) return false;
  state_ = State::kDone;
  return true;
}

// A line over kLineBufferBytes is read only when nothing in it matters: any header but the three
// that frame a response (its name is checked), a folded continuation, a trailer. `line_` holds
// its first kLineBufferBytes.
bool ResponseParser::may_skip_long_line() const noexcept {
  if (state_ == State::kTrailers) return true;
  if (state_ != State::kHeaders) return false;
  const std::string_view head(line_.get(), line_len_);
  if (head.front() == ' ' || head.front() == '\t') return true;
  const size_t colon = head.find(':');
  if (colon == std::string_view::npos || colon == 0) return false;
  const std::string_view name = head.substr(0, colon);
  for (const char c : name) {
    if (!is_token_char(c)) return false;
  }
  return !is_named(name, "content-length") && !is_named(name, "transfer-encoding") &&
         !is_named(name, "connection");
}

ResponseParser::LineResult ResponseParser::next_line(const char* data, size_t n, size_t& pos,
                                                     std::string_view& line) noexcept {
  const char* start = data + pos;
  const size_t avail = n - pos;
  const auto* newline = static_cast<const char*>(std::memchr(start, '\n', avail));
  const size_t len = newline ? static_cast<size_t>(newline - start) : avail;
  const size_t used = newline ? len + 1 : len;
  if (line_len_ == 0 && !skipping_line_) line_offset_ = offset_ + pos;
  if (counts_toward_head()) {
    if (head_bytes_ + used > max_head_bytes_) {
      overrun_offset_ = offset_ + pos + (max_head_bytes_ - head_bytes_);
      return LineResult::kHeadTooLarge;
    }
    head_bytes_ += used;
  }
  if (skipping_line_ || line_len_ + len > kLineBufferBytes) {
    if (!skipping_line_) {
      // The line's first kLineBufferBytes decide whether it may be skipped, whether it came in
      // one read or many, so the outcome never depends on where the reads split it.
      const LineResult kept = buffer_line(start, len, false, line);
      if (kept != LineResult::kNeedMore) return kept;
      if (!may_skip_long_line()) return LineResult::kTooLong;
      skipping_line_ = true;
    }
    pos += used;
    if (!newline) return LineResult::kNeedMore;
    skipping_line_ = false;
    line_len_ = 0;
    return LineResult::kSkipped;
  }
  if (newline && line_len_ == 0) {
    // The common case: the whole line is in this read, so parse it in place without copying.
    line = std::string_view(start, len);
  } else {
    const LineResult kept = buffer_line(start, len, newline != nullptr, line);
    if (kept != LineResult::kLine) {
      if (kept == LineResult::kNeedMore) pos = n;
      return kept;
    }
  }
  pos += used;
  if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
  return LineResult::kLine;
}

// Appends up to kLineBufferBytes of `start` to the split line. kLine (with `line` set) when
// `ended` and it fits; kNeedMore otherwise; kTooLong when out of memory; kNotHttp when the status
// line is garbage already.
ResponseParser::LineResult ResponseParser::buffer_line(const char* start, size_t len, bool ended,
                                                       std::string_view& line) noexcept {
  if (!line_) {
    line_.reset(new (std::nothrow) char[kLineBufferBytes]);
    if (!line_) return LineResult::kTooLong;
  }
  const size_t take = std::min(len, kLineBufferBytes - line_len_);
  std::memcpy(line_.get() + line_len_, start, take);
  line_len_ += take;
  if (ended && take == len) {
    line = std::string_view(line_.get(), line_len_);
    line_len_ = 0;  // The view stays valid: nothing writes the buffer before the line is parsed.
    return LineResult::kLine;
  }
  // Garbage is recognised before its line ends, so a peer streaming junk without newlines
  // is an error at once rather than after 8 KiB or a timeout.
  if (state_ == State::kStatusLine && line_len_ > 0 && line_[0] != '\r') {
    const size_t check = std::min(line_len_, kHttpPrefix.size());
    if (std::string_view(line_.get(), check) != kHttpPrefix.substr(0, check)) {
      return LineResult::kNotHttp;
    }
  }
  return LineResult::kNeedMore;
}

bool ResponseParser::on_line(std::string_view line) noexcept {
  switch (state_) {
    case State::kStatusLine:
      // Tolerate stray blank lines between responses, as user agents do.
      if (line.empty()) return true;
      return on_status_line(line);
    case State::kHeaders:
      if (line.empty()) return on_headers_end();
      return on_header_line(line);
    case State::kChunkSize:
      return on_chunk_size_line(line);
    case State::kChunkDataEnd:
      if (!line.empty()) return fail("chunk data longer than its size");
      state_ = State::kChunkSize;
      return true;
    case State::kTrailers:
      if (line.empty()) state_ = State::kDone;
      return true;
    default:
      return fail("internal: line in a body state");
  }
}

bool ResponseParser::on_status_line(std::string_view line) noexcept {
  // "HTTP/1.x SSS[ reason]"
  if (line.size() < 12 || line.substr(0, kHttpPrefix.size()) != kHttpPrefix) {
    return fail("not an HTTP/1.x response");
  }
  const char minor = line[7];
  if (minor != '0' && minor != '1') return fail("unsupported HTTP version");
  if (line[8] != ' ') return fail("malformed status line");
  int status = 0;
  for (size_t i = 9; i < 12; ++i) {
    if (line[i] < '0' || line[i] > '9') return fail("malformed status code");
    status = status * 10 + (line[i] - '0');
  }
  if (status < 100) return fail("malformed status code");
  if (line.size() > 12 && line[12] != ' ') return fail("malformed status line");
  status_ = status;
  http10_ = minor == '0';
  state_ = State::kHeaders;
  return true;
}

bool ResponseParser::on_header_line(std::string_view line) noexcept {
  // Obsolete line folding continues the previous value; none of the headers we read is folded in
  // practice, so the continuation is skipped rather than rejected.
  if (line.front() == ' ' || line.front() == '\t') return true;
  const size_t colon = line.find(':');
  if (colon == std::string_view::npos || colon == 0) return fail("malformed header line");
  const std::string_view name = line.substr(0, colon);
  for (const char c : name) {
    if (!is_token_char(c)) return fail("malformed header name");
  }
  // Only three headers frame a response; the others are checked and skipped.
  if (name.size() != 14 && name.size() != 17 && name.size() != 10) return true;
  const std::string_view value = trim(line.substr(colon + 1));

  if (is_named(name, "content-length")) {
    if (value.empty() || value.size() > kMaxContentLengthDigits) {
      return fail("bad Content-Length");
    }
    uint64_t length = 0;
    for (const char c : value) {
      if (c < '0' || c > '9') return fail("bad Content-Length");
      length = length * 10 + static_cast<uint64_t>(c - '0');
    }
    if (has_content_length_ && length != content_length_) return fail("conflicting Content-Length");
    has_content_length_ = true;
    content_length_ = length;
  } else if (is_named(name, "transfer-encoding")) {
    // Only the final coding frames the message: chunked must come last to apply. "identity" (RFC
    // 2616's name for no coding, since withdrawn) codes nothing, so it is passed over: alone, it
    // leaves the response framed by its Content-Length, as curl and wrk read it.
    for_each_token(value, [&](std::string_view token) {
      if (equals_ignore_case(token, "identity")) return;
      has_transfer_encoding_ = true;
      chunked_ = equals_ignore_case(token, "chunked");
    });
  } else if (is_named(name, "connection")) {
    for_each_token(value, [&](std::string_view token) {
      if (equals_ignore_case(token, "close")) close_ = true;
      if (equals_ignore_case(token, "keep-alive")) keep_alive_ = true;
    });
  }
  return true;
}

bool ResponseParser::on_headers_end() noexcept {
  if (status_ < 200 && status_ != 101) {
    // An interim response; the real answer follows on the same stream.
    begin_response();
    return true;
  }
  if (status_ == 101 || status_ == 204 || status_ == 304 || no_body_) {
    state_ = State::kDone;
    return true;
  }
  if (has_transfer_encoding_) {
    if (chunked_) {
      state_ = State::kChunkSize;
      return true;
    }
    // A response whose final coding is not chunked runs until close (RFC 9112 6.3).
    close_ = true;
    state_ = State::kCloseDelimited;
    return true;
  }
  if (has_content_length_) {
    remaining_ = content_length_;
    state_ = remaining_ == 0 ? State::kDone : State::kBody;
    return true;
  }
  close_ = true;
  state_ = State::kCloseDelimited;
  return true;
}

bool ResponseParser::on_chunk_size_line(std::string_view line) noexcept {
  size_t digits = 0;
  while (digits < line.size() && line[digits] == '0') ++digits;
  const size_t first_significant = digits;
  uint64_t size = 0;
  while (digits < line.size() && hex_value(line[digits]) >= 0) {
    size = size * 16 + static_cast<uint64_t>(hex_value(line[digits]));
    ++digits;
  }
  if (digits == 0 || digits - first_significant > kMaxChunkSizeDigits) {
    return fail("bad chunk size");
  }
  const std::string_view rest = trim(line.substr(digits));
  if (!rest.empty() && rest.front() != ';') return fail("bad chunk size");
  if (size == 0) {
    state_ = State::kTrailers;
  } else {
    remaining_ = size;
    state_ = State::kChunkData;
  }
  return true;
}

}  // namespace iolab
