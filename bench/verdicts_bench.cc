// Prints the figures of the verdicts harness from the recorded noise (tests/verdicts_harness.h):
// A/A false alarms per 100 metric-nights (change points and the old 10 %-of-median rule),
// detection of persistent 3σ steps and 10 % throughput drops within 3 nights, and compare's
// A/A false positives and power at n = 10. Run by bench/verdicts.sh.
#include <cstdio>
#include <cstdlib>
#include <string>

#include "tests/verdicts_harness.h"

using namespace iolab::harness;

int main(int argc, char** argv) {
  const std::string path = argc > 1 ? argv[1] : "tests/data/verdicts_noise.csv";
  Settings s;
  if (const char* h = std::getenv("HISTORIES")) s.histories = std::strtoul(h, nullptr, 10);
  if (const char* k = std::getenv("STEPS")) s.steps = std::strtoul(k, nullptr, 10);
  const Fixture fixture = read_fixture(path);
  std::mt19937_64 rng(s.seed);
  std::printf(
      "fixture %s: %zu rows; nights are the median of %zu runs drawn from a row's runs\n"
      "A/A: %zu histories of %zu nights per row; steps at night %zu, %zu per row and measure\n\n",
      path.c_str(), fixture.size(), s.trials_per_night, s.histories, s.nights, s.step_at, s.steps);
  std::printf("%-22s %-5s %5s %7s %7s | %9s %9s | %9s %9s | %9s %9s\n", "row", "meas", "runs",
              "judged", "night σ", "A/A new", "A/A old", "3σ new", "3σ old", "-10% new",
              "-10% old");
  std::printf("%-22s %-5s %5s %7s %7s | %9s %9s | %9s %9s | %9s %9s\n", "", "", "", "nights",
              "%", "/100", "/100", "≤3 nights", "", "≤3 nights", "");
  AlarmRate all_now;
  AlarmRate all_old;
  Detection all_3s[2];  // rps, p99
  Detection all_10;
  for (const auto& [row, runs] : fixture) {
    for (const Measure m : {Measure::kRps, Measure::kP99}) {
      AlarmRate now;
      AlarmRate old;
      aa_alarms(runs, m, s, rng, now, old);
      const double sigma = night_sigma(runs, m, s, rng);
      const iolab::NightMeasure typical = draw_night(runs, 101, rng);
      const double level = m == Measure::kRps ? typical.rps : typical.p99_s;
      const double three = m == Measure::kRps ? 1 - 3 * sigma / level : 1 + 3 * sigma / level;
      Detection d3;
      detect_steps(runs, m, three, s, rng, d3);
      Detection d10;
      if (m == Measure::kRps) detect_steps(runs, m, 0.9, s, rng, d10);
      const bool insufficient = m == Measure::kP99 && now.metric_nights == 0;
      all_now.alarms += now.alarms;
      all_now.metric_nights += now.metric_nights;
      all_old.alarms += old.alarms;
      all_old.metric_nights += old.metric_nights;
      // A row whose p99 nights are mostly insufficient cannot be judged on it: not counted.
      if (now.metric_nights * 2 >= s.histories * s.nights) {
        Detection& d = all_3s[m == Measure::kRps ? 0 : 1];
        d.steps += d3.steps;
        d.detected += d3.detected;
        d.detected_old += d3.detected_old;
      }
      all_10.steps += d10.steps;
      all_10.detected += d10.detected;
      all_10.detected_old += d10.detected_old;
      char ten_new[16] = "-";
      char ten_old[16] = "-";
      if (d10.steps) {
        std::snprintf(ten_new, sizeof ten_new, "%.0f%%", d10.share() * 100);
        std::snprintf(ten_old, sizeof ten_old, "%.0f%%", d10.share_old() * 100);
      }
      char aa_new[24];
      char det_new[24];
      if (insufficient) {
        std::snprintf(aa_new, sizeof aa_new, "insuff.");
        std::snprintf(det_new, sizeof det_new, "insuff.");
      } else {
        std::snprintf(aa_new, sizeof aa_new, "%.2f", now.per_100());
        std::snprintf(det_new, sizeof det_new, "%.0f%%", d3.share() * 100);
      }
      const double judged = 100.0 * static_cast<double>(now.metric_nights) /
                            static_cast<double>(s.histories * s.nights);
      std::printf("%-22s %-5s %5zu %6.0f%% %7.1f | %9s %9.2f | %9s %8.0f%% | %9s %9s\n",
                  row.c_str(), m == Measure::kRps ? "rps" : "p99", runs.size(), judged,
                  100 * sigma / level, aa_new, old.per_100(), det_new, d3.share_old() * 100,
                  ten_new, ten_old);
    }
  }
  std::printf(
      "\nall rows: A/A false alarms per 100 metric-nights: change points %.2f (%zu in %zu), "
      "old rule %.2f (%zu in %zu)\n",
      all_now.per_100(), all_now.alarms, all_now.metric_nights, all_old.per_100(), all_old.alarms,
      all_old.metric_nights);
  std::printf(
      "3σ persistent steps flagged within 3 nights: rps: change points %.0f%%, old rule %.0f%%; "
      "p99 (rows with at least half their nights judged): change points %.0f%%, old rule %.0f%%\n",
      all_3s[0].share() * 100, all_3s[0].share_old() * 100, all_3s[1].share() * 100,
      all_3s[1].share_old() * 100);
  std::printf("10%% throughput drops flagged within 3 nights: change points %.0f%%, old rule %.0f%%\n",
              all_10.share() * 100, all_10.share_old() * 100);

  std::printf("\ncompare, %zu pairs of n = %zu per row (distinct runs), alpha = 0.05\n", s.pairs,
              s.pair_trials);
  std::printf("%-22s %-5s %10s %14s\n", "row", "meas", "A/A FP", "power 10% shift");
  CompareRates all;
  for (const auto& [row, runs] : fixture) {
    for (const Measure m : {Measure::kRps, Measure::kP99}) {
      CompareRates r;
      compare_pairs(runs, m, m == Measure::kRps ? 0.9 : 1.1, s, rng, r);
      all.pairs += r.pairs;
      all.false_positives += r.false_positives;
      all.detected += r.detected;
      std::printf("%-22s %-5s %9.1f%% %13.0f%%\n", row.c_str(), m == Measure::kRps ? "rps" : "p99",
                  r.fp_share() * 100, r.power() * 100);
    }
  }
  std::printf("all: A/A false positives %.1f%% of %zu pairs, power for a 10%% shift %.0f%%\n",
              all.fp_share() * 100, all.pairs, all.power() * 100);
  return 0;
}
