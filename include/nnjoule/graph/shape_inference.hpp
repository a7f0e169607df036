#pragma once
// nnjoule's own shape inference over the canonical op forms (see ops.hpp). The ONNX importer
// cross-checks it against onnx's shape inference; the zoo builder relies on it alone.
#include "nnjoule/graph/graph.hpp"

namespace nnjoule::graph {

// Output infos of one node, given that all its inputs have known values in `g`.
// Throws Error naming the node on unsupported ops or inconsistent shapes.
std::vector<ValueInfo> infer_node(const Graph& g, const Node& node);

// Infers every node output in topological order and stores it in g.values.
void infer_shapes(Graph& g);

// Numpy-style broadcast of two shapes; throws Error naming `context` when incompatible.
Shape broadcast_shapes(const Shape& a, const Shape& b, const std::string& context);

// Output spatial size of a conv/pool window: floor or ceil of (in + pads - dilated k) / s + 1.
int64_t window_output(int64_t in, int64_t k, int64_t stride, int64_t pad_begin, int64_t pad_end,
                      int64_t dilation, bool ceil_mode);

}  // namespace nnjoule::graph
