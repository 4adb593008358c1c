#pragma once

// What every chart of a report draws with: escaping, numbers, the variants' styles and the
// axes. Plain SVG 1.1 text; nothing here knows a report.

#include <sstream>
#include <string>
#include <string_view>
#include <vector>

namespace iolab::svg {

/// `text` with &, <, > and " escaped for an element's text or an attribute.
std::string escape(std::string_view text);

/// A tick or a value: "0.5", "12.3", "100", "2500".
std::string number(double v);

/// How one variant is drawn in every chart: its colour (Okabe–Ito, yellow left out: it vanishes
/// on white paper) and, from the eighth variant on, a dash pattern with a lighter fill, so
/// colour is never the only cue.
struct SeriesStyle {
  std::string colour;
  std::string dash;  ///< stroke-dasharray; empty: solid.

  /// Attributes for a line: stroke, width, dash.
  std::string line() const;
  /// Attributes for an area (a bar, a marker): fill, and the dash on its edge.
  std::string area() const;
};

/// The style of the `index`th variant (0-based) of a report.
SeriesStyle series_style(size_t index);

/// A log-10 axis over whole decades from 10^lo to 10^hi, mapped to pixels [from, to].
struct LogAxis {
  double lo = 0;
  double hi = 1;
  double from = 0;
  double to = 1;

  /// The decades covering [low, high] (values ≤ 0 are left out); one decade at least.
  static LogAxis covering(double low, double high, double from, double to);
  double at(double value) const;
};

/// A linear axis from 0 to `top` (rounded up to a nice step), mapped to pixels [from, to].
struct LinearAxis {
  double top = 1;
  double step = 1;
  double from = 0;
  double to = 1;

  static LinearAxis covering(double high, double from, double to);
  double at(double value) const;
};

/// Streams SVG elements; coordinates are written with one decimal.
class Writer {
 public:
  std::ostringstream& out() { return out_; }
  std::string str() const { return out_.str(); }

  void text(double x, double y, std::string_view text, std::string_view attributes = {});
  void line(double x1, double y1, double x2, double y2, std::string_view attributes);
  void rect(double x, double y, double w, double h, std::string_view attributes,
            std::string_view title = {});
  /// A polyline through `points` (x, y pairs).
  void polyline(const std::vector<std::pair<double, double>>& points, std::string_view attributes);
  /// A horizontal whisker from x1 to x2 at y, with end ticks.
  void h_whisker(double x1, double x2, double y, std::string_view colour, std::string_view title);
  /// A vertical whisker from y1 to y2 at x, with end ticks.
  void v_whisker(double x, double y1, double y2, std::string_view colour, std::string_view title);
  /// A chart's title (bold) at the top left of a chart starting at `top`.
  void title(double x, double top, std::string_view text);

 private:
  std::ostringstream out_;
};

/// `<svg …>` opening a standalone document of `width` × `height` px on a white background.
std::string document_open(int width, int height);

/// An HTML page up to its `<h1>` (escaped `title`), with the reports' style inline: readable
/// printed, nothing fetched.
std::string html_page_open(const std::string& title);

/// A table from CSV text (first line the header). Only the first column (a label) may hold a
/// comma, so the cells are split off from the right. Cells are escaped.
std::string html_table(const std::string& csv_text, std::string_view id);

}  // namespace iolab::svg
