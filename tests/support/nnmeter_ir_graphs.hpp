#pragma once
// nn-Meter IR graphs built in nn-Meter's own format, for the converter's tests (kernels) and the
// benchmark-dataset importer's (store).
#include <nlohmann/json.hpp>

#include <string>
#include <vector>

namespace nnjoule::testing {

using nlohmann::json;

// Writes IR nodes as nn-Meter's frozen-pb converter does; outbounds are filled by finish().
class IrBuilder {
 public:
  void add(const std::string& name, const std::string& type, std::vector<std::string> inbounds,
           std::vector<std::vector<int64_t>> out_shapes, json attrs = json::object()) {
    json n;
    n["inbounds"] = inbounds;
    n["outbounds"] = json::array();
    n["attr"] = {{"name", name}, {"type", type}, {"attr", attrs}, {"output_shape", out_shapes}};
    json in_shapes = json::array();
    for (const auto& i : inbounds)
      if (ir_.contains(i)) in_shapes.push_back(ir_[i]["attr"]["output_shape"][0]);
    n["attr"]["input_shape"] = in_shapes;
    ir_[name] = n;
    order_.push_back(name);
  }
  json finish() {
    for (const auto& name : order_)
      for (const auto& in : ir_[name]["inbounds"])
        ir_[in.get<std::string>()]["outbounds"].push_back(name);
    return ir_;
  }

