// `nnjoule inspect` end to end: files written here, the built binary run as a user would.
#include <gtest/gtest.h>
#include <onnx/onnx_pb.h>

#include <fstream>
#include <nlohmann/json.hpp>

#include "nnjoule/graph/builder.hpp"
#include "nnjoule/graph/onnx.hpp"
#include "support/qdq_graphs.hpp"
#include "support/test_support.hpp"

using namespace nnjoule;
using nnjoule::testing::run_cli;
using nnjoule::testing::TempDir;

namespace {

std::string write_block(const TempDir& dir) {
  graph::GraphBuilder b("block", 5);
  auto x = b.input("input", {1, 16, 14, 14});
  auto h = b.relu6(b.bn(b.conv(x, 64, 1)));
  h = b.relu6(b.bn(b.dwconv(h, 3, 2)));
  h = b.bn(b.conv(h, 24, 1));
  auto g = b.finish({h});
  const auto path = (dir / "block.onnx").string();
  graph::save_onnx(g, path);
  return path;
}

// Relu -> Erf: Erf is a real ONNX op that nnjoule has no kernel for.
std::string write_unknown_op_model(const TempDir& dir) {
  onnx::ModelProto m;
  m.set_ir_version(7);
  m.add_opset_import()->set_version(13);
  auto* g = m.mutable_graph();
  g->set_name("erf");
  auto add_io = [](onnx::ValueInfoProto* v, const char* name) {
    v->set_name(name);
    auto* t = v->mutable_type()->mutable_tensor_type();
    t->set_elem_type(onnx::TensorProto::FLOAT);
    for (int d : {1, 4, 8, 8}) t->mutable_shape()->add_dim()->set_dim_value(d);
  };
  add_io(g->add_input(), "x");
  add_io(g->add_output(), "y");
  auto* relu = g->add_node();
  relu->set_op_type("Relu");
  relu->set_name("relu_0");
  relu->add_input("x");
  relu->add_output("r");
  auto* erf = g->add_node();
  erf->set_op_type("Erf");
  erf->set_name("erf_0");
  erf->add_input("r");
  erf->add_output("y");
  const auto path = (dir / "erf.onnx").string();
  std::ofstream out(path, std::ios::binary);
  m.SerializeToOstream(&out);
  return path;
}

}  // namespace

