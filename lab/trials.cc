#include "lab/trials.h"

#include <cmath>
#include <span>

#include "core/duration.h"

namespace iolab {

std::vector<TrialRow> single_trials(std::vector<ReportRow> rows) {
  std::vector<TrialRow> out;
  out.reserve(rows.size());
  for (auto& row : rows) out.push_back(TrialRow{{std::move(row)}});
  return out;
}

std::vector<TrialRow> run_interleaved(size_t rows, int trials,
                                      const std::function<ReportRow(size_t row, int trial)>& run,
                                      std::stop_token stop) {
  std::vector<TrialRow> out(rows);
  for (int t = 0; t < trials; ++t) {
    for (size_t r = 0; r < rows; ++r) {
      if (stop.stop_requested()) return out;
      out[r].trials.push_back(run(r, t));
    }
  }
  return out;
}

ReportRow merged_row(const TrialRow& row) {
  if (row.trials.empty()) return ReportRow{};
  ReportRow merged = row.trials.front();
  for (size_t t = 1; t < row.trials.size(); ++t) {
    const LoadResult& r = row.trials[t].result;
    merged.result.latency.merge(r.latency);
    merged.result.uncorrected.merge(r.uncorrected);
    merged.result.requests += r.requests;
    merged.result.errors.connect += r.errors.connect;
    merged.result.errors.read += r.errors.read;
    merged.result.errors.write += r.errors.write;
    merged.result.errors.timeout += r.errors.timeout;
    merged.result.errors.status += r.errors.status;
    merged.result.errors.protocol += r.errors.protocol;
    if (merged.result.protocol_error.empty()) merged.result.protocol_error = r.protocol_error;
    merged.result.elapsed += r.elapsed;
    merged.worker_restarts += row.trials[t].worker_restarts;
    // Layers only where every trial has them: a partial sum would read as a smaller mean.
    if (merged.server && row.trials[t].server) {
      *merged.server += *row.trials[t].server;
    } else {
      merged.server.reset();
    }
  }
  merged.result.timeline.clear();
  return merged;
}

TrialMeasures measures_of(const ReportRow& row) {
  const LoadResult& r = row.result;
  TrialMeasures m;
  m.rps = r.rps();
  m.requests = r.requests;
  if (r.latency.count() > 0) {
    m.p50_ms = to_ms(r.latency.percentile(50));
    m.p99_ms = to_ms(r.latency.percentile(99));
  }
  return m;
}

MedianCi trials_interval(std::span<const double> samples, double confidence,
                         size_t fewest_for_widest) {
  MedianCi m = median_with_ci(samples, confidence);
  if (!m.has_interval && samples.size() >= fewest_for_widest) {
    // [x(1), x(n)] covers 1 − 2·(½)^n: the most any order-statistic interval can.
    const double widest = 1 - 2 * std::pow(0.5, static_cast<double>(samples.size()));
    m = median_with_ci(samples, widest * (1 - 1e-9));
  }
  return m;
}

TrialSummary summarize_trials(const TrialRow& row, double confidence, size_t fewest_for_widest) {
  TrialSummary s;
  s.label = row.label();
  s.trials = row.trials.size();
  std::vector<double> rps;
  std::vector<double> p50;
  std::vector<double> p99;
  for (const ReportRow& trial : row.trials) {
    const TrialMeasures m = measures_of(trial);
    rps.push_back(m.rps);
    // A trial without answers has no latency: it counts in req/s (as 0), not in percentiles.
    if (trial.result.latency.count() > 0) {
      p50.push_back(m.p50_ms);
      p99.push_back(m.p99_ms);
    }
    s.merged.merge(trial.result.latency);
    s.requests += trial.result.requests;
    s.errors += trial.result.errors.total();
    s.elapsed_s += to_seconds(trial.result.elapsed);
  }
  const auto interval = [&](std::span<const double> samples) {
    return trials_interval(samples, confidence, fewest_for_widest);
  };
  s.rps = interval(rps);
  s.p50_ms = interval(p50);
  s.p99_ms = interval(p99);
  return s;
}

}  // namespace iolab
