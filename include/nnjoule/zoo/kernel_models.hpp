#pragma once
// Single-kernel models: a graph holding exactly the nodes of one kernel (conv-bn-relu = Conv +
// BatchNormalization + Relu), used to measure kernels one at a time. Types and config keys
// follow nn-Meter / DeepEn2023; see docs/zoo.md for the table.
#include <cstdint>
#include <string>
#include <vector>

#include "nnjoule/graph/graph.hpp"
#include "nnjoule/kernels/kernel.hpp"

namespace nnjoule::zoo {

struct KernelModelType {
  std::string name;                   // "conv-bn-relu"
  std::vector<std::string> required;  // config keys that must be present
  std::vector<std::string> optional;  // keys that may be present
};

// Every kernel type build_kernel_model accepts, in a fixed order.
const std::vector<KernelModelType>& kernel_model_types();

// Inputs "input" (or "input_0", "input_1", ... when the kernel takes several), outputs "output"
// (or "output_0", ...). Throws Error naming the kernel type and the key for an unknown type, a
// missing, unknown or invalid config key.
graph::Graph build_kernel_model(const std::string& type, const kernels::KernelConfig& config,
                                uint64_t seed, bool materialize_weights = true);

}  // namespace nnjoule::zoo
