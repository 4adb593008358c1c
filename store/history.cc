#include "store/history.h"

namespace iolab {

using nlohmann::json;

nlohmann::json policy_json(const RegressionPolicy& p) {
  return {{"nights", p.nights},
          {"min_nights", p.min_nights},
          {"throughput_drop", p.throughput_drop},
          {"p99_rise", p.p99_rise}};
}

RegressionPolicy policy_from_json(const nlohmann::json& j) {
  RegressionPolicy p;
  if (!j.is_object()) return p;
  p.nights = j.value("nights", p.nights);
  p.min_nights = j.value("min_nights", p.min_nights);
  p.throughput_drop = j.value("throughput_drop", p.throughput_drop);
  p.p99_rise = j.value("p99_rise", p.p99_rise);
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
  std::vector<NightResult> nights;
  // The store lists newest first; a history reads oldest first.
  for (auto it = runs.rbegin(); it != runs.rend(); ++it) {
    const RunRecord& r = *it;
    if (r.state != RunState::kDone || !r.experiment_id || !r.spec.is_object()) continue;
    const auto s = r.spec.find("scenario");
    if (s == r.spec.end() || !s->is_string()) continue;
    if (!scenario.empty() && *s != scenario) continue;
    if (!r.result.is_object() || !r.result.contains("measured")) continue;
    const json& m = r.result["measured"];
    NightResult n;
    n.scenario = s->get<std::string>();
    n.variant = r.label;
    n.night = r.finished_at.empty() ? r.created_at : r.finished_at;
    n.run_id = r.id;
    n.experiment_id = *r.experiment_id;
    n.measure.rps = m.value("rps", 0.0);
    if (m.contains("latency_ms") && m["latency_ms"].is_object()) {
      n.measure.p99_s = m["latency_ms"].value("p99", 0.0) / 1000;
    }
    n.policy = policy_from_json(r.spec.value("regression", json()));
    nights.push_back(std::move(n));
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
