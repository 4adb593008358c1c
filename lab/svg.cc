#include "lab/svg.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <sstream>

namespace iolab::svg {
namespace {

// Okabe & Ito's palette for colour-blind readers, without its yellow.
constexpr const char* kColours[] = {"#0072B2", "#E69F00", "#009E73", "#D55E00",
                                    "#CC79A7", "#56B4E9", "#000000"};
constexpr size_t kColourCount = std::size(kColours);
constexpr const char* kDashes[] = {"", "7 3", "2 2"};

std::string coordinate(double v) {
  char text[32];
  std::snprintf(text, sizeof text, "%.1f", v);
  return text;
}

}  // namespace

std::string escape(std::string_view text) {
  std::string out;
  out.reserve(text.size());
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

std::string SeriesStyle::line() const {
  std::string a = "fill=\"none\" stroke=\"" + colour + "\" stroke-width=\"2\"";
  if (!dash.empty()) a += " stroke-dasharray=\"" + dash + "\"";
  return a;
}

std::string SeriesStyle::area() const {
  if (dash.empty()) return "fill=\"" + colour + "\"";
  return "fill=\"" + colour + "\" fill-opacity=\"0.35\" stroke=\"" + colour +
         "\" stroke-width=\"1.5\" stroke-dasharray=\"" + dash + "\"";
}

SeriesStyle series_style(size_t index) {
  return SeriesStyle{kColours[index % kColourCount],
                     kDashes[(index / kColourCount) % std::size(kDashes)]};
}

LogAxis LogAxis::covering(double low, double high, double from, double to) {
  if (!(low > 0) || !(high > 0)) {
    low = 1;
    high = 10;
  }
  const double lo = std::floor(std::log10(low));
  const double hi = std::max(lo + 1, std::ceil(std::log10(high)));
  return LogAxis{lo, hi, from, to};
}

double LogAxis::at(double value) const {
  const double d = value > 0 ? std::log10(value) : lo;
  return from + (std::clamp(d, lo, hi) - lo) / (hi - lo) * (to - from);
}

LinearAxis LinearAxis::covering(double high, double from, double to) {
  if (!(high > 0)) high = 1;
  // A step of 1, 2 or 5 times a power of ten that gives at most 6 steps.
  const double magnitude = std::pow(10.0, std::floor(std::log10(high / 6)));
  double step = magnitude;
  for (const double m : {1.0, 2.0, 5.0, 10.0}) {
    step = m * magnitude;
    if (high / step <= 6) break;
  }
  return LinearAxis{std::ceil(high / step) * step, step, from, to};
}

double LinearAxis::at(double value) const {
  return from + std::clamp(value / top, 0.0, 1.0) * (to - from);
}

void Writer::text(double x, double y, std::string_view text, std::string_view attributes) {
  out_ << "<text x=\"" << coordinate(x) << "\" y=\"" << coordinate(y) << "\"";
  if (!attributes.empty()) out_ << " " << attributes;
  out_ << ">" << escape(text) << "</text>\n";
}

void Writer::line(double x1, double y1, double x2, double y2, std::string_view attributes) {
  out_ << "<line x1=\"" << coordinate(x1) << "\" y1=\"" << coordinate(y1) << "\" x2=\""
       << coordinate(x2) << "\" y2=\"" << coordinate(y2) << "\" " << attributes << "/>\n";
}

void Writer::rect(double x, double y, double w, double h, std::string_view attributes,
                  std::string_view title) {
  out_ << "<rect x=\"" << coordinate(x) << "\" y=\"" << coordinate(y) << "\" width=\""
       << coordinate(std::max(w, 0.0)) << "\" height=\"" << coordinate(std::max(h, 0.0)) << "\" "
       << attributes;
  if (title.empty()) {
    out_ << "/>\n";
  } else {
    out_ << "><title>" << escape(title) << "</title></rect>\n";
  }
}

void Writer::polyline(const std::vector<std::pair<double, double>>& points,
                      std::string_view attributes) {
  out_ << "<polyline points=\"";
  for (size_t i = 0; i < points.size(); ++i) {
    if (i) out_ << " ";
    out_ << coordinate(points[i].first) << "," << coordinate(points[i].second);
  }
  out_ << "\" " << attributes << "/>\n";
}

void Writer::h_whisker(double x1, double x2, double y, std::string_view colour,
                       std::string_view title) {
  out_ << "<g class=\"whisker\" stroke=\"" << colour << "\" stroke-width=\"1.5\"><title>"
       << escape(title) << "</title>";
  out_ << "<line x1=\"" << coordinate(x1) << "\" y1=\"" << coordinate(y) << "\" x2=\""
       << coordinate(x2) << "\" y2=\"" << coordinate(y) << "\"/>";
  for (const double x : {x1, x2}) {
    out_ << "<line x1=\"" << coordinate(x) << "\" y1=\"" << coordinate(y - 4) << "\" x2=\""
         << coordinate(x) << "\" y2=\"" << coordinate(y + 4) << "\"/>";
  }
  out_ << "</g>\n";
}

void Writer::v_whisker(double x, double y1, double y2, std::string_view colour,
                       std::string_view title) {
  out_ << "<g class=\"whisker\" stroke=\"" << colour << "\" stroke-width=\"1.5\"><title>"
       << escape(title) << "</title>";
  out_ << "<line x1=\"" << coordinate(x) << "\" y1=\"" << coordinate(y1) << "\" x2=\""
       << coordinate(x) << "\" y2=\"" << coordinate(y2) << "\"/>";
  for (const double y : {y1, y2}) {
    out_ << "<line x1=\"" << coordinate(x - 4) << "\" y1=\"" << coordinate(y) << "\" x2=\""
         << coordinate(x + 4) << "\" y2=\"" << coordinate(y) << "\"/>";
  }
  out_ << "</g>\n";
}

void Writer::title(double x, double top, std::string_view text) {
  this->text(x, top + 20, text, "font-size=\"15\" font-weight=\"bold\"");
}

namespace {

constexpr const char* kSvgOpen =
    "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"%d\" height=\"%d\" viewBox=\"0 0 %d %d\" "
    "font-family=\"sans-serif\" font-size=\"12\">\n<rect width=\"100%%\" height=\"100%%\" "
    "fill=\"white\"/>\n";

}  // namespace

std::string document_open(int width, int height) {
  char text[320];
  std::snprintf(text, sizeof text, kSvgOpen, width, height, width, height);
  return text;
}

namespace {

constexpr const char* kStyle =
    "body{font-family:sans-serif;margin:2em;color:#222;background:white}\n"
    "table{border-collapse:collapse;margin-bottom:2em;font-size:13px}\n"
    "th,td{border:1px solid #ccc;padding:3px 6px;text-align:right;white-space:nowrap}\n"
    "th:first-child,td:first-child{text-align:left}\nth{background:#f0f0f0}\n"
    "figure{margin:0 0 2em 0;break-inside:avoid;page-break-inside:avoid}\n"
    "figcaption{font-size:13px;color:#444;max-width:760px}\n"
    "svg{max-width:100%;height:auto}\n"
    "@media print{body{margin:1cm}th{background:none}}\n";

}  // namespace

std::string html_page_open(const std::string& title) {
  return "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n<title>" +
         escape(title) + "</title>\n<style>\n" + kStyle + "</style>\n</head>\n<body>\n<h1>" +
         escape(title) + "</h1>\n";
}

std::string html_table(const std::string& csv_text, std::string_view id) {
  std::ostringstream out;
  out << "<table id=\"" << id << "\">\n";
  std::istringstream csv(csv_text);
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
    for (const auto& cell : cells) {
      out << "<" << tag << ">" << escape(cell) << "</" << tag << ">";
    }
    out << "</tr>\n";
    header = false;
  }
  out << "</table>\n";
  return out.str();
}

}  // namespace iolab::svg
