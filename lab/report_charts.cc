#include "lab/report_charts.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <sstream>
#include <vector>

#include "core/duration.h"

namespace iolab {
namespace {

constexpr int kWidth = 760;
constexpr int kLeft = 130;  // Room for the labels.
constexpr int kRight = 70;  // Room for the bar values.
constexpr int kRowHeight = 26;
constexpr int kTitleHeight = 48;  // Title, and the legend under it.
constexpr int kAxisHeight = 30;
constexpr const char* kPercentileColours[] = {"#4e79a7", "#f28e2b", "#e15759", "#76b7b2"};
constexpr const char* kPercentileNames[] = {"p50", "p99", "p99.9", "max"};

std::string escape(const std::string& text) {
  std::string out;
  for (const char c : text) {
    switch (c) {
      case '&':
        out += "&amp;";
        break;
      case '<':
        out += "&lt;";
        break;
      case '>':
        out += "&gt;";
        break;
      case '"':
        out += "&quot;";
        break;
      default:
        out += c;
    }
  }
  return out;
}

std::string number(double v) {
  char text[32];
  std::snprintf(text, sizeof text, v >= 100 || v == std::floor(v) ? "%.0f" : "%.3g", v);
  return text;
}

// Requests per variant, bars on a linear axis from zero.
void requests_chart(std::ostringstream& out, const std::vector<ReportRow>& rows, int top) {
  uint64_t most = 1;
  for (const auto& r : rows) most = std::max(most, r.result.requests);
  const int plot = kWidth - kLeft - kRight;
  out << "<g class=\"chart requests\">\n<text x=\"" << kLeft << "\" y=\"" << top + 20
      << "\" font-size=\"15\" font-weight=\"bold\">Requests per variant</text>\n";
  int y = top + kTitleHeight;
  for (const auto& r : rows) {
    const int w = static_cast<int>(static_cast<double>(r.result.requests) / most * plot);
    out << "<text x=\"" << kLeft - 6 << "\" y=\"" << y + 16 << "\" text-anchor=\"end\">"
        << escape(r.label) << "</text>\n<rect x=\"" << kLeft << "\" y=\"" << y + 3 << "\" width=\""
        << std::max(w, 1) << "\" height=\"" << kRowHeight - 6 << "\" fill=\"#4e79a7\"><title>"
        << escape(r.label) << ": " << r.result.requests << " requests</title></rect>\n<text x=\""
        << kLeft + std::max(w, 1) + 4 << "\" y=\"" << y + 16 << "\">" << r.result.requests
        << "</text>\n";
    y += kRowHeight;
  }
  out << "</g>\n";
}

// Latency percentiles per variant, one row each, on a log axis in ms.
void latency_chart(std::ostringstream& out, const std::vector<ReportRow>& rows, int top) {
  double lo = 1e300;
  double hi = 0;
  for (const auto& r : rows) {
    if (r.result.latency.count() == 0) continue;
    lo = std::min(lo, to_ms(r.result.latency.percentile(50)));
    hi = std::max(hi, to_ms(r.result.latency.max()));
  }
  if (hi <= 0) {
    lo = 1;
    hi = 10;
  }
  const double decade_lo = std::floor(std::log10(std::max(lo, 1e-3)));
  const double decade_hi = std::max(decade_lo + 1, std::ceil(std::log10(std::max(hi, 1e-3))));
  const int plot = kWidth - kLeft - kRight;
  const auto x_of = [&](double ms) {
    const double d = std::log10(std::max(ms, 1e-3));
    return kLeft + static_cast<int>((d - decade_lo) / (decade_hi - decade_lo) * plot);
  };
  const int bottom = top + kTitleHeight + static_cast<int>(rows.size()) * kRowHeight;
  out << "<g class=\"chart latency\">\n<text x=\"" << kLeft << "\" y=\"" << top + 20
      << "\" font-size=\"15\" font-weight=\"bold\">Latency percentiles per variant (ms, log "
         "scale)</text>\n";
  for (int i = 0; i < 4; ++i) {
    out << "<rect x=\"" << kLeft + i * 75 << "\" y=\"" << top + 29
        << "\" width=\"10\" height=\"10\" fill=\"" << kPercentileColours[i] << "\"/><text x=\""
        << kLeft + 14 + i * 75 << "\" y=\"" << top + 38 << "\">" << kPercentileNames[i]
        << "</text>\n";
  }
  for (double d = decade_lo; d <= decade_hi; ++d) {
    const double ms = std::pow(10.0, d);
    const int x = x_of(ms);
    out << "<line x1=\"" << x << "\" y1=\"" << top + kTitleHeight << "\" x2=\"" << x << "\" y2=\""
        << bottom << "\" stroke=\"#ccc\"/><text class=\"tick\" x=\"" << x << "\" y=\""
        << bottom + 16 << "\" text-anchor=\"middle\">" << number(ms) << "</text>\n";
  }
  int y = top + kTitleHeight;
  for (const auto& r : rows) {
    out << "<text x=\"" << kLeft - 6 << "\" y=\"" << y + 16 << "\" text-anchor=\"end\">"
        << escape(r.label) << "</text>\n";
    if (r.result.latency.count() > 0) {
      const double values[] = {
          to_ms(r.result.latency.percentile(50)), to_ms(r.result.latency.percentile(99)),
          to_ms(r.result.latency.percentile(99.9)), to_ms(r.result.latency.max())};
      out << "<line x1=\"" << x_of(values[0]) << "\" y1=\"" << y + 12 << "\" x2=\""
          << x_of(values[3]) << "\" y2=\"" << y + 12 << "\" stroke=\"#999\"/>\n";
      for (int i = 0; i < 4; ++i) {
        out << "<circle cx=\"" << x_of(values[i]) << "\" cy=\"" << y + 12 << "\" r=\"5\" fill=\""
            << kPercentileColours[i] << "\"><title>" << escape(r.label) << " "
            << kPercentileNames[i] << ": " << number(values[i]) << " ms</title></circle>\n";
      }
    }
    y += kRowHeight;
  }
  out << "</g>\n";
}

}  // namespace

std::string render_svg_report(const std::vector<ReportRow>& rows) {
  const int chart = kTitleHeight + static_cast<int>(rows.size()) * kRowHeight + kAxisHeight;
  const int height = 2 * chart + 20;
  std::ostringstream out;
  out << "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"" << kWidth << "\" height=\"" << height
      << "\" viewBox=\"0 0 " << kWidth << " " << height
      << "\" font-family=\"sans-serif\" font-size=\"12\">\n"
      << "<rect width=\"100%\" height=\"100%\" fill=\"white\"/>\n";
  requests_chart(out, rows, 0);
  latency_chart(out, rows, chart + 10);
  out << "</svg>\n";
  return out.str();
}

std::string render_html_report(const std::vector<ReportRow>& rows, const std::string& title) {
  std::ostringstream out;
  out << "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n<title>"
      << escape(title) << "</title>\n<style>\n"
      << "body{font-family:sans-serif;margin:2em;color:#222}\n"
      << "table{border-collapse:collapse;margin-bottom:2em}\n"
      << "table{font-size:13px}\n"
      << "th,td{border:1px solid #ccc;padding:3px 6px;text-align:right;white-space:nowrap}\n"
      << "th:first-child,td:first-child{text-align:left}\nth{background:#f0f0f0}\n"
      << "</style>\n</head>\n<body>\n<h1>" << escape(title) << "</h1>\n<table id=\"report\">\n";
  // The CSV rendering has every column: reuse it as the table, so both stay in step. Only the
  // label (first column) may hold a comma, so the cells are split off from the right.
  std::istringstream csv(render_report(rows, ReportFormat::kCsv, true));
  std::string line;
  size_t columns = 0;
  bool header = true;
  while (std::getline(csv, line)) {
    if (line.empty()) continue;
    std::vector<std::string> cells;
    if (columns == 0) {
      std::istringstream split(line);
      for (std::string cell; std::getline(split, cell, ',');) cells.push_back(cell);
      columns = cells.size();
    } else {
      while (cells.size() + 1 < columns) {
        const auto comma = line.rfind(',');
        if (comma == std::string::npos) break;
        cells.insert(cells.begin(), line.substr(comma + 1));
        line.erase(comma);
      }
      cells.insert(cells.begin(), line);
    }
    const char* tag = header ? "th" : "td";
    out << "<tr>";
    for (const auto& cell : cells) out << "<" << tag << ">" << escape(cell) << "</" << tag << ">";
    out << "</tr>\n";
    header = false;
  }
  out << "</table>\n" << render_svg_report(rows) << "</body>\n</html>\n";
  return out.str();
}

}  // namespace iolab
