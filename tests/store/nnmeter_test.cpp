// nn-Meter IR graphs and the benchmark-dataset jsonl, built here in nn-Meter's own format.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "nnjoule/common/error.hpp"
#include "nnjoule/graph/nnmeter_ir.hpp"
#include "nnjoule/kernels/detect.hpp"
#include "nnjoule/store/importers.hpp"
#include "support/test_support.hpp"

using namespace nnjoule;
using namespace nnjoule::store;
using nlohmann::json;
using nnjoule::testing::error_of;
using nnjoule::testing::TempDir;
using ::testing::ElementsAre;
using ::testing::HasSubstr;

namespace {

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
json tf_graph() {
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

TEST(NnMeterImport, StoresModelsAndLatenciesAndReportsBadLines) {
  TempDir tmp;
  const auto file = tmp / "mobilenets.jsonl";
  const json g = tf_graph();
  std::string text;
  text += json{{"id", "m0"},
               {"graph", g},
               {"cortexA76cpu_tflite21", 12.5},
               {"adreno640gpu_tflite21", 3.25},
               {"adreno630gpu_tflite21", nullptr},
               {"myriadvpu_openvino2019r2", 7.0}}
              .dump() +
          "\n";
  text += "{this is not json\n";
  text += json{{"id", "m1"}, {"cortexA76cpu_tflite21", 1.0}}.dump() + "\n";
  json g2 = g;
  g2["fc/MatMul"]["attr"]["output_shape"] = {{1, 20}};  // another model: 20 classes
  g2["fc/BiasAdd"]["attr"]["output_shape"] = {{1, 20}};
  g2["softmax"]["attr"]["output_shape"] = {{1, 20}};
  text += json{{"id", "m2"}, {"graph", g2}, {"cortexA76cpu_tflite21", 13.0}}.dump() + "\n";
  nnjoule::testing::write_text(file, text);

  Store s(tmp / "d.db");
  const auto report = import_nnmeter(s, file);
  EXPECT_EQ(report.records, 4);
  EXPECT_EQ(report.models, 2);
  EXPECT_EQ(report.measurements, 4);
  ASSERT_EQ(report.errors.size(), 2u);
  EXPECT_THAT(report.errors[0], HasSubstr(file.string() + ":2: invalid JSON"));
  EXPECT_THAT(report.errors[1], HasSubstr(file.string() + ":3: missing key 'graph'"));
  EXPECT_EQ(report.by_device.at("cortexA76cpu_tflite21"), 2);

  const auto models = s.models();
  ASSERT_EQ(models.size(), 2u);
  EXPECT_EQ(models[0].name, "m0");
  EXPECT_EQ(models[0].family, "mobilenets");
  EXPECT_EQ(models[0].hash_kind, "nnmeter-ir");
  EXPECT_EQ(models[0].resolution, 32);
  EXPECT_EQ(models[0].kernels.size(), 15u);
  EXPECT_EQ(models[0].kernels[0].type, "conv-bn-relu6");
  EXPECT_EQ(models[1].kernels.back().type, "softmax");

  const auto rows = s.model_measurements();
  ASSERT_EQ(rows.size(), 4u);
  std::map<std::string, double> by_device;
  for (const auto& r : rows) {
    EXPECT_EQ(r.m.provenance.label(), "imported (nn-Meter)");
    EXPECT_FALSE(r.m.energy_mj.has_value());  // nn-Meter has latency only
    EXPECT_TRUE(r.kernel_latency_ms.empty());
    if (r.model_id == models[0].id) by_device[s.device(r.device_id).name] = *r.m.latency_ms;
  }
  EXPECT_DOUBLE_EQ(by_device.at("Google Pixel 4"), 12.5);
  EXPECT_DOUBLE_EQ(by_device.at("Xiaomi Mi 9"), 3.25);
  EXPECT_DOUBLE_EQ(by_device.at("Intel Movidius NCS2"), 7.0);
  EXPECT_EQ(by_device.size(), 3u);  // the null latency is no row

  // Importing again stores nothing twice.
  const auto again = import_nnmeter(s, file);
  EXPECT_EQ(again.measurements, 0);
  EXPECT_EQ(again.already_stored, 4);
  EXPECT_EQ(s.model_measurements().size(), 4u);
}

TEST(NnMeterImport, CliReportsAndFails) {
  TempDir tmp;
  const auto file = tmp / "x.jsonl";
  nnjoule::testing::write_text(
      file, json{{"id", "a"}, {"graph", tf_graph()}, {"cortexA76cpu_tflite21", 2.0}}.dump() + "\n" +
                json{{"id", "b"}, {"graph", 5}}.dump() + "\n");
  const auto r = nnjoule::testing::run_cli(
      {"import", "nnmeter", file.string(), "--db", (tmp / "d.db").string()});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_THAT(r.out, HasSubstr("1 latency rows stored"));
  EXPECT_THAT(r.err, HasSubstr("nnjoule: error: " + file.string() +
                               ":2: graph: the graph must be an object"));
  const auto missing = nnjoule::testing::run_cli(
      {"import", "nnmeter", (tmp / "none.jsonl").string(), "--db", (tmp / "d.db").string()});
  EXPECT_EQ(missing.exit_code, 1);
  EXPECT_THAT(missing.err, HasSubstr("none.jsonl: no such file"));
}
