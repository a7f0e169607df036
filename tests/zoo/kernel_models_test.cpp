#include <gtest/gtest.h>

#include <map>
#include <nlohmann/json.hpp>
#include <set>

#include "nnjoule/common/error.hpp"
#include "nnjoule/kernels/detect.hpp"
#include "nnjoule/zoo/kernel_models.hpp"

using namespace nnjoule;
using graph::Graph;
using kernels::KernelConfig;

namespace {

struct Case {
  KernelConfig config;
  std::vector<std::string> ops;  // the model's nodes, in order
};

// One valid config per kernel type and the nodes its model must hold.
const std::map<std::string, Case>& cases() {
  static const std::map<std::string, Case> c = [] {
    std::map<std::string, Case> m;
    const KernelConfig conv{
        {"HW", 28}, {"CIN", 16}, {"COUT", 32}, {"KERNEL_SIZE", 3}, {"STRIDES", 2}};
    const KernelConfig dw{{"HW", 28}, {"CIN", 24}, {"KERNEL_SIZE", 5}, {"STRIDES", 1}};
    const KernelConfig hw_cin{{"HW", 14}, {"CIN", 32}};
    const std::vector<std::pair<std::string, std::vector<std::string>>> suffixes = {
        {"", {}},
        {"-relu", {"Relu"}},
        {"-relu6", {"Clip"}},
        {"-hswish", {"HardSwish"}},
        {"-bn", {"BatchNormalization"}},
        {"-bn-relu", {"BatchNormalization", "Relu"}},
        {"-bn-relu6", {"BatchNormalization", "Clip"}},
        {"-bn-hswish", {"BatchNormalization", "HardSwish"}}};
    for (const auto& [s, post] : suffixes) {
      std::vector<std::string> ops = {"Conv"};
      ops.insert(ops.end(), post.begin(), post.end());
      m["conv" + s] = {conv, ops};
      m["dwconv" + s] = {dw, ops};
    }
    m["convtrans"] = {conv, {"ConvTranspose"}};
    m["convtrans-relu"] = {conv, {"ConvTranspose", "Relu"}};
    m["convtrans-bn-relu"] = {conv, {"ConvTranspose", "BatchNormalization", "Relu"}};
    m["fc"] = {{{"CIN", 1280}, {"COUT", 1000}}, {"Gemm"}};
    m["fc-relu"] = {{{"CIN", 512}, {"COUT", 256}}, {"Gemm", "Relu"}};
    const KernelConfig pool{{"HW", 56}, {"CIN", 64}, {"KERNEL_SIZE", 3}, {"POOL_STRIDES", 2}};
    m["maxpool"] = {pool, {"MaxPool"}};
    m["avgpool"] = {pool, {"AveragePool"}};
    m["global-avgpool"] = {hw_cin, {"GlobalAveragePool"}};
    m["add"] = {hw_cin, {"Add"}};
    m["add-relu"] = {hw_cin, {"Add", "Relu"}};
    m["mul"] = {hw_cin, {"Mul"}};
    m["sub"] = {hw_cin, {"Sub"}};
    m["div"] = {hw_cin, {"Div"}};
    m["bn"] = {hw_cin, {"BatchNormalization"}};
    m["bn-relu"] = {hw_cin, {"BatchNormalization", "Relu"}};
    m["relu"] = {hw_cin, {"Relu"}};
    m["relu6"] = {hw_cin, {"Clip"}};
    m["clip"] = {hw_cin, {"Clip"}};
    m["hswish"] = {hw_cin, {"HardSwish"}};
    m["hsigmoid"] = {hw_cin, {"HardSigmoid"}};
    m["sigmoid"] = {hw_cin, {"Sigmoid"}};
    m["swish"] = {hw_cin, {"Sigmoid", "Mul"}};
    m["tanh"] = {hw_cin, {"Tanh"}};
    m["leakyrelu"] = {hw_cin, {"LeakyRelu"}};
    m["softmax"] = {hw_cin, {"Softmax"}};
    m["se"] = {{{"HW", 14}, {"CIN", 96}, {"CMID", 24}},
               {"GlobalAveragePool", "Conv", "Relu", "Conv", "HardSigmoid", "Mul"}};
    m["channelshuffle"] = {{{"HW", 28}, {"CIN", 116}, {"GROUPS", 2}},
                           {"Reshape", "Transpose", "Reshape"}};
    m["concat"] = {{{"HW", 28}, {"CIN1", 16}, {"CIN2", 24}, {"CIN3", 8}, {"NS", 3}}, {"Concat"}};
    m["split"] = {{{"HW", 28}, {"CIN", 116}, {"NS", 2}}, {"Split"}};
    m["slice"] = {hw_cin, {"Slice"}};
    m["reshape"] = {hw_cin, {"Reshape"}};
    m["transpose"] = {hw_cin, {"Transpose"}};
    m["pad"] = {hw_cin, {"Pad"}};
    m["reducemean"] = {hw_cin, {"ReduceMean"}};
    m["gather"] = {hw_cin, {"Gather"}};
    m["identity"] = {hw_cin, {"Identity"}};
    m["resize"] = {{{"HW", 14}, {"CIN", 32}, {"SCALE", 2}}, {"Resize"}};
    m["matmul"] = {{{"M", 49}, {"K", 64}, {"N", 49}, {"BATCH", 4}}, {"MatMul"}};
    return m;
  }();
  return c;
}

std::vector<std::string> ops_of(const Graph& g) {
  std::vector<std::string> ops;
  for (const auto& n : g.nodes) ops.push_back(n.op_type);
  return ops;
}

std::map<std::string, int64_t> as_map(const KernelConfig& c) {
  return {c.items().begin(), c.items().end()};
}

// nn-Meter's rules where h-swish fuses into the op before it (a mobile GPU); XNNPACK runs it
// as its own operator.
kernels::FusionRules rules_for(const std::string& type) {
  if (type.find("hswish") == std::string::npos || type == "hswish") {
    return kernels::FusionRules::xnnpack_default();
  }
  auto j = nlohmann::json::parse(kernels::FusionRules::xnnpack_default().to_json());
  for (const char* k : {"BF_conv_hswish", "BF_dwconv_hswish", "BF_bn_hswish"}) j[k]["obey"] = true;
  return kernels::FusionRules::from_json(j.dump(), "test rules");
}

std::string error_of(const std::string& type, const KernelConfig& c) {
  try {
    zoo::build_kernel_model(type, c, 1);
  } catch (const Error& e) {
    return e.what();
  }
  return "";
}

}  // namespace

