#pragma once

#include <cstdint>
#include <mutex>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "store/regression.h"
#include "store/run_store.h"

namespace iolab {

/// `policy` as stored in an experiment row's spec (`"regression"`).
nlohmann::json policy_json(const RegressionPolicy& policy);
/// The policy stored by policy_json(); the defaults for what is missing.
RegressionPolicy policy_from_json(const nlohmann::json& j);

/// The nightly history read from a run store: the finished experiment rows, judged night by
/// night. Thread-safe; the judged history is cached until the newest runs change.
class History {
 public:
  /// Reads `store`, which must outlive this.
  explicit History(RunStore& store) : store_(store) {}

  /// The finished runs that belong to a scenario (experiment rows), oldest first; only
  /// `scenario`'s when not empty.
  std::vector<NightResult> nights(const std::string& scenario = "") const;
  /// Every night judged against the nights before it (judge_history() over nights()).
  std::vector<JudgedNight> judged_nights() const;
  /// The regressions flagged on the latest night of each scenario and variant.
  std::vector<RegressionFlag> regressions() const;
  /// The regressions of experiment `experiment_id`'s rows against the nights before them.
  std::vector<RegressionFlag> experiment_regressions(int64_t experiment_id) const;

 private:
  RunStore& store_;
  mutable std::mutex mutex_;
  mutable std::string key_;  // the newest runs the cache was read at
  mutable std::vector<JudgedNight> judged_;
};

}  // namespace iolab
