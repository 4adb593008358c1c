#include "lab/report.h"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <cstdio>

#include "core/duration.h"
#include "lab/result_json.h"
#include "lab/trials.h"

namespace iolab {
namespace {

std::string fixed(double value, int decimals) {
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.*f", decimals, value);
  return buf;
}

// "read=3/protocol=29943": the non-zero causes, in ErrorCounts' order; "-" when there are none.
std::string error_causes(const ErrorCounts& e) {
  std::string out;
  for (const auto& [name, count] :
       {std::pair{"connect", e.connect}, std::pair{"read", e.read}, std::pair{"write", e.write},
        std::pair{"timeout", e.timeout}, std::pair{"status", e.status},
        std::pair{"protocol", e.protocol}}) {
    if (count == 0) continue;
    if (!out.empty()) out += '/';
    out += std::string(name) + "=" + std::to_string(count);
  }
  return out.empty() ? "-" : out;
}

// Under an rst table: each row's first protocol error, the reason its answers could not be read.
std::string protocol_error_notes(const std::vector<std::pair<std::string, std::string>>& rows) {
  std::string out;
  for (const auto& [label, error] : rows) {
    if (!error.empty()) out += label + ": first protocol error: " + error + "\n";
  }
  return out;
}

struct Columns {
  std::vector<std::string> header;
  std::vector<std::vector<std::string>> cells;
};

Columns tabulate(const std::vector<ReportRow>& rows, bool wide) {
  Columns t;
  t.header = {"variant", "min", "p50", "p99", "p99.9", "max", "mean", "duration", "requests"};
  if (wide) {
    for (const char* h : {"rps", "errors", "bound%", "rss_mb", "cpu_s", "causes"}) {
      t.header.emplace_back(h);
    }
  }
  for (const ReportRow& row : rows) {
    const LoadResult& r = row.result;
    const LatencyHistogram& h = r.latency;
    const bool empty = h.count() == 0;
    auto ms = [&](std::chrono::nanoseconds d) { return empty ? "-" : fixed(to_ms(d), 2); };
    std::vector<std::string> cells{row.label,
                                   ms(h.min()),
                                   ms(h.percentile(50)),
                                   ms(h.percentile(99)),
                                   ms(h.percentile(99.9)),
                                   ms(h.max()),
                                   ms(h.mean()),
                                   fixed(to_seconds(r.elapsed), 2),
                                   std::to_string(r.requests)};
    if (wide) {
      cells.push_back(fixed(r.rps(), 1));
      cells.push_back(std::to_string(r.errors.total()));
      const auto bound = row.bound_percent();
      cells.push_back(bound ? fixed(*bound, 1) : "-");
      const auto& u = row.usage;
      cells.push_back(u ? fixed(static_cast<double>(u->peak_rss_bytes) / (1 << 20), 1) : "-");
      cells.push_back(u ? fixed(u->cpu_seconds, 2) : "-");
      cells.push_back(error_causes(r.errors));
    }
    t.cells.push_back(std::move(cells));
  }
  return t;
}

std::string render_rst(const Columns& t) {
  std::vector<size_t> widths(t.header.size());
  for (size_t c = 0; c < t.header.size(); ++c) {
    widths[c] = display_width(t.header[c]);
    for (const auto& row : t.cells) widths[c] = std::max(widths[c], display_width(row[c]));
  }
  std::string rule;
  for (size_t c = 0; c < widths.size(); ++c) {
    if (c) rule.push_back(' ');
    rule.append(widths[c], '=');
  }
  auto line = [&](const std::vector<std::string>& cells) {
    std::string out;
    for (size_t c = 0; c < cells.size(); ++c) {
      if (c + 1 == cells.size()) {
        out += cells[c];
      } else {
        out += cells[c] + std::string(widths[c] - display_width(cells[c]) + 1, ' ');
      }
    }
    return out + "\n";
  };
  std::string out = rule + "\n" + line(t.header) + rule + "\n";
  for (const auto& row : t.cells) out += line(row);
  return out + rule + "\n";
}

std::string render_csv(const Columns& t) {
  auto line = [](const std::vector<std::string>& cells) {
    std::string out;
    for (size_t c = 0; c < cells.size(); ++c) {
      if (c) out.push_back(',');
      out += cells[c];
    }
    return out + "\n";
  };
  std::string out = line(t.header);
  for (const auto& row : t.cells) out += line(row);
  return out;
}

nlohmann::json rows_json(const std::vector<ReportRow>& rows) {
  nlohmann::json out = nlohmann::json::array();
  for (const ReportRow& row : rows) {
    const LoadResult& r = row.result;
    // The whole result, plus the row's own fields and the spec's main ones at the top level.
    nlohmann::json j = result_to_json(r);
    j["variant"] = row.label;
    j["target"] = r.spec.target.to_string();
    j["connections"] = r.spec.connections;
    j["threads"] = r.spec.threads;
    if (const auto bound = row.bound_percent()) {
      j["bound_rps"] = row.bound_rps;
      j["bound_percent"] = *bound;
    }
    if (row.usage) {
      j["usage"] = {{"rss_bytes", row.usage->rss_bytes},
                    {"peak_rss_bytes", row.usage->peak_rss_bytes},
                    {"threads", row.usage->threads},
                    {"cpu_seconds", row.usage->cpu_seconds}};
    }
    if (row.server) j["server"] = server_layers_to_json(*row.server);
    out.push_back(std::move(j));
  }
  return out;
}

std::string render_json(const std::vector<ReportRow>& rows) {
  const nlohmann::json out = rows_json(rows);
  // Compact: pretty-printed, each histogram bucket would take four lines (jq . indents it). A
  // body read from a file may not be UTF-8; JSON cannot hold such bytes, so they are replaced.
  return out.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace) + "\n";
}

// ---- Rows with trials ------------------------------------------------------------------------

// The confidence the trials table asks for.
constexpr double kTableConfidence = 0.95;

Columns tabulate_trials(const std::vector<TrialRow>& rows, bool wide, bool split_ci,
                        bool& narrower) {
  Columns t;
  if (split_ci) {
    t.header = {"variant",    "trials",     "confidence",   "rps",        "rps_low",  "rps_high",
                "p50",        "p50_low",    "p50_high",     "p99",        "p99_low",  "p99_high",
                "merged_p50", "merged_p99", "merged_p99.9", "merged_max", "requests", "errors"};
  } else {
    t.header = {"variant", "trials", "req/s", "p50", "p99", "all p50", "all p99", "all p99.9",
                "all max", "requests"};
    if (wide) {
      t.header.emplace_back("errors");
      t.header.emplace_back("causes");
    }
  }
  for (const TrialRow& row : rows) {
    const TrialSummary s = summarize_trials(row);
    const bool empty = s.merged.count() == 0;
    auto ms = [&](std::chrono::nanoseconds d) { return empty ? "-" : fixed(to_ms(d), 2); };
    std::vector<std::string> cells{s.label, std::to_string(s.trials)};
    if (split_ci) {
      // The coverage the intervals achieve (≥ 0.95, or 0.9375 for 5 trials); empty without.
      cells.push_back(s.rps.has_interval ? fixed(s.rps.confidence, 4) : "");
      for (const MedianCi* m : {&s.rps, &s.p50_ms, &s.p99_ms}) {
        const int decimals = m == &s.rps ? 1 : 3;
        cells.push_back(m->n ? fixed(m->median, decimals) : "");
        cells.push_back(m->has_interval ? fixed(m->low, decimals) : "");
        cells.push_back(m->has_interval ? fixed(m->high, decimals) : "");
      }
    } else {
      for (const auto& [m, decimals] :
           {std::pair{&s.rps, 1}, std::pair{&s.p50_ms, 2}, std::pair{&s.p99_ms, 2}}) {
        // An interval narrower in coverage than 95 % (5 trials: [min, max], 93.8 %) is marked.
        const bool short_of = m->has_interval && m->confidence < kTableConfidence;
        cells.push_back(median_ci_text(*m, decimals) + (short_of ? "*" : ""));
        narrower |= short_of;
      }
    }
    for (const double p : {50.0, 99.0, 99.9}) cells.push_back(ms(s.merged.percentile(p)));
    cells.push_back(ms(s.merged.max()));
    cells.push_back(std::to_string(s.requests));
    if (split_ci || wide) cells.push_back(std::to_string(s.errors));
    if (!split_ci && wide) cells.push_back(error_causes(merged_row(row).result.errors));
    t.cells.push_back(std::move(cells));
  }
  return t;
}

std::string render_trials_json(const std::vector<TrialRow>& rows) {
  // Every trial as the row it would be alone, marked with its index: nothing is lost, and a
  // reader of today's rows reads them still (compare groups them back by variant).
  nlohmann::json out = nlohmann::json::array();
  for (const TrialRow& row : rows) {
    nlohmann::json trials = rows_json(row.trials);
    for (size_t t = 0; t < trials.size(); ++t) {
      trials[t]["trial"] = t;
      trials[t]["trials"] = row.trials.size();
      out.push_back(std::move(trials[t]));
    }
  }
  return out.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace) + "\n";
}

}  // namespace