TEST(KernelModels, EveryTypeHasATestCaseAndEveryCataloguedTypeIsBuildable) {
  std::set<std::string> types;
  for (const auto& t : zoo::kernel_model_types()) {
    types.insert(t.name);
    EXPECT_TRUE(cases().count(t.name)) << t.name;
  }
  for (const auto& t : kernels::catalogue()) EXPECT_TRUE(types.count(t.name)) << t.name;
}

TEST(KernelModels, HoldExactlyTheKernelsNodes) {
  for (const auto& t : zoo::kernel_model_types()) {
    SCOPED_TRACE(t.name);
    const auto& c = cases().at(t.name);
    const Graph g = zoo::build_kernel_model(t.name, c.config, 5);
    EXPECT_EQ(ops_of(g), c.ops);
    for (const auto& o : g.outputs) EXPECT_TRUE(o.rfind("output", 0) == 0) << o;
    for (const auto& i : g.inputs) EXPECT_TRUE(i.rfind("input", 0) == 0) << i;
  }
}

TEST(KernelModels, DetectedAsExactlyOneKernelOfTheTypeWithTheSameConfig) {
  for (const auto& t : kernels::catalogue()) {
    SCOPED_TRACE(t.name);
    const auto& c = cases().at(t.name);
    const Graph g = zoo::build_kernel_model(t.name, c.config, 5);
    const auto ks = kernels::detect_kernels(g, rules_for(t.name));
    ASSERT_EQ(ks.size(), 1u) << ks[0].type << " + " << ks.back().type;
    EXPECT_EQ(ks[0].type, t.name);
    EXPECT_EQ(as_map(ks[0].config), as_map(c.config)) << ks[0].config.str();
    EXPECT_EQ(ks[0].nodes.size(), g.nodes.size());
  }
}

