#include "store/history.h"

#include <algorithm>
#include <cstdint>
#include <map>
#include <tuple>

namespace iolab {

using nlohmann::json;

nlohmann::json policy_json(const RegressionPolicy& p) {
  return {{"max_p", p.max_p},
          {"window", p.window},
          {"min_nights", p.min_nights},
          {"throughput_drop", p.throughput_drop},
          {"p99_rise", p.p99_rise},
          {"min_answers", p.min_answers},
          {"alert_nights", p.alert_nights}};
}

RegressionPolicy policy_from_json(const nlohmann::json& j) {
  RegressionPolicy p;
  if (!j.is_object()) return p;
  p.max_p = j.value("max_p", p.max_p);
  // Rows stored before change points name the window `nights`.
  p.window = j.value("window", j.value("nights", p.window));
  p.min_nights = j.value("min_nights", p.min_nights);
  p.throughput_drop = j.value("throughput_drop", p.throughput_drop);
  p.p99_rise = j.value("p99_rise", p.p99_rise);
  p.min_answers = j.value("min_answers", p.min_answers);
  p.alert_nights = j.value("alert_nights", p.alert_nights);
  return p;
}

std::vector<NightResult> History::nights(const std::string& scenario) const {
  // Only finished experiment rows, and only their measured summary: this runs on a metrics
  // scrape, and reading every run whole made its cost and the daemon's memory grow with the
  // store (bench/soak.sh: +50 MiB RSS over 230 ad-hoc runs).
  RunQuery query;
  query.limit = 100000;
  query.state = RunState::kDone;
  query.in_experiment = true;
  query.summary = true;
  std::vector<RunRecord> runs = store_.runs(query);
  // A night is one experiment row: its trials (runs with the same experiment, scenario and
  // variant) give one value per measure, the median of the trials.
  struct Trials {
    NightResult night;
    std::vector<double> rps;
    std::vector<double> p99_s;
  };
  std::vector<Trials> rows;
  std::map<std::tuple<int64_t, std::string, std::string>, size_t> index;
  // The store lists newest first; a history reads oldest first.
  for (auto it = runs.rbegin(); it != runs.rend(); ++it) {
    const RunRecord& r = *it;
    if (r.state != RunState::kDone || !r.experiment_id || !r.spec.is_object()) continue;
    const auto s = r.spec.find("scenario");
    if (s == r.spec.end() || !s->is_string()) continue;
    if (!scenario.empty() && *s != scenario) continue;
    if (!r.result.is_object() || !r.result.contains("measured")) continue;
    const json& m = r.result["measured"];
    const auto key = std::make_tuple(*r.experiment_id, s->get<std::string>(), r.label);
    auto [at, fresh] = index.try_emplace(key, rows.size());
    if (fresh) {
      Trials t;
      t.night.scenario = s->get<std::string>();
      t.night.variant = r.label;
      t.night.night = r.finished_at.empty() ? r.created_at : r.finished_at;
      t.night.run_id = r.id;
      t.night.experiment_id = *r.experiment_id;
      t.night.measure.min_answers = UINT64_MAX;
      t.night.measure.trials = 0;
      t.night.policy = policy_from_json(r.spec.value("regression", json()));
      rows.push_back(std::move(t));
    }
    Trials& t = rows[at->second];
    t.rps.push_back(m.value("rps", 0.0));
    if (m.contains("latency_ms") && m["latency_ms"].is_object()) {
      t.p99_s.push_back(m["latency_ms"].value("p99", 0.0) / 1000);
    }
    t.night.measure.min_answers =
        std::min(t.night.measure.min_answers, m.value("requests", uint64_t{0}));
    ++t.night.measure.trials;
  }
  std::vector<NightResult> nights;
  nights.reserve(rows.size());
  for (Trials& t : rows) {
    t.night.measure.rps = median(std::move(t.rps));
    t.night.measure.p99_s = median(std::move(t.p99_s));
    nights.push_back(std::move(t.night));
  }
  return nights;
}

std::vector<JudgedNight> History::judged_nights() const {
  // The history is read again only when the newest runs changed (a metrics scrape, a poll).
  RunQuery newest;
  newest.limit = 8;
  std::string key;
  for (const auto& r : store_.runs(newest)) {
    key += std::to_string(r.id) + std::string(to_string(r.state)) + ",";
  }
  const std::lock_guard lock(mutex_);
  if (key != key_ || key.empty()) {
    judged_ = judge_history(nights());
    key_ = key;
  }
  return judged_;
}

std::vector<RegressionFlag> History::experiment_regressions(int64_t experiment_id) const {
  std::vector<RegressionFlag> flags;
  for (const auto& judged : judged_nights()) {
    if (judged.night.experiment_id != experiment_id) continue;
    for (auto& f : flags_of(judged)) flags.push_back(std::move(f));
  }
  return flags;
}

std::vector<RegressionFlag> History::regressions() const {
  return current_regressions(judged_nights());
}

}  // namespace iolab
