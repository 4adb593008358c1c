#include "lab/compare.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <set>

#include "lab/result_json.h"

namespace iolab {
namespace {

using nlohmann::json;

std::string fixed(double value, int decimals) {
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.*f", decimals, value);
  return buf;
}

std::string percent(double ratio) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%+.1f%%", (ratio - 1) * 100);
  return buf;
}

std::string p_value(double p) {
  if (p < 0.001) return "<0.001";
  return fixed(p, 3);
}

struct MeasureOf {
  const char* name;
  double TrialMeasures::*field;
  int decimals;
};
constexpr MeasureOf kMeasures[] = {{"req/s", &TrialMeasures::rps, 1},
                                   {"p50", &TrialMeasures::p50_ms, 3},
                                   {"p99", &TrialMeasures::p99_ms, 3}};

int decimals_of(const std::string& measure) {
  for (const auto& m : kMeasures) {
    if (measure == m.name) return m.decimals;
  }
  return 3;
}

std::vector<double> values(const std::vector<TrialMeasures>& trials, const MeasureOf& m) {
  std::vector<double> out;
  for (const auto& t : trials) {
    // A trial without answers has no latency to compare (its req/s of 0 still counts).
    if (m.field != &TrialMeasures::rps && t.requests == 0) continue;
    out.push_back(t.*m.field);
  }
  return out;
}

std::vector<std::vector<std::string>> cells_of(const Comparison& c, bool text) {
  std::vector<std::vector<std::string>> rows;
  for (const MeasureChange& m : c.changes) {
    const int d = decimals_of(m.measure);
    std::string change = m.ratio.valid ? percent(m.ratio.ratio) : "-";
    std::string interval = m.ratio.has_interval
                               ? "[" + percent(m.ratio.low) + ", " + percent(m.ratio.high) + "]"
                               : "-";
    if (text && !m.significant()) change = "~";
    const std::string n = std::to_string(m.base.n) + "+" + std::to_string(m.next.n);
    if (text) {
      rows.push_back({m.key, m.measure, median_ci_text(m.base, d), median_ci_text(m.next, d), change, interval,
                      p_value(m.test.p), n});
    } else {
      auto end = [&](const MedianCi& x, bool high) {
        return x.has_interval ? fixed(high ? x.high : x.low, d) : std::string();
      };
      rows.push_back({m.key, m.measure, fixed(m.base.median, d), end(m.base, false),
                      end(m.base, true), std::to_string(m.base.n), fixed(m.next.median, d),
                      end(m.next, false), end(m.next, true), std::to_string(m.next.n),
                      m.ratio.valid ? fixed((m.ratio.ratio - 1) * 100, 2) : "",
                      m.ratio.has_interval ? fixed((m.ratio.low - 1) * 100, 2) : "",
                      m.ratio.has_interval ? fixed((m.ratio.high - 1) * 100, 2) : "",
                      fixed(m.test.p, 6), m.significant() ? "1" : "0"});
    }
  }
  return rows;
}

std::string render_text(const Comparison& c) {
  std::vector<std::string> header = {"variant", "measure", "base",   "new",
                                     "change",  "95% CI",  "p",      "n"};
  const auto rows = cells_of(c, true);
  std::vector<size_t> widths(header.size());
  for (size_t i = 0; i < header.size(); ++i) {
    widths[i] = display_width(header[i]);
    for (const auto& r : rows) widths[i] = std::max(widths[i], display_width(r[i]));
  }
  auto line = [&](const std::vector<std::string>& cells) {
    std::string out;
    for (size_t i = 0; i < cells.size(); ++i) {
      out += cells[i];
      if (i + 1 < cells.size()) out += std::string(widths[i] - display_width(cells[i]) + 2, ' ');
    }
    return out + "\n";
  };
  std::string out = line(header);
  for (const auto& r : rows) out += line(r);
  out += "base, new: median of the trials [95 % interval, order statistics]; p50, p99 in ms.\n";
  out += "change: new/base − 1 with the 95 % interval of the ratio (Hodges–Lehmann); p: two-sided "
         "Mann–Whitney U; ~: not significant at α = " +
         fixed(c.alpha, 2) + ".\n";
  std::set<std::string> said;
  for (const MeasureChange& m : c.changes) {
    for (const auto& w : m.warnings) {
      const std::string text = "warning: " + m.key + ": " + w + "\n";
      if (said.insert(text).second) out += text;
    }
  }
  for (const auto& k : c.only_base) out += "note: " + k + " is only in BASE\n";
  for (const auto& k : c.only_new) out += "note: " + k + " is only in NEW\n";
  return out;
}

std::string render_csv(const Comparison& c) {
  std::string out =
      "variant,measure,base,base_low,base_high,base_n,new,new_low,new_high,new_n,change_pct,"
      "change_low_pct,change_high_pct,p,significant\n";
  for (const auto& r : cells_of(c, false)) {
    for (size_t i = 0; i < r.size(); ++i) out += (i ? "," : "") + r[i];
    out += "\n";
  }
  return out;
}

json ci_json(const MedianCi& m) {
  json j = {{"median", m.median}, {"n", m.n}};
  j["low"] = m.has_interval ? json(m.low) : json(nullptr);
  j["high"] = m.has_interval ? json(m.high) : json(nullptr);
  return j;
}

}  // namespace

std::string compare_key(const ReportRow& row) {
  // A --target run carries no worker usage, and its label is already the URL it loaded.
  if (!row.usage) return row.label;
  std::string key = row.label + " " + row.result.spec.target.target;
  if (row.result.spec.rate > 0) key += " @" + fixed(row.result.spec.rate, 0) + "/s";
  return key;
}