std::string render_trials_report(const std::vector<TrialRow>& rows, ReportFormat format,
                                 bool wide) {
  const bool repeated =
      std::any_of(rows.begin(), rows.end(), [](const TrialRow& r) { return r.trials.size() > 1; });
  if (!repeated) {
    std::vector<ReportRow> single;
    for (const TrialRow& r : rows) {
      if (!r.trials.empty()) single.push_back(r.trials.front());
    }
    return render_report(single, format, wide);
  }
  switch (format) {
    case ReportFormat::kRst: {
      bool narrower = false;
      std::string out = render_rst(tabulate_trials(rows, wide, false, narrower));
      out +=
          "req/s, p50, p99 (ms): median of the trials [95 % interval from the order statistics "
          "of the median; ±∞: fewer than 5 trials]. all: the merged histogram of every trial.\n";
      if (narrower) {
        out +=
            "*: 5 trials give no 95 % interval; shown is [min, max], a 93.8 % one (6 trials "
            "give 95 %).\n";
      }
      std::vector<std::pair<std::string, std::string>> notes;
      for (const TrialRow& row : rows) {
        const ReportRow merged = merged_row(row);
        notes.emplace_back(merged.label, merged.result.protocol_error);
      }
      return out + protocol_error_notes(notes);
    }
    case ReportFormat::kCsv: {
      bool narrower = false;
      return render_csv(tabulate_trials(rows, true, true, narrower));
    }
    case ReportFormat::kJson:
      return render_trials_json(rows);
  }
  return {};
}

