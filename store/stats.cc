#include "store/stats.h"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>
#include <numbers>
#include <numeric>

namespace iolab {
namespace {

constexpr double kInf = std::numeric_limits<double>::infinity();

// ---- Distributions -------------------------------------------------------------------------

/// P(Bin(n, ½) ≤ j), summed in log space so that 2^−n does not underflow for large n.
double binomial_half_cdf(size_t n, size_t j) {
  double log_term = -static_cast<double>(n) * std::numbers::ln2;
  double sum = 0;
  for (size_t i = 0; i <= j && i <= n; ++i) {
    if (i > 0) log_term += std::log(static_cast<double>(n - i + 1) / static_cast<double>(i));
    sum += std::exp(log_term);
  }
  return std::min(sum, 1.0);
}

/// Two-sided tail of the standard normal: P(|Z| ≥ z).
double normal_two_sided(double z) { return std::erfc(std::fabs(z) / std::numbers::sqrt2); }

/// z with P(|Z| ≥ z) = `tail`, by bisection (runs once per interval, so speed is moot).
double normal_two_sided_quantile(double tail) {
  double lo = 0, hi = 40;
  for (int i = 0; i < 100; ++i) {
    const double mid = (lo + hi) / 2;
    (normal_two_sided(mid) > tail ? lo : hi) = mid;
  }
  return (lo + hi) / 2;
}

/// ln Γ(h/2) for a whole h ≥ 1, from Γ(½) = √π, Γ(1) = 1 and Γ(x+1) = xΓ(x). std::lgamma
/// writes the global `signgam`, which would make the library unsafe to call from threads.
double log_gamma_half(int64_t h) {
  const bool odd = h % 2 == 1;
  double x = odd ? 0.5 : 1.0;
  double out = odd ? 0.5 * std::log(std::numbers::pi) : 0.0;
  for (; 2 * x < static_cast<double>(h); x += 1) out += std::log(x);
  return out;
}

/// The continued fraction of the incomplete beta function (modified Lentz's method).
double beta_continued_fraction(double a, double b, double x) {
  constexpr double kTiny = 1e-300;
  constexpr double kEpsilon = 1e-15;
  auto guard = [](double v) { return std::fabs(v) < kTiny ? kTiny : v; };
  double c = 1;
  double d = 1 / guard(1 - (a + b) * x / (a + 1));
  double h = d;
  for (int m = 1; m <= 500; ++m) {
    const double m2 = 2.0 * m;
    const double even = m * (b - m) * x / ((a - 1 + m2) * (a + m2));
    d = 1 / guard(1 + even * d);
    c = guard(1 + even / c);
    h *= d * c;
    const double odd = -(a + m) * (a + b + m) * x / ((a + m2) * (a + 1 + m2));
    d = 1 / guard(1 + odd * d);
    c = guard(1 + odd / c);
    const double step = d * c;
    h *= step;
    if (std::fabs(step - 1) < kEpsilon) break;
  }
  return h;
}

/// I_x(a, b), the regularized incomplete beta function, given ln B(a, b).
double incomplete_beta(double a, double b, double x, double log_beta) {
  if (x <= 0) return 0;
  if (x >= 1) return 1;
  const double front = std::exp(a * std::log(x) + b * std::log1p(-x) - log_beta);
  // The fraction converges fast only on this side of the mean; use the symmetry otherwise.
  if (x < (a + 1) / (a + b + 2)) return front * beta_continued_fraction(a, b, x) / a;
  return 1 - front * beta_continued_fraction(b, a, 1 - x) / b;
}

/// P(|T| ≥ |t|) for Student's t with `df` ≥ 1 degrees of freedom.
double student_two_sided(double t, int64_t df) {
  const auto nu = static_cast<double>(df);
  const double log_beta = log_gamma_half(df) + log_gamma_half(1) - log_gamma_half(df + 1);
  return std::clamp(incomplete_beta(nu / 2, 0.5, nu / (nu + t * t), log_beta), 0.0, 1.0);
}

/// How many ways each sum of `m` of the `doubled_ranks` (ascending, ≥ 1) can be drawn: entry s
/// counts the m-subsets whose doubled ranks add to s. Doubling makes mid-ranks of ties (x.5)
/// whole numbers, so ties are counted exactly. O(N·m·sum) time, O(m·sum) doubles (a count of
/// C(60, 30) ≈ 1e17 needs a double's range, and a p-value needs no more than its precision).
std::vector<double> rank_sum_counts(std::span<const int64_t> doubled_ranks, size_t m) {
  int64_t max_sum = 0;
  for (size_t i = doubled_ranks.size() - m; i < doubled_ranks.size(); ++i) {
    max_sum += doubled_ranks[i];
  }
  const size_t width = static_cast<size_t>(max_sum) + 1;
  std::vector<double> ways((m + 1) * width, 0.0);
  ways[0] = 1;
  // reach[j]: the largest sum of j ranks seen so far, which bounds the sums worth visiting.
  std::vector<int64_t> reach(m + 1, 0);
  size_t seen = 0;
  for (const int64_t rank : doubled_ranks) {
    ++seen;
    // Largest subset size first, so that each rank joins a subset at most once.
    for (size_t j = std::min(seen, m); j >= 1; --j) {
      double* row = &ways[j * width];
      const double* shorter = &ways[(j - 1) * width];
      reach[j] = std::min(max_sum, reach[j - 1] + rank);
      for (int64_t s = reach[j]; s >= rank; --s) row[s] += shorter[s - rank];
    }
  }
  ways.erase(ways.begin(), ways.begin() + static_cast<std::ptrdiff_t>(m * width));
  return ways;
}

/// C(n, k) as a double.
double choose(size_t n, size_t k) {
  k = std::min(k, n - k);
  double out = 1;
  for (size_t i = 1; i <= k; ++i)
    out = out * static_cast<double>(n - k + i) / static_cast<double>(i);
  return out;
}

/// The largest k ≥ 1 with P(U ≤ k − 1) ≤ tail for U of two untied samples of n1 and n2 values,
/// and the P(U ≤ k − 1) it reaches; k = 0 when even P(U = 0) exceeds tail.
struct UCut {
  size_t k = 0;
  double below = 0;
};
UCut u_lower_cut(size_t n1, size_t n2, double tail) {
  const size_t n = n1 + n2;
  const size_t m = std::min(n1, n2);
  UCut cut;
  if (n <= kMannWhitneyExactMaxTotal) {
    std::vector<int64_t> ranks(n);
    std::iota(ranks.begin(), ranks.end(), int64_t{1});
    for (int64_t& r : ranks) r *= 2;
    const std::vector<double> counts = rank_sum_counts(ranks, m);
    const double total = std::accumulate(counts.begin(), counts.end(), 0.0);
    // U = (doubled sum − m(m+1)) / 2: walk the sums in steps of 2, one U at a time.
    double below = 0;
    for (size_t s = m * (m + 1), u = 0; s < counts.size(); s += 2, ++u) {
      below += counts[s] / total;
      if (below > tail || 2 * (u + 1) > n1 * n2) break;
      cut = {u + 1, below};
    }
    return cut;
  }
  const double mean = static_cast<double>(n1 * n2) / 2;
  const double sd = std::sqrt(static_cast<double>(n1 * n2) * static_cast<double>(n + 1) / 12);
  const double z = normal_two_sided_quantile(2 * tail);
  const double k = std::floor(mean + 0.5 - z * sd);
  if (k < 1) return cut;
  return {static_cast<size_t>(k), normal_two_sided((k - 0.5 - mean) / sd) / 2};
}

double mean_of(std::span<const double> values) {
  return std::accumulate(values.begin(), values.end(), 0.0) / static_cast<double>(values.size());
}

double median_of_sorted(std::span<const double> sorted) {
  const size_t n = sorted.size();
  if (n == 0) return 0;
  return n % 2 == 1 ? sorted[n / 2] : (sorted[n / 2 - 1] + sorted[n / 2]) / 2;
}

double median_of(std::span<const double> values) {
  std::vector<double> sorted(values.begin(), values.end());
  std::sort(sorted.begin(), sorted.end());
  return median_of_sorted(sorted);
}

}  // namespace

// ---- Median and its interval ---------------------------------------------------------------

MedianCi median_with_ci(std::span<const double> samples, double confidence) {
  MedianCi out;
  out.n = samples.size();
  std::vector<double> sorted(samples.begin(), samples.end());
  std::sort(sorted.begin(), sorted.end());
  out.median = median_of_sorted(sorted);
  out.low = -kInf;
  out.high = kInf;
  out.confidence = 1;
  // [x(k), x(n+1−k)] misses the median when fewer than k samples fall on one side of it.
  const size_t n = out.n;
  for (size_t k = 1; 2 * k <= n; ++k) {
    const double coverage = 1 - 2 * binomial_half_cdf(n, k - 1);
    if (coverage < confidence) break;
    out.low = sorted[k - 1];
    out.high = sorted[n - k];
    out.confidence = coverage;
    out.has_interval = true;
  }
  return out;
}

size_t min_samples_for_interval(double confidence) {
  size_t n = 2;
  while (1 - 2 * binomial_half_cdf(n, 0) < confidence && n < 64) ++n;
  return n;
}

// ---- Mann–Whitney U -------------------------------------------------------------------------

MannWhitney mann_whitney(std::span<const double> base, std::span<const double> next, double alpha) {
  MannWhitney out;
  const size_t n_base = base.size();
  const size_t n_next = next.size();
  const size_t n = n_base + n_next;
  if (n_base == 0 || n_next == 0) {
    out.too_few_to_detect = true;
    return out;
  }
  std::vector<double> pooled;
  pooled.reserve(n);
  pooled.insert(pooled.end(), base.begin(), base.end());
  pooled.insert(pooled.end(), next.begin(), next.end());
  std::sort(pooled.begin(), pooled.end());

  // Doubled mid-ranks: a block of ties at sorted positions [lo, hi) shares rank (lo+1+hi)/2.
  std::vector<int64_t> ranks(n);
  double tie_term = 0;  // Σ(t³ − t) over blocks of t tied values.
  for (size_t lo = 0; lo < n;) {
    size_t hi = lo + 1;
    while (hi < n && pooled[hi] == pooled[lo]) ++hi;
    std::fill(ranks.begin() + static_cast<std::ptrdiff_t>(lo),
              ranks.begin() + static_cast<std::ptrdiff_t>(hi), static_cast<int64_t>(lo + 1 + hi));
    const auto t = static_cast<double>(hi - lo);
    tie_term += t * t * t - t;
    lo = hi;
  }
  auto doubled_rank_of = [&](double v) {
    return ranks[static_cast<size_t>(std::lower_bound(pooled.begin(), pooled.end(), v) -
                                     pooled.begin())];
  };
  // The smaller side's rank sum carries the test; |U − mean| is the same from either side.
  const bool next_smaller = n_next <= n_base;
  const std::span<const double> smaller = next_smaller ? next : base;
  const size_t m = smaller.size();
  int64_t observed = 0;
  int64_t next_sum = 0;
  for (const double v : smaller) observed += doubled_rank_of(v);
  if (next_smaller) {
    next_sum = observed;
  } else {
    for (const double v : next) next_sum += doubled_rank_of(v);
  }
  const auto nn = static_cast<double>(n_next);
  out.u = static_cast<double>(next_sum) / 2 - nn * (nn + 1) / 2;

  // Sizes whose most extreme split cannot reach alpha can never show a difference.
  out.too_few_to_detect = 2 / choose(n, m) > alpha;

  if (n <= kMannWhitneyExactMaxTotal) {
    const std::vector<double> counts = rank_sum_counts(ranks, m);
    const auto center = static_cast<int64_t>(m * (n + 1));  // E[doubled rank sum]
    const int64_t distance = std::llabs(observed - center);
    double total = 0;
    double extreme = 0;
    for (size_t s = 0; s < counts.size(); ++s) {
      total += counts[s];
      if (std::llabs(static_cast<int64_t>(s) - center) >= distance) extreme += counts[s];
    }
    out.p = std::min(1.0, extreme / total);
    out.exact = true;
  } else {
    const double product = static_cast<double>(n_base) * nn;
    const auto nd = static_cast<double>(n);
    const double variance = product / 12 * ((nd + 1) - tie_term / (nd * (nd - 1)));
    if (variance > 0) {
      const double z = std::max(0.0, std::fabs(out.u - product / 2) - 0.5) / std::sqrt(variance);
      out.p = normal_two_sided(z);
    }
  }
  out.significant = out.p <= alpha;
  return out;
}

// ---- Ratio of medians -----------------------------------------------------------------------

RatioCi ratio_with_ci(std::span<const double> base, std::span<const double> next,
                      double confidence) {
  RatioCi out;
  out.low = 0;
  out.high = kInf;
  out.confidence = 1;
  auto positive = [](double v) { return v > 0 && std::isfinite(v); };
  if (base.empty() || next.empty() || !std::all_of(base.begin(), base.end(), positive) ||
      !std::all_of(next.begin(), next.end(), positive)) {
    out.valid = false;
    return out;
  }
  out.ratio = median_of(next) / median_of(base);
  const UCut cut = u_lower_cut(base.size(), next.size(), (1 - confidence) / 2);
  if (cut.k == 0) return out;

  std::vector<double> ratios;
  ratios.reserve(base.size() * next.size());
  for (const double b : base) {
    for (const double v : next) ratios.push_back(v / b);
  }
  const auto lower = ratios.begin() + static_cast<std::ptrdiff_t>(cut.k - 1);
  const auto upper = ratios.end() - static_cast<std::ptrdiff_t>(cut.k);
  std::nth_element(ratios.begin(), lower, ratios.end());
  std::nth_element(lower + 1, upper, ratios.end());
  out.low = *lower;
  out.high = *upper;
  out.confidence = 1 - 2 * cut.below;
  out.has_interval = true;
  return out;
}

// ---- Student's t-test -----------------------------------------------------------------------

double student_t_test(std::span<const double> a, std::span<const double> b) {
  if (a.empty() || b.empty() || a.size() + b.size() < 3) return 1;
  const double mean_a = mean_of(a);
  const double mean_b = mean_of(b);
  double squares = 0;
  for (const double v : a) squares += (v - mean_a) * (v - mean_a);
  for (const double v : b) squares += (v - mean_b) * (v - mean_b);
  const auto df = static_cast<int64_t>(a.size() + b.size() - 2);
  const double pooled = squares / static_cast<double>(df);
  const double scale = std::sqrt(
      pooled * (1.0 / static_cast<double>(a.size()) + 1.0 / static_cast<double>(b.size())));
  if (scale == 0) return mean_a == mean_b ? 1 : 0;
  return student_two_sided((mean_a - mean_b) / scale, df);
}

// ---- Change points --------------------------------------------------------------------------

namespace {

/// Q̂ of Matteson & James (α = 1) for any split of one window in O(1), from 2-D prefix sums of
/// the distances |x_i − x_j|. O(w²) doubles for a window of w points.
class EnergyDistance {
 public:
  explicit EnergyDistance(std::span<const double> values)
      : width_(values.size() + 1), prefix_(width_ * width_, 0.0) {
    for (size_t i = 0; i < values.size(); ++i) {
      for (size_t j = 0; j < values.size(); ++j) {
        prefix_[(i + 1) * width_ + j + 1] = std::fabs(values[i] - values[j]) +
                                            prefix_[i * width_ + j + 1] +
                                            prefix_[(i + 1) * width_ + j] - prefix_[i * width_ + j];
      }
    }
  }

