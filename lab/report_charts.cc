#include "lab/report_charts.h"

#include <algorithm>
#include <cmath>
#include <map>
#include <sstream>

#include "core/duration.h"
#include "lab/svg.h"

namespace iolab {
namespace {

using svg::LinearAxis;
using svg::LogAxis;
using svg::SeriesStyle;
using svg::Writer;

constexpr int kWidth = 760;
constexpr int kLeft = 130;      // Room for the row labels of the per-variant charts.
constexpr int kRight = 70;      // Room for the values after the bars.
constexpr int kPlotLeft = 70;   // Room for the y-axis ticks of the line charts.
constexpr int kPlotRight = 36;  // Room for the last tick's label.
constexpr int kRowHeight = 26;
constexpr int kTitleHeight = 48;  // Title, and the legend under it.
constexpr int kAxisHeight = 42;   // Ticks and the axis's name.
constexpr int kLegendEntry = 122;
constexpr int kLegendRow = 16;
constexpr int kGap = 24;  // Between two charts of one SVG document.
constexpr double kNinesStep = 0.05;

constexpr const char* kGrid = "stroke=\"#ddd\"";
constexpr const char* kAxisLine = "stroke=\"#444\"";
constexpr const char* kTick = "class=\"tick\" text-anchor=\"middle\"";
constexpr const char* kTickLeft = "class=\"tick\" text-anchor=\"end\"";

// One variant as every chart draws it.
struct Series {
  std::string label;
  SeriesStyle style;
  const TrialRow* row = nullptr;
  ReportRow merged;      // Every trial's histogram merged; the trial itself when there is one.
  TrialSummary summary;  // Medians of the trials with their intervals.

