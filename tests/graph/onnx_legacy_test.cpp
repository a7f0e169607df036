// Older and alternative ONNX op forms, written by hand as other exporters write them, must all
// import into the one canonical form of ops.hpp.
#include <gtest/gtest.h>

#include <limits>

#include "nnjoule/common/error.hpp"
#include "nnjoule/graph/onnx.hpp"
#include "onnx_test_models.hpp"
#include "support/test_support.hpp"

using namespace nnjoule;
using namespace nnjoule::graph;
using nnjoule::testing::ModelMaker;
using Ints = std::vector<int64_t>;
using Floats = std::vector<float>;

namespace {

constexpr int64_t kBig = std::numeric_limits<int64_t>::max();

Graph load(const ModelMaker& m) {
  return load_onnx_bytes(m.bytes(), "legacy.onnx");
}

const Node& only(const Graph& g, const std::string& op) {
  const Node* found = nullptr;
  for (const auto& n : g.nodes) {
    if (n.op_type == op) {
      EXPECT_EQ(found, nullptr) << "two " << op << " nodes";
      found = &n;
    }
  }
  if (!found) throw std::runtime_error("no " + op + " node");
  return *found;
}

std::string error_of(const ModelMaker& m) {
  return nnjoule::testing::error_of([&] { load(m); });
}

using nnjoule::testing::contains;

std::string notes(const Graph& g) {
  return fmt::format("{}", fmt::join(g.notes, "\n"));
}

}  // namespace

TEST(OnnxLegacy, ClipAttributesAndInputsBecomeAttributes) {
  for (int64_t opset : {7, 10, 11, 12, 13, 17}) {
    SCOPED_TRACE(opset);
    ModelMaker m(opset);
    m.input("x", {1, 4, 3, 3}).output("y");
    if (opset < 11) {
      auto& n = m.node("Clip", {"x"}, {"y"});
      ModelMaker::attr(n, "min", 0.f);
      ModelMaker::attr(n, "max", 6.f);
    } else {
      m.floats("lo", {}, {0.f}).floats("hi", {}, {6.f});
      m.node("Clip", {"x", "lo", "hi"}, {"y"});
    }
    const Graph g = load(m);
    const Node& c = only(g, "Clip");
    EXPECT_EQ(c.inputs, std::vector<std::string>{"x"});
    EXPECT_EQ(c.attr_float("min", -1), 0.f);
    EXPECT_EQ(c.attr_float("max", -1), 6.f);
    EXPECT_TRUE(g.initializers.empty()) << "bounds left as unused constants";
  }
  // Only an upper bound; the lower one omitted.
  ModelMaker m(13);
  m.input("x", {1, 4}).output("y").floats("hi", {}, {6.f});
  m.node("Clip", {"x", "", "hi"}, {"y"});
  const Graph g = load(m);
  const Node& c = only(g, "Clip");
  EXPECT_FALSE(c.has_attr("min"));
  EXPECT_EQ(c.attr_float("max", -1), 6.f);
}

TEST(OnnxLegacy, ClipWithRuntimeBoundIsAnErrorNamingTheNode) {
  ModelMaker m(13);
  m.input("x", {1, 4}).input("hi", {}).output("y");
  m.node("Clip", {"x", "", "hi"}, {"y"}, "clip_runtime");
  const std::string err = error_of(m);
  EXPECT_TRUE(contains(err, "clip_runtime")) << err;
  EXPECT_TRUE(contains(err, "must be a constant")) << err;
}