TEST(KernelModels, ShapesFollowTheConfig) {
  const Graph conv = zoo::build_kernel_model("conv-bn-relu", cases().at("conv").config, 1);
  EXPECT_EQ(conv.shape("input"), (graph::Shape{1, 16, 28, 28}));
  EXPECT_EQ(conv.shape("output"), (graph::Shape{1, 32, 14, 14}));
  const Graph grouped = zoo::build_kernel_model(
      "conv",
      {{"HW", 8}, {"CIN", 16}, {"COUT", 32}, {"KERNEL_SIZE", 3}, {"STRIDES", 1}, {"GROUPS", 4}}, 1);
  EXPECT_EQ(grouped.nodes[0].attr_int("group", 1), 4);
  const Graph ct = zoo::build_kernel_model("convtrans", cases().at("convtrans").config, 1);
  EXPECT_EQ(ct.shape("output"), (graph::Shape{1, 32, 56, 56}));
  const Graph pool = zoo::build_kernel_model("maxpool", cases().at("maxpool").config, 1);
  EXPECT_EQ(pool.shape("output"), (graph::Shape{1, 64, 28, 28}));
  const Graph split = zoo::build_kernel_model("split", {{"HW", 7}, {"CIN", 12}}, 1);
  EXPECT_EQ(split.outputs, (std::vector<std::string>{"output_0", "output_1"}));
  EXPECT_EQ(split.shape("output_1"), (graph::Shape{1, 6, 7, 7}));
  const Graph add = zoo::build_kernel_model("add", {{"HW", 7}, {"CIN", 12}}, 1);
  EXPECT_EQ(add.inputs, (std::vector<std::string>{"input_0", "input_1"}));
  // Zero CIN3/CIN4 are absent inputs.
  const Graph cat = zoo::build_kernel_model(
      "concat", {{"HW", 7}, {"CIN1", 3}, {"CIN2", 5}, {"CIN3", 0}, {"CIN4", 0}}, 1);
  EXPECT_EQ(cat.inputs.size(), 2u);
  EXPECT_EQ(cat.shape("output"), (graph::Shape{1, 8, 7, 7}));
  // One input (PyTorch exports torch.cat([x]) so) and many (DenseNet), detected as one concat
  // kernel with the same config back.
  kernels::KernelConfig one{{"HW", 5}, {"CIN1", 3}, {"NS", 1}};
  kernels::KernelConfig many{{"HW", 4}, {"WIDTH", 6}};
  for (int i = 1; i <= 30; ++i) many.set("CIN" + std::to_string(i), i);
  many.set("NS", 30);
  for (const auto& config : {one, many}) {
    const Graph g = zoo::build_kernel_model("concat", config, 1);
    const auto ks = kernels::detect_kernels(g);
    ASSERT_EQ(ks.size(), 1u) << config.str();
    EXPECT_EQ(ks[0].type, "concat");
    EXPECT_EQ(ks[0].config.str(), config.str());
  }
  EXPECT_EQ(zoo::build_kernel_model("concat", many, 1).shape("output"),
            (graph::Shape{1, 465, 4, 6}));
  const std::string gap = error_of("concat", {{"HW", 7}, {"CIN1", 3}, {"CIN3", 5}});
  EXPECT_NE(gap.find("CIN3=5 follows CIN2 which is absent"), std::string::npos) << gap;
  const Graph se = zoo::build_kernel_model("se", {{"HW", 7}, {"CIN", 64}}, 1);
  EXPECT_EQ(se.shape(se.nodes[1].outputs[0])[1], 16);  // CMID defaults to CIN / 4
  const Graph fc = zoo::build_kernel_model("fc", cases().at("fc").config, 1);
  EXPECT_EQ(fc.shape("output"), (graph::Shape{1, 1000}));
}

