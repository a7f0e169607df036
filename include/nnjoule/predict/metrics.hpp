#pragma once
// Accuracy of predictions against measurements, as nn-Meter and DeepEn2023 report it.
#include <cstdint>
#include <span>
#include <vector>

#include <nlohmann/json.hpp>

namespace nnjoule::predict {

struct Accuracy {
  size_t n = 0;
  double rmse = 0;      // in the target's unit
  double rmspe = 0;     // root mean squared percentage error, in %
  double mape = 0;      // mean absolute percentage error, in %
  double within5 = 0;   // share (0..1) of |predicted - actual| / actual <= 5%
  double within10 = 0;  // ... <= 10%
  double within15 = 0;  // ... <= 15%

  nlohmann::json to_json() const;
};

// Throws Error when the sizes differ, a value is not finite, or an actual value is not positive
// (percentage errors need a positive reference).
Accuracy accuracy(std::span<const double> predicted, std::span<const double> actual);

// Fold of each of n items for k-fold cross-validation: a seeded shuffle dealt round-robin, so
// fold sizes differ by at most one. Deterministic for a given (n, k, seed).
std::vector<int> kfold_assignment(size_t n, int k, uint64_t seed);

}  // namespace nnjoule::predict