TEST(OnnxLegacy, SplitAttributeInputAndEqualForms) {
  for (int64_t opset : {7, 11, 13, 17}) {
    SCOPED_TRACE(opset);
    ModelMaker m(opset);
    m.input("x", {1, 8, 2, 2}).output("a").output("b");
    if (opset < 13) {
      auto& n = m.node("Split", {"x"}, {"a", "b"});
      ModelMaker::attr(n, "axis", int64_t{1});
      ModelMaker::attr(n, "split", Ints{2, 6});
    } else {
      m.ints("sizes", {2}, {2, 6});
      ModelMaker::attr(m.node("Split", {"x", "sizes"}, {"a", "b"}), "axis", int64_t{1});
    }
    const Graph g = load(m);
    const Node& s = only(g, "Split");
    EXPECT_EQ(s.inputs.size(), 1u);
    EXPECT_EQ(s.attr_ints("split"), (Ints{2, 6}));
    EXPECT_EQ(g.shape("b"), (Shape{1, 6, 2, 2}));
  }
  ModelMaker m(13);
  m.input("x", {1, 8, 2, 2}).output("a").output("b");
  ModelMaker::attr(m.node("Split", {"x"}, {"a", "b"}), "axis", int64_t{-3});
  const Graph g = load(m);
  const Node& s = only(g, "Split");
  EXPECT_EQ(s.attr_ints("split"), (Ints{4, 4}));
  EXPECT_EQ(s.attr_int("axis", -1), 1);
}

TEST(OnnxLegacy, SliceAttributesAndInputsAreClampedToTheShape) {
  for (int64_t opset : {7, 9, 10, 11, 13}) {
    SCOPED_TRACE(opset);
    ModelMaker m(opset);
    m.input("x", {1, 3, 10, 10}).output("y");
    if (opset < 10) {
      auto& n = m.node("Slice", {"x"}, {"y"});
      ModelMaker::attr(n, "starts", Ints{-3, 1});
      ModelMaker::attr(n, "ends", Ints{kBig, 4});
      ModelMaker::attr(n, "axes", Ints{-1, 2});
    } else {
      m.ints("st", {2}, {-3, 1}).ints("en", {2}, {kBig, 4}).ints("ax", {2}, {-1, 2});
      m.ints("sp", {2}, {1, 1});
      m.node("Slice", {"x", "st", "en", "ax", "sp"}, {"y"});
    }
    const Graph g = load(m);
    const Node& s = only(g, "Slice");
    EXPECT_EQ(s.inputs.size(), 1u);
    EXPECT_EQ(s.attr_ints("starts"), (Ints{7, 1}));
    EXPECT_EQ(s.attr_ints("ends"), (Ints{10, 4}));
    EXPECT_EQ(s.attr_ints("axes"), (Ints{3, 2}));
    EXPECT_EQ(s.attr_ints("steps"), (Ints{1, 1}));
    EXPECT_EQ(g.shape("y"), (Shape{1, 3, 3, 3}));
  }
  // Reversal: a negative step to "before the start" stays distinguishable from "the last one".
  ModelMaker m(13);
  m.input("x", {1, 5}).output("y");
  m.ints("st", {1}, {-1}).ints("en", {1}, {std::numeric_limits<int64_t>::min()});
  m.ints("ax", {1}, {1}).ints("sp", {1}, {-1});
  m.node("Slice", {"x", "st", "en", "ax", "sp"}, {"y"});
  const Graph g = load(m);
  EXPECT_EQ(g.shape("y"), (Shape{1, 5}));
  EXPECT_EQ(only(g, "Slice").attr_ints("starts"), (Ints{4}));
}

TEST(OnnxLegacy, PadAttributesAndInputs) {
  for (int64_t opset : {7, 10, 11, 13}) {
    SCOPED_TRACE(opset);
    ModelMaker m(opset);
    m.input("x", {1, 2, 4, 4}).output("y");
    const Ints pads = {0, 0, 1, 2, 0, 0, 3, 0};
    if (opset < 11) {
      auto& n = m.node("Pad", {"x"}, {"y"});
      ModelMaker::attr(n, "pads", pads);
      ModelMaker::attr(n, "value", 0.5f);
    } else {
      m.ints("p", {8}, pads).floats("v", {}, {0.5f});
      m.node("Pad", {"x", "p", "v"}, {"y"});
    }
    const Graph g = load(m);
    const Node& p = only(g, "Pad");
    EXPECT_EQ(p.attr_ints("pads"), pads);
    EXPECT_EQ(p.attr_string("mode", ""), "constant");
    EXPECT_EQ(p.attr_float("value", 0), 0.5f);
    EXPECT_EQ(g.shape("y"), (Shape{1, 2, 8, 6}));
  }
}