 private:
  json ir_ = json::object();
  std::vector<std::string> order_;
};

// A small TensorFlow model touching every conversion nn-Meter's dataset needs: SAME/VALID
// padding, folded BiasAdd, batch-norm, residual add, channel shuffle, h-swish, SE, pooling,
// concat, Mean + Squeeze head, MatMul + BiasAdd, softmax.
inline json tf_graph() {
  IrBuilder b;
  b.add("input_im_0", "Placeholder", {}, {{1, 32, 32, 3}}, {{"shape", {1, 32, 32, 3}}});
  b.add("conv1/Conv2D", "Conv2D", {"input_im_0"}, {{1, 16, 16, 16}},
        {{"strides", {2, 2}},
         {"dilations", {1, 1}},
         {"padding", "SAME"},
         {"kernel_shape", {3, 3}},
         {"weight_shape", {3, 3, 3, 16}},
         {"pads", {0, 0, 0, 0}}});
  b.add("conv1/BiasAdd", "BiasAdd", {"conv1/Conv2D"}, {{1, 16, 16, 16}});
  b.add("conv1/bn", "FusedBatchNormV3", {"conv1/BiasAdd"}, {{1, 16, 16, 16}});
  b.add("conv1/relu6", "Relu6", {"conv1/bn"}, {{1, 16, 16, 16}});
  b.add("dw/dw", "DepthwiseConv2dNative", {"conv1/relu6"}, {{1, 16, 16, 16}},
        {{"strides", {1, 1}}, {"padding", "SAME"}, {"weight_shape", {3, 3, 16, 1}}});
  b.add("dw/bn", "FusedBatchNormV3", {"dw/dw"}, {{1, 16, 16, 16}});
  b.add("dw/relu", "Relu", {"dw/bn"}, {{1, 16, 16, 16}});
  b.add("pw/Conv2D", "Conv2D", {"dw/relu"}, {{1, 16, 16, 16}},
        {{"strides", {1, 1}}, {"padding", "VALID"}, {"weight_shape", {1, 1, 16, 16}}});
  b.add("pw/bn", "FusedBatchNormV3", {"pw/Conv2D"}, {{1, 16, 16, 16}});
  b.add("res/add", "AddV2", {"pw/bn", "conv1/relu6"}, {{1, 16, 16, 16}});
  // Channel shuffle, TensorFlow style.
  b.add("shuffle/reshape", "Reshape", {"res/add"}, {{1, 16, 16, 2, 8}});
  b.add("shuffle/perm", "Const", {}, {{5}}, {{"constant", {0, 1, 2, 4, 3}}, {"tensor_shape", {5}}});
  b.add("shuffle/transpose", "Transpose", {"shuffle/reshape", "shuffle/perm"}, {{1, 16, 16, 8, 2}});
  b.add("shuffle/reshape_1", "Reshape", {"shuffle/transpose"}, {{1, 16, 16, 16}});
  // h-swish: x * relu6(x + 3) / 6.
  b.add("hs/three", "Const", {}, {{}}, {{"constant", 3.0}, {"tensor_shape", json::array()}});
  b.add("hs/add", "AddV2", {"shuffle/reshape_1", "hs/three"}, {{1, 16, 16, 16}});
  b.add("hs/relu6", "Relu6", {"hs/add"}, {{1, 16, 16, 16}});
  b.add("hs/mul", "Mul", {"shuffle/reshape_1", "hs/relu6"}, {{1, 16, 16, 16}});
  b.add("hs/sixth", "Const", {}, {{}}, {{"constant", 1.0 / 6.0}, {"tensor_shape", json::array()}});
  b.add("hs/mul_1", "Mul", {"hs/mul", "hs/sixth"}, {{1, 16, 16, 16}});
  // Squeeze-and-excitation with an h-sigmoid gate.
  b.add("se/mean", "Mean", {"hs/mul_1"}, {{1, 16}}, {{"reduction_indices", {1, 2}}});
  b.add("se/conv1", "Conv2D", {"se/mean"}, {{1, 1, 1, 4}},
        {{"strides", {1, 1}}, {"padding", "SAME"}, {"weight_shape", {1, 1, 16, 4}}});
  b.add("se/relu", "Relu", {"se/conv1"}, {{1, 1, 1, 4}});
  b.add("se/conv2", "Conv2D", {"se/relu"}, {{1, 1, 1, 16}},
        {{"strides", {1, 1}}, {"padding", "SAME"}, {"weight_shape", {1, 1, 4, 16}}});
  b.add("se/three", "Const", {}, {{}}, {{"constant", 3.0}, {"tensor_shape", json::array()}});
  b.add("se/add", "AddV2", {"se/conv2", "se/three"}, {{1, 1, 1, 16}});
  b.add("se/relu6", "Relu6", {"se/add"}, {{1, 1, 1, 16}});
  b.add("se/sixth", "Const", {}, {{}}, {{"constant", 1.0 / 6.0}, {"tensor_shape", json::array()}});
  b.add("se/scale", "Mul", {"se/relu6", "se/sixth"}, {{1, 1, 1, 16}});
  b.add("se/mul", "Mul", {"hs/mul_1", "se/scale"}, {{1, 16, 16, 16}});
  // Two branches concatenated along channels.
  b.add("pool/max", "MaxPool", {"se/mul"}, {{1, 8, 8, 16}},
        {{"ksize", {1, 2, 2, 1}}, {"strides", {1, 2, 2, 1}}, {"padding", "VALID"}});
  b.add("branch/Conv2D", "Conv2D", {"se/mul"}, {{1, 8, 8, 24}},
        {{"strides", {2, 2}}, {"padding", "SAME"}, {"weight_shape", {3, 3, 16, 24}}});
  b.add("branch/relu", "Relu", {"branch/Conv2D"}, {{1, 8, 8, 24}});
  b.add("cat", "ConcatV2", {"pool/max", "branch/relu"}, {{1, 8, 8, 40}}, {{"axis", {3}}});
  b.add("avg", "AvgPool", {"cat"}, {{1, 4, 4, 40}},
        {{"ksize", {1, 3, 3, 1}}, {"strides", {1, 2, 2, 1}}, {"padding", "SAME"}});
  // Head.
  b.add("head/mean", "Mean", {"avg"}, {{1, 40}}, {{"reduction_indices", {1, 2}}});
  b.add("head/squeeze", "Squeeze", {"head/mean"}, {{1, 40}});
  b.add("fc/MatMul", "MatMul", {"head/squeeze"}, {{1, 10}});
  b.add("fc/BiasAdd", "BiasAdd", {"fc/MatMul"}, {{1, 10}});
  b.add("softmax", "Softmax", {"fc/BiasAdd"}, {{1, 10}});
  return b.finish();
}

}  // namespace nnjoule::testing
