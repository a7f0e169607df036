#pragma once
// The reference executor: every op of ops.hpp in plain loops over NCHW tensors with double
// accumulation. Slow and obviously correct; the XNNPACK engine is tested against it.
#include <functional>
#include <string>
#include <vector>

#include "nnjoule/exec/tensor.hpp"
#include "nnjoule/graph/graph.hpp"

namespace nnjoule::exec {

// Runs the whole graph. `inputs` follow Graph::inputs; the result follows Graph::outputs.
// Throws Error naming the input on a shape mismatch and the node on an op it cannot run.
std::vector<Tensor> run_reference(const graph::Graph& g, const std::vector<Tensor>& inputs);

// Evaluates one node. `get` returns the float value of a tensor (runtime or constant); integer
// arguments (Reshape's shape, Gather's indices) are read from the graph's constants.
using TensorLookup = std::function<const Tensor&(const std::string&)>;
std::vector<Tensor> reference_node(const graph::Graph& g, const graph::Node& n,
                                   const TensorLookup& get);

}  // namespace nnjoule::exec