TEST(KernelModels, SeededWeights) {
  const auto& c = cases().at("conv-bn").config;
  const Graph a = zoo::build_kernel_model("conv-bn", c, 3);
  const Graph b = zoo::build_kernel_model("conv-bn", c, 3);
  const Graph d = zoo::build_kernel_model("conv-bn", c, 4);
  const auto& w = a.nodes[0].inputs[1];
  EXPECT_EQ(a.constant(w).f32, b.constant(w).f32);
  EXPECT_NE(a.constant(w).f32, d.constant(w).f32);
  const Graph lean = zoo::build_kernel_model("conv-bn", c, 3, false);
  EXPECT_FALSE(lean.constant(w).materialized());
}

TEST(KernelModels, BadConfigsNameTheKeyAndTheType) {
  auto expect_error = [](const std::string& type, const KernelConfig& c,
                         std::vector<std::string> parts) {
    const std::string m = error_of(type, c);
    ASSERT_FALSE(m.empty()) << type << " " << c.str() << ": no error";
    for (const auto& p : parts) EXPECT_NE(m.find(p), std::string::npos) << m;
  };
  expect_error("conv-bn-relu", {{"HW", 28}, {"CIN", 16}, {"KERNEL_SIZE", 3}, {"STRIDES", 1}},
               {"conv-bn-relu", "COUT"});
  expect_error("conv", {{"HW", 28}, {"CIN", 16}, {"COUT", 0}, {"KERNEL_SIZE", 3}, {"STRIDES", 1}},
               {"conv", "COUT=0"});
  expect_error("dwconv", {{"HW", 28}, {"CIN", 16}, {"KERNEL_SIZE", -3}, {"STRIDES", 1}},
               {"dwconv", "KERNEL_SIZE"});
  expect_error(
      "conv",
      {{"HW", 8}, {"CIN", 6}, {"COUT", 8}, {"KERNEL_SIZE", 3}, {"STRIDES", 1}, {"GROUPS", 4}},
      {"conv", "GROUPS"});
  expect_error("maxpool", {{"HW", 28}, {"CIN", 16}, {"KERNEL_SIZE", 3}, {"STRIDES", 2}},
               {"maxpool", "STRIDES"});  // pools take POOL_STRIDES
  expect_error("maxpool", {{"HW", 2}, {"CIN", 16}, {"KERNEL_SIZE", 3}, {"POOL_STRIDES", 2}},
               {"maxpool", "KERNEL_SIZE"});
  expect_error("split", {{"HW", 7}, {"CIN", 15}}, {"split", "CIN"});
  expect_error("channelshuffle", {{"HW", 7}, {"CIN", 15}, {"GROUPS", 2}},
               {"channelshuffle", "GROUPS"});
  expect_error("concat", {{"HW", 7}, {"CIN2", 4}}, {"concat", "CIN1"});
  expect_error("concat", {{"HW", 7}, {"CIN1", 4}, {"CIN2", 4}, {"NS", 3}}, {"concat", "NS"});
  expect_error("relu", {{"HW", 7}}, {"relu", "CIN"});
  expect_error("relu", {{"HW", 7}, {"CIN", 4}, {"HW", 7}}, {"relu", "HW", "twice"});
  expect_error("fc", {{"CIN", 7}, {"COUT", 4}, {"HW", 1}}, {"fc", "HW"});
  expect_error("convtrans",
               {{"HW", 7}, {"CIN", 4}, {"COUT", 4}, {"KERNEL_SIZE", 2}, {"STRIDES", 1}},
               {"convtrans", "KERNEL_SIZE"});
  expect_error("resize", {{"HW", 7}, {"CIN", 4}}, {"resize", "SCALE"});
  expect_error("conv-bn-gelu", {{"HW", 7}, {"CIN", 4}}, {"conv-bn-gelu", "conv-bn-relu6"});
}
