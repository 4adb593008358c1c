// The comparison's chart (lab/report_charts.h): each change with its interval.
#include "lab/report_charts.h"

#include <algorithm>
#include <cmath>
#include <cstdio>

#include "lab/svg.h"

namespace iolab {
namespace {

using svg::LogAxis;
using svg::SeriesStyle;
using svg::Writer;

constexpr int kWidth = 760;
constexpr int kRowHeight = 26;
constexpr int kTitleHeight = 48;
constexpr int kAxisHeight = 42;
constexpr const char* kGrid = "stroke=\"#ddd\"";
constexpr const char* kAxisLine = "stroke=\"#444\"";
constexpr const char* kTick = "class=\"tick\" text-anchor=\"middle\"";

// Per row and measure: the change as a dot on a log-ratio axis, its interval as a whisker.
int comparison_chart(Writer& w, const Comparison& c) {
  // Each key keeps one colour, in the order keys first appear.
  std::vector<std::string> keys;
  double lo = 1;
  double hi = 1;
  for (const MeasureChange& m : c.changes) {
    if (std::find(keys.begin(), keys.end(), m.key) == keys.end()) keys.push_back(m.key);
    for (const double r : {m.ratio.ratio, m.ratio.low, m.ratio.high}) {
      if (r > 0 && std::isfinite(r)) lo = std::min(lo, r), hi = std::max(hi, r);
    }
  }
  constexpr int kLabel = 300;
  const LogAxis axis = LogAxis::covering(lo, hi, kLabel, kWidth - 90);
  const int bottom = kTitleHeight + static_cast<int>(c.changes.size()) * kRowHeight;
  w.out() << "<g class=\"chart comparison\">\n";
  w.title(10, 0, "Change, new against base, with its 95 % interval (log scale)");
  w.text(10, 38, "grey, ~: not significant at α = " + svg::number(c.alpha), "fill=\"#666\"");
  for (double d = axis.lo; d <= axis.hi; ++d) {
    for (const double m : {1.0, 2.0, 5.0}) {
      const double r = m * std::pow(10.0, d);
      if (r > std::pow(10.0, axis.hi) * 1.0001) break;
      const double x = axis.at(r);
      w.line(x, kTitleHeight, x, bottom, r == 1 ? kAxisLine : kGrid);
      if (m != 5.0 || axis.hi - axis.lo <= 2) {
        const double pct = (r - 1) * 100;
        const std::string sign = pct > 0 ? "+" : "";
        w.text(x, bottom + 16, sign + svg::number(pct) + "%", kTick);
      }
    }
  }
  w.text((kLabel + kWidth - 90) / 2.0, bottom + 34, "change of the median, new/base − 1 (%)",
         "text-anchor=\"middle\"");
  int y = kTitleHeight;
  for (const MeasureChange& m : c.changes) {
    const size_t index =
        static_cast<size_t>(std::find(keys.begin(), keys.end(), m.key) - keys.begin());
    const SeriesStyle style = svg::series_style(index);
    const std::string colour = m.significant() ? style.colour : "#999";
    w.out() << "<g class=\"series\" data-variant=\"" << svg::escape(m.key) << "\" data-measure=\""
            << svg::escape(m.measure) << "\">\n";
    w.text(kLabel - 6, y + 16, m.key + "  " + m.measure, "text-anchor=\"end\"");
    const double mid = y + 12;
    std::string change = "-";
    if (m.ratio.ratio > 0) {
      change = m.ratio.ratio >= 1 ? "+" : "";
      change += svg::number((m.ratio.ratio - 1) * 100) + "%";
    }
    if (m.ratio.has_interval && m.ratio.low > 0) {
      w.h_whisker(axis.at(m.ratio.low), axis.at(m.ratio.high), mid, colour,
                  m.key + " " + m.measure + ": 95 % interval of new/base [" +
                      svg::number(m.ratio.low) + ", " + svg::number(m.ratio.high) + "]");
    }
    if (m.ratio.ratio > 0) {
      char at[64];
      std::snprintf(at, sizeof at, "cx=\"%.1f\" cy=\"%.1f\" r=\"5\"", axis.at(m.ratio.ratio), mid);
      w.out() << "<circle " << at << " fill=\"" << colour << "\"><title>" << svg::escape(m.key)
              << " " << svg::escape(m.measure) << ": " << change
              << ", p = " << svg::number(m.test.p) << "</title></circle>\n";
    }
    w.text(kWidth - 84, y + 16, m.significant() ? change : std::string("~ ").append(change),
           "fill=\"" + colour + "\"");
    w.out() << "</g>\n";
    y += kRowHeight;
  }
  w.out() << "</g>\n";
  return bottom + kAxisHeight;
}

}  // namespace

std::string render_comparison_charts(const Comparison& comparison, ChartFormat format,
                                     const std::string& title) {
  Writer w;
  const int height = comparison_chart(w, comparison);
  const std::string chart = svg::document_open(kWidth, height) + w.str() + "</svg>\n";
  if (format == ChartFormat::kSvg) return chart;
  return svg::html_page_open(title) +
         svg::html_table(render_comparison(comparison, ReportFormat::kCsv), "comparison") +
         "<figure>\n" + chart +
         "<figcaption>Per variant and measure, the change of the median with the 95 % interval "
         "of the ratio new/base (Hodges–Lehmann); ~: the two-sided Mann–Whitney U test finds no "
         "significant change.</figcaption>\n</figure>\n</body>\n</html>\n";
}

}  // namespace iolab
