#include "nnjoule/common/stats.hpp"

#include <algorithm>
#include <cmath>
#include <numeric>

#include "nnjoule/common/error.hpp"

namespace nnjoule::stats {

double mean(std::span<const double> x) {
  if (x.empty()) fail("mean of an empty sample");
  return std::accumulate(x.begin(), x.end(), 0.0) / static_cast<double>(x.size());
}

double stddev(std::span<const double> x) {
  if (x.size() < 2) return 0.0;
  const double m = mean(x);
  double ss = 0;
  for (double v : x) ss += (v - m) * (v - m);
  return std::sqrt(ss / static_cast<double>(x.size() - 1));
}

double percentile(std::span<const double> x, double p) {
  if (x.empty()) fail("percentile of an empty sample");
  std::vector<double> v(x.begin(), x.end());
  std::sort(v.begin(), v.end());
  const double pos = std::clamp(p, 0.0, 100.0) / 100.0 * static_cast<double>(v.size() - 1);
  const auto lo = static_cast<size_t>(std::floor(pos));
  const size_t hi = std::min(lo + 1, v.size() - 1);
  return v[lo] + (v[hi] - v[lo]) * (pos - static_cast<double>(lo));
}

double median(std::span<const double> x) {
  return percentile(x, 50);
}

double cv(std::span<const double> x) {
  const double m = mean(x);
  return m == 0 ? 0.0 : stddev(x) / std::fabs(m);
}

double student_t975(int dof) {
  static const double table[] = {0,     12.706, 4.303, 3.182, 2.776, 2.571, 2.447, 2.365,
                                 2.306, 2.262,  2.228, 2.201, 2.179, 2.160, 2.145, 2.131,
                                 2.120, 2.110,  2.101, 2.093, 2.086, 2.080, 2.074, 2.069,
                                 2.064, 2.060,  2.056, 2.052, 2.048, 2.045, 2.042};
  if (dof < 1) fail("Student t needs at least one degree of freedom");
  if (dof <= 30) return table[dof];
  // Cornish-Fisher expansion around the normal quantile; exact to 1e-3 beyond 30 dof.
  const double z = 1.959964;
  const double d = dof;
  return z + (z * z * z + z) / (4 * d) +
         (5 * std::pow(z, 5) + 16 * z * z * z + 3 * z) / (96 * d * d);
}

double ci95_halfwidth(std::span<const double> x) {
  if (x.size() < 2) return INFINITY;
  return student_t975(static_cast<int>(x.size()) - 1) * stddev(x) /
         std::sqrt(static_cast<double>(x.size()));
}

Summary summarize(std::span<const double> x) {
  Summary s;
  if (x.empty()) return s;
  s.n = static_cast<int>(x.size());
  s.mean = mean(x);
  s.median = median(x);
  s.p10 = percentile(x, 10);
  s.p90 = percentile(x, 90);
  s.min = *std::min_element(x.begin(), x.end());
  s.max = *std::max_element(x.begin(), x.end());
  s.stddev = stddev(x);
  s.cv = cv(x);
  s.ci95 = ci95_halfwidth(x);
  return s;
}

}  // namespace nnjoule::stats
