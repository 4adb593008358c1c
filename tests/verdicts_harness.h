#pragma once

// The verdicts harness, "measured, not assumed": real noise recorded on this machine
// (tests/data/verdicts_noise.csv: 50 identical short runs of each of a few nightly rows)
// resampled into synthetic nightly histories and compare pairs. Shared by the unit test
// (tests/unit/store/verdicts_harness_test.cc) and bench/verdicts.sh (the iolab_verdicts_bench
// tool), so that the figures in the README are the ones a test guards. Deterministic: a fixed
// seed and a generator whose sequence the standard fixes (mt19937_64), indices by modulo.

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <fstream>
#include <map>
#include <random>
#include <sstream>
#include <stdexcept>
#include <string>
#include <vector>

#include "store/regression.h"
#include "store/stats.h"

namespace iolab::harness {

/// One recorded run.
struct Trial {
  double rps = 0;
  double p50_ms = 0;
  double p99_ms = 0;
  uint64_t requests = 0;
};

/// The fixture: row key ("remote async") → its runs, in the order they ran.
using Fixture = std::map<std::string, std::vector<Trial>>;

/// Reads `row,trial,rps,p50_ms,p99_ms,requests` (a header line first).
inline Fixture read_fixture(const std::string& path) {
  std::ifstream in(path);
  if (!in) throw std::runtime_error(path + ": cannot read");
  Fixture f;
  std::string line;
  std::getline(in, line);
  while (std::getline(in, line)) {
    if (line.empty()) continue;
    std::stringstream s(line);
    std::string row;
    std::string field;
    std::getline(s, row, ',');
    std::getline(s, field, ',');  // trial index
    Trial t;
    std::getline(s, field, ',');
    t.rps = std::stod(field);
    std::getline(s, field, ',');
    t.p50_ms = std::stod(field);
    std::getline(s, field, ',');
    t.p99_ms = std::stod(field);
    std::getline(s, field, ',');
    t.requests = std::stoull(field);
    f[row].push_back(t);
  }
  return f;
}

/// The settings of a run of the harness.
struct Settings {
  size_t trials_per_night = 3;  ///< As config/experiments/nightly.yaml.
  size_t nights = 40;           ///< Length of each A/A history.
  size_t histories = 20;        ///< A/A histories per row.
  size_t step_at = 30;          ///< The night a step is injected at (nights before it).
  size_t steps = 20;            ///< Injected steps per row and measure.
  size_t pairs = 200;           ///< compare pairs per row.
  size_t pair_trials = 10;      ///< Trials per side of a compare pair.
  uint64_t seed = 14;
};

enum class Measure { kRps, kP99 };

inline double value_of(const Trial& t, Measure m) { return m == Measure::kRps ? t.rps : t.p99_ms; }

/// A night: the median of `trials` runs drawn (with replacement) from `runs`, its fewest
/// answers, times `factor` (an injected step).
inline NightMeasure draw_night(const std::vector<Trial>& runs, size_t trials, std::mt19937_64& rng,
                               double rps_factor = 1, double p99_factor = 1) {
  std::vector<double> rps;
  std::vector<double> p99;
  uint64_t fewest = UINT64_MAX;
  for (size_t i = 0; i < trials; ++i) {
    const Trial& t = runs[rng() % runs.size()];
    rps.push_back(t.rps * rps_factor);
    p99.push_back(t.p99_ms / 1000 * p99_factor);
    fewest = std::min(fewest, t.requests);
  }
  return {median(rps), median(p99), fewest, trials};
}

/// The rule before change points, kept here only to measure it: flag when the night is beyond
/// 10 % of the median of the last 7 nights (judged from 3 nights on).
inline bool old_rule_flags(const std::vector<double>& previous, double now, Measure m) {
  if (previous.size() < 3) return false;
  const size_t first = previous.size() > 7 ? previous.size() - 7 : 0;
  const double med = median(std::vector<double>(previous.begin() + static_cast<long>(first),
                                                 previous.end()));
  return m == Measure::kRps ? now < med * 0.9 : now > med * 1.1;
}

inline std::vector<NightResult> as_nights(const std::vector<NightMeasure>& measures,
                                          const RegressionPolicy& policy = {}) {
  std::vector<NightResult> out;
  for (size_t i = 0; i < measures.size(); ++i) {
    // run_id is the night's index + 1: an alert names the night its change began by it.
    out.push_back(NightResult{.scenario = std::string(1, 's'),
                              .variant = std::string(1, 'v'),
                              .night = {},
                              .run_id = static_cast<int64_t>(i + 1),
                              .experiment_id = 0,
                              .measure = measures[i],
                              .policy = policy});
  }
  return out;
}

inline const MeasureVerdict& verdict_of(const JudgedNight& j, Measure m) {
  return m == Measure::kRps ? j.verdict.throughput : j.verdict.p99;
}

/// False alarms of one rule: alarms raised (a new alert, not one carried from the night
/// before) per judged metric-night.
struct AlarmRate {
  size_t alarms = 0;
  size_t metric_nights = 0;
  double per_100() const {
    return metric_nights ? 100.0 * static_cast<double>(alarms) / static_cast<double>(metric_nights)
                         : 0;
  }
};

/// A/A: every night drawn from the same runs. The new rule and the old one over `measure`.
inline void aa_alarms(const std::vector<Trial>& runs, Measure measure, const Settings& s,
                      std::mt19937_64& rng, AlarmRate& now, AlarmRate& old) {
  for (size_t h = 0; h < s.histories; ++h) {
    std::vector<NightMeasure> nights;
    for (size_t i = 0; i < s.nights; ++i) nights.push_back(draw_night(runs, s.trials_per_night, rng));
    const auto judged = judge_history(as_nights(nights));
    int64_t alert_since = 0;
    std::vector<double> previous;
    for (size_t i = 0; i < judged.size(); ++i) {
      const MeasureVerdict& v = verdict_of(judged[i], measure);
      const double value = measure == Measure::kRps ? nights[i].rps : nights[i].p99_s;
      if (v.judged) {
        ++now.metric_nights;
        if (v.regressed && v.alert->run_id != alert_since) ++now.alarms;
        alert_since = v.regressed ? v.alert->run_id : 0;
      }
      // The old rule judged every night that had 3 before it, whatever its answers.
      if (previous.size() >= 3) {
        ++old.metric_nights;
        old.alarms += old_rule_flags(previous, value, measure);
      }
      previous.push_back(value);
    }
  }
}

/// The spread of a night's value (median of trials_per_night runs): its standard deviation.
inline double night_sigma(const std::vector<Trial>& runs, Measure m, const Settings& s,
                          std::mt19937_64& rng) {
  std::vector<double> v;
  for (int i = 0; i < 2000; ++i) {
    const NightMeasure n = draw_night(runs, s.trials_per_night, rng);
    v.push_back(m == Measure::kRps ? n.rps : n.p99_s);
  }
  double mean = 0;
  for (const double x : v) mean += x;
  mean /= static_cast<double>(v.size());
  double sq = 0;
  for (const double x : v) sq += (x - mean) * (x - mean);
  return std::sqrt(sq / static_cast<double>(v.size() - 1));
}

/// Detection: the share of persistent steps (each night from step_at on multiplied by the
/// factor for `measure`: rps down, p99 up) that the new rule flags within 3 nights (by night
/// step_at + 2), and the same for the old rule.
struct Detection {
  size_t detected = 0;
  size_t detected_old = 0;
  size_t steps = 0;
  double share() const { return steps ? static_cast<double>(detected) / static_cast<double>(steps) : 0; }
  double share_old() const {
    return steps ? static_cast<double>(detected_old) / static_cast<double>(steps) : 0;
  }
};

inline void detect_steps(const std::vector<Trial>& runs, Measure measure, double factor,
                         const Settings& s, std::mt19937_64& rng, Detection& d) {
  for (size_t k = 0; k < s.steps; ++k) {
    std::vector<NightMeasure> nights;
    for (size_t i = 0; i < s.step_at + 3; ++i) {
      const bool after = i >= s.step_at;
      nights.push_back(draw_night(runs, s.trials_per_night, rng,
                                  after && measure == Measure::kRps ? factor : 1,
                                  after && measure == Measure::kP99 ? factor : 1));
    }
    const auto judged = judge_history(as_nights(nights));
    bool found = false;
    bool found_old = false;
    std::vector<double> previous;
    for (size_t i = 0; i < judged.size(); ++i) {
      const double value = measure == Measure::kRps ? nights[i].rps : nights[i].p99_s;
      if (i >= s.step_at) {
        const MeasureVerdict& v = verdict_of(judged[i], measure);
        // The change may be placed one night early by noise; never earlier.
        found |= v.regressed && static_cast<size_t>(v.alert->run_id) >= s.step_at;
        found_old |= old_rule_flags(previous, value, measure);
      }
      previous.push_back(value);
    }
    ++d.steps;
    d.detected += found;
    d.detected_old += found_old;
  }
}

/// compare at n = pair_trials per side: the share of pairs called significant (α = 0.05) when
/// both sides come from the same runs (A/A), and when NEW is shifted by `factor`.
struct CompareRates {
  size_t pairs = 0;
  size_t false_positives = 0;
  size_t detected = 0;
  double fp_share() const {
    return pairs ? static_cast<double>(false_positives) / static_cast<double>(pairs) : 0;
  }
  double power() const { return pairs ? static_cast<double>(detected) / static_cast<double>(pairs) : 0; }
};

inline void compare_pairs(const std::vector<Trial>& runs, Measure measure, double factor,
                          const Settings& s, std::mt19937_64& rng, CompareRates& r) {
  std::vector<size_t> order(runs.size());
  for (size_t p = 0; p < s.pairs; ++p) {
    // 2·n distinct runs: a partial Fisher–Yates shuffle.
    for (size_t i = 0; i < order.size(); ++i) order[i] = i;
    for (size_t i = 0; i < 2 * s.pair_trials && i < order.size(); ++i) {
      std::swap(order[i], order[i + rng() % (order.size() - i)]);
    }
    std::vector<double> base;
    std::vector<double> next;
    std::vector<double> shifted;
    for (size_t i = 0; i < s.pair_trials; ++i) {
      base.push_back(value_of(runs[order[i]], measure));
      next.push_back(value_of(runs[order[s.pair_trials + i]], measure));
      shifted.push_back(next.back() * factor);
    }
    ++r.pairs;
    r.false_positives += mann_whitney(base, next).significant;
    r.detected += mann_whitney(base, shifted).significant;
  }
}

}  // namespace iolab::harness
