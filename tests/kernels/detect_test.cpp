#include <gtest/gtest.h>

#include <set>

#include "nnjoule/common/error.hpp"
#include "nnjoule/graph/builder.hpp"
#include "nnjoule/kernels/detect.hpp"
#include "support/test_support.hpp"

using namespace nnjoule;
using namespace nnjoule::graph;
using namespace nnjoule::kernels;

namespace {

std::vector<std::string> types(const std::vector<Kernel>& ks) {
  std::vector<std::string> t;
  for (const auto& k : ks) t.push_back(k.type);
  return t;
}

// Every node in exactly one kernel.
void expect_partition(const Graph& g, const std::vector<Kernel>& ks) {
  std::vector<int> seen(g.nodes.size(), 0);
  for (const auto& k : ks)
    for (size_t n : k.nodes) seen.at(n)++;
  for (size_t i = 0; i < seen.size(); ++i) EXPECT_EQ(seen[i], 1) << g.nodes[i].name;
}

Graph inverted_residual() {
  GraphBuilder b("ir", 3);
  auto x = b.input("input", {1, 16, 28, 28});
  auto h = b.relu6(b.bn(b.conv(x, 96, 1)));
  h = b.relu6(b.bn(b.dwconv(h, 3, 1)));
  h = b.bn(b.conv(h, 16, 1));
  return b.finish({b.add(x, h)});
}

}  // namespace

TEST(Detect, FusesConvBnReluIntoOneKernelWithNnMeterConfig) {
  GraphBuilder b("t", 1);
  auto x = b.input("input", {1, 3, 32, 32});
  auto y = b.relu(b.bn(b.conv(x, 16, 3, 2)));
  auto g = b.finish({y});
  auto ks = detect_kernels(g);
  ASSERT_EQ(ks.size(), 1u);
  EXPECT_EQ(ks[0].type, "conv-bn-relu");
  EXPECT_EQ(
      ks[0].config,
      (KernelConfig{{"HW", 32}, {"CIN", 3}, {"COUT", 16}, {"KERNEL_SIZE", 3}, {"STRIDES", 2}}));
  // Closed form: 2 * COUT * HO * WO * CIN * K * K for the conv, 2 per element for BN, 1 for ReLU.
  const double out = 16.0 * 16 * 16;
  EXPECT_DOUBLE_EQ(ks[0].flops, 2 * out * 3 * 9 + 2 * out + out);
  EXPECT_EQ(ks[0].params, 16 * 3 * 9 + 4 * 16);
  EXPECT_EQ(ks[0].bytes, 4 * (3 * 32 * 32 + 16 * 16 * 16) + 4 * (16 * 3 * 9 + 4 * 16));
  EXPECT_EQ(ks[0].input_shapes[0], (Shape{1, 3, 32, 32}));
  EXPECT_EQ(ks[0].output_shapes[0], (Shape{1, 16, 16, 16}));
}

TEST(Detect, InvertedResidualBlock) {
  auto g = inverted_residual();
  auto ks = detect_kernels(g);
  EXPECT_EQ(types(ks),
            (std::vector<std::string>{"conv-bn-relu6", "dwconv-bn-relu6", "conv-bn", "add"}));
  EXPECT_EQ(ks[1].config,
            (KernelConfig{{"HW", 28}, {"CIN", 96}, {"KERNEL_SIZE", 3}, {"STRIDES", 1}}));
  EXPECT_EQ(ks[3].config, (KernelConfig{{"HW", 28}, {"CIN", 16}}));
  expect_partition(g, ks);
}

TEST(Detect, OutputReadTwiceIsNotFused) {
  GraphBuilder b("t", 1);
  auto x = b.input("input", {1, 8, 8, 8});
  auto c = b.conv(x, 8, 3);
  auto r = b.relu(c);
  auto y = b.add(c, r);  // c has two consumers: relu and add
  auto g = b.finish({y});
  auto ks = detect_kernels(g);
  EXPECT_EQ(types(ks), (std::vector<std::string>{"conv", "relu", "add"}));
}

TEST(Detect, AddReluAndFcRelu) {
  GraphBuilder b("t", 1);
  auto x = b.input("input", {1, 8, 4, 4});
  auto a = b.relu(b.add(x, b.bn(b.conv(x, 8, 1))));
  auto f = b.relu(b.fc(b.flatten(b.global_avgpool(a)), 10));
  auto g = b.finish({f});
  auto ks = detect_kernels(g);
  EXPECT_EQ(types(ks), (std::vector<std::string>{"conv-bn", "add-relu", "global-avgpool", "reshape",
                                                 "fc-relu"}));
  EXPECT_EQ(ks[4].config, (KernelConfig{{"CIN", 8}, {"COUT", 10}}));
  EXPECT_DOUBLE_EQ(ks[4].flops, 2.0 * 8 * 10 + 10 + 10);
}

