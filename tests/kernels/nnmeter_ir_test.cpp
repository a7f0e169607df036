// nn-Meter IR graphs (TensorFlow and ONNX flavours) converted to our graph and split into kernels.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "nnjoule/common/error.hpp"
#include "nnjoule/graph/nnmeter_ir.hpp"
#include "nnjoule/kernels/detect.hpp"
#include "support/nnmeter_ir_graphs.hpp"
#include "support/test_support.hpp"

using namespace nnjoule;
using nlohmann::json;
using nnjoule::testing::error_of;
using nnjoule::testing::IrBuilder;
using nnjoule::testing::tf_graph;
using ::testing::ElementsAre;
using ::testing::HasSubstr;

namespace {

std::vector<std::string> kernel_types(const graph::Graph& g) {
  std::vector<std::string> t;
  for (const auto& k : kernels::detect_kernels(g)) t.push_back(k.type);
  return t;
}

}  // namespace

TEST(NnMeterIr, TensorFlowGraphBecomesOurKernels) {
  const graph::Graph g = graph::from_nnmeter_ir(tf_graph(), "t");
  EXPECT_EQ(g.shape("input_im_0"), (graph::Shape{1, 3, 32, 32}));
  EXPECT_EQ(g.shape("conv1/Conv2D"), (graph::Shape{1, 16, 16, 16}));
  EXPECT_EQ(g.shape("cat"), (graph::Shape{1, 40, 8, 8}));
  EXPECT_EQ(g.shape("avg"), (graph::Shape{1, 40, 4, 4}));
  EXPECT_EQ(g.shape("softmax"), (graph::Shape{1, 10}));
  ASSERT_EQ(g.outputs, std::vector<std::string>{"softmax"});
  EXPECT_THAT(kernel_types(g),
              ElementsAre("conv-bn-relu6", "dwconv-bn-relu", "conv-bn", "add", "channelshuffle",
                          "hswish", "se", "maxpool", "conv-relu", "concat", "avgpool",
                          "global-avgpool", "reshape", "fc", "softmax"));
  // SAME padding of a stride-2 3x3 conv on an even input pads only the end, as TensorFlow does.
  for (const auto& n : g.nodes) {
    if (n.name == "conv1/Conv2D") {
      EXPECT_EQ(n.attr_ints("pads"), (std::vector<int64_t>{0, 0, 1, 1}));
      EXPECT_EQ(n.inputs.size(), 3u);  // the BiasAdd folded in as its bias
    }
    if (n.name == "dw/dw") {
      EXPECT_EQ(n.attr_int("group", 1), 16);
    }
    if (n.name == "shuffle/transpose") {
      EXPECT_EQ(n.attr_ints("perm"), (std::vector<int64_t>{0, 2, 1, 3, 4}));
    }
  }
  const auto ks = kernels::detect_kernels(g);
  EXPECT_EQ(ks[0].config.str(), "HW=32 CIN=3 COUT=16 KERNEL_SIZE=3 STRIDES=2");
  EXPECT_EQ(ks[9].config.str(), "HW=8 CIN1=16 CIN2=24 NS=2");
}

TEST(NnMeterIr, OnnxGraphAndUnknownOps) {
  IrBuilder b;
  // nn-Meter's ONNX converter: ONNX types, NCHW shapes, the graph input is not a node.
  json conv_attr = {{"kernel_shape", {3, 3}},
                    {"strides", {1, 1}},
                    {"pads", {1, 1, 1, 1}},
                    {"group", 1},
                    {"dilations", {1, 1}}};
  b.add("Conv_0", "Conv", {}, {{1, 8, 16, 16}}, conv_attr);
  b.add("Relu_1", "Relu", {"Conv_0"}, {{1, 8, 16, 16}});
  b.add("Mystery_2", "MysteryOp", {"Relu_1"}, {{1, 8, 16, 16}});
  b.add("GlobalAveragePool_3", "GlobalAveragePool", {"Mystery_2"}, {{1, 8, 1, 1}});
  b.add("Flatten_4", "Flatten", {"GlobalAveragePool_3"}, {{1, 8}});
  b.add("Gemm_5", "Gemm", {"Flatten_4"}, {{1, 5}});
  json ir = b.finish();
  ir["Conv_0"]["attr"]["input_shape"] = {{1, 3, 16, 16}};
  const graph::Graph g = graph::from_nnmeter_ir(ir, "o");
  ASSERT_EQ(g.inputs.size(), 1u);
  EXPECT_EQ(g.shape(g.inputs[0]), (graph::Shape{1, 3, 16, 16}));
  EXPECT_THAT(kernel_types(g),
              ElementsAre("conv-relu", "unknown:MysteryOp", "global-avgpool", "reshape", "fc"));
}

