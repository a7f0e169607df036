// Kernel detection of QDQ models: Q/DQ nodes belong to the kernels around them, and a kernel
// that reads and writes int8 is an int8 kernel of the same type as its float twin.
#include <gtest/gtest.h>

#include "nnjoule/graph/builder.hpp"
#include "nnjoule/kernels/detect.hpp"
#include "support/qdq_graphs.hpp"

using namespace nnjoule;
using namespace nnjoule::graph;
using namespace nnjoule::kernels;
using nnjoule::testing::QdqMaker;

namespace {

std::vector<std::string> types(const std::vector<Kernel>& ks) {
  std::vector<std::string> t;
  for (const auto& k : ks) t.push_back(k.type + "/" + k.dtype);
  return t;
}

void expect_partition(const Graph& g, const std::vector<Kernel>& ks) {
  std::vector<int> seen(g.nodes.size(), 0);
  for (const auto& k : ks)
    for (size_t n : k.nodes) seen.at(n)++;
  for (size_t i = 0; i < seen.size(); ++i) EXPECT_EQ(seen[i], 1) << g.nodes[i].name;
}

// x -> Q -> DQ -> Conv(DQ w, DQ b) -> BN -> Relu -> Q -> DQ -> out: the exporter's layout of a
// quantized conv-bn-relu between a quantized input and a float output.
struct ConvModel {
  Graph g;
  std::string conv_out;
};
ConvModel qdq_conv_bn_relu() {
  QdqMaker m("qconv");
  const auto x = m.input({1, 8, 16, 16});
  const auto xf = m.qdq(x, 0.02f, 3);
  const auto w = m.weights({16, 8, 3, 3}, 0);
  const auto b = m.bias(16, 0.02f);
  const auto c = m.node("Conv", {xf, w, b}, {{"pads", std::vector<int64_t>{1, 1, 1, 1}}});
  std::vector<float> ones(16, 1.f), zeros(16, 0.f);
  const auto bn = m.node("BatchNormalization", {c, m.floats({16}, ones), m.floats({16}, zeros),
                                                m.floats({16}, zeros), m.floats({16}, ones)});
  const auto r = m.node("Relu", {bn});
  const auto y = m.qdq(r, 0.05f, -128);
  return {m.finish({y}), c};
}

}  // namespace

TEST(QdqDetect, ConvBnReluReadsAndWritesInt8) {
  const auto [g, conv_out] = qdq_conv_bn_relu();
  const auto ks = detect_kernels(g);
  // The first Q reads the graph input and the last DQ writes the graph output: no op takes them.
  EXPECT_EQ(types(ks),
            (std::vector<std::string>{"quantize/fp32", "conv-bn-relu/int8", "dequantize/fp32"}));
  expect_partition(g, ks);
  const Kernel& k = ks[1];
  // Named after its conv, not after the DequantizeLinear that comes first.
  for (size_t n : k.nodes) {
    if (g.nodes[n].op_type == "Conv") {
      EXPECT_EQ(k.name, g.nodes[n].name);
    }
  }
  EXPECT_EQ(g.nodes[k.nodes[0]].op_type, "DequantizeLinear");
  EXPECT_EQ(k.ops, (std::vector<std::string>{"conv", "bn", "relu"}));
  EXPECT_EQ(
      k.config,
      (KernelConfig{{"HW", 16}, {"CIN", 8}, {"COUT", 16}, {"KERNEL_SIZE", 3}, {"STRIDES", 1}}));
  // FLOPs are the float ops' arithmetic (the Q/DQ conversions add none): conv with bias, bn, relu.
  const double out = 16.0 * 16 * 16;
  EXPECT_DOUBLE_EQ(k.flops, 2 * out * 8 * 9 + out + 2 * out + out);
  // Parameters: int8 weights, int32 bias, the four batch-norm vectors (not scales / zeros).
  EXPECT_EQ(k.params, 16 * 8 * 9 + 16 + 4 * 16);
  // Runtime tensors at one byte an element: int8 in, int8 out.
  ASSERT_EQ(k.inputs.size(), 1u);
  EXPECT_EQ(g.value(k.inputs[0]).dtype, DType::kInt8);
  ASSERT_EQ(k.outputs.size(), 1u);
  EXPECT_EQ(g.value(k.outputs[0]).dtype, DType::kInt8);
  const int64_t weights = 16 * 8 * 9 * 1 + 16 * 4 + 4 * 16 * 4;       // int8 w, int32 b, bn floats
  const int64_t quant = 16 * 4 + 16 + 16 * 4 + 16 * 4 + 2 * (4 + 1);  // scales and zero points
  EXPECT_EQ(k.bytes, 8 * 16 * 16 + 16 * 16 * 16 + weights + quant);
  EXPECT_EQ(ks[0].flops, 2.0 * 8 * 16 * 16);  // the standalone Q's own conversion
}

TEST(QdqDetect, FloatModelsKeepTheirKernelsAndFp32) {
  GraphBuilder b("f", 1);
  auto x = b.input("input", {1, 3, 16, 16});
  auto g = b.finish({b.relu(b.conv(x, 8, 3))});
  const auto ks = detect_kernels(g);
  EXPECT_EQ(types(ks), (std::vector<std::string>{"conv-relu/fp32"}));
}

