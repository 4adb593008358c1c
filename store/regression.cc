#include "store/regression.h"

#include <algorithm>
#include <cstddef>
#include <cstdio>
#include <map>
#include <utility>

namespace iolab {

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

RegressionVerdict judge_night(const std::vector<NightMeasure>& previous, const NightMeasure& now,
                              const RegressionPolicy& policy) {
  RegressionVerdict v;
  const size_t k = static_cast<size_t>(std::max(policy.nights, 1));
  const size_t first = previous.size() > k ? previous.size() - k : 0;
  std::vector<double> rps;
  std::vector<double> p99;
  for (size_t i = first; i < previous.size(); ++i) {
    rps.push_back(previous[i].rps);
    p99.push_back(previous[i].p99_s);
  }
  v.history = rps.size();
  if (v.history == 0 || v.history < static_cast<size_t>(std::max(policy.min_nights, 1))) {
    return v;
  }
  v.judged = true;
  v.median_rps = median(std::move(rps));
  v.median_p99_s = median(std::move(p99));
  v.throughput = v.median_rps > 0 && now.rps < v.median_rps * (1 - policy.throughput_drop);
  v.p99 = v.median_p99_s > 0 && now.p99_s > v.median_p99_s * (1 + policy.p99_rise);
  return v;
}

std::vector<JudgedNight> judge_history(const std::vector<NightResult>& nights) {
  std::map<std::pair<std::string, std::string>, std::vector<NightMeasure>> series;
  std::vector<JudgedNight> judged;
  judged.reserve(nights.size());
  for (const NightResult& n : nights) {
    auto& previous = series[{n.scenario, n.variant}];
    judged.push_back({n, judge_night(previous, n.measure, n.policy)});
    previous.push_back(n.measure);
  }
  return judged;
}

std::vector<RegressionFlag> flags_of(const JudgedNight& j) {
  std::vector<RegressionFlag> flags;
  const NightResult& n = j.night;
  if (j.verdict.throughput) {
    flags.push_back(
        {n.scenario, n.variant, "throughput", n.measure.rps, j.verdict.median_rps, n.run_id});
  }
  if (j.verdict.p99) {
    flags.push_back(
        {n.scenario, n.variant, "p99", n.measure.p99_s, j.verdict.median_p99_s, n.run_id});
  }
  return flags;
}

std::string describe(const RegressionFlag& f) {
  char text[160];
  if (f.measure == "p99") {
    std::snprintf(text, sizeof(text), "%.3f ms against a median of %.3f ms", f.value * 1000,
                  f.median * 1000);
  } else {
    std::snprintf(text, sizeof(text), "%.1f req/s against a median of %.1f req/s", f.value,
                  f.median);
  }
  return "REGRESSION " + f.scenario + " " + f.variant + " " + f.measure + ": " + text + " (run " +
         std::to_string(f.run_id) + ")";
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
