#pragma once
// Builds Graphs op by op with shapes inferred as it goes and seeded random weights; the zoo
// and the single-kernel model builder are written against it.
#include <string>
#include <vector>

#include "nnjoule/common/rng.hpp"
#include "nnjoule/graph/graph.hpp"

namespace nnjoule::graph {

struct ConvOptions {
  int64_t stride = 1;
  int64_t pad = -1;  // -1: "same" padding for odd kernels, (k - 1) / 2 * dilation
  int64_t groups = 1;
  int64_t dilation = 1;
  bool bias = false;
};

class GraphBuilder {
 public:
  // With materialize_weights false the graph carries weight shapes only (fast: used to count
  // kernels of thousands of variants); such a graph cannot be executed or exported.
  GraphBuilder(std::string name, uint64_t seed, bool materialize_weights = true);

  std::string input(const std::string& name, Shape shape);
  const Shape& shape(const std::string& tensor) const { return g_.shape(tensor); }
  int64_t channels(const std::string& tensor) const { return shape(tensor).at(1); }

  std::string conv(const std::string& x, int64_t cout, int64_t k, ConvOptions o = {});
  std::string conv(const std::string& x, int64_t cout, int64_t k, int64_t stride) {
    return conv(x, cout, k, ConvOptions{.stride = stride});
  }
  std::string dwconv(const std::string& x, int64_t k, int64_t stride);
  std::string conv_transpose(const std::string& x, int64_t cout, int64_t k, int64_t stride,
                             int64_t pad, int64_t output_padding, bool bias = true);
  std::string bn(const std::string& x);
  std::string relu(const std::string& x);
  std::string relu6(const std::string& x);
  std::string clip(const std::string& x, float lo, float hi);
  std::string hswish(const std::string& x);
  std::string hsigmoid(const std::string& x);
  std::string sigmoid(const std::string& x);
  std::string tanh(const std::string& x);
  std::string leaky_relu(const std::string& x, float alpha);
  // "relu", "relu6", "hswish", "sigmoid", "swish", "leakyrelu", "none"
  std::string activation(const std::string& x, const std::string& kind);

  std::string add(const std::string& a, const std::string& b);
  std::string sub(const std::string& a, const std::string& b);
  std::string mul(const std::string& a, const std::string& b);
  std::string div(const std::string& a, const std::string& b);
  std::string concat(const std::vector<std::string>& xs, int64_t axis = 1);
  std::vector<std::string> split(const std::string& x, const std::vector<int64_t>& sizes,
                                 int64_t axis = 1);

  std::string maxpool(const std::string& x, int64_t k, int64_t stride, int64_t pad = 0,
                      bool ceil_mode = false);
  std::string avgpool(const std::string& x, int64_t k, int64_t stride, int64_t pad = 0,
                      bool ceil_mode = false, bool count_include_pad = false);
  std::string global_avgpool(const std::string& x);
  std::string flatten(const std::string& x, int64_t axis = 1);
  std::string fc(const std::string& x, int64_t cout, bool bias = true);  // Gemm, transB = 1
  std::string matmul(const std::string& a, const std::string& b);
  std::string matmul_weight(const std::string& a, int64_t cout);  // MatMul with a [K,N] weight
  std::string softmax(const std::string& x, int64_t axis = -1);
  std::string reshape(const std::string& x, const Shape& target);
  std::string transpose(const std::string& x, const std::vector<int64_t>& perm);
  std::string pad(const std::string& x, const std::vector<int64_t>& pads, float value = 0.f);
  std::string slice(const std::string& x, const std::vector<int64_t>& axes,
                    const std::vector<int64_t>& starts, const std::vector<int64_t>& ends,
                    const std::vector<int64_t>& steps = {});
  std::string resize(const std::string& x, const std::vector<float>& scales,
                     const std::string& mode = "nearest");
  std::string reduce_mean(const std::string& x, const std::vector<int64_t>& axes, bool keepdims);
  std::string gather(const std::string& table, const std::string& indices, int64_t axis = 0);

  // Composite patterns as the reference implementations write them.
  std::string channel_shuffle(const std::string& x, int64_t groups);  // reshape-transpose-reshape
  // Squeeze-and-excitation: GAP, 1x1 conv, relu, 1x1 conv, gate, multiply.
  std::string se(const std::string& x, int64_t mid, const std::string& gate = "hsigmoid");

  // Constant tensors.
  std::string weight(const Shape& shape, int64_t fan_in, const std::string& stem);
  std::string constant(const Shape& shape, std::vector<float> values, const std::string& stem);
  // int64 by default; int8/uint8/int32 for quantized data (QDQ zero points and weights).
  std::string constant_ints(const Shape& shape, std::vector<int64_t> values,
                            const std::string& stem, DType dtype = DType::kInt64);
  std::string int_input(const std::string& name, Shape shape);  // int64 runtime input

  // Adds a node whose output shapes come from shape inference; returns its outputs.
  std::vector<std::string> node(const std::string& op, std::vector<std::string> inputs,
                                std::map<std::string, AttrValue> attrs = {}, int n_outputs = 1);

  Graph finish(const std::vector<std::string>& outputs);
  Rng& rng() { return rng_; }

 private:
  std::string fresh(const std::string& stem);
  Graph g_;
  Rng rng_;
  bool materialize_;
  std::map<std::string, int> counters_;
};

}  // namespace nnjoule::graph
