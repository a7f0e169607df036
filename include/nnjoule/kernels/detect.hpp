#pragma once
// Kernel detection: every graph node lands in exactly one kernel.
#include <map>
#include <string>
#include <vector>

#include "nnjoule/graph/graph.hpp"
#include "nnjoule/kernels/fusion.hpp"
#include "nnjoule/kernels/kernel.hpp"

namespace nnjoule::kernels {

// A lone node's kernel class comes from the op table (graph::node_kernel_class).
std::vector<Kernel> detect_kernels(const graph::Graph& g,
                                   const FusionRules& rules = FusionRules::xnnpack_default());

// Fills type-specific config, shapes, FLOPs, parameters and bytes of a kernel whose `ops`
// and `nodes` are set.
void describe_kernel(const graph::Graph& g, Kernel& k);

struct KernelTotals {
  double flops = 0;
  int64_t params = 0;
  int64_t bytes = 0;
  std::map<std::string, int> count_by_type;
  std::map<std::string, int> count_by_dtype;                     // "fp32" / "int8" -> kernels
  std::vector<std::pair<std::string, std::string>> unknown_ops;  // (op type, node name)
};
KernelTotals summarize(const graph::Graph& g, const std::vector<Kernel>& kernels);

}  // namespace nnjoule::kernels