std::string median_ci_text(const MedianCi& m, int decimals) {
  if (m.n == 0) return "-";
  if (!m.has_interval) return fixed(m.median, decimals) + " ±∞";
  return fixed(m.median, decimals) + " [" + fixed(m.low, decimals) + ", " +
         fixed(m.high, decimals) + "]";
}

size_t display_width(std::string_view text) {
  return static_cast<size_t>(std::count_if(text.begin(), text.end(), [](char c) {
    return (static_cast<unsigned char>(c) & 0xC0) != 0x80;
  }));
}

double ServerLayer::mean_ms() const {
  return count == 0 ? 0.0 : static_cast<double>(sum_ns) / static_cast<double>(count) / 1e6;
}

ServerLayer& ServerLayer::operator+=(const ServerLayer& o) {
  count += o.count;
  sum_ns += o.sum_ns;
  return *this;
}

ServerLayers& ServerLayers::operator+=(const ServerLayers& o) {
  total += o.total;
  queue_wait += o.queue_wait;
  upstream += o.upstream;
  pool_wait += o.pool_wait;
  return *this;
}

std::optional<double> ReportRow::bound_percent() const {
  if (bound_rps <= 0) return std::nullopt;
  return 100.0 * result.rps() / bound_rps;
}

std::optional<ReportFormat> parse_report_format(std::string_view text) {
  if (text == "rst") return ReportFormat::kRst;
  if (text == "csv") return ReportFormat::kCsv;
  if (text == "json") return ReportFormat::kJson;
  return std::nullopt;
}

std::string render_report(const std::vector<ReportRow>& rows, ReportFormat format, bool wide) {
  switch (format) {
    case ReportFormat::kRst: {
      std::vector<std::pair<std::string, std::string>> notes;
      for (const ReportRow& row : rows) notes.emplace_back(row.label, row.result.protocol_error);
      return render_rst(tabulate(rows, wide)) + protocol_error_notes(notes);
    }
    case ReportFormat::kCsv:
      return render_csv(tabulate(rows, true));
    case ReportFormat::kJson:
      return render_json(rows);
  }
  return {};
}

}  // namespace iolab