TEST(OnnxLegacy, AutoPadBecomesExplicitPads) {
  struct Case {
    std::string op, auto_pad;
    Ints pads;
  };
  // 7 wide, kernel 2, stride 2: 4 outputs need 1 pixel of padding in total.
  for (const Case& c :
       {Case{"MaxPool", "SAME_UPPER", {0, 0, 1, 1}}, Case{"MaxPool", "SAME_LOWER", {1, 1, 0, 0}},
        Case{"Conv", "SAME_UPPER", {0, 0, 1, 1}}, Case{"Conv", "SAME_LOWER", {1, 1, 0, 0}},
        Case{"AveragePool", "VALID", {0, 0, 0, 0}}}) {
    SCOPED_TRACE(c.op + " " + c.auto_pad);
    ModelMaker m(11);
    m.input("x", {1, 3, 7, 7}).output("y");
    onnx::NodeProto* n;
    if (c.op == "Conv") {
      m.weight("w", {4, 3, 2, 2});
      n = &m.node("Conv", {"x", "w"}, {"y"});
    } else {
      n = &m.node(c.op, {"x"}, {"y"});
    }
    ModelMaker::attr(*n, "kernel_shape", Ints{2, 2});
    ModelMaker::attr(*n, "strides", Ints{2, 2});
    ModelMaker::attr(*n, "auto_pad", c.auto_pad);
    const Graph g = load(m);
    const Node& node = only(g, c.op);
    EXPECT_EQ(node.attr_ints("pads"), c.pads);
    EXPECT_FALSE(node.has_attr("auto_pad"));
    EXPECT_EQ(g.shape("y")[2], c.auto_pad == "VALID" ? 3 : 4);
  }
}

TEST(OnnxLegacy, ConvTransposeOutputShapeBecomesPads) {
  ModelMaker m(11);
  m.input("x", {1, 4, 5, 5}).output("y").weight("w", {4, 2, 3, 3});
  auto& n = m.node("ConvTranspose", {"x", "w"}, {"y"});
  ModelMaker::attr(n, "strides", Ints{2, 2});
  ModelMaker::attr(n, "output_shape", Ints{10, 10});
  const Graph g = load(m);
  EXPECT_EQ(g.shape("y"), (Shape{1, 2, 10, 10}));
  // 2 * 4 + 3 - 10 = 1 pixel in total, at the start when auto_pad is not SAME_UPPER.
  EXPECT_EQ(only(g, "ConvTranspose").attr_ints("pads"), (Ints{1, 1, 0, 0}));
}

TEST(OnnxLegacy, SoftmaxBeforeOpset13) {
  auto model = [](int64_t opset, const std::vector<ModelMaker::Dim>& shape, int64_t axis) {
    ModelMaker m(opset);
    m.input("x", shape).output("y");
    auto& n = m.node("Softmax", {"x"}, {"y"}, "sm");
    if (axis != 99) ModelMaker::attr(n, "axis", axis);
    return m;
  };
  EXPECT_EQ(only(load(model(11, {1, 10}, 99)), "Softmax").attr_int("axis", -1), 1);
  EXPECT_EQ(only(load(model(11, {1, 10, 1, 1}, 1)), "Softmax").attr_int("axis", -1), 1);
  EXPECT_EQ(only(load(model(9, {1, 1, 7}, 1)), "Softmax").attr_int("axis", -1), 2);
  const std::string err = error_of(model(11, {1, 4, 5}, 1));
  EXPECT_TRUE(contains(err, "'sm'")) << err;
  EXPECT_TRUE(contains(err, "one-axis")) << err;
  EXPECT_EQ(only(load(model(13, {1, 4, 5}, 99)), "Softmax").attr_int("axis", -1), 2);
  EXPECT_EQ(only(load(model(13, {1, 4, 5}, 1)), "Softmax").attr_int("axis", -1), 1);
}

