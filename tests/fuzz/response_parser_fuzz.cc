// Fuzzes the load engine's streaming HTTP response parser (core/response_parser.h), which reads
// whatever the target server sends.
//
// Input: one control byte (bit 0: HEAD requests, set_no_body; bit 1: a head limit of 64 bytes
// plus 8 per unit of bits 2-7, set_max_head_bytes), then the response stream. The
// stream is fed three ways: whole, split at points derived from its own bytes, and one byte at
// a time. Differential property: the three give the same responses (status, body bytes,
// should_close, stream offset where each ends), the same error at the same response, and the
// same end state. Plus the API contract: consumed <= n, kNeedMore consumes everything, kError is
// sticky and consumes nothing, and a reset() parser behaves as a new one.

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "core/response_parser.h"
#include "tests/fuzz/fuzz_check.h"

using iolab::fuzz::check;

namespace {

using iolab::ResponseParser;

struct Event {
  bool error = false;
  int status = 0;
  uint64_t body_bytes = 0;
  bool should_close = false;
  size_t end_offset = 0;  // Stream offset just past the response; errors: unused.

  bool operator==(const Event&) const = default;
};

struct Trace {
  std::vector<Event> events;
  bool in_progress = false;
  bool eof_completes = false;
  Event after_eof;

  bool operator==(const Trace&) const = default;
};

// Feeds `chunk` (possibly empty) to the parser, looping over complete responses.
void feed_chunk(ResponseParser& parser, std::string_view chunk, size_t& offset, Trace& trace) {
  do {
    if (!trace.events.empty() && trace.events.back().error) {
      const auto again = parser.feed(chunk.data(), chunk.size());
      check(again.outcome == ResponseParser::Outcome::kError && again.consumed == 0);
      return;
    }
    const auto result = parser.feed(chunk.data(), chunk.size());
    check(result.consumed <= chunk.size());
    switch (result.outcome) {
      case ResponseParser::Outcome::kNeedMore:
        check(result.consumed == chunk.size());
        offset += chunk.size();
        return;
      case ResponseParser::Outcome::kError:
        check(!parser.error().empty());
        trace.events.push_back(Event{true});
        return;
      case ResponseParser::Outcome::kComplete:
        check(parser.status() >= 100 && parser.status() <= 999);
        check(!parser.in_progress());
        offset += result.consumed;
        trace.events.push_back(
            Event{false, parser.status(), parser.body_bytes(), parser.should_close(), offset});
        chunk.remove_prefix(result.consumed);
        break;
    }
  } while (!chunk.empty());
}

// Feeds the stream split after each of `cuts` (increasing offsets), then EOF.
Trace run(ResponseParser& parser, std::string_view stream, const std::vector<size_t>& cuts) {
  Trace trace;
  size_t offset = 0;
  size_t start = 0;
  for (const size_t cut : cuts) {
    feed_chunk(parser, stream.substr(start, cut - start), offset, trace);
    start = cut;
  }
  feed_chunk(parser, stream.substr(start), offset, trace);
  const bool errored = !trace.events.empty() && trace.events.back().error;
  trace.in_progress = !errored && parser.in_progress();
  trace.eof_completes = parser.on_eof();
  if (trace.eof_completes) {
    check(!errored);
    trace.after_eof =
        Event{false, parser.status(), parser.body_bytes(), parser.should_close(), stream.size()};
  }
  return trace;
}

}  // namespace

// libFuzzer's entry point: its name is fixed.
extern "C" int LLVMFuzzerTestOneInput(  // NOLINT(readability-identifier-naming)
    const uint8_t* data, size_t size) {
  if (size < 1) return 0;
  const bool no_body = (data[0] & 1) != 0;
  const size_t max_head =
      (data[0] & 2) != 0 ? 64 + size_t{8} * (data[0] >> 2) : ResponseParser::kDefaultMaxHeadBytes;
  const std::string stream(reinterpret_cast<const char*>(data) + 1, size - 1);

  ResponseParser whole_parser;
  whole_parser.set_no_body(no_body);
  whole_parser.set_max_head_bytes(max_head);
  const Trace whole = run(whole_parser, stream, {});

  // Cut points from the stream's own bytes: the fuzzer steers them by mutating the input, and
  // empty chunks (repeated cut points) are allowed.
  std::vector<size_t> cuts;
  size_t at = 0;
  for (size_t i = 0; i < stream.size() && cuts.size() < 64; i += 7) {
    at = std::min(stream.size(), at + static_cast<unsigned char>(stream[i]) % 23);
    cuts.push_back(at);
  }
  ResponseParser split_parser;
  split_parser.set_no_body(no_body);
  split_parser.set_max_head_bytes(max_head);
  check(run(split_parser, stream, cuts) == whole);

  if (stream.size() <= 4096) {
    std::vector<size_t> every_byte;
    for (size_t i = 1; i < stream.size(); ++i) every_byte.push_back(i);
    // A reused parser, reset(), must behave as a new one.
    split_parser.reset();
    check(!split_parser.in_progress() && split_parser.status() == 0);
    check(run(split_parser, stream, every_byte) == whole);
  }
  return 0;
}
