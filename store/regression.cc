#include "store/regression.h"

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdio>
#include <map>
#include <span>
#include <utility>

namespace iolab {
namespace {

// Persistence: a change is carried by at least this many nights after it (store/stats.h).
constexpr size_t kNightsToConfirm = 2;
// A p99 is judged as the log of microseconds: positive for any p99 above 1 µs.
constexpr double kMicrosPerSecond = 1e6;

double mean(std::span<const double> values) {
  if (values.empty()) return 0;
  double sum = 0;
  for (const double v : values) sum += v;
  return sum / static_cast<double>(values.size());
}

// A change found on the judged scale, back in the measure's own unit: for a p99 (a log scale)
// the levels are geometric means. nullopt when it is smaller than the policy's threshold.
std::optional<ChangePoint> in_unit(ChangePoint c, bool p99, double min_relative_change) {
  if (p99) {
    c.mean_before = std::exp(c.mean_before) / kMicrosPerSecond;
    c.mean_after = std::exp(c.mean_after) / kMicrosPerSecond;
    c.relative_change = c.mean_after / c.mean_before - 1;
  }
  if (std::fabs(c.relative_change) < min_relative_change) return std::nullopt;
  return c;
}

// A change that begins in the latest kNightsToConfirm nights, which E-divisive means weighs
// little (its energy statistic grows with the shorter side): those nights against the level since
// the latest change, by the same t-test at the same max_p, each of them nearer its own level than
// the old median (the persistence rule of change_points()). nullopt when there is none.
std::optional<ChangePoint> fresh_change(std::span<const double> prefix, size_t level_from,
                                        double max_p) {
  constexpr size_t kMinBefore = 4;
  if (prefix.size() < level_from + kMinBefore + kNightsToConfirm) return std::nullopt;
  const size_t at = prefix.size() - kNightsToConfirm;
  const auto before = prefix.subspan(level_from, at - level_from);
  const auto after = prefix.subspan(at);
  std::vector<double> sorted(before.begin(), before.end());
  const double old_level = median(sorted);
  const double new_level = mean(after);
  for (const double v : after) {
    if (std::fabs(v - new_level) >= std::fabs(v - old_level)) return std::nullopt;
  }
  ChangePoint c;
  c.index = at;
  c.mean_before = mean(before);
  c.mean_after = new_level;
  c.relative_change = c.mean_before == 0 ? 0 : c.mean_after / c.mean_before - 1;
  c.p = student_t_test(before, after);
  if (c.p > max_p) return std::nullopt;
  return c;
}

/// Judges one measure over one series (the nights of one scenario and variant, oldest first).
void judge_measure(const std::vector<const NightResult*>& series, bool p99,
                   std::vector<MeasureVerdict>& verdicts) {
  const RegressionPolicy& policy = series.back()->policy;
  ChangePointOptions options = change_point_options(policy, p99);
  // On a log scale the threshold applies once the change is back in seconds (in_unit()).
  const double min_change = options.min_relative_change;
  if (p99) options.min_relative_change = 0;
  std::vector<size_t> at;  // index in `series` of each judged value
  std::vector<double> values;
  for (size_t i = 0; i < series.size(); ++i) {
    const NightMeasure& m = series[i]->measure;
    if (p99 && (m.min_answers < policy.min_answers || m.p99_s <= 0)) {
      verdicts[i].insufficient = true;
      continue;
    }
    at.push_back(i);
    // A latency's noise is multiplicative (a 1 ms p99 is 3 ms on a bad night, never −1 ms):
    // judged on a log scale, a night twice as slow weighs as much as one twice as fast.
    values.push_back(p99 ? std::log(m.p99_s * kMicrosPerSecond) : m.rps);
  }
  const auto level_of = [&](std::span<const double> v) {
    return p99 ? std::exp(mean(v)) / kMicrosPerSecond : mean(v);
  };
  // In hindsight: the whole series.
  const ChangePoints all = change_points(values, options);
  for (const ChangePoint& c : all.changes) {
    verdicts[at[c.index]].change = in_unit(c, p99, min_change);
  }
  for (const size_t o : all.outliers) verdicts[at[o]].outlier = true;

  // As each night was judged: the nights up to it, at most a window of them.
  const auto window = static_cast<size_t>(std::max(policy.window, 3));
  const auto min_nights = static_cast<size_t>(std::max(policy.min_nights, 1));
  const auto alert_nights = static_cast<size_t>(std::max(policy.alert_nights, 1));
  for (size_t k = 0; k < values.size(); ++k) {
    MeasureVerdict& v = verdicts[at[k]];
    const size_t first = k + 1 > window ? k + 1 - window : 0;
    const std::span<const double> prefix(values.data() + first, k + 1 - first);
    if (k + 1 < min_nights) continue;
    v.judged = true;
    const ChangePoints found = change_points(prefix, options);
    size_t level_from = 0;
    // The change that raises the alert, located at the night (and run) where it began.
    const auto raise = [&](const ChangePoint& c) {
      NightChange change{c, 0, {}};
      change.change.index = first + c.index;
      const NightResult& start = *series[at[change.change.index]];
      change.run_id = start.run_id;
      change.night = start.night;
      v.regressed = true;
      v.alert = change;
      v.level = c.mean_before;
    };
    if (!found.changes.empty()) {
      const ChangePoint& last_found = found.changes.back();
      level_from = last_found.index;
      const auto last = in_unit(last_found, p99, min_change);
      const bool worse = last && (p99 ? last->relative_change > 0 : last->relative_change < 0);
      if (worse && prefix.size() - last->index <= alert_nights) {
        raise(*last);
        continue;
      }
    }
    if (const auto fresh = fresh_change(prefix, level_from, options.max_p)) {
      const auto last = in_unit(*fresh, p99, min_change);
      if (last && (p99 ? last->relative_change > 0 : last->relative_change < 0)) {
        raise(*last);
        continue;
      }
    }
    if (level_from + 1 < prefix.size()) {
      v.level = level_of(prefix.subspan(level_from, prefix.size() - 1 - level_from));
    }
  }
}

}  // namespace

double median(std::vector<double> values) {
  if (values.empty()) return 0;
  const size_t mid = values.size() / 2;
  std::nth_element(values.begin(), values.begin() + static_cast<std::ptrdiff_t>(mid), values.end());
  const double upper = values[mid];
  if (values.size() % 2 == 1) return upper;
  const double lower =
      *std::max_element(values.begin(), values.begin() + static_cast<std::ptrdiff_t>(mid));
  return (lower + upper) / 2;
}

ChangePointOptions change_point_options(const RegressionPolicy& policy, bool p99) {
  ChangePointOptions o;
  o.max_p = policy.max_p;
  o.window = static_cast<size_t>(std::max(policy.window, 3));
  o.min_segment = kNightsToConfirm;
  o.min_relative_change = p99 ? policy.p99_rise : policy.throughput_drop;
  return o;
}

std::vector<JudgedNight> judge_history(const std::vector<NightResult>& nights) {
  std::map<std::pair<std::string, std::string>, std::vector<size_t>> series;
  for (size_t i = 0; i < nights.size(); ++i) {
    series[{nights[i].scenario, nights[i].variant}].push_back(i);
  }
  std::vector<JudgedNight> judged(nights.size());
  for (size_t i = 0; i < nights.size(); ++i) judged[i].night = nights[i];
  for (const auto& [key, indices] : series) {
    std::vector<const NightResult*> s;
    for (const size_t i : indices) s.push_back(&nights[i]);
    std::vector<MeasureVerdict> rps(s.size());
    std::vector<MeasureVerdict> p99(s.size());
    judge_measure(s, false, rps);
    judge_measure(s, true, p99);
    for (size_t j = 0; j < indices.size(); ++j) {
      judged[indices[j]].verdict = {std::move(rps[j]), std::move(p99[j])};
    }
  }
  return judged;
}

std::vector<RegressionFlag> flags_of(const JudgedNight& j) {
  std::vector<RegressionFlag> flags;
  const NightResult& n = j.night;
  for (const auto& [measure, v] :
       {std::pair{"throughput", &j.verdict.throughput}, std::pair{"p99", &j.verdict.p99}}) {
    if (!v->regressed || !v->alert) continue;
    const ChangePoint& c = v->alert->change;
    flags.push_back({n.scenario, n.variant, measure, c.mean_after, c.mean_before, c.relative_change,
                     c.p, n.run_id, v->alert->run_id});
  }
  return flags;
}

std::string describe(const RegressionFlag& f) {
  char text[200];
  if (f.measure == "p99") {
    std::snprintf(text, sizeof(text), "%.3f ms against %.3f ms before", f.value * 1000,
                  f.before * 1000);
  } else {
    std::snprintf(text, sizeof(text), "%.1f req/s against %.1f req/s before", f.value, f.before);
  }
  char change[120];
  std::snprintf(change, sizeof(change), " (%+.1f %%, p = %.2g, since run %lld; run %lld)",
                f.relative_change * 100, f.p, static_cast<long long>(f.since_run_id),
                static_cast<long long>(f.run_id));
  return "REGRESSION " + f.scenario + " " + f.variant + " " + f.measure + ": " + text + change;
}

std::vector<RegressionFlag> current_regressions(const std::vector<JudgedNight>& judged) {
  std::map<std::pair<std::string, std::string>, const JudgedNight*> latest;
  for (const JudgedNight& j : judged) latest[{j.night.scenario, j.night.variant}] = &j;
  std::vector<RegressionFlag> flags;
  for (const auto& [key, j] : latest) {
    for (auto& f : flags_of(*j)) flags.push_back(std::move(f));
  }
  return flags;
}

}  // namespace iolab