TEST(QdqDetect, ChainOfInt8KernelsDoesNotFuseAcrossQdq) {
  // conv -> Q -> DQ -> relu -> Q: the relu reads a materialized int8 tensor, so it is an int8
  // kernel of its own (the engine runs it as its own operator), not fused into the conv.
  QdqMaker m("chain");
  const auto x = m.input({1, 4, 8, 8});
  const auto xf = m.qdq(x, 0.02f, 0);
  const auto c = m.node("Conv", {xf, m.weights({4, 4, 1, 1}, 0)});
  const auto cf = m.qdq(c, 0.03f, 0);
  const auto r = m.node("Relu", {cf});
  const auto rf = m.qdq(r, 0.03f, 0);
  const auto a = m.node("Add", {rf, xf});  // xf's DQ is shared by the conv and the add
  const auto y = m.qdq(a, 0.04f, 0);
  const auto g = m.finish({y});
  const auto ks = detect_kernels(g);
  EXPECT_EQ(types(ks), (std::vector<std::string>{"quantize/fp32", "conv/int8", "relu/int8",
                                                 "add/int8", "dequantize/fp32"}));
  expect_partition(g, ks);
  // The add reads the int8 input the conv's kernel dequantizes: the add lists that int8 tensor,
  // and the conv's kernel lists no float output for it.
  const Kernel& add = ks[3];
  ASSERT_EQ(add.inputs.size(), 2u);
  EXPECT_EQ(g.value(add.inputs[1]).dtype, DType::kInt8);
  EXPECT_EQ(ks[1].outputs.size(), 1u);
  EXPECT_EQ(add.config, (KernelConfig{{"HW", 8}, {"CIN", 4}}));
}

// A residual block as quantizers write it: one DQ of the block input read by the conv and by
// the add. The conv still fuses its ReLU and stays int8.
TEST(QdqDetect, SharedDequantizeDoesNotStopFusion) {
  QdqMaker m("residual");
  const auto x = m.input({1, 8, 8, 8});
  const auto xf = m.qdq(x, 0.02f, 0);
  const auto c = m.node("Conv", {xf, m.weights({8, 8, 3, 3}, 0), m.bias(8, 0.02f)},
                        {{"pads", std::vector<int64_t>{1, 1, 1, 1}}});
  const auto r = m.qdq(m.node("Relu", {c}), 0.03f, -128);
  const auto a = m.node("Add", {r, xf});
  const auto g = m.finish({m.qdq(m.node("Relu", {a}), 0.04f, -128)});
  const auto ks = detect_kernels(g);
  EXPECT_EQ(types(ks), (std::vector<std::string>{"quantize/fp32", "conv-relu/int8", "add-relu/int8",
                                                 "dequantize/fp32"}));
  expect_partition(g, ks);
  ASSERT_EQ(ks[1].outputs.size(), 1u);
  EXPECT_EQ(g.value(ks[1].outputs[0]).dtype, DType::kInt8);
}

TEST(QdqDetect, WeightOnlyQuantizationAndFloatOutputAreFp32) {
  QdqMaker m("mixed");
  const auto x = m.input({1, 16});
  // fc reading float activations and int8 weights: fp32 (the activation is not int8).
  const auto fc = m.node("Gemm", {x, m.weights({8, 16}, 0)}, {{"transB", int64_t{1}}});
  // relu reading int8 through DQ but writing float: fp32.
  const auto q = m.qdq(fc, 0.1f, 0);
  const auto r = m.node("Relu", {q});
  const auto g = m.finish({r});
  const auto ks = detect_kernels(g);
  // The Q after the fc belongs to the fc's kernel; the DQ to the relu's.
  EXPECT_EQ(types(ks), (std::vector<std::string>{"fc/fp32", "relu/fp32"}));
  EXPECT_EQ(ks[0].config, (KernelConfig{{"CIN", 16}, {"COUT", 8}}));
  EXPECT_EQ(ks[0].params, 8 * 16);
  expect_partition(g, ks);
}

TEST(QdqDetect, MatMulWithDequantizedConstantWeightIsFc) {
  QdqMaker m("mm");
  const auto x = m.input({1, 32});
  const auto xf = m.qdq(x, 0.02f, 0);
  const auto mm = m.node("MatMul", {xf, m.weights({32, 10}, 1)});
  const auto r = m.node("Relu", {mm});
  const auto g = m.finish({m.qdq(r, 0.1f, 0)});
  const auto ks = detect_kernels(g);
  EXPECT_EQ(types(ks),
            (std::vector<std::string>{"quantize/fp32", "fc-relu/int8", "dequantize/fp32"}));
  EXPECT_EQ(ks[1].config, (KernelConfig{{"CIN", 32}, {"COUT", 10}}));
}

TEST(QdqDetect, Uint8ActivationsCountAsInt8) {
  QdqMaker m("u8");
  const auto x = m.input({1, 4, 8, 8});
  const auto xf = m.qdq(x, 0.02f, 128, DType::kUInt8);
  const auto p = m.node(
      "MaxPool", {xf},
      {{"kernel_shape", std::vector<int64_t>{2, 2}}, {"strides", std::vector<int64_t>{2, 2}}});
  const auto y = m.qdq(p, 0.02f, 128, DType::kUInt8);
  const auto g = m.finish({y});
  const auto ks = detect_kernels(g);
  EXPECT_EQ(types(ks),
            (std::vector<std::string>{"quantize/fp32", "maxpool/int8", "dequantize/fp32"}));
  EXPECT_EQ(ks[1].config,
            (KernelConfig{{"HW", 8}, {"CIN", 4}, {"KERNEL_SIZE", 2}, {"POOL_STRIDES", 2}}));
}
