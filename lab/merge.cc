#include "lab/merge.h"

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <map>

#include "core/duration.h"

namespace iolab {
namespace {

using std::chrono::nanoseconds;
using std::chrono::system_clock;

std::string name_of(size_t i, const LoadResult& part) {
  return "result " + std::to_string(i + 1) + " (segment " + part.spec.segment->segment.to_string() +
         ")";
}

// What every segment of one run has in common: the first field that differs, or "".
std::string differing_field(const LoadSpec& a, const LoadSpec& b) {
  const SegmentSpec& sa = *a.segment;
  const SegmentSpec& sb = *b.segment;
  if (a.target.to_string() != b.target.to_string()) return "target";
  if (a.method != b.method) return "method";
  if (a.headers != b.headers) return "headers";
  if (a.body != b.body) return "body";
  if (a.duration != b.duration) return "duration";
  if (a.warmup != b.warmup) return "warmup";
  if (a.timeout != b.timeout) return "timeout";
  if (a.pipeline != b.pipeline) return "pipeline";
  if (a.max_head_bytes != b.max_head_bytes) return "max_head_bytes";
  if (sa.whole_connections != sb.whole_connections) return "the whole run's connections";
  if (sa.whole_rate != sb.whole_rate) return "the whole run's rate";
  if (sa.whole_requests != sb.whole_requests) return "the whole run's requests";
  return "";
}

void check_parts(const std::vector<LoadResult>& parts) {
  if (parts.empty()) throw MergeError("nothing to merge");
  for (size_t i = 0; i < parts.size(); ++i) {
    if (!parts[i].spec.segment) {
      throw MergeError("result " + std::to_string(i + 1) +
                       " is not a segment of a run (run it with --segment)");
    }
    const std::string field = differing_field(parts[0].spec, parts[i].spec);
    if (!field.empty()) {
      throw MergeError(name_of(i, parts[i]) + " is a segment of another run than " +
                       name_of(0, parts[0]) + ": its " + field + " differs");
    }
  }
}

// The parts' indices ordered by their segments' starts; throws on an overlap, warns on a gap.
std::vector<size_t> tile(const std::vector<LoadResult>& parts, std::vector<std::string>& warnings) {
  std::vector<size_t> order(parts.size());
  for (size_t i = 0; i < order.size(); ++i) order[i] = i;
  const auto seg = [&](size_t i) { return parts[i].spec.segment->segment; };
  std::sort(order.begin(), order.end(),
            [&](size_t a, size_t b) { return seg(a).from < seg(b).from; });
  Fraction covered_to{0, 1};
  for (size_t k = 0; k < order.size(); ++k) {
    const Segment s = seg(order[k]);
    if (s.from < covered_to) {
      throw MergeError(name_of(order[k], parts[order[k]]) + " overlaps " +
                       name_of(order[k - 1], parts[order[k - 1]]));
    }
    if (covered_to < s.from) {
      warnings.push_back("no result for segment " + Segment{covered_to, s.from}.to_string() +
                         ": the merged run is only part of the whole");
    }
    covered_to = s.to;
  }
  if (covered_to.num != covered_to.den) {
    warnings.push_back("no result for segment " + Segment{covered_to, {1, 1}}.to_string() +
                       ": the merged run is only part of the whole");
  }
  return order;
}

// A segment whose start skew or window length is more than 1 % of the duration away from the
// median of them all.
void warn_uneven(const std::vector<LoadResult>& parts, std::vector<std::string>& warnings) {
  const nanoseconds duration = parts[0].spec.duration;
  const auto median = [](std::vector<int64_t> v) {
    std::nth_element(v.begin(), v.begin() + static_cast<ptrdiff_t>(v.size() / 2), v.end());
    return v[v.size() / 2];
  };
  std::vector<int64_t> starts;
  std::vector<int64_t> lengths;
  for (const LoadResult& p : parts) {
    starts.push_back(p.started_at.time_since_epoch() / nanoseconds(1));
    lengths.push_back(p.elapsed.count());
  }
  const int64_t start_median = median(starts);
  const int64_t length_median = median(lengths);
  const double limit = 0.01 * static_cast<double>(duration.count());
  for (size_t i = 0; i < parts.size(); ++i) {
    if (static_cast<double>(std::llabs(starts[i] - start_median)) > limit) {
      warnings.push_back(name_of(i, parts[i]) + " started " +
                         format_duration(nanoseconds(std::llabs(starts[i] - start_median))) +
                         " away from the others (more than 1 % of the duration)");
    }
    if (static_cast<double>(std::llabs(lengths[i] - length_median)) > limit) {
      warnings.push_back(
          name_of(i, parts[i]) + " measured for " + format_duration(parts[i].elapsed) +
          ", more than 1 % away from the others' " + format_duration(nanoseconds(length_median)));
    }
  }
}

// The parts' timelines, aligned on the wall clock from `origin`.
std::vector<TimelinePoint> merge_timelines(const std::vector<LoadResult>& parts,
                                           system_clock::time_point origin) {
  std::map<int64_t, TimelinePoint> seconds;
  for (const LoadResult& part : parts) {
    const double offset_s = std::chrono::duration<double>(part.started_at - origin).count();
    const auto offset = static_cast<int64_t>(std::llround(offset_s));
    for (const TimelinePoint& p : part.timeline) {
      TimelinePoint& m = seconds[p.second + offset];
      m.second = p.second + offset;
      m.warmup = m.warmup || p.warmup;
      m.requests += p.requests;
      m.errors += p.errors;
      m.p50 = std::max(m.p50, p.p50);
      m.p99 = std::max(m.p99, p.p99);
    }
  }
  std::vector<TimelinePoint> timeline;
  for (const auto& [second, point] : seconds) timeline.push_back(point);
  return timeline;
}

SegmentRecord record_of(const LoadResult& part) {
  return {part.spec.segment->segment.to_string(),
          part.host,
          part.started_at,
          part.start_skew,
          part.elapsed,
          part.requests,
          static_cast<uint64_t>(part.spec.connections)};
}

}  // namespace

MergedRun merge_segments(const std::vector<LoadResult>& parts) {
  check_parts(parts);
  MergedRun merged;
  const std::vector<size_t> order = tile(parts, merged.warnings);
  warn_uneven(parts, merged.warnings);

  LoadResult& r = merged.result;
  const SegmentSpec& whole = *parts[0].spec.segment;
  r.spec = parts[0].spec;
  r.spec.segment.reset();
  r.spec.source.clear();
  r.spec.connections = whole.whole_connections;
  r.spec.rate = whole.whole_rate;
  r.spec.max_requests = whole.whole_requests;
  r.spec.threads = 0;
  r.started_at = parts[0].started_at;
  system_clock::time_point window_end = parts[0].started_at;
  double lag_weighted_ns = 0;
  for (const size_t i : order) {
    const LoadResult& p = parts[i];
    r.spec.threads += p.spec.threads;
    r.latency.merge(p.latency);
    r.uncorrected.merge(p.uncorrected);
    r.requests += p.requests;
    r.errors.connect += p.errors.connect;
    r.errors.read += p.errors.read;
    r.errors.write += p.errors.write;
    r.errors.timeout += p.errors.timeout;
    r.errors.status += p.errors.status;
    r.errors.protocol += p.errors.protocol;
    // The first segment's (in segment order) that had one, named.
    if (r.protocol_error.empty() && !p.protocol_error.empty()) {
      r.protocol_error = "segment " + p.spec.segment->segment.to_string() + ": " + p.protocol_error;
    }
    r.reconnects += p.reconnects;
    r.resent += p.resent;
    r.lag_max = std::max(r.lag_max, p.lag_max);
    lag_weighted_ns += static_cast<double>(p.lag_mean.count()) * static_cast<double>(p.requests);
    r.started_at = std::min(r.started_at, p.started_at);
    window_end =
        std::max(window_end, p.started_at + std::chrono::duration_cast<system_clock::duration>(
                                                p.spec.warmup + p.elapsed));
    if (p.start_skew && (!r.start_skew || *p.start_skew > *r.start_skew))
      r.start_skew = p.start_skew;
    merged.result.segments.push_back(record_of(p));
  }
  if (r.requests != 0) {
    r.lag_mean =
        nanoseconds(static_cast<int64_t>(lag_weighted_ns / static_cast<double>(r.requests)));
  }
  const auto window_start =
      r.started_at + std::chrono::duration_cast<system_clock::duration>(r.spec.warmup);
  r.elapsed =
      std::max(nanoseconds(0), std::chrono::duration_cast<nanoseconds>(window_end - window_start));
  r.timeline = merge_timelines(parts, r.started_at);
  // Every host once, in segment order: "a" or "a,b,c".
  std::vector<std::string> hosts;
  for (const size_t i : order) {
    if (std::find(hosts.begin(), hosts.end(), parts[i].host) == hosts.end()) {
      hosts.push_back(parts[i].host);
    }
  }
  for (const std::string& host : hosts) r.host += (r.host.empty() ? "" : ",") + host;
  return merged;
}

}  // namespace iolab
