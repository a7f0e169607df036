#include "nnjoule/zoo/variation.hpp"

#include <algorithm>

#include "nnjoule/common/error.hpp"

namespace nnjoule::zoo {

Variation::Variation() : rng_(0) {}

Variation::Variation(std::string_view family, std::vector<int64_t> kernel_sizes, uint64_t seed,
                     int64_t k)
    : active_(true),
      kernel_sizes_(std::move(kernel_sizes)),
      rng_(hash_mix(hash_mix(hash_string(family), seed), static_cast<uint64_t>(k))) {
  if (kernel_sizes_.empty()) fail("variation of '{}': the family has no kernel sizes", family);
}

int64_t Variation::scale(int64_t base, int64_t tenths) {
  return std::max<int64_t>(1, (base * tenths + 5) / 10);
}

int64_t Variation::factor_tenths() {
  return active_ ? rng_.uniform_int(2, 18) : 10;
}

int64_t Variation::channels(int64_t base) {
  if (!active_) return base;
  return scale(base, factor_tenths());
}

int64_t Variation::channels_multiple(int64_t base, int64_t multiple) {
  if (!active_) return base;
  return scale(base / multiple, factor_tenths()) * multiple;
}

int64_t Variation::kernel_size(int64_t base) {
  if (!active_ || base == 1) return base;
  return kernel_sizes_[static_cast<size_t>(
      rng_.uniform_int(0, static_cast<int64_t>(kernel_sizes_.size()) - 1))];
}

int64_t Variation::choose(const std::vector<int64_t>& choices) {
  if (choices.empty()) fail("variation: nothing to choose from");
  if (!active_) return choices.front();
  return choices[static_cast<size_t>(
      rng_.uniform_int(0, static_cast<int64_t>(choices.size()) - 1))];
}

}  // namespace nnjoule::zoo