TEST(OnnxLegacy, ShapeGatherUnsqueezeConcatReshapeChainFolds) {
  for (int64_t opset : {9, 11, 13, 17}) {
    SCOPED_TRACE(opset);
    ModelMaker m(opset);
    m.input("x", {std::string("N"), 3, 4, 4}).output("y");
    m.node("Shape", {"x"}, {"s"});
    m.ints("zero", {}, {0});
    ModelMaker::attr(m.node("Gather", {"s", "zero"}, {"batch"}), "axis", int64_t{0});
    if (opset < 13) {
      ModelMaker::attr(m.node("Unsqueeze", {"batch"}, {"batch1"}), "axes", Ints{0});
    } else {
      m.ints("ax0", {1}, {0});
      m.node("Unsqueeze", {"batch", "ax0"}, {"batch1"});
    }
    auto& c = m.node("Constant", {}, {"minus1"});
    auto* value = c.add_attribute();
    value->set_name("value");
    value->set_type(onnx::AttributeProto::TENSOR);
    value->mutable_t()->set_data_type(onnx::TensorProto::INT64);
    value->mutable_t()->add_dims(1);
    value->mutable_t()->add_int64_data(-1);
    ModelMaker::attr(m.node("Cast", {"batch1"}, {"batch64"}), "to",
                     int64_t{onnx::TensorProto::INT64});
    ModelMaker::attr(m.node("Concat", {"batch64", "minus1"}, {"target"}), "axis", int64_t{0});
    m.node("Reshape", {"x", "target"}, {"y"});
    const Graph g = load(m);
    ASSERT_EQ(g.nodes.size(), 1u);
    EXPECT_EQ(g.nodes[0].op_type, "Reshape");
    EXPECT_EQ(g.constant(g.nodes[0].inputs[1]).i64, (Ints{1, -1}));
    EXPECT_EQ(g.shape("y"), (Shape{1, 48}));
    EXPECT_EQ(g.initializers.size(), 1u) << "intermediate constants left behind";
    EXPECT_TRUE(contains(notes(g), "symbolic batch dimension 'N' taken as 1")) << notes(g);
  }
}

TEST(OnnxLegacy, OnlyTheBatchDimensionMayBeSymbolic) {
  ModelMaker m(13);
  m.input("image", {1, 3, std::string("height"), 8}).output("y");
  m.node("Relu", {"image"}, {"y"});
  const std::string err = error_of(m);
  EXPECT_TRUE(contains(err, "'image'")) << err;
  EXPECT_TRUE(contains(err, "height")) << err;
  EXPECT_TRUE(contains(err, "legacy.onnx")) << err;
}

TEST(OnnxLegacy, UpsampleAndResizeBecomeResizeWithScales) {
  auto check = [](const ModelMaker& m, const Floats& scales, const std::string& mode,
                  const Shape& out) {
    const Graph g = load(m);
    const Node& r = only(g, "Resize");
    EXPECT_EQ(r.inputs.size(), 1u);
    EXPECT_EQ(std::get<Floats>(r.attrs.at("scales")), scales);
    EXPECT_EQ(r.attr_string("mode", ""), mode);
    EXPECT_EQ(g.shape("y"), out);
  };
  {
    ModelMaker m(7);
    m.input("x", {1, 2, 3, 3}).output("y");
    auto& n = m.node("Upsample", {"x"}, {"y"});
    ModelMaker::attr(n, "scales", Floats{1, 1, 2, 2});
    check(m, {1, 1, 2, 2}, "nearest", {1, 2, 6, 6});
  }
  {
    ModelMaker m(9);
    m.input("x", {1, 2, 3, 3}).output("y").floats("s", {4}, {1, 1, 2, 3});
    ModelMaker::attr(m.node("Upsample", {"x", "s"}, {"y"}), "mode", std::string("linear"));
    check(m, {1, 1, 2, 3}, "linear", {1, 2, 6, 9});
  }
  {
    ModelMaker m(10);
    m.input("x", {1, 2, 3, 3}).output("y").floats("s", {4}, {1, 1, 2, 2});
    m.node("Resize", {"x", "s"}, {"y"});
    check(m, {1, 1, 2, 2}, "nearest", {1, 2, 6, 6});
  }
  {
    ModelMaker m(11);
    m.input("x", {1, 2, 3, 3}).output("y").floats("roi", {0}, {}).floats("s", {4}, {1, 1, 2, 2});
    m.node("Resize", {"x", "roi", "s"}, {"y"});
    check(m, {1, 1, 2, 2}, "nearest", {1, 2, 6, 6});
  }
  {
    // Sizes that are no exact multiple: the scale chosen must reproduce them.
    ModelMaker m(13);
    m.input("x", {1, 2, 3, 3}).output("y").ints("sz", {4}, {1, 2, 7, 10});
    ModelMaker::attr(m.node("Resize", {"x", "", "", "sz"}, {"y"}), "mode", std::string("linear"));
    const Graph g = load(m);
    EXPECT_EQ(g.shape("y"), (Shape{1, 2, 7, 10}));
  }
}