CompareSide compare_side(const std::vector<ReportRow>& rows) {
  CompareSide side;
  for (const ReportRow& row : rows) {
    const std::string key = compare_key(row);
    auto it = std::find_if(side.rows.begin(), side.rows.end(),
                           [&](const CompareSide::Row& r) { return r.key == key; });
    if (it == side.rows.end()) it = side.rows.insert(side.rows.end(), CompareSide::Row{key, {}});
    it->trials.push_back(measures_of(row));
  }
  return side;
}

std::vector<ReportRow> rows_from_report_json(const json& j) {
  if (!j.is_array()) throw ResultJsonError("expected an array of rows (--format json)");
  std::vector<ReportRow> rows;
  for (size_t i = 0; i < j.size(); ++i) {
    const json& r = j[i];
    if (!r.is_object() || !r.contains("variant") || !r["variant"].is_string()) {
      throw ResultJsonError("row " + std::to_string(i) + ": expected an object with 'variant'");
    }
    try {
      ReportRow row{r["variant"].get<std::string>(), result_from_json(r), r.value("bound_rps", 0.0),
                    std::nullopt};
      if (r.contains("usage") && r["usage"].is_object()) {
        const json& u = r["usage"];
        ProcessUsage usage;
        usage.rss_bytes = u.value("rss_bytes", uint64_t{0});
        usage.peak_rss_bytes = u.value("peak_rss_bytes", uint64_t{0});
        usage.cpu_seconds = u.value("cpu_seconds", 0.0);
        row.usage = usage;
      }
      if (r.contains("server")) row.server = server_layers_from_json(r["server"]);
      rows.push_back(std::move(row));
    } catch (const ResultJsonError& e) {
      throw ResultJsonError("row " + std::to_string(i) + ": " + e.what());
    }
  }
  return rows;
}

Comparison compare_sides(const CompareSide& base, const CompareSide& next, double alpha) {
  Comparison c;
  c.alpha = alpha;
  const double confidence = 1 - alpha;
  const size_t min_interval = min_samples_for_interval(confidence);
  // One row against one other ("async against threads:10"): the two are what is compared.
  const bool one_each = base.rows.size() == 1 && next.rows.size() == 1 &&
                        base.rows[0].key != next.rows[0].key;
  for (const auto& b : base.rows) {
    auto n = std::find_if(next.rows.begin(), next.rows.end(),
                          [&](const CompareSide::Row& r) { return r.key == b.key; });
    if (one_each) n = next.rows.begin();
    if (n == next.rows.end()) {
      c.only_base.push_back(b.key);
      continue;
    }
    const std::string key = one_each ? b.key + " → " + n->key : b.key;
    for (const MeasureOf& m : kMeasures) {
      const std::vector<double> bv = values(b.trials, m);
      const std::vector<double> nv = values(n->trials, m);
      MeasureChange change;
      change.key = key;
      change.measure = m.name;
      change.base = median_with_ci(bv, confidence);
      change.next = median_with_ci(nv, confidence);
      change.ratio = ratio_with_ci(bv, nv, confidence);
      change.test = mann_whitney(bv, nv, alpha);
      const size_t fewest = std::min(bv.size(), nv.size());
      if (change.test.too_few_to_detect) {
        change.warnings.push_back("n = " + std::to_string(bv.size()) + "+" +
                                  std::to_string(nv.size()) +
                                  ": too few trials to detect a difference (need ≥ 4 each)");
      } else if (fewest < min_interval) {
        change.warnings.push_back("n = " + std::to_string(bv.size()) + "+" +
                                  std::to_string(nv.size()) + ": too few trials for an interval "
                                  "of the median (need ≥ " + std::to_string(min_interval) +
                                  " each)");
      }
      c.changes.push_back(std::move(change));
    }
  }
  for (const auto& n : next.rows) {
    if (one_each) break;
    const bool matched = std::any_of(base.rows.begin(), base.rows.end(),
                                     [&](const CompareSide::Row& r) { return r.key == n.key; });
    if (!matched) c.only_new.push_back(n.key);
  }
  return c;
}

json comparison_json(const Comparison& c) {
  json rows = json::array();
  for (const MeasureChange& m : c.changes) {
    json j = {{"variant", m.key},
              {"measure", m.measure},
              {"base", ci_json(m.base)},
              {"new", ci_json(m.next)},
              {"p", m.test.p},
              {"exact", m.test.exact},
              {"significant", m.significant()},
              {"warnings", m.warnings}};
    if (m.ratio.valid) {
      j["change"] = {{"ratio", m.ratio.ratio},
                     {"percent", (m.ratio.ratio - 1) * 100},
                     {"low_percent", m.ratio.has_interval ? json((m.ratio.low - 1) * 100) : json()},
                     {"high_percent",
                      m.ratio.has_interval ? json((m.ratio.high - 1) * 100) : json()}};
    } else {
      j["change"] = nullptr;
    }
    rows.push_back(std::move(j));
  }
  return {{"alpha", c.alpha},
          {"changes", rows},
          {"only_base", c.only_base},
          {"only_new", c.only_new}};
}

std::string render_comparison(const Comparison& c, ReportFormat format) {
  switch (format) {
    case ReportFormat::kRst:
      return render_text(c);
    case ReportFormat::kCsv:
      return render_csv(c);
    case ReportFormat::kJson:
      return comparison_json(c).dump(2) + "\n";
  }
  return {};
}

}  // namespace iolab