TEST(Detect, SqueezeExcitationIsOneKernel) {
  GraphBuilder b("t", 1);
  auto x = b.input("input", {1, 32, 14, 14});
  auto h = b.hswish(b.bn(b.dwconv(x, 5, 1)));
  auto s = b.se(h, 8);
  auto g = b.finish({s});
  auto ks = detect_kernels(g);
  EXPECT_EQ(types(ks), (std::vector<std::string>{"dwconv-bn", "hswish", "se"}));
  EXPECT_EQ(ks[2].config, (KernelConfig{{"HW", 14}, {"CIN", 32}, {"CMID", 8}}));
  EXPECT_EQ(ks[2].nodes.size(), 6u);  // pool, conv, relu, conv, hsigmoid, mul
  expect_partition(g, ks);
}

TEST(Detect, DecomposedHswishAndSwishPatterns) {
  GraphBuilder b("t", 1);
  auto x = b.input("input", {1, 4, 6, 6});
  auto three = b.constant({}, {3.f}, "c");
  auto six = b.constant({}, {6.f}, "c");
  auto clip = b.clip(b.add(x, three), 0.f, 6.f);
  auto hs = b.div(b.mul(x, clip), six);                              // x * relu6(x + 3) / 6
  auto hs2 = b.mul(hs, b.div(b.clip(b.add(hs, three), 0, 6), six));  // x * (relu6(x + 3) / 6)
  auto sw = b.mul(hs2, b.sigmoid(hs2));
  auto g = b.finish({sw});
  auto ks = detect_kernels(g);
  EXPECT_EQ(types(ks), (std::vector<std::string>{"hswish", "hswish", "swish"}));
  expect_partition(g, ks);
}

TEST(Detect, ChannelShuffleAndSplitConcat) {
  GraphBuilder b("t", 1);
  auto x = b.input("input", {1, 16, 8, 8});
  auto parts = b.split(x, {8, 8});
  auto right = b.relu(b.bn(b.conv(parts[1], 8, 1)));
  auto y = b.channel_shuffle(b.concat({parts[0], right}), 2);
  auto g = b.finish({y});
  auto ks = detect_kernels(g);
  EXPECT_EQ(types(ks),
            (std::vector<std::string>{"split", "conv-bn-relu", "concat", "channelshuffle"}));
  EXPECT_EQ(ks[2].config, (KernelConfig{{"HW", 8}, {"CIN1", 8}, {"CIN2", 8}, {"NS", 2}}));
  EXPECT_EQ(ks[3].config, (KernelConfig{{"HW", 8}, {"CIN", 16}, {"GROUPS", 2}}));
  EXPECT_DOUBLE_EQ(ks[3].flops, 0.0);
}

// Concat of any input count, as exported models have them: one input (PyTorch's torch.cat of a
// one-element list) or many (DenseNet); a non-square tensor keeps its WIDTH.
TEST(Detect, ConcatOfOneOrManyInputsOnNonSquareTensors) {
  GraphBuilder b("t", 1);
  auto x = b.input("input", {1, 8, 6, 10});
  auto one = b.concat({x});
  std::vector<std::string> parts = {one};
  for (int i = 0; i < 5; ++i) parts.push_back(b.relu(b.bn(b.conv(one, 4, 1))));
  auto g = b.finish({b.concat(parts)});
  auto ks = detect_kernels(g);
  ASSERT_EQ(ks.front().type, "concat");
  EXPECT_EQ(ks.front().config, (KernelConfig{{"HW", 6}, {"WIDTH", 10}, {"CIN1", 8}, {"NS", 1}}));
  ASSERT_EQ(ks.back().type, "concat");
  EXPECT_EQ(ks.back().config, (KernelConfig{{"HW", 6},
                                            {"WIDTH", 10},
                                            {"CIN1", 8},
                                            {"CIN2", 4},
                                            {"CIN3", 4},
                                            {"CIN4", 4},
                                            {"CIN5", 4},
                                            {"CIN6", 4},
                                            {"NS", 6}}));
  expect_partition(g, ks);
}

// Numbers JSON can write but a double cannot hold are bad input, not an internal error.
TEST(Detect, FusionRulesWithNumbersOutOfRangeAreOneLineErrors) {
  const std::string e = nnjoule::testing::error_of([] {
    FusionRules::from_json(R"({"BF_conv_bn": {"obey": true, "weight": 1e999}})", "r.json");
  });
  EXPECT_NE(e.find("r.json"), std::string::npos) << e;
  EXPECT_NE(e.find("1e999"), std::string::npos) << e;
  EXPECT_EQ(e.find('\n'), std::string::npos) << e;
}

