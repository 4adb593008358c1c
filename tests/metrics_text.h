#pragma once

// Reading Prometheus text exposition in tests.
#include <string>

namespace iolab::testing {

/// The value of the one sample line that starts with `series` (name and labels, exactly as
/// exposed: `iolab_x_total{variant="async"}`), or -1 when there is none.
inline double sample(const std::string& text, const std::string& series) {
  size_t at = 0;
  while ((at = text.find(series + " ", at)) != std::string::npos) {
    if (at == 0 || text[at - 1] == '\n') {
      const size_t end = text.find('\n', at);
      return std::stod(text.substr(at + series.size() + 1, end - at - series.size() - 1));
    }
    ++at;
  }
  return -1;
}

}  // namespace iolab::testing
