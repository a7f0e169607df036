// The two op tables (graph's definitions, exec's reference + lowering) cover the same ops, and
// every entry is complete; the CLI lists them.
#include <gtest/gtest.h>

#include <map>
#include <set>

#include "nnjoule/exec/engine.hpp"
#include "nnjoule/exec/reference.hpp"
#include "nnjoule/graph/builder.hpp"
#include "nnjoule/graph/ops.hpp"
#include "nnjoule/graph/shape_inference.hpp"
#include "support/test_support.hpp"

#include <nlohmann/json.hpp>

using namespace nnjoule;
using namespace nnjoule::graph;
using nnjoule::testing::contains;
using nnjoule::testing::error_of;
using nnjoule::testing::run_cli;

TEST(OpTable, GraphAndEngineKnowTheSameOps) {
  EXPECT_EQ(supported_ops(), exec::engine_ops());
  EXPECT_FALSE(supported_ops().empty());
}

TEST(OpTable, EveryEntryIsComplete) {
  std::map<std::string, std::string> ir_type_owner;
  for (const auto& d : op_table()) {
    SCOPED_TRACE(d.name);
    EXPECT_NE(d.infer, nullptr);
    EXPECT_FALSE(d.kernel_class.empty());
    EXPECT_FALSE(d.inputs.empty());
    EXPECT_GE(d.min_inputs(), 1u);
    EXPECT_EQ(find_op(d.name), &d);
    for (const auto& a : d.attrs) EXPECT_STRNE(a.fallback, "");
    for (const auto& t : d.nnmeter_types) {
      // One IR type converts into one op only.
      EXPECT_TRUE(ir_type_owner.emplace(t, d.name).second)
          << t << " also converts into " << ir_type_owner[t];
      EXPECT_EQ(find_nnmeter_op(t), &d);
    }
  }
  EXPECT_EQ(find_op("NoSuchOp"), nullptr);
  EXPECT_EQ(find_nnmeter_op("Placeholder"), nullptr);
  EXPECT_TRUE(is_activation("Clip"));
  EXPECT_TRUE(is_elementwise_binary("Div"));
  EXPECT_FALSE(is_activation("Add"));
}

TEST(OpTable, ArityIsCheckedWithANamedError) {
  GraphBuilder b("arity", 1);
  auto x = b.input("x", {1, 4, 8, 8});
  auto y = b.relu(x);
  Graph g = b.finish({y});
  Node extra = g.nodes.at(0);
  extra.inputs.push_back(x);  // Relu with two inputs
  EXPECT_TRUE(contains(error_of([&] { infer_node(g, extra); }), "has 2 inputs, the op takes 1"))
      << error_of([&] { infer_node(g, extra); });
  Node conv;
  conv.name = "c";
  conv.op_type = "Conv";
  conv.inputs = {x};
  conv.outputs = {"c_out"};
  EXPECT_TRUE(contains(error_of([&] { infer_node(g, conv); }),
                       "node 'c' (Conv): has 1 inputs, the op takes 2 to 3"))
      << error_of([&] { infer_node(g, conv); });
  Node split = conv;
  split.op_type = "Split";
  split.outputs = {};
  EXPECT_TRUE(contains(error_of([&] { check_arity(split); }), "has 0 outputs"))
      << error_of([&] { check_arity(split); });
}

TEST(OpTable, KernelClassAndFlopsComeFromTheTable) {
  GraphBuilder b("classes", 2);
  auto x = b.input("x", {1, 8, 16, 16});
  auto d = b.dwconv(x, 3, 1);
  auto r6 = b.relu6(d);
  Graph g = b.finish({r6});
  ASSERT_EQ(g.nodes.size(), 2u);
  EXPECT_EQ(node_kernel_class(g, g.nodes[0]), "dwconv");
  EXPECT_EQ(node_kernel_class(g, g.nodes[1]), "relu6");
  // 3x3 depthwise over 8x16x16 outputs: 2 * 9 per output, plus the bias when present.
  const double outs = 8.0 * 16 * 16;
  const double want = 2.0 * 9 * outs + (g.nodes[0].inputs.size() > 2 ? outs : 0);
  EXPECT_DOUBLE_EQ(node_flops(g, g.nodes[0]), want);
  EXPECT_DOUBLE_EQ(node_flops(g, g.nodes[1]), outs);
  Node unknown = g.nodes[1];
  unknown.op_type = "Erf";
  EXPECT_EQ(node_kernel_class(g, unknown), "unknown:Erf");
  EXPECT_EQ(node_flops(g, unknown), 0);
}

TEST(OpTable, ReferenceRefusesAnOpOutsideTheTable) {
  GraphBuilder b("ref", 3);
  auto x = b.input("x", {1, 2, 4, 4});
  auto y = b.relu(x);
  Graph g = b.finish({y});
  g.nodes[0].op_type = "Erf";
  exec::Tensor t({1, 2, 4, 4}, std::vector<float>(32, 1.f));
  EXPECT_TRUE(contains(error_of([&] { exec::run_reference(g, {t}); }),
                       "(Erf): op not supported by the reference executor"))
      << error_of([&] { exec::run_reference(g, {t}); });
}

TEST(OpTable, CliListsEveryOp) {
  const auto r = run_cli({"ops"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  for (const auto& op : supported_ops())
    EXPECT_NE(r.out.find("\n" + op + " "), std::string::npos) << op;
  EXPECT_NE(r.out.find("Conv2D, DepthwiseConv2dNative"), std::string::npos);
  const auto j = run_cli({"ops", "--json"});
  ASSERT_EQ(j.exit_code, 0) << j.err;
  const auto parsed = nlohmann::json::parse(j.out);
  ASSERT_EQ(parsed.size(), supported_ops().size());
  EXPECT_EQ(parsed[0]["op"], supported_ops()[0]);
  for (const auto& e : parsed) EXPECT_TRUE(e["engine"].get<bool>()) << e["op"];
}
