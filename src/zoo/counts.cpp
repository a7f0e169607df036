#include "nnjoule/kernels/detect.hpp"
#include "nnjoule/zoo/zoo.hpp"

namespace nnjoule::zoo {

ModelCounts count_model(const graph::Graph& g, const kernels::FusionRules& rules) {
  const auto ks = kernels::detect_kernels(g, rules);
  const auto totals = kernels::summarize(g, ks);
  return ModelCounts{trainable_parameters(g), totals.flops, static_cast<int64_t>(ks.size()),
                     rules.source()};
}

}  // namespace nnjoule::zoo