TEST(Detect, UnknownOpBecomesNamedKernel) {
  GraphBuilder b("t", 1);
  auto x = b.input("input", {1, 4, 4, 4});
  auto r = b.relu(x);
  auto g = b.finish({r});
  // An op nnjoule does not know, with a shape from elsewhere (the ONNX importer keeps these).
  g.nodes.push_back(Node{"mystery_0", "Einsum", {r}, {"mystery_out"}, {}});
  g.values["mystery_out"] = {DType::kFloat32, {1, 4, 4, 4}};
  g.outputs = {"mystery_out"};
  auto ks = detect_kernels(g);
  ASSERT_EQ(ks.size(), 2u);
  EXPECT_EQ(ks[1].type, "unknown:Einsum");
  EXPECT_TRUE(ks[1].unknown());
  auto totals = summarize(g, ks);
  ASSERT_EQ(totals.unknown_ops.size(), 1u);
  EXPECT_EQ(totals.unknown_ops[0].first, "Einsum");
  EXPECT_EQ(totals.unknown_ops[0].second, "mystery_0");
}

TEST(FusionRules, DefaultIsXnnpack) {
  auto r = FusionRules::xnnpack_default();
  EXPECT_TRUE(r.fuses({"conv"}, "bn"));
  EXPECT_TRUE(r.fuses({"conv", "bn"}, "relu6"));
  EXPECT_TRUE(r.fuses({"dwconv", "bn"}, "relu"));
  EXPECT_FALSE(r.fuses({"conv", "bn"}, "hswish"));
  EXPECT_TRUE(r.fuses({"add"}, "relu"));
  EXPECT_TRUE(r.fuses({"fc"}, "relu"));
  EXPECT_FALSE(r.fuses({"maxpool"}, "relu"));
  EXPECT_FALSE(r.fuses({"conv", "bn", "relu"}, "relu"));
  // The emitted JSON reads back as the same rules.
  auto back = FusionRules::from_json(r.to_json(), "roundtrip");
  EXPECT_EQ(back.rules(), r.rules());
}

TEST(FusionRules, ParsesTheDeepEn2023File) {
  auto data = nnjoule::testing::shared_data();
  if (data.empty()) GTEST_SKIP() << "shared data not present";
  auto r = FusionRules::from_file(data / "deepen2023" / "fusion_rules.json");
  EXPECT_TRUE(r.fuses({"conv"}, "bn"));
  EXPECT_TRUE(r.fuses({"conv", "bn"}, "relu"));
  EXPECT_FALSE(r.fuses({"conv", "bn"}, "hswish"));
  EXPECT_TRUE(r.fuses({"conv"}, "maxpool"));  // that phone's rules fuse conv + pooling
  EXPECT_FALSE(r.fuses({"conv", "bn", "relu"}, "maxpool"));
  // Applied to a graph: the phone's rules keep h-swish apart.
  GraphBuilder b("t", 1);
  auto x = b.input("input", {1, 3, 16, 16});
  auto g = b.finish({b.hswish(b.bn(b.conv(x, 8, 3)))});
  EXPECT_EQ(types(detect_kernels(g, r)), (std::vector<std::string>{"conv-bn", "hswish"}));
}

TEST(FusionRules, BadFilesFailWithOneLine) {
  auto expect_error = [](const std::string& text, const std::string& needle) {
    try {
      FusionRules::from_json(text, "rules.json");
      ADD_FAILURE() << "no error for " << text;
    } catch (const Error& e) {
      const std::string msg = e.what();
      EXPECT_NE(msg.find("rules.json"), std::string::npos) << msg;
      EXPECT_NE(msg.find(needle), std::string::npos) << msg;
      EXPECT_EQ(msg.find('\n'), std::string::npos) << msg;
    }
  };
  expect_error("{not json", "invalid JSON");
  expect_error("[1, 2]", "JSON object");
  expect_error(R"({"BF_conv_bn": true})", "BF_conv_bn");
  expect_error(R"({"BF_conv_bn": {"latency": {}}})", "no \"obey\"");
  expect_error(R"({"BF_conv_bn": {"obey": "yes"}})", "\"obey\" must be");
  expect_error(R"({"RT": {"obey": false}})", "no \"BF_");
  EXPECT_THROW(FusionRules::from_file("/nonexistent/rules.json"), Error);
}

TEST(Catalogue, NamesAndAliases) {
  EXPECT_NE(find_kernel_type("conv-bn-relu"), nullptr);
  EXPECT_NE(find_kernel_type("dwconv-bn-hswish"), nullptr);
  EXPECT_EQ(find_kernel_type("conv-bn-relu")->config_keys,
            (std::vector<std::string>{"HW", "CIN", "COUT", "KERNEL_SIZE", "STRIDES"}));
  EXPECT_EQ(canonical_kernel_type("addrelu"), "add-relu");
  EXPECT_EQ(canonical_kernel_type("bnrelu"), "bn-relu");
  EXPECT_EQ(canonical_kernel_type("conv-block"), "conv");
  EXPECT_EQ(canonical_kernel_type("Global-AvgPool"), "global-avgpool");
  std::set<std::string> names;
  for (const auto& t : catalogue()) EXPECT_TRUE(names.insert(t.name).second) << t.name;
}
