#pragma once
// Per-layer draws that turn a base architecture into a variant, as the nn-Meter and DeepEn2023
// datasets made them: output channels rescaled by a factor in {0.2, 0.3, ..., 1.8} and spatial
// kernel sizes re-drawn from the family's set. Deterministic from (family, seed, k).
#include <cstdint>
#include <string_view>
#include <vector>

#include "nnjoule/common/rng.hpp"

namespace nnjoule::zoo {

class Variation {
 public:
  // The identity: the base model (every draw returns the base value, nothing is consumed).
  Variation();
  Variation(std::string_view family, std::vector<int64_t> kernel_sizes, uint64_t seed, int64_t k);

  bool active() const { return active_; }
  // One factor in tenths, 2..18 (10 when inactive).
  int64_t factor_tenths();
  // round(base * factor), at least 1. Call once per tied group of layers and reuse the result.
  int64_t channels(int64_t base);
  // As channels() but a multiple of `multiple` (at least `multiple`): for channel splits.
  int64_t channels_multiple(int64_t base, int64_t multiple);
  // base 1 stays 1 (pointwise convs keep their role); otherwise a draw from the family's set.
  int64_t kernel_size(int64_t base);
  // A draw from `choices` (the first one when inactive).
  int64_t choose(const std::vector<int64_t>& choices);

  static int64_t scale(int64_t base, int64_t tenths);  // round half up, at least 1

 private:
  bool active_ = false;
  std::vector<int64_t> kernel_sizes_;
  Rng rng_;
};

}  // namespace nnjoule::zoo
