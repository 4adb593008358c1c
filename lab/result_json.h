#pragma once

#include <nlohmann/json.hpp>

#include <stdexcept>

#include "core/histogram.h"
#include "lab/report.h"
#include "loadgen/engine.h"

namespace iolab {

/// JSON that does not describe what it should (wrong type, missing field, inconsistent counts).
/// The message names the field.
class ResultJsonError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

/// A histogram as JSON, from which histogram_from_json() rebuilds one with the same buckets,
/// count, min, max, mean and out-of-range count, hence the same percentiles:
/// `{"count", "min_ns", "max_ns", "mean_ns", "out_of_range", "sub_bucket_half_bits",
///   "buckets": [[lowest_ns, count], ...]}`, non-empty buckets in increasing order. (The sum is
/// kept as the exact integer mean: LatencyHistogram does not expose it.)
nlohmann::json histogram_to_json(const LatencyHistogram& histogram);

/// The inverse of histogram_to_json(). Throws ResultJsonError.
LatencyHistogram histogram_from_json(const nlohmann::json& json);

/// A load spec as JSON; durations as "20s", "1500us".
nlohmann::json spec_to_json(const LoadSpec& spec);
/// The inverse of spec_to_json(). Throws ResultJsonError.
LoadSpec spec_from_json(const nlohmann::json& json);

/// A whole load result: the spec echoed, counts, errors by kind, rates and schedule lag, both
/// histograms (lossless) with a summary in ms beside each, and the timeline.
nlohmann::json result_to_json(const LoadResult& result);
/// The inverse of result_to_json(); summaries in ms are ignored. Throws ResultJsonError.
LoadResult result_from_json(const nlohmann::json& json);

/// A row's server layers: `{"total": {"count", "mean_ns"}, "queue_wait": …, "upstream": …,
/// "pool_wait": …}`; a layer the variant does not measure has count 0.
nlohmann::json server_layers_to_json(const ServerLayers& layers);
/// The inverse of server_layers_to_json() (the sums from the integer means). Throws
/// ResultJsonError.
ServerLayers server_layers_from_json(const nlohmann::json& json);

}  // namespace iolab