  /// Q̂ between [s, tau) and [tau, kappa); s < tau < kappa.
  double q(size_t s, size_t tau, size_t kappa) const {
    const auto m = static_cast<double>(tau - s);
    const auto k = static_cast<double>(kappa - tau);
    const double between = block(s, tau, tau, kappa) / (m * k);
    // A block over one segment holds each pair twice; C(m, 2) pairs.
    const double within_x = m > 1 ? block(s, tau, s, tau) / (m * (m - 1)) : 0;
    const double within_y = k > 1 ? block(tau, kappa, tau, kappa) / (k * (k - 1)) : 0;
    return m * k / (m + k) * (2 * between - within_x - within_y);
  }

 private:
  double block(size_t r0, size_t r1, size_t c0, size_t c1) const {
    return prefix_[r1 * width_ + c1] - prefix_[r0 * width_ + c1] - prefix_[r1 * width_ + c0] +
           prefix_[r0 * width_ + c0];
  }

  size_t width_;
  std::vector<double> prefix_;
};

/// The split of [s, e) (a segment between two found points) with the largest Q̂ over every
/// tau in (s, e) and kappa in (tau, e]; kappa < e lets a short recent level stand out.
struct Split {
  size_t tau = 0;
  double q = -kInf;
};
Split best_split(const EnergyDistance& energy, size_t s, size_t e) {
  Split best;
  for (size_t tau = s + 1; tau < e; ++tau) {
    for (size_t kappa = tau + 1; kappa <= e; ++kappa) {
      const double q = energy.q(s, tau, kappa);
      if (q > best.q) best = {tau, q};
    }
  }
  return best;
}

/// Adds to `found` the weak change points of series[start, end): split at the best Q̂ over all
/// segments while the split's t-test p ≤ weak_p (Otava's hierarchical E-divisive).
void bisect_window(std::span<const double> series, size_t start, size_t end, double weak_p,
                   std::vector<size_t>& found) {
  const std::span<const double> window = series.subspan(start, end - start);
  const EnergyDistance energy(window);
  std::vector<size_t> cuts = {0, window.size()};
  for (;;) {
    Split best;
    size_t seg = 0;
    for (size_t i = 0; i + 1 < cuts.size(); ++i) {
      if (cuts[i + 1] - cuts[i] < 2) continue;
      const Split split = best_split(energy, cuts[i], cuts[i + 1]);
      if (split.q > best.q) {
        best = split;
        seg = i;
      }
    }
    if (best.tau == 0) break;
    const double p = student_t_test(window.subspan(cuts[seg], best.tau - cuts[seg]),
                                    window.subspan(best.tau, cuts[seg + 1] - best.tau));
    if (p > weak_p) break;
    cuts.insert(cuts.begin() + static_cast<std::ptrdiff_t>(seg + 1), best.tau);
  }
  for (size_t i = 1; i + 1 < cuts.size(); ++i) found.push_back(start + cuts[i]);
}

/// The change at cuts[i] against its neighbours cuts[i−1] and cuts[i+1] (0 and the end at
/// the edges).
ChangePoint describe_change(std::span<const double> series, const std::vector<size_t>& cuts,
                            size_t i) {
  const size_t from = i == 0 ? 0 : cuts[i - 1];
  const size_t to = i + 1 == cuts.size() ? series.size() : cuts[i + 1];
  const auto before = series.subspan(from, cuts[i] - from);
  const auto after = series.subspan(cuts[i], to - cuts[i]);
  ChangePoint change;
  change.index = cuts[i];
  change.mean_before = mean_of(before);
  change.mean_after = mean_of(after);
  change.relative_change = change.mean_before == 0 ? 0 : change.mean_after / change.mean_before - 1;
  change.p = student_t_test(before, after);
  return change;
}

/// Otava's split and merge over one series, without the outlier rule.
std::vector<ChangePoint> detect(std::span<const double> series, const ChangePointOptions& options) {
  const size_t window = std::max<size_t>(options.window, 3);
  // Otava's first pass: a looser p finds "weak" points that the merge then re-tests together.
  const double weak_p = options.max_p < 0.05 ? options.max_p * 10 : options.max_p;
  std::vector<size_t> cuts;
  for (size_t start = 0; start < series.size();) {
    const size_t end = std::min(start + window, series.size());
    const size_t before = cuts.size();
    bisect_window(series, start, end, weak_p, cuts);
    const size_t last =
        cuts.size() > before
            ? *std::max_element(cuts.begin() + static_cast<std::ptrdiff_t>(before), cuts.end())
            : 0;
    start = std::max(last, start + window / 2);
  }
  std::sort(cuts.begin(), cuts.end());
  cuts.erase(std::unique(cuts.begin(), cuts.end()), cuts.end());

  // Merge: drop the weakest point and re-test its neighbours until every one holds.
  std::vector<ChangePoint> changes;
  for (;;) {
    changes.clear();
    for (size_t i = 0; i < cuts.size(); ++i) changes.push_back(describe_change(series, cuts, i));
    if (changes.empty()) break;
    auto weakest = std::max_element(changes.begin(), changes.end(),
                                    [](const auto& a, const auto& b) { return a.p < b.p; });
    if (weakest->p <= options.max_p) {
      weakest = std::min_element(changes.begin(), changes.end(), [](const auto& a, const auto& b) {
        return std::fabs(a.relative_change) < std::fabs(b.relative_change);
      });
      if (std::fabs(weakest->relative_change) >= options.min_relative_change) break;
    }
    cuts.erase(cuts.begin() + (weakest - changes.begin()));
  }
  return changes;
}

}  // namespace

ChangePoints change_points(std::span<const double> series, const ChangePointOptions& options) {
  ChangePoints out;
  std::vector<double> kept(series.begin(), series.end());
  std::vector<size_t> original(series.size());  // index in `series` of each kept point
  std::iota(original.begin(), original.end(), size_t{0});
  const size_t min_segment = std::max<size_t>(options.min_segment, 1);
  for (;;) {
    std::vector<ChangePoint> changes = detect(kept, options);
    // A change must be carried by at least min_segment points after it that sit nearer the new
    // level than the old (levels as medians, which one wild point cannot drag). Points that
    // carry a change alone, or fill a segment too short to be a level, are outliers: set them
    // aside and search again, so that one wild night neither fakes nor hides a change.
    std::vector<bool> outlier(kept.size(), false);
    bool any = false;
    auto set_aside = [&](size_t from, size_t to) {
      std::fill(outlier.begin() + static_cast<std::ptrdiff_t>(from),
                outlier.begin() + static_cast<std::ptrdiff_t>(to), true);
      any = true;
    };
    const std::span<const double> all(kept);
    if (!changes.empty() && changes.front().index < min_segment)
      set_aside(0, changes.front().index);
    for (size_t i = 0; i < changes.size(); ++i) {
      const size_t from = i == 0 ? 0 : changes[i - 1].index;
      const size_t at = changes[i].index;
      const size_t to = i + 1 == changes.size() ? kept.size() : changes[i + 1].index;
      if (to - at < min_segment) {
        set_aside(at, to);
        continue;
      }
      const double old_level = median_of(all.subspan(from, at - from));
      const double new_level = median_of(all.subspan(at, to - at));
      size_t carriers = 0;
      size_t farthest = at;  // the point that moved most, should no point be nearer new_level
      for (size_t j = at; j < to; ++j) {
        carriers += std::fabs(kept[j] - new_level) < std::fabs(kept[j] - old_level);
        if (std::fabs(kept[j] - old_level) > std::fabs(kept[farthest] - old_level)) farthest = j;
      }
      if (carriers >= min_segment) continue;
      if (carriers == 0) set_aside(farthest, farthest + 1);
      for (size_t j = at; j < to && carriers > 0; ++j) {
        if (std::fabs(kept[j] - new_level) < std::fabs(kept[j] - old_level)) set_aside(j, j + 1);
      }
    }
    if (!any) {
      for (ChangePoint& change : changes) change.index = original[change.index];
      out.changes = std::move(changes);
      break;
    }
    size_t write = 0;
    for (size_t i = 0; i < kept.size(); ++i) {
      if (outlier[i]) {
        out.outliers.push_back(original[i]);
      } else {
        kept[write] = kept[i];
        original[write++] = original[i];
      }
    }
    kept.resize(write);
    original.resize(write);
  }
  std::sort(out.outliers.begin(), out.outliers.end());
  return out;
}

}  // namespace iolab