TEST(InspectCli, PrintsKernelTableAndTotals) {
  TempDir dir;
  auto r = run_cli({"inspect", write_block(dir)});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.out.find("conv-bn-relu6"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("dwconv-bn-relu6  fp32   HW=14 CIN=64 KERNEL_SIZE=3 STRIDES=2"),
            std::string::npos)
      << r.out;
  EXPECT_NE(r.out.find("by dtype: 0 int8, 3 fp32 kernels"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("3 kernels from 8 nodes"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("(counted)"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("unknown ops: none"), std::string::npos) << r.out;
}

TEST(InspectCli, JsonIsStable) {
  TempDir dir;
  auto r = run_cli({"inspect", "--json", write_block(dir)});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  auto j = nlohmann::json::parse(r.out);
  EXPECT_EQ(j["origin"], "counted");
  ASSERT_EQ(j["kernels"].size(), 3u);
  const auto& k = j["kernels"][1];
  EXPECT_EQ(k["type"], "dwconv-bn-relu6");
  EXPECT_EQ(k["config"]["HW"], 14);
  EXPECT_EQ(k["config"]["STRIDES"], 2);
  EXPECT_EQ(k["output_shapes"][0], nlohmann::json({1, 64, 7, 7}));
  EXPECT_EQ(k["nodes"].size(), 3u);
  EXPECT_EQ(j["kernel_counts"]["conv-bn"], 1);
  EXPECT_EQ(k["dtype"], "fp32");
  EXPECT_EQ(j["kernel_dtypes"], nlohmann::json({{"fp32", 3}}));
  EXPECT_EQ(j["totals"]["kernels"], 3);
  double flops = 0;
  for (const auto& kk : j["kernels"]) flops += kk["flops"].get<double>();
  EXPECT_DOUBLE_EQ(j["totals"]["flops"].get<double>(), flops);
  EXPECT_TRUE(j["unknown_ops"].empty());
}

TEST(InspectCli, UnknownOpsAreListedByName) {
  TempDir dir;
  auto r = run_cli({"inspect", write_unknown_op_model(dir)});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.out.find("unknown:Erf"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("Erf (node 'erf_0')"), std::string::npos) << r.out;
  auto j = nlohmann::json::parse(run_cli({"inspect", "--json", write_unknown_op_model(dir)}).out);
  ASSERT_EQ(j["unknown_ops"].size(), 1u);
  EXPECT_EQ(j["unknown_ops"][0]["op"], "Erf");
  EXPECT_EQ(j["unknown_ops"][0]["node"], "erf_0");
}

TEST(InspectCli, CustomRulesChangeTheKernels) {
  TempDir dir;
  const auto rules = dir / "rules.json";
  nnjoule::testing::write_text(rules, R"({"BF_conv_bn": {"obey": false}})");
  auto r = run_cli({"inspect", "--json", "--rules", rules.string(), write_block(dir)});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  auto j = nlohmann::json::parse(r.out);
  EXPECT_EQ(j["kernels"][0]["type"], "conv");
  EXPECT_EQ(j["kernels"][1]["type"], "bn");
  EXPECT_EQ(j["fusion_rules"], rules.string());
}

TEST(InspectCli, BadInputsFailWithOneLine) {
  using nnjoule::testing::one_error_line;
  TempDir dir;
  auto r = run_cli({"inspect", (dir / "missing.onnx").string()});
  EXPECT_TRUE(one_error_line(r, "missing.onnx")) << r.err;
  EXPECT_TRUE(r.out.empty()) << r.out;
  nnjoule::testing::write_text(dir / "garbage.onnx", "this is not a protobuf at all");
  r = run_cli({"inspect", (dir / "garbage.onnx").string()});
  EXPECT_TRUE(one_error_line(r, "garbage.onnx")) << r.err;
  nnjoule::testing::write_text(dir / "bad.json", "{\"BF_conv_bn\": 3}");
  r = run_cli({"inspect", "--rules", (dir / "bad.json").string(), write_block(dir)});
  EXPECT_TRUE(one_error_line(r, "bad.json")) << r.err;
}

// Usage errors are bad input too: one line and exit status 1, not CLI11's multi-line usage.
TEST(InspectCli, UsageErrorsAreOneLine) {
  using nnjoule::testing::one_error_line;
  auto r = run_cli({"inspect"});
  EXPECT_TRUE(one_error_line(r, "model is required")) << r.err;
  r = run_cli({"inspect", "--no-such-flag", "m.onnx"});
  EXPECT_TRUE(one_error_line(r, "--no-such-flag")) << r.err;
  r = run_cli({"no-such-command"});
  EXPECT_TRUE(one_error_line(r, "no-such-command")) << r.err;
  r = run_cli({"inspect", "--help"});
  EXPECT_EQ(r.exit_code, 0);
  EXPECT_NE(r.out.find("--rules"), std::string::npos) << r.out;
}

// A QDQ model written to ONNX and read back: its conv-relu is one int8 kernel, the Q on the
// input and the DQ on the output are kernels of their own.
TEST(InspectCli, QdqModelShowsInt8Kernels) {
  TempDir dir;
  nnjoule::testing::QdqMaker m("qdq");
  const auto x = m.input({1, 8, 16, 16});
  const auto c =
      m.node("Conv", {m.qdq(x, 0.02f, 0), m.weights({16, 8, 3, 3}, 0), m.bias(16, 0.02f)},
             {{"pads", std::vector<int64_t>{1, 1, 1, 1}}});
  const auto p = m.node(
      "MaxPool", {m.qdq(m.node("Relu", {c}), 0.05f, -128)},
      {{"kernel_shape", std::vector<int64_t>{2, 2}}, {"strides", std::vector<int64_t>{2, 2}}});
  const auto g = m.finish({m.qdq(p, 0.05f, -128)});
  const auto path = (dir / "qdq.onnx").string();
  graph::save_onnx(g, path);

  auto r = run_cli({"inspect", "--json", path});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  auto j = nlohmann::json::parse(r.out);
  std::vector<std::string> kinds;
  for (const auto& k : j["kernels"])
    kinds.push_back(k["type"].get<std::string>() + "/" + k["dtype"].get<std::string>());
  EXPECT_EQ(kinds, (std::vector<std::string>{"quantize/fp32", "conv-relu/int8", "maxpool/int8",
                                             "dequantize/fp32"}));
  EXPECT_EQ(j["kernel_dtypes"], nlohmann::json({{"fp32", 2}, {"int8", 2}}));
  EXPECT_EQ(j["totals"]["nodes"], g.nodes.size());

  auto t = run_cli({"inspect", path});
  ASSERT_EQ(t.exit_code, 0) << t.err;
  EXPECT_NE(t.out.find("by dtype: 2 int8, 2 fp32 kernels"), std::string::npos) << t.out;
}
