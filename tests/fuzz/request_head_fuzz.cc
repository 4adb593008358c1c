// Fuzzes the request-head parser the async and fiber variants and the upstream stub read their
// clients with (core/http.h), and the stub's query overrides (variants/stub.cc: `?delay=`,
// `?status=`, `?size=` through query_param, parse_duration and from_chars).
//
// Input: the bytes a client sent. Properties, as the callers rely on them:
// - never throws, and every view of a complete head lies inside the head's bytes;
// - head_bytes + content_length does not overflow (the callers wait for that many bytes and
//   then erase them);
// - the result depends on the head's bytes only: the head alone parses the same, and any
//   shorter prefix is kIncomplete (the variants re-parse as bytes arrive);
// - query_param returns a view inside the query.

#include <charconv>
#include <cstddef>
#include <cstdint>
#include <limits>
#include <string_view>

#include "core/duration.h"
#include "core/http.h"
#include "tests/fuzz/fuzz_check.h"

using iolab::fuzz::check;

namespace {

using iolab::ParseStatus;
using iolab::RequestHead;

bool inside(std::string_view part, std::string_view whole) {
  return part.empty() ||
         (part.data() >= whole.data() && part.data() + part.size() <= whole.data() + whole.size());
}

bool same(const RequestHead& a, const RequestHead& b) {
  return a.method == b.method && a.target == b.target && a.path == b.path && a.query == b.query &&
         a.keep_alive == b.keep_alive && a.content_length == b.content_length &&
         a.head_bytes == b.head_bytes;
}

// What the stub does with a request's query (variants/stub.cc next_request).
void stub_overrides(std::string_view query) {
  if (const auto v = iolab::query_param(query, "delay")) {
    check(inside(*v, query));
    if (const auto d = iolab::parse_duration(*v)) check(d->count() >= 0);
  }
  if (const auto v = iolab::query_param(query, "status")) {
    check(inside(*v, query));
    int s = 0;
    (void)std::from_chars(v->data(), v->data() + v->size(), s);
  }
  if (const auto v = iolab::query_param(query, "size")) {
    check(inside(*v, query));
    size_t s = 0;
    (void)std::from_chars(v->data(), v->data() + v->size(), s);
  }
  // A name taken from the query itself, so that present names are looked up too.
  const std::string_view name = query.substr(0, query.find_first_of("=&"));
  if (const auto v = iolab::query_param(query, name)) check(inside(*v, query));
}

}  // namespace

// libFuzzer's entry point: its name is fixed.
extern "C" int LLVMFuzzerTestOneInput(  // NOLINT(readability-identifier-naming)
    const uint8_t* data, size_t size) {
  const std::string_view buffer(reinterpret_cast<const char*>(data), size);
  RequestHead head;
  const ParseStatus status = iolab::parse_request_head(buffer, head);
  if (status != ParseStatus::kComplete) return 0;

  check(head.head_bytes >= 4 && head.head_bytes <= buffer.size());
  check(head.head_bytes <= iolab::kMaxRequestHeadBytes);
  const std::string_view bytes = buffer.substr(0, head.head_bytes);
  check(bytes.substr(bytes.size() - 4) == "\r\n\r\n");
  check(!head.method.empty() && !head.target.empty());
  check(inside(head.method, bytes) && inside(head.target, bytes) && inside(head.path, bytes) &&
        inside(head.query, bytes));
  check(head.target.substr(0, head.path.size()) == head.path);
  check(head.content_length <= std::numeric_limits<size_t>::max() - head.head_bytes);

  RequestHead alone;
  check(iolab::parse_request_head(bytes, alone) == ParseStatus::kComplete && same(alone, head));
  // Prefixes short of the head's end, as the variants see them while bytes arrive.
  for (size_t cut : {size_t{0}, size_t{1}, bytes.size() / 2, bytes.size() - 2, bytes.size() - 1}) {
    if (cut >= bytes.size()) continue;
    RequestHead partial;
    check(iolab::parse_request_head(bytes.substr(0, cut), partial) == ParseStatus::kIncomplete);
  }
  stub_overrides(head.query);
  return 0;
}