TEST(OnnxLegacy, IdentityAndDropoutAreRemovedAndRewired) {
  ModelMaker m(13);
  m.input("x", {1, 4}).output("out").output("echo");
  m.node("Identity", {"x"}, {"i1"});
  m.node("Relu", {"i1"}, {"r"});
  m.floats("ratio", {}, {0.5f});
  m.node("Dropout", {"r", "ratio"}, {"d", "mask"});
  m.node("Sigmoid", {"d"}, {"s"});
  m.node("Identity", {"s"}, {"out"}, "name_out");
  m.node("Identity", {"x"}, {"echo"}, "name_echo");
  const Graph g = load(m);
  std::vector<std::string> ops;
  for (const auto& n : g.nodes) ops.push_back(n.op_type);
  EXPECT_EQ(ops, (std::vector<std::string>{"Relu", "Sigmoid", "Identity"}));
  // The graph output keeps its name: the Sigmoid now writes it directly.
  EXPECT_EQ(only(g, "Sigmoid").outputs, std::vector<std::string>{"out"});
  EXPECT_EQ(only(g, "Relu").inputs, std::vector<std::string>{"x"});
  // An output that is an input renamed needs the Identity.
  EXPECT_EQ(only(g, "Identity").name, "name_echo");
  EXPECT_TRUE(contains(notes(g), "removed 3 nodes")) << notes(g);
  EXPECT_TRUE(contains(notes(g), "1 Dropout")) << notes(g);
  EXPECT_FALSE(g.values.count("i1"));
  EXPECT_FALSE(g.values.count("s"));
}

TEST(OnnxLegacy, DropoutMaskInUseIsAnError) {
  ModelMaker m(9);
  m.input("x", {1, 4}).output("y").output("mask", {1, 4}, onnx::TensorProto::BOOL);
  m.node("Dropout", {"x"}, {"y", "mask"}, "drop");
  const std::string err = error_of(m);
  EXPECT_TRUE(contains(err, "'drop'")) << err;
}

TEST(OnnxLegacy, GatherFromConstantTableStaysGather) {
  ModelMaker m(13);
  m.input("ids", {1, 5}, onnx::TensorProto::INT64).output("y").weight("table", {50, 8});
  m.node("Gather", {"table", "ids"}, {"y"});
  const Graph g = load(m);
  EXPECT_EQ(only(g, "Gather").attr_int("axis", -1), 0);
  EXPECT_EQ(g.shape("y"), (Shape{1, 5, 8}));

  ModelMaker r(13);
  r.input("x", {1, 5, 8}).output("y").ints("i", {}, {2});
  r.node("Gather", {"x", "i"}, {"y"}, "pick");
  const std::string err = error_of(r);
  EXPECT_TRUE(contains(err, "'pick'")) << err;
  EXPECT_TRUE(contains(err, "runtime tensor")) << err;
}

