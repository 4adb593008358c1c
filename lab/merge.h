#pragma once

// One run from the results of its segments (iolab merge): load spread over several processes
// or hosts with `iolab run --segment`, put back together without loss.

#include <stdexcept>
#include <string>
#include <vector>

#include "loadgen/engine.h"

namespace iolab {

/// Results that cannot be merged into one run; the message names the result and the field.
class MergeError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

struct MergedRun {
  LoadResult result;
  /// Doubts that do not stop the merge: segments missing from [0, 1), or whose start skew or
  /// window length differs from the others' by more than 1 % of the duration.
  std::vector<std::string> warnings;
};

/// Merges the results of segments of one run, given in any order. Histograms are added count by
/// count (percentiles are never averaged), counters summed, the open-loop lag's maximum kept and
/// its mean weighted by answers. The timeline is aligned by wall-clock second: each segment's
/// seconds are shifted by its start's distance from the earliest start, rounded to a second;
/// a merged second's requests and errors are sums, and its p50 and p99 the largest of the
/// segments' (an upper bound: the per-second percentiles are summaries, not histograms). The
/// window is the span from the earliest window's start to the latest's end. Each segment's
/// identity, host, start and skew are kept in `segments`. Throws MergeError when the results are
/// not segments of one run: not a segment, segments that overlap, or a different whole run
/// (target, method, headers, body, durations, pipeline, connections, rate or requests).
MergedRun merge_segments(const std::vector<LoadResult>& parts);

}  // namespace iolab