  bool has_trials() const { return row->trials.size() > 1; }
};

std::vector<Series> series_of(const std::vector<TrialRow>& rows) {
  std::vector<Series> out;
  for (const TrialRow& row : rows) {
    if (row.trials.empty()) continue;
    Series s;
    s.label = row.label();
    s.style = svg::series_style(out.size());
    s.row = &row;
    s.merged = merged_row(row);
    s.summary = summarize_trials(row);
    out.push_back(std::move(s));
  }
  return out;
}

std::string series_open(const Series& s) {
  return "<g class=\"series\" data-variant=\"" + svg::escape(s.label) + "\">\n";
}

std::string interval_text(const MedianCi& m, const std::string& unit) {
  return "median " + svg::number(m.median) + " " + unit + ", " +
         std::to_string(static_cast<int>(std::round(m.confidence * 1000)) / 10.0).substr(0, 4) +
         " % interval [" + svg::number(m.low) + ", " + svg::number(m.high) + "] " + unit;
}

// The variants' names with their line and colour, in rows under a chart's title.
int legend(Writer& w, const std::vector<Series>& series, int x0, int top) {
  const int per_row = std::max(1, (kWidth - x0) / kLegendEntry);
  for (size_t i = 0; i < series.size(); ++i) {
    const int x = x0 + static_cast<int>(i % per_row) * kLegendEntry;
    const int y = top + static_cast<int>(i / per_row) * kLegendRow;
    w.line(x, y - 4, x + 22, y - 4, series[i].style.line());
    w.text(x + 26, y, series[i].label);
  }
  const int rows = static_cast<int>((series.size() + per_row - 1) / per_row);
  return rows * kLegendRow;
}

void log_ticks_x(Writer& w, const LogAxis& axis, int top, int bottom) {
  for (double d = axis.lo; d <= axis.hi; ++d) {
    const double v = std::pow(10.0, d);
    const double x = axis.at(v);
    w.line(x, top, x, bottom, kGrid);
    w.text(x, bottom + 16, svg::number(v), kTick);
  }
}

void log_ticks_y(Writer& w, const LogAxis& axis, int left, int right) {
  for (double d = axis.lo; d <= axis.hi; ++d) {
    const double v = std::pow(10.0, d);
    const double y = axis.at(v);
    w.line(left, y, right, y, kGrid);
    w.text(left - 6, y + 4, svg::number(v), kTickLeft);
  }
}

void linear_ticks_y(Writer& w, const LinearAxis& axis, int left, int right) {
  for (double v = 0; v <= axis.top + axis.step / 2; v += axis.step) {
    const double y = axis.at(v);
    w.line(left, y, right, y, kGrid);
    w.text(left - 6, y + 4, svg::number(v), kTickLeft);
  }
}

// ---- Requests per variant --------------------------------------------------------------------

int requests_chart(Writer& w, const std::vector<Series>& series) {
  const bool trials =
      std::any_of(series.begin(), series.end(), [](const Series& s) { return s.has_trials(); });
  const auto value = [&](const Series& s) {
    return trials ? s.summary.rps.median : static_cast<double>(s.merged.result.requests);
  };
  double most = 1;
  for (const Series& s : series) {
    most = std::max(most, value(s));
    if (trials && s.summary.rps.has_interval) most = std::max(most, s.summary.rps.high);
  }
  const int bottom = kTitleHeight + static_cast<int>(series.size()) * kRowHeight;
  const LinearAxis axis = LinearAxis::covering(most, kLeft, kWidth - kRight);
  w.out() << "<g class=\"chart requests\">\n";
  w.title(kLeft, 0,
          trials ? "Requests per second per variant (median of the trials, 95 % interval)"
                 : "Requests per variant");
  for (double v = 0; v <= axis.top + axis.step / 2; v += axis.step) {
    w.line(axis.at(v), kTitleHeight, axis.at(v), bottom, kGrid);
    w.text(axis.at(v), bottom + 16, svg::number(v), kTick);
  }
  w.text((kLeft + kWidth - kRight) / 2.0, bottom + 34,
         trials ? "requests per second (req/s)" : "answers in the measured window (requests)",
         "text-anchor=\"middle\"");
  int y = kTitleHeight;
  for (const Series& s : series) {
    w.out() << series_open(s);
    w.text(kLeft - 6, y + 16, s.label, "text-anchor=\"end\"");
    const double end = std::max(axis.at(value(s)), kLeft + 1.0);
    const std::string shown =
        trials ? svg::number(value(s)) : std::to_string(s.merged.result.requests);
    w.rect(kLeft, y + 3, end - kLeft, kRowHeight - 6, s.style.area(),
           s.label + ": " + shown + (trials ? " req/s" : " requests"));
    double text_x = end + 4;
    if (trials && s.summary.rps.has_interval) {
      const double hi = axis.at(s.summary.rps.high);
      w.h_whisker(axis.at(s.summary.rps.low), hi, y + kRowHeight / 2.0, "#222",
                  s.label + ": " + interval_text(s.summary.rps, "req/s"));
      text_x = std::max(text_x, hi + 6);
    }
    w.text(text_x, y + 16, shown);
    w.out() << "</g>\n";
    y += kRowHeight;
  }
  w.out() << "</g>\n";
  return bottom + kAxisHeight;
}

// ---- Latency percentiles per variant ---------------------------------------------------------

constexpr const char* kPercentileNames[] = {"p50", "p99", "p99.9", "max"};

// A marker per percentile, so that the variant's colour stays the variant's: a circle, a
// square, a diamond, a triangle.
void marker(Writer& w, int kind, double x, double y, const std::string& fill,
            const std::string& title) {
  auto& o = w.out();
  const std::string t = "<title>" + svg::escape(title) + "</title>";
  char at[64];
  switch (kind) {
    case 0:
      std::snprintf(at, sizeof at, "cx=\"%.1f\" cy=\"%.1f\" r=\"5\"", x, y);
      o << "<circle " << at << " " << fill << ">" << t << "</circle>\n";
      break;
    case 1:
      std::snprintf(at, sizeof at, "x=\"%.1f\" y=\"%.1f\" width=\"9\" height=\"9\"", x - 4.5,
                    y - 4.5);
      o << "<rect class=\"marker\" " << at << " " << fill << ">" << t << "</rect>\n";
      break;
    case 2:
      std::snprintf(at, sizeof at, "points=\"%.1f,%.1f %.1f,%.1f %.1f,%.1f %.1f,%.1f\"", x, y - 6,
                    x + 6, y, x, y + 6, x - 6, y);
      o << "<polygon " << at << " " << fill << ">" << t << "</polygon>\n";
      break;
    default:
      std::snprintf(at, sizeof at, "points=\"%.1f,%.1f %.1f,%.1f %.1f,%.1f\"", x, y - 6, x + 6,
                    y + 5, x - 6, y + 5);
      o << "<polygon " << at << " " << fill << ">" << t << "</polygon>\n";
  }
}

int latency_chart(Writer& w, const std::vector<Series>& series) {
  double lo = 1e300;
  double hi = 0;
  for (const Series& s : series) {
    const LatencyHistogram& h = s.merged.result.latency;
    if (h.count() == 0) continue;
    lo = std::min(lo, to_ms(h.percentile(50)));
    hi = std::max(hi, to_ms(h.max()));
    if (s.has_trials() && s.summary.p50_ms.has_interval) lo = std::min(lo, s.summary.p50_ms.low);
  }
  if (hi <= 0) lo = 1, hi = 10;
  const LogAxis axis = LogAxis::covering(std::max(lo, 1e-3), hi, kLeft, kWidth - kRight);
  const int bottom = kTitleHeight + static_cast<int>(series.size()) * kRowHeight;
  w.out() << "<g class=\"chart latency\">\n";
  w.title(kLeft, 0, "Latency percentiles per variant (ms, log scale)");
  for (int i = 0; i < 4; ++i) {
    marker(w, i, kLeft + 5 + i * 75, 34, "fill=\"#666\"", kPercentileNames[i]);
    w.text(kLeft + 14 + i * 75, 38, kPercentileNames[i]);
  }
  log_ticks_x(w, axis, kTitleHeight, bottom);
  w.text((kLeft + kWidth - kRight) / 2.0, bottom + 34, "latency (ms)", "text-anchor=\"middle\"");
  int y = kTitleHeight;
  for (const Series& s : series) {
    w.out() << series_open(s);
    w.text(kLeft - 6, y + 16, s.label, "text-anchor=\"end\"");
    const LatencyHistogram& h = s.merged.result.latency;
    if (h.count() > 0) {
      const double values[] = {to_ms(h.percentile(50)), to_ms(h.percentile(99)),
                               to_ms(h.percentile(99.9)), to_ms(h.max())};
      const double mid = y + 12;
      w.line(axis.at(values[0]), mid, axis.at(values[3]), mid, "stroke=\"#999\"");
      if (s.has_trials()) {
        for (const MedianCi* m : {&s.summary.p50_ms, &s.summary.p99_ms}) {
          if (!m->has_interval) continue;
          w.h_whisker(
              axis.at(m->low), axis.at(m->high), mid, s.style.colour,
              s.label + (m == &s.summary.p50_ms ? " p50 of the trials: " : " p99 of the trials: ") +
                  interval_text(*m, "ms"));
        }
      }
      for (int i = 0; i < 4; ++i) {
        marker(w, i, axis.at(values[i]), mid, s.style.area(),
               s.label + " " + kPercentileNames[i] + ": " + svg::number(values[i]) + " ms");
      }
    } else {
      w.text(kLeft + 6, y + 16, "no answers", "fill=\"#666\"");
    }
    w.out() << "</g>\n";
    y += kRowHeight;
  }
  w.out() << "</g>\n";
  return bottom + kAxisHeight;
}

// ---- Percentile spectrum ---------------------------------------------------------------------

constexpr int kSpectrumHeight = 260;

// "90%", "99.9%": the percentile of `nines` whole nines; "0%" for none.
std::string nines_label(int nines) {
  if (nines == 0) return "0%";
  if (nines == 1) return "90%";
  return "99" + (nines > 2 ? "." + std::string(static_cast<size_t>(nines - 2), '9') : "") + "%";
}

double percentile_at(double nines) { return 100.0 * (1.0 - std::pow(10.0, -nines)); }

// The highest "nines" a histogram of `count` answers resolves: its last answer is percentile
// 100·(1 − 1/count).
double top_nines(uint64_t count) { return count > 1 ? std::log10(static_cast<double>(count)) : 0; }

int spectrum_chart(Writer& w, const std::vector<Series>& series) {
  uint64_t most = 1;
  double lo = 1e300;
  double hi = 0;
  for (const Series& s : series) {
    const LatencyHistogram& h = s.merged.result.latency;
    if (h.count() == 0) continue;
    most = std::max(most, h.count());
    lo = std::min(lo, to_ms(h.percentile(0)));
    hi = std::max(hi, to_ms(h.max()));
  }
  if (hi <= 0) lo = 1, hi = 10;
  const int axis_nines = std::max(1, static_cast<int>(std::ceil(top_nines(most) - 1e-9)));
  w.out() << "<g class=\"chart spectrum\" data-axis-nines=\"" << axis_nines << "\">\n";
  w.title(kPlotLeft, 0, "Percentile spectrum: latency at each percentile (ms, log scale)");
  const int top = kTitleHeight - 12 + legend(w, series, kPlotLeft, 36);
  const int bottom = top + kSpectrumHeight;
  const LinearAxis x_axis{static_cast<double>(axis_nines), 1, kPlotLeft, kWidth - kPlotRight};
  const LogAxis y_axis = LogAxis::covering(std::max(lo, 1e-3), hi, bottom, top);
  log_ticks_y(w, y_axis, kPlotLeft, kWidth - kPlotRight);
  for (int k = 0; k <= axis_nines; ++k) {
    const double x = x_axis.at(k);
    w.line(x, top, x, bottom, kGrid);
    w.text(x, bottom + 16, nines_label(k), kTick);
  }
  w.line(kPlotLeft, bottom, kWidth - kPlotRight, bottom, kAxisLine);
  w.text((kPlotLeft + kWidth - kPlotRight) / 2.0, bottom + 34,
         "percentile (spaced by nines: 1/(1 − p) on a log scale)", "text-anchor=\"middle\"");
  w.text(16, (top + bottom) / 2.0, "latency (ms)",
         "text-anchor=\"middle\" transform=\"rotate(-90 16 " + std::to_string((top + bottom) / 2) +
             ")\"");
  for (const Series& s : series) {
    const LatencyHistogram& h = s.merged.result.latency;
    const double end = top_nines(h.count());
    char attrs[160];
    std::snprintf(attrs, sizeof attrs, "data-top-nines=\"%.3f\" data-answers=\"%llu\"", end,
                  static_cast<unsigned long long>(h.count()));
    w.out() << "<g class=\"series\" data-variant=\"" << svg::escape(s.label) << "\" " << attrs
            << ">\n<title>" << svg::escape(s.label) << ": " << h.count()
            << " answers, up to percentile " << svg::number(percentile_at(end)) << "</title>\n";
    if (h.count() > 0) {
      std::vector<std::pair<double, double>> points;
      for (double x = 0; x < end; x += kNinesStep) {
        points.emplace_back(x_axis.at(x), y_axis.at(to_ms(h.percentile(percentile_at(x)))));
      }
      points.emplace_back(x_axis.at(end), y_axis.at(to_ms(h.max())));
      w.polyline(points, s.style.line());
      if (s.has_trials()) {
        // At each whole nine every trial resolves, the median of the trials' own percentile.
        uint64_t fewest = UINT64_MAX;
        for (const ReportRow& t : s.row->trials)
          fewest = std::min(fewest, t.result.latency.count());
        for (int k = 0; k <= static_cast<int>(top_nines(fewest)); ++k) {
          std::vector<double> at_k;
          for (const ReportRow& t : s.row->trials) {
            at_k.push_back(to_ms(t.result.latency.percentile(percentile_at(k))));
          }
          const MedianCi m = trials_interval(at_k);
          if (!m.has_interval) continue;
          w.v_whisker(x_axis.at(k), y_axis.at(m.low), y_axis.at(m.high), s.style.colour,
                      s.label + " " + nines_label(k) + " of the trials: " + interval_text(m, "ms"));
        }
      }
    }
    w.out() << "</g>\n";
  }
  w.out() << "</g>\n";
  return bottom + kAxisHeight;
}

// ---- Timeline --------------------------------------------------------------------------------

constexpr int kPanelHeight = 150;

// One variant's seconds; with trials, the median of the trials at each second.
struct Second {
  int64_t second = 0;
  bool warmup = false;
  double rps = 0;
  double p99_ms = 0;  // 0: no answers that second
};

std::vector<Second> seconds_of(const Series& s) {
  std::map<int64_t, std::pair<std::vector<double>, std::vector<double>>> by_second;
  std::map<int64_t, bool> warmup;
  for (const ReportRow& t : s.row->trials) {
    for (const TimelinePoint& p : t.result.timeline) {
      auto& [rps, p99] = by_second[p.second];
      rps.push_back(static_cast<double>(p.requests));
      if (p.requests > 0) p99.push_back(to_ms(p.p99));
      warmup[p.second] = p.warmup;
    }
  }
  std::vector<Second> out;
  for (auto& [second, values] : by_second) {
    Second point{second, warmup[second], median_with_ci(values.first, 0.5).median, 0};
    if (!values.second.empty()) point.p99_ms = median_with_ci(values.second, 0.5).median;
    out.push_back(point);
  }
  return out;
}

int timeline_chart(Writer& w, const std::vector<Series>& series) {
  std::vector<std::vector<Second>> seconds;
  double last = 1;
  double most_rps = 1;
  double lo = 1e300;
  double hi = 0;
  int64_t warmup_end = 0;
  bool trials = false;
  for (const Series& s : series) {
    seconds.push_back(seconds_of(s));
    trials |= s.has_trials();
    for (const Second& p : seconds.back()) {
      last = std::max(last, static_cast<double>(p.second + 1));
      most_rps = std::max(most_rps, p.rps);
      if (p.warmup) warmup_end = std::max(warmup_end, p.second + 1);
      if (p.p99_ms > 0) lo = std::min(lo, p.p99_ms), hi = std::max(hi, p.p99_ms);
    }
  }
  if (hi <= 0) lo = 1, hi = 10;
  w.out() << "<g class=\"chart timeline\">\n";
  w.title(kPlotLeft, 0,
          trials ? "Timeline: req/s and p99 each second (median of the trials)"
                 : "Timeline: req/s and p99 each second");
  const int top = kTitleHeight - 12 + legend(w, series, kPlotLeft, 36);
  const LinearAxis x_axis = LinearAxis::covering(last, kPlotLeft, kWidth - kPlotRight);
  const int rps_top = top;
  const int rps_bottom = rps_top + kPanelHeight;
  const int p99_top = rps_bottom + 16;
  const int p99_bottom = p99_top + kPanelHeight;
  const LinearAxis rps_axis = LinearAxis::covering(most_rps, rps_bottom, rps_top);
  const LogAxis p99_axis = LogAxis::covering(std::max(lo, 1e-3), hi, p99_bottom, p99_top);
  if (warmup_end > 0) {
    const double x1 = x_axis.at(static_cast<double>(warmup_end));
    for (const auto& [t, b] : {std::pair{rps_top, rps_bottom}, std::pair{p99_top, p99_bottom}}) {
      w.rect(kPlotLeft, t, x1 - kPlotLeft, b - t, "class=\"warmup\" fill=\"#eee\"",
             "warm-up: not in the measured window");
    }
    w.text(kPlotLeft + 4, rps_top + 12, "warm-up", "fill=\"#666\" font-size=\"11\"");
  }
  linear_ticks_y(w, rps_axis, kPlotLeft, kWidth - kPlotRight);
  log_ticks_y(w, p99_axis, kPlotLeft, kWidth - kPlotRight);
  for (double v = 0; v <= x_axis.top + x_axis.step / 2; v += x_axis.step) {
    w.line(x_axis.at(v), p99_bottom, x_axis.at(v), p99_bottom + 4, kAxisLine);
    w.text(x_axis.at(v), p99_bottom + 16, svg::number(v), kTick);
  }
  w.line(kPlotLeft, rps_bottom, kWidth - kPlotRight, rps_bottom, kAxisLine);
  w.line(kPlotLeft, p99_bottom, kWidth - kPlotRight, p99_bottom, kAxisLine);
  w.text((kPlotLeft + kWidth - kPlotRight) / 2.0, p99_bottom + 34,
         "seconds since the run began (the point of a second is drawn at its end)",
         "text-anchor=\"middle\"");
  for (const auto& [t, b, name] : {std::tuple{rps_top, rps_bottom, "req/s"},
                                   std::tuple{p99_top, p99_bottom, "p99 (ms, log)"}}) {
    const int mid = (t + b) / 2;
    w.text(16, mid, name,
           "text-anchor=\"middle\" transform=\"rotate(-90 16 " + std::to_string(mid) + ")\"");
  }
  for (size_t i = 0; i < series.size(); ++i) {
    const Series& s = series[i];
    w.out() << series_open(s);
    std::vector<std::pair<double, double>> rps;
    std::vector<std::pair<double, double>> p99;
    for (const Second& p : seconds[i]) {
      const double x = x_axis.at(static_cast<double>(p.second + 1));
      rps.emplace_back(x, rps_axis.at(p.rps));
      if (p.p99_ms > 0) p99.emplace_back(x, p99_axis.at(p.p99_ms));
    }
    w.polyline(rps, "class=\"rps\" " + s.style.line());
    w.polyline(p99, "class=\"p99\" " + s.style.line());
    w.out() << "</g>\n";
  }
  w.out() << "</g>\n";
  return p99_bottom + kAxisHeight;
}

// ---- Where the time went ---------------------------------------------------------------------

struct Layer {
  const char* name;
  const char* colour;  // Paul Tol's muted scheme, apart from the variants' colours.
};
constexpr Layer kLayers[] = {{"queue wait", "#332288"},
                             {"pool wait", "#DDCC77"},
                             {"upstream", "#44AA99"},
                             {"handler, own work", "#CC6677"},
                             {"outside the handlers", "#BBBBBB"}};

int decomposition_chart(Writer& w, const std::vector<Series>& series) {
  constexpr int kBarLeft = kLeft + 16;
  constexpr int kBarRight = kWidth - 150;
  constexpr int kDecompositionRow = 36;
  const int bottom = kTitleHeight + 8 + static_cast<int>(series.size()) * kDecompositionRow;
  w.out() << "<g class=\"chart decomposition\">\n";
  w.title(kLeft, 0, "Where the time went: share of each variant's mean latency");
  double x = 10;
  for (const Layer& layer : kLayers) {
    w.rect(x, 29, 10, 10, std::string("fill=\"") + layer.colour + "\"");
    w.text(x + 14, 38, layer.name);
    x += 30 + 6.5 * static_cast<double>(std::string_view(layer.name).size());
  }
  const LinearAxis axis{100, 25, kBarLeft, kBarRight};
  for (double v = 0; v <= 100; v += 25) {
    w.line(axis.at(v), kTitleHeight + 4, axis.at(v), bottom, kGrid);
    w.text(axis.at(v), bottom + 16, svg::number(v) + "%", kTick);
  }
  w.text((kBarLeft + kBarRight) / 2.0, bottom + 34,
         "share of the load engine's mean latency (ms at the right)", "text-anchor=\"middle\"");
  int y = kTitleHeight + 8;
  for (const Series& s : series) {
    w.out() << series_open(s);
    w.rect(kLeft - 4 - 10, y + 5, 10, 10, s.style.area());
    w.text(kLeft - 18, y + 14, s.label, "text-anchor=\"end\"");
    const double client = to_ms(s.merged.result.latency.mean());
    const auto& server = s.merged.server;
    if (!server || !server->total.measured() || client <= 0) {
      w.text(kBarLeft, y + 14,
             client <= 0 ? "no answers" : "not measured (the variant's workers kept no layers)",
             "class=\"not-measured\" fill=\"#666\"");
      w.out() << "</g>\n";
      y += kDecompositionRow;
      continue;
    }
    const bool queue = server->queue_wait.measured();
    const bool pool = server->pool_wait.measured();
    const double q = server->queue_wait.mean_ms();
    const double p = server->pool_wait.mean_ms();
    const double u = server->upstream.mean_ms();
    const double handler = std::max(0.0, server->total.mean_ms() - u - p);
    const double outside = std::max(0.0, client - q - server->total.mean_ms());
    const double parts[] = {q, p, u, handler, outside};
    double whole = 0;
    for (const double v : parts) whole += v;
    double at = 0;
    for (size_t i = 0; i < std::size(parts); ++i) {
      if (parts[i] <= 0) continue;
      const double x1 = axis.at(100 * at / whole);
      const double x2 = axis.at(100 * (at + parts[i]) / whole);
      at += parts[i];
      w.rect(x1, y + 2, x2 - x1, 16,
             std::string("class=\"layer\" fill=\"") + kLayers[i].colour + "\"",
             s.label + " " + kLayers[i].name + ": " + svg::number(parts[i]) + " ms (" +
                 svg::number(100 * parts[i] / whole) + " %)");
      if (x2 - x1 > 34) {
        w.text((x1 + x2) / 2, y + 14, svg::number(100 * parts[i] / whole) + "%",
               std::string("text-anchor=\"middle\" font-size=\"10\" fill=\"") +
                   (i == 0 ? "white" : "black") + "\"");
      }
    }
    w.text(kBarRight + 6, y + 14, svg::number(client) + " ms mean");
    std::string missing;
    if (!queue) missing += "queue wait not measured (in \"outside\")";
    if (!pool) missing += std::string(missing.empty() ? "" : "; ") + "pool wait not measured";
    if (!missing.empty()) {
      w.text(kBarLeft, y + 30, missing, "class=\"not-measured\" fill=\"#666\" font-size=\"10\"");
    }
    w.out() << "</g>\n";
    y += kDecompositionRow;
  }
  w.out() << "</g>\n";
  return bottom + kAxisHeight;
}

// ---- Documents -------------------------------------------------------------------------------

using ChartFn = int (*)(Writer&, const std::vector<Series>&);

struct Figure {
  ChartFn chart;
  const char* caption;
};

constexpr Figure kFigures[] = {
    {requests_chart, "Answers each variant gave in the measured window."},
    {latency_chart,
     "Latency percentiles of every answer (the load engine's clock, corrected for coordinated "
     "omission in open loop)."},
    {spectrum_chart,
     "The percentile spectrum, as HdrHistogram plots it: each line ends at the highest "
     "percentile its answers resolve (1 − 1/answers)."},
    {timeline_chart, "Each second of the run, warm-up included (shaded)."},
    {decomposition_chart,
     "The variant's workers timed each layer of their own answers (over the whole run, warm-up "
     "included): queue wait (connection readable → handler starts), pool wait (for a pooled "
     "upstream connection), the upstream call, the rest of the handler. What the load engine "
     "saw beyond those was spent outside the handlers: kernel queues, accept, and for "
     "threads:N the wait for a free thread."},
};

std::string svg_document(const std::vector<Series>& series) {
  std::string body;
  int height = 0;
  for (const Figure& f : kFigures) {
    Writer w;
    const int h = f.chart(w, series);
    body += "<g transform=\"translate(0," + std::to_string(height) + ")\">\n" + w.str() + "</g>\n";
    height += h + kGap;
  }
  return svg::document_open(kWidth, height) + body + "</svg>\n";
}

std::string html_document(const std::vector<TrialRow>& rows, const std::vector<Series>& series,
                          const std::string& title) {
  std::string out = svg::html_page_open(title);
  // The CSV rendering has every column: it is the table, so both stay in step.
  out += svg::html_table(render_trials_report(rows, ReportFormat::kCsv, true), "report");
  for (const Figure& f : kFigures) {
    Writer w;
    const int h = f.chart(w, series);
    out += "<figure>\n" + svg::document_open(kWidth, h) + w.str() + "</svg>\n<figcaption>" +
           svg::escape(f.caption) + "</figcaption>\n</figure>\n";
  }
  return out + "</body>\n</html>\n";
}

}  // namespace

std::optional<ChartFormat> parse_chart_format(std::string_view text) {
  if (text == "svg") return ChartFormat::kSvg;
  if (text == "html") return ChartFormat::kHtml;
  return std::nullopt;
}

std::string render_trials_charts(const std::vector<TrialRow>& rows, ChartFormat format,
                                 const std::string& title) {
  const std::vector<Series> series = series_of(rows);
  return format == ChartFormat::kSvg ? svg_document(series) : html_document(rows, series, title);
}

std::string render_svg_report(const std::vector<ReportRow>& rows) {
  return render_trials_charts(single_trials(rows), ChartFormat::kSvg, {});
}

std::string render_html_report(const std::vector<ReportRow>& rows, const std::string& title) {
  return render_trials_charts(single_trials(rows), ChartFormat::kHtml, title);
}

}  // namespace iolab
