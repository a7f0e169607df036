#pragma once
// Summary statistics shared by the latency harness, the measurement protocol and evaluation.
#include <span>
#include <vector>

namespace nnjoule::stats {

double mean(std::span<const double> x);
double stddev(std::span<const double> x);  // sample standard deviation (n - 1)
double median(std::span<const double> x);
double percentile(std::span<const double> x, double p);  // p in [0, 100], linear interpolation
double cv(std::span<const double> x);                    // stddev / mean
// Half-width of the two-sided 95% confidence interval of the mean (Student t).
double ci95_halfwidth(std::span<const double> x);
double student_t975(int dof);  // 97.5% quantile of Student's t

struct Summary {
  int n = 0;
  double mean = 0, median = 0, p10 = 0, p90 = 0, min = 0, max = 0, stddev = 0, cv = 0;
  double ci95 = 0;  // half-width
};
Summary summarize(std::span<const double> x);

}  // namespace nnjoule::stats
