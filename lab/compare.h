#pragma once

// `iolab compare BASE NEW`: whether two sets of trials differ, as Go's benchstat says
// it. Per row and measure (req/s, p50, p99): each side's median with its 95 % interval, the
// change new/base with the 95 % interval of the ratio (Hodges–Lehmann), the p-value of a
// two-sided Mann–Whitney U test (exact for small samples), `~` where the change is not
// significant, and warnings where the trials are too few. Pure: the callers read the sides
// from files (cli/) or from the store (daemon/); no HTTP here.

#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "lab/report.h"
#include "lab/result_json.h"
#include "lab/trials.h"
#include "store/stats.h"

namespace iolab {

/// The key that pairs a row of BASE with a row of NEW: the variant with the path it loaded
/// (and the open-loop rate), as "async /remote" or "threads:8 /plaintext @400/s"; a --target
/// run's URL as it is.
std::string compare_key(const ReportRow& row);

/// One side's trials, grouped by compare_key() in the order each key first appears.
struct CompareSide {
  struct Row {
    std::string key;
    std::vector<TrialMeasures> trials;
  };
  std::vector<Row> rows;
};

/// `rows` (trials of one row in any order) grouped by key.
CompareSide compare_side(const std::vector<ReportRow>& rows);

/// The rows of a result file written by `--format json` (`iolab run` or `iolab experiment`,
/// with or without trials). Throws ResultJsonError naming what is wrong.
std::vector<ReportRow> rows_from_report_json(const nlohmann::json& json);

/// One row and measure compared.
struct MeasureChange {
  std::string key;
  std::string measure;  ///< "req/s", "p50" or "p99" (ms).
  MedianCi base;
  MedianCi next;
  RatioCi ratio;  ///< median(new)/median(base) with the interval of the ratio.
  MannWhitney test;
  /// "n < 4: too few trials to detect a difference", "n < 6: no interval"; empty when none.
  std::vector<std::string> warnings;

  /// True when the change is significant at the comparison's alpha: `~` otherwise.
  bool significant() const { return test.significant; }
};

/// BASE against NEW.
struct Comparison {
  double alpha = 0.05;
  std::vector<MeasureChange> changes;  ///< Per key in BASE's order, then req/s, p50, p99.
  std::vector<std::string> only_base;  ///< Keys in BASE without a match in NEW.
  std::vector<std::string> only_new;   ///< Keys in NEW without a match in BASE.
};

/// Compares every key present on both sides at level `alpha` (intervals at 1 − alpha). When each
/// side holds one row and their keys differ, those two rows are compared, as "async /remote →
/// threads:10 /remote". Pure.
Comparison compare_sides(const CompareSide& base, const CompareSide& next, double alpha = 0.05);

/// The comparison as a text table (rst, with the warnings below it), csv or json.
std::string render_comparison(const Comparison& comparison, ReportFormat format);
/// The comparison as JSON (what render_comparison(…, kJson) prints).
nlohmann::json comparison_json(const Comparison& comparison);

}  // namespace iolab