TEST(OnnxLegacy, BatchNormalizationLegacyAttributesAndTrainingOutputs) {
  for (int64_t opset : {7, 9, 14}) {
    SCOPED_TRACE(opset);
    ModelMaker m(opset);
    m.input("x", {1, 3, 4, 4}).output("y");
    m.weight("g", {3}).weight("b", {3}).weight("mu", {3}).floats("var", {3}, {1, 1, 1});
    auto& n = m.node("BatchNormalization", {"x", "g", "b", "mu", "var"}, {"y"});
    if (opset == 7) ModelMaker::attr(n, "spatial", int64_t{1});
    ModelMaker::attr(n, "momentum", 0.9f);
    ModelMaker::attr(n, "epsilon", 1e-3f);
    const Graph g = load(m);
    const Node& bn = only(g, "BatchNormalization");
    EXPECT_EQ(bn.attrs.size(), 1u);
    EXPECT_EQ(bn.attr_float("epsilon", 0), 1e-3f);
  }
  ModelMaker m(7);
  m.input("x", {1, 3, 4, 4}).output("y");
  m.weight("g", {3}).weight("b", {3}).weight("mu", {3}).floats("var", {3}, {1, 1, 1});
  auto& n = m.node("BatchNormalization", {"x", "g", "b", "mu", "var"}, {"y"}, "bn_act");
  ModelMaker::attr(n, "spatial", int64_t{0});
  EXPECT_TRUE(contains(error_of(m), "'bn_act'"));
}

TEST(OnnxLegacy, HardSwishDirectAndAsHardSigmoidTimesX) {
  ModelMaker direct(14);
  direct.input("x", {1, 4}).output("y");
  direct.node("HardSwish", {"x"}, {"y"});
  EXPECT_EQ(only(load(direct), "HardSwish").inputs, std::vector<std::string>{"x"});

  ModelMaker split(11);
  split.input("x", {1, 4}).output("y");
  ModelMaker::attr(split.node("HardSigmoid", {"x"}, {"h"}), "alpha", 1.f / 6.f);
  split.node("Mul", {"x", "h"}, {"y"}, "hs");
  const Graph g = load(split);
  ASSERT_EQ(g.nodes.size(), 1u);
  EXPECT_EQ(g.nodes[0].op_type, "HardSwish");
  EXPECT_EQ(g.nodes[0].name, "hs");

  // A HardSigmoid gate on another tensor (squeeze-excitation) is not HardSwish.
  ModelMaker gate(11);
  gate.input("x", {1, 4}).input("z", {1, 4}).output("y");
  ModelMaker::attr(gate.node("HardSigmoid", {"z"}, {"h"}), "alpha", 1.f / 6.f);
  gate.node("Mul", {"x", "h"}, {"y"});
  EXPECT_EQ(load(gate).nodes.size(), 2u);
}

TEST(OnnxLegacy, DefaultsBecomeExplicit) {
  ModelMaker m(13);
  m.input("x", {1, 6, 4, 4}).output("y").output("z").output("t");
  m.node("ReduceMean", {"x"}, {"y"});
  m.node("Flatten", {"x"}, {"f"});
  m.weight("w", {10, 96});
  ModelMaker::attr(m.node("Gemm", {"f", "w"}, {"z"}), "transB", int64_t{1});  // w is [N,K]
  m.node("Transpose", {"x"}, {"t"});
  const Graph g = load(m);
  const Node& r = only(g, "ReduceMean");
  EXPECT_EQ(r.attr_ints("axes"), (Ints{0, 1, 2, 3}));
  EXPECT_EQ(r.attr_int("keepdims", -1), 1);
  EXPECT_EQ(g.shape("y"), (Shape{1, 1, 1, 1}));
  EXPECT_EQ(only(g, "Flatten").attr_int("axis", -1), 1);
  const Node& gemm = only(g, "Gemm");
  EXPECT_EQ(gemm.attr_float("alpha", 0), 1.f);
  EXPECT_EQ(gemm.attr_int("transA", -1), 0);
  EXPECT_EQ(g.shape("z"), (Shape{1, 10}));
  EXPECT_EQ(only(g, "Transpose").attr_ints("perm"), (Ints{3, 2, 1, 0}));
}