// TensorFlow's flatten (Shape -> StridedSlice -> Pack -> Reshape with an unknown dimension) and
// a Pad whose paddings come as a Const input.
TEST(NnMeterIr, ShapePlumbingAndConstPaddings) {
  IrBuilder b;
  b.add("x", "Placeholder", {}, {{1, 4, 4, 8}}, {{"shape", {1, 4, 4, 8}}});
  b.add("pad/paddings", "Const", {}, {{4, 2}},
        {{"constant", {{0, 0}, {1, 1}, {2, 2}, {0, 0}}}, {"tensor_shape", {4, 2}}});
  b.add("pad", "Pad", {"x", "pad/paddings"}, {{1, 6, 8, 8}});
  b.add("conv", "Conv2D", {"pad"}, {{1, 4, 6, 8}},
        {{"strides", {1, 1}}, {"padding", "VALID"}, {"weight_shape", {3, 3, 8, 8}}});
  b.add("flat/Shape", "Shape", {"conv"}, {{4}});
  b.add("flat/strided_slice", "StridedSlice", {"flat/Shape"}, {{1}});
  b.add("flat/Pack", "Pack", {"flat/strided_slice"}, {{2}});
  b.add("flat/Reshape", "Reshape", {"conv", "flat/Pack"}, {{-1, 192}});
  b.add("fc", "MatMul", {"flat/Reshape"}, {{1, 10}});
  const graph::Graph g = graph::from_nnmeter_ir(b.finish(), "p");
  EXPECT_EQ(g.shape("pad"), (graph::Shape{1, 8, 6, 8}));
  EXPECT_EQ(g.shape("flat/Reshape"), (graph::Shape{1, 192}));
  EXPECT_THAT(kernel_types(g), ElementsAre("pad", "conv", "reshape", "fc"));
  int dropped = 0;
  for (const auto& n : g.notes) dropped += n.find("computes a shape only") != std::string::npos;
  EXPECT_EQ(dropped, 3);
}

TEST(NnMeterIr, MalformedGraphsNameTheNode) {
  IrBuilder b;
  b.add("x", "Placeholder", {}, {{1, 8, 8, 3}}, {{"shape", {1, 8, 8, 3}}});
  b.add("c", "Conv2D", {"x"}, {{1, 8, 8, 4}}, {{"strides", {1, 1}}, {"padding", "SAME"}});
  EXPECT_THAT(error_of([&] { graph::from_nnmeter_ir(b.finish(), "f.jsonl:3"); }),
              HasSubstr("f.jsonl:3: node 'c': no kernel size"));
  json dangling = {
      {"a", {{"inbounds", {"ghost"}}, {"outbounds", json::array()}, {"attr", {{"type", "Relu"}}}}}};
  EXPECT_THAT(error_of([&] { graph::from_nnmeter_ir(dangling, "g"); }),
              HasSubstr("node 'a': inbound 'ghost' is not a node of the graph"));
  json no_type = {{"a", {{"inbounds", json::array()}, {"attr", json::object()}}}};
  EXPECT_THAT(error_of([&] { graph::from_nnmeter_ir(no_type, "g"); }),
              HasSubstr("node 'a': missing key 'attr.type'"));
}
