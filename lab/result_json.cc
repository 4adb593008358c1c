#include "lab/result_json.h"

#include <algorithm>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

#include "core/duration.h"

namespace iolab {
namespace {

using nlohmann::json;

// The field at `key`, or a ResultJsonError naming it.
const json& field(const json& j, const char* key) {
  if (!j.is_object())
    throw ResultJsonError("expected an object holding '" + std::string(key) + "'");
  const auto it = j.find(key);
  if (it == j.end()) throw ResultJsonError("missing field '" + std::string(key) + "'");
  return *it;
}

template <typename T>
T get(const json& j, const char* key) {
  if constexpr (std::is_integral_v<T> && !std::is_same_v<T, bool>) {
    // nlohmann converts any number to an integer with a plain cast: a float out of T's range is
    // undefined behaviour, an integer out of range wraps. Stored results hold exact integers.
    const json& v = field(j, key);
    const bool fits = v.is_number_unsigned()  ? std::in_range<T>(v.get<uint64_t>())
                      : v.is_number_integer() ? std::in_range<T>(v.get<int64_t>())
                                              : false;
    if (!fits) {
      throw ResultJsonError("field '" + std::string(key) + "': expected an integer in range, got " +
                            v.dump());
    }
  }
  try {
    return field(j, key).get<T>();
  } catch (const json::exception& e) {
    throw ResultJsonError("field '" + std::string(key) + "': " + e.what());
  }
}

std::chrono::nanoseconds get_duration(const json& j, const char* key) {
  const auto text = get<std::string>(j, key);
  const auto d = parse_duration(text);
  if (!d) throw ResultJsonError("field '" + std::string(key) + "': bad duration '" + text + "'");
  return *d;
}

std::chrono::nanoseconds get_ns(const json& j, const char* key) {
  return std::chrono::nanoseconds(get<int64_t>(j, key));
}

json summary_ms(const LatencyHistogram& h) {
  return {{"min", to_ms(h.min())},
          {"p50", to_ms(h.percentile(50))},
          {"p90", to_ms(h.percentile(90))},
          {"p99", to_ms(h.percentile(99))},
          {"p99.9", to_ms(h.percentile(99.9))},
          {"max", to_ms(h.max())},
          {"mean", to_ms(h.mean())}};
}

struct Bucket {
  int64_t low;
  int64_t high;
  uint64_t count;
};

}  // namespace

json histogram_to_json(const LatencyHistogram& histogram) {
  json buckets = json::array();
  histogram.for_each_bucket([&](int64_t lowest, int64_t, uint64_t count) {
    buckets.push_back(json::array({lowest, count}));
  });
  return {{"count", histogram.count()},
          {"min_ns", histogram.min().count()},
          {"max_ns", histogram.max().count()},
          {"mean_ns", histogram.mean().count()},
          {"out_of_range", histogram.out_of_range()},
          {"sub_bucket_half_bits", LatencyHistogram::kSubBucketHalfBits},
          {"buckets", std::move(buckets)}};
}

namespace {

// The [lowest_ns, count] pairs of a stored histogram, each a bucket of this build's
// histogram, in order, adding up to `count`.
std::vector<Bucket> read_buckets(const json& list, uint64_t count) {
  std::vector<Bucket> buckets;
  buckets.reserve(list.size());
  uint64_t total = 0;
  for (const json& b : list) {
    if (!b.is_array() || b.size() != 2 || !b[0].is_number_integer() || !b[1].is_number_unsigned()) {
      throw ResultJsonError("field 'buckets': expected [lowest_ns, count] pairs");
    }
    const auto low = b[0].get<int64_t>();
    const auto n = b[1].get<uint64_t>();
    if (low < 0 || low > LatencyHistogram::kHighestTrackable || n == 0 ||
        LatencyHistogram::lowest_of(LatencyHistogram::index_of(low)) != low ||
        (!buckets.empty() && low <= buckets.back().low)) {
      throw ResultJsonError("field 'buckets': [" + std::to_string(low) + ", " + std::to_string(n) +
                            "] is not a bucket of this histogram, in order");
    }
    buckets.push_back({low, LatencyHistogram::highest_of(LatencyHistogram::index_of(low)), n});
    total += n;
  }
  if (total != count) {
    throw ResultJsonError("field 'count': " + std::to_string(count) + " but the buckets hold " +
                          std::to_string(total));
  }

  return buckets;
}

}  // namespace

LatencyHistogram histogram_from_json(const json& j) {
  if (get<int>(j, "sub_bucket_half_bits") != LatencyHistogram::kSubBucketHalfBits) {
    throw ResultJsonError("field 'sub_bucket_half_bits': a histogram of another precision");
  }
  const auto count = get<uint64_t>(j, "count");
  const auto min_ns = get<int64_t>(j, "min_ns");
  const auto max_ns = get<int64_t>(j, "max_ns");
  const auto mean_ns = get<int64_t>(j, "mean_ns");
  const auto out_of_range = get<uint64_t>(j, "out_of_range");
  const json& list = field(j, "buckets");
  if (!list.is_array()) throw ResultJsonError("field 'buckets': expected an array");

  std::vector<Bucket> buckets = read_buckets(list, count);

  LatencyHistogram h;
  if (out_of_range != 0) h.record_n(-1, out_of_range);
  if (count == 0) return h;
  Bucket& first = buckets.front();
  Bucket& last = buckets.back();
  if (min_ns < first.low || min_ns > first.high || max_ns < last.low || max_ns > last.high ||
      min_ns > max_ns || (count == 1 && min_ns != max_ns)) {
    throw ResultJsonError("fields 'min_ns' and 'max_ns' do not fall in the first and last bucket");
  }
  // Every sample is placed inside its bucket so that min, max and the sum come out as recorded:
  // one at min, one at max, the rest spread between their buckets' bounds to make up the sum.
  first.low = min_ns;
  last.high = max_ns;
  --first.count;
  if (count > 1) --last.count;
  __int128 base = min_ns + (count > 1 ? max_ns : 0);
  __int128 room = 0;
  for (const Bucket& b : buckets) {
    base += static_cast<__int128>(b.low) * b.count;
    room += static_cast<__int128>(b.high - b.low) * b.count;
  }
  // Any sum in [mean * count, mean * count + count) reads back as the same integer mean.
  const __int128 wanted = static_cast<__int128>(mean_ns) * count;
  if (wanted + static_cast<__int128>(count) <= base || wanted > base + room) {
    throw ResultJsonError("field 'mean_ns': " + std::to_string(mean_ns) +
                          " cannot be the mean of these buckets");
  }
  __int128 extra = std::max<__int128>(0, wanted - base);
  h.record_n(min_ns, 1);
  if (count > 1) h.record_n(max_ns, 1);
  for (const Bucket& b : buckets) {
    uint64_t left = b.count;
    const int64_t width = b.high - b.low;
    if (width > 0 && extra > 0 && left > 0) {
      const auto at_high =
          static_cast<uint64_t>(std::min<__int128>(static_cast<__int128>(left), extra / width));
      if (at_high > 0) h.record_n(b.high, at_high);
      extra -= static_cast<__int128>(at_high) * width;
      left -= at_high;
      if (left > 0 && extra > 0) {
        h.record_n(b.low + static_cast<int64_t>(extra), 1);
        extra = 0;
        --left;
      }
    }
    if (left > 0) h.record_n(b.low, left);
  }
  return h;
}

namespace {

int64_t epoch_ns(std::chrono::system_clock::time_point t) {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(t.time_since_epoch()).count();
}

std::chrono::system_clock::time_point from_epoch_ns(int64_t ns) {
  return std::chrono::system_clock::time_point(
      std::chrono::duration_cast<std::chrono::system_clock::duration>(
          std::chrono::nanoseconds(ns)));
}

json segment_to_json(const SegmentSpec& s) {
  return {{"segment", s.segment.to_string()},
          {"whole_connections", s.whole_connections},
          {"whole_rate", s.whole_rate},
          {"whole_requests", s.whole_requests}};
}

SegmentSpec segment_from_json(const json& j) {
  SegmentSpec s;
  std::string error;
  const auto segment = Segment::parse(get<std::string>(j, "segment"), &error);
  if (!segment) throw ResultJsonError("field 'segment': " + error);
  s.segment = *segment;
  s.whole_connections = get<int>(j, "whole_connections");
  s.whole_rate = get<double>(j, "whole_rate");
  s.whole_requests = get<uint64_t>(j, "whole_requests");
  return s;
}

json record_to_json(const SegmentRecord& r) {
  json j = {{"segment", r.segment},
            {"host", r.host},
            {"started_at_ns", epoch_ns(r.started_at)},
            {"elapsed_ns", r.elapsed.count()},
            {"requests", r.requests},
            {"connections", r.connections}};
  if (r.start_skew) j["start_skew_ns"] = r.start_skew->count();
  return j;
}

SegmentRecord record_from_json(const json& j) {
  SegmentRecord r;
  r.segment = get<std::string>(j, "segment");
  r.host = get<std::string>(j, "host");
  r.started_at = from_epoch_ns(get<int64_t>(j, "started_at_ns"));
  r.elapsed = get_ns(j, "elapsed_ns");
  r.requests = get<uint64_t>(j, "requests");
  r.connections = get<uint64_t>(j, "connections");
  if (j.contains("start_skew_ns")) r.start_skew = get_ns(j, "start_skew_ns");
  return r;
}

}  // namespace

json spec_to_json(const LoadSpec& spec) {
  json j = {{"target", spec.target.to_string()},
            {"connections", spec.connections},
            {"threads", spec.threads},
            {"duration", format_duration(spec.duration)},
            {"warmup", format_duration(spec.warmup)},
            {"timeout", format_duration(spec.timeout)},
            {"max_requests", spec.max_requests},
            {"rate", spec.rate},
            {"pipeline", spec.pipeline},
            {"method", spec.method},
            {"headers", spec.headers},
            {"body", spec.body}};
  // Only when set: specs stored before it existed, and every run at the default, keep one form.
  if (spec.max_head_bytes != LoadSpec{}.max_head_bytes) j["max_head_bytes"] = spec.max_head_bytes;
  if (spec.segment) j["segment"] = segment_to_json(*spec.segment);
  if (spec.start_at) j["start_at_ns"] = epoch_ns(*spec.start_at);
  if (!spec.source.empty()) j["source"] = spec.source;
  return j;
}

LoadSpec spec_from_json(const json& j) {
  LoadSpec spec;
  std::string error;
  const auto url = parse_url(get<std::string>(j, "target"), &error);
  if (!url) throw ResultJsonError("field 'target': " + error);
  spec.target = *url;
  spec.connections = get<int>(j, "connections");
  spec.threads = get<int>(j, "threads");
  spec.duration = get_duration(j, "duration");
  spec.warmup = get_duration(j, "warmup");
  spec.timeout = get_duration(j, "timeout");
  spec.max_requests = get<uint64_t>(j, "max_requests");
  spec.rate = get<double>(j, "rate");
  spec.pipeline = get<int>(j, "pipeline");
  spec.method = get<std::string>(j, "method");
  spec.headers = get<std::vector<std::string>>(j, "headers");
  spec.body = get<std::string>(j, "body");
  if (j.contains("segment")) spec.segment = segment_from_json(j.at("segment"));
  if (j.contains("start_at_ns")) spec.start_at = from_epoch_ns(get<int64_t>(j, "start_at_ns"));
  if (j.contains("source")) spec.source = get<std::string>(j, "source");
  if (j.contains("max_head_bytes")) spec.max_head_bytes = get<uint64_t>(j, "max_head_bytes");
  return spec;
}

json result_to_json(const LoadResult& r) {
  json timeline = json::array();
  for (const TimelinePoint& p : r.timeline) {
    timeline.push_back({{"second", p.second},
                        {"warmup", p.warmup},
                        {"requests", p.requests},
                        {"errors", p.errors},
                        {"p50_ns", p.p50.count()},
                        {"p99_ns", p.p99.count()}});
  }
  json j = {{"spec", spec_to_json(r.spec)},
          {"host", r.host},
          {"started_at_ns", epoch_ns(r.started_at)},
          {"requests", r.requests},
          {"elapsed_ns", r.elapsed.count()},
          {"duration_s", to_seconds(r.elapsed)},
          {"rps", r.rps()},
          {"errors",
           {{"connect", r.errors.connect},
            {"read", r.errors.read},
            {"write", r.errors.write},
            {"timeout", r.errors.timeout},
            {"status", r.errors.status},
            {"protocol", r.errors.protocol},
            {"total", r.errors.total()},
            {"first_protocol_error", r.protocol_error}}},
          {"reconnects", r.reconnects},
          {"resent", r.resent},
          {"rate",
           {{"requested", r.spec.rate},
            {"achieved", r.rps()},
            {"lag_max_ns", r.lag_max.count()},
            {"lag_mean_ns", r.lag_mean.count()}}},
          {"latency_ms", summary_ms(r.latency)},
          {"uncorrected_latency_ms", summary_ms(r.uncorrected)},
          {"latency", histogram_to_json(r.latency)},
          {"uncorrected", histogram_to_json(r.uncorrected)},
          {"timeline", std::move(timeline)}};
  if (r.start_skew) j["start_skew_ns"] = r.start_skew->count();
  if (!r.segments.empty()) {
    json segments = json::array();
    for (const SegmentRecord& record : r.segments) segments.push_back(record_to_json(record));
    j["segments"] = std::move(segments);
  }
  return j;
}

LoadResult result_from_json(const json& j) {
  LoadResult r;
  r.spec = spec_from_json(field(j, "spec"));
  r.requests = get<uint64_t>(j, "requests");
  r.elapsed = get_ns(j, "elapsed_ns");
  const json& errors = field(j, "errors");
  r.errors.connect = get<uint64_t>(errors, "connect");
  r.errors.read = get<uint64_t>(errors, "read");
  r.errors.write = get<uint64_t>(errors, "write");
  r.errors.timeout = get<uint64_t>(errors, "timeout");
  r.errors.status = get<uint64_t>(errors, "status");
  // Results stored before protocol errors were told apart have neither field.
  if (errors.contains("protocol")) r.errors.protocol = get<uint64_t>(errors, "protocol");
  if (errors.contains("first_protocol_error")) {
    r.protocol_error = get<std::string>(errors, "first_protocol_error");
  }
  r.reconnects = get<uint64_t>(j, "reconnects");
  // Results stored before it was counted have no "resent".
  r.resent = j.contains("resent") ? get<uint64_t>(j, "resent") : 0;
  const json& rate = field(j, "rate");
  r.lag_max = get_ns(rate, "lag_max_ns");
  r.lag_mean = get_ns(rate, "lag_mean_ns");
  r.latency = histogram_from_json(field(j, "latency"));
  r.uncorrected = histogram_from_json(field(j, "uncorrected"));
  const json& timeline = field(j, "timeline");
  if (!timeline.is_array()) throw ResultJsonError("field 'timeline': expected an array");
  r.timeline.reserve(timeline.size());
  for (const json& p : timeline) {
    TimelinePoint point;
    point.second = get<int64_t>(p, "second");
    point.warmup = get<bool>(p, "warmup");
    point.requests = get<uint64_t>(p, "requests");
    point.errors = get<uint64_t>(p, "errors");
    point.p50 = get_ns(p, "p50_ns");
    point.p99 = get_ns(p, "p99_ns");
    r.timeline.push_back(point);
  }
  // Results stored before these were kept have none of them.
  if (j.contains("host")) r.host = get<std::string>(j, "host");
  if (j.contains("started_at_ns")) r.started_at = from_epoch_ns(get<int64_t>(j, "started_at_ns"));
  if (j.contains("start_skew_ns")) r.start_skew = get_ns(j, "start_skew_ns");
  if (j.contains("segments")) {
    for (const json& record : field(j, "segments")) r.segments.push_back(record_from_json(record));
  }
  return r;
}

namespace {

constexpr std::pair<const char*, ServerLayer ServerLayers::*> kServerLayers[] = {
    {"total", &ServerLayers::total},
    {"queue_wait", &ServerLayers::queue_wait},
    {"upstream", &ServerLayers::upstream},
    {"pool_wait", &ServerLayers::pool_wait}};

}  // namespace

json server_layers_to_json(const ServerLayers& layers) {
  json j = json::object();
  for (const auto& [name, member] : kServerLayers) {
    const ServerLayer& l = layers.*member;
    j[name] = {{"count", l.count}, {"mean_ns", l.count == 0 ? 0 : l.sum_ns / l.count}};
  }
  return j;
}

ServerLayers server_layers_from_json(const json& j) {
  if (!j.is_object()) throw ResultJsonError("field 'server': expected an object");
  ServerLayers layers;
  for (const auto& [name, member] : kServerLayers) {
    const json& l = field(j, name);
    ServerLayer& out = layers.*member;
    out.count = get<uint64_t>(l, "count");
    out.sum_ns = get<uint64_t>(l, "mean_ns") * out.count;
  }
  return layers;
}

}  // namespace iolab