TEST(OnnxLegacy, RuntimeUnsqueezeAndSqueezeBecomeReshape) {
  ModelMaker m(13);
  m.input("x", {1, 6}).output("y");
  m.ints("axes", {2}, {2, 3});
  m.node("Unsqueeze", {"x", "axes"}, {"u"});
  m.node("Relu", {"u"}, {"r"});
  m.node("Squeeze", {"r", "axes"}, {"y"});
  const Graph g = load(m);
  ASSERT_EQ(g.nodes.size(), 3u);
  EXPECT_EQ(g.nodes[0].op_type, "Reshape");
  EXPECT_EQ(g.shape("u"), (Shape{1, 6, 1, 1}));
  EXPECT_EQ(g.shape("y"), (Shape{1, 6}));
}

TEST(OnnxLegacy, Float16AndDoubleWeightsAreConvertedWithANote) {
  ModelMaker m(13);
  m.input("x", {1, 2}).output("y").output("z");
  auto* h = m.model().mutable_graph()->add_initializer();
  h->set_name("h");
  h->set_data_type(onnx::TensorProto::FLOAT16);
  h->add_dims(2);
  h->add_int32_data(0x3c00);  // 1.0
  h->add_int32_data(0xc000);  // -2.0
  auto* d = m.model().mutable_graph()->add_initializer();
  d->set_name("d");
  d->set_data_type(onnx::TensorProto::DOUBLE);
  d->add_dims(2);
  d->add_double_data(0.25);
  d->add_double_data(4.0);
  m.node("Mul", {"x", "h"}, {"y"});
  m.node("Add", {"x", "d"}, {"z"});
  const Graph g = load(m);
  EXPECT_EQ(g.constant("h").f32, (Floats{1.f, -2.f}));
  EXPECT_EQ(g.constant("d").f32, (Floats{0.25f, 4.f}));
  EXPECT_TRUE(contains(notes(g), "float16 to float32")) << notes(g);
  EXPECT_TRUE(contains(notes(g), "float64 to float32")) << notes(g);
}

TEST(OnnxLegacy, CrossCheckCatchesADeclaredShapeThatDisagrees) {
  ModelMaker m(13);
  m.input("x", {1, 4}).output("y", {1, 5});
  m.node("Relu", {"x"}, {"y"});
  const std::string err = error_of(m);
  EXPECT_TRUE(contains(err, "'y'") || contains(err, "y")) << err;
  EXPECT_TRUE(contains(err, "[1,4]") || contains(err, "onnx shape inference")) << err;
  // With the check off the declared shape is not consulted.
  EXPECT_NO_THROW(load_onnx_bytes(m.bytes(), "m.onnx", ImportOptions{false}));
}

TEST(OnnxLegacy, UnknownOpsAreKeptOnRequestWithOnnxShapes) {
  ModelMaker m(13);
  m.input("x", {1, 3, 8, 8}).output("y");
  m.node("LpNormalization", {"x"}, {"n"}, "norm");
  m.node("Relu", {"n"}, {"y"});
  // Off (the default): an error listing the op.
  EXPECT_TRUE(contains(error_of(m), "LpNormalization (node 'norm')"));
  const Graph g = load_onnx_bytes(m.bytes(), "m.onnx", ImportOptions{.keep_unknown_ops = true});
  ASSERT_EQ(g.nodes.size(), 2u);
  EXPECT_EQ(g.nodes[0].op_type, "LpNormalization");
  EXPECT_EQ(g.shape("n"), (Shape{1, 3, 8, 8}));
  EXPECT_EQ(g.shape("y"), (Shape{1, 3, 8, 8}));
  EXPECT_TRUE(contains(notes(g), "LpNormalization (node 'norm')")) << notes(g);

  // An op of another domain has no onnx schema, so no shape: still an error, naming it.
  ModelMaker c(13);
  c.input("x", {1, 4}).output("y");
  c.node("FancyOp", {"x"}, {"y"}, "fancy").set_domain("com.example");
  c.model().add_opset_import()->set_domain("com.example");
  try {
    load_onnx_bytes(c.bytes(), "c.onnx", ImportOptions{.keep_unknown_ops = true});
    ADD_FAILURE() << "no error";
  } catch (const Error& e) {
    EXPECT_TRUE(contains(e.what(), "'fancy' (com.example.FancyOp)")) << e.what();
  }
}
