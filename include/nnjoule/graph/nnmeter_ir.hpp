#pragma once
// nn-Meter's graph IR, the other model format kernel datasets come in (beside ONNX).
#include <nlohmann/json.hpp>

#include <string>

#include "nnjoule/graph/graph.hpp"

namespace nnjoule::graph {

// One nn-Meter IR graph (a dict node name -> {"inbounds", "outbounds", "attr": {"type", "attr",
// "input_shape", "output_shape"}}) as an nnjoule Graph with shape-only weights. TensorFlow IR
// (Conv2D, NHWC shapes: the benchmark dataset) and ONNX IR (Conv, NCHW) are both read. Ops
// nnjoule does not know keep their IR shapes and become unknown:<type> kernels. Throws Error
// naming `context` and the node on malformed input.
Graph from_nnmeter_ir(const nlohmann::json& ir, const std::string& context);

}  // namespace nnjoule::graph
