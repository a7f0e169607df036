#include "nnjoule/predict/metrics.hpp"

#include <algorithm>
#include <cmath>
#include <nlohmann/json.hpp>
#include <numeric>

#include "nnjoule/common/error.hpp"
#include "nnjoule/common/rng.hpp"

namespace nnjoule::predict {

nlohmann::json Accuracy::to_json() const {
  return {{"n", n},
          {"rmse", rmse},
          {"rmspe_pct", rmspe},
          {"mape_pct", mape},
          {"within_5pct", within5},
          {"within_10pct", within10},
          {"within_15pct", within15}};
}

Accuracy accuracy(std::span<const double> predicted, std::span<const double> actual) {
  if (predicted.size() != actual.size()) {
    fail("accuracy: {} predictions for {} measurements", predicted.size(), actual.size());
  }
  Accuracy a;
  a.n = actual.size();
  if (a.n == 0) return a;
  double se = 0, spe = 0, ape = 0;
  size_t w5 = 0, w10 = 0, w15 = 0;
  for (size_t i = 0; i < a.n; ++i) {
    const double p = predicted[i], y = actual[i];
    if (!std::isfinite(p) || !std::isfinite(y)) fail("accuracy: value {} is not finite", i);
    if (!(y > 0)) fail("accuracy: measured value {} is {} (must be positive)", i, y);
    const double e = p - y, pe = std::fabs(e) / y;
    se += e * e;
    spe += pe * pe;
    ape += pe;
    // A hair of slack so that exactly 10% off counts as within 10% despite rounding.
    w5 += pe <= 0.05 + 1e-12;
    w10 += pe <= 0.10 + 1e-12;
    w15 += pe <= 0.15 + 1e-12;
  }
  const double n = static_cast<double>(a.n);
  a.rmse = std::sqrt(se / n);
  a.rmspe = 100 * std::sqrt(spe / n);
  a.mape = 100 * ape / n;
  a.within5 = static_cast<double>(w5) / n;
  a.within10 = static_cast<double>(w10) / n;
  a.within15 = static_cast<double>(w15) / n;
  return a;
}

std::vector<int> kfold_assignment(size_t n, int k, uint64_t seed) {
  if (k < 2) fail("cross-validation needs at least 2 folds, got {}", k);
  std::vector<size_t> order(n);
  std::iota(order.begin(), order.end(), 0);
  Rng rng(seed);
  for (size_t i = n; i > 1; --i) {  // Fisher-Yates with the project's generator
    const auto j = static_cast<size_t>(rng.uniform_int(0, static_cast<int64_t>(i - 1)));
    std::swap(order[i - 1], order[j]);
  }
  std::vector<int> fold(n);
  for (size_t i = 0; i < n; ++i) fold[order[i]] = static_cast<int>(i % static_cast<size_t>(k));
  return fold;
}

}  // namespace nnjoule::predict
