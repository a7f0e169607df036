// Export -> import round trips, and exported files checked by onnx itself (checker plus strict
// shape inference agreeing with ours).
#include <gtest/gtest.h>
#include <onnx/checker.h>
#include <onnx/defs/schema.h>
#include <onnx/shape_inference/implementation.h>

#include <cstring>
#include <set>

#include "nnjoule/common/error.hpp"
#include "nnjoule/common/io.hpp"
#include "nnjoule/graph/onnx.hpp"
#include "nnjoule/graph/ops.hpp"
#include "onnx_test_models.hpp"
#include "support/test_support.hpp"

using namespace nnjoule;
using namespace nnjoule::graph;
using nnjoule::testing::attention_graph;
using nnjoule::testing::cnn_graph;
using nnjoule::testing::qdq_graph;

namespace {

const std::vector<int64_t> kOpsets = {11, 13, 14, 17};

std::string attrs_str(const Node& n) {
  std::string s;
  for (const auto& [k, v] : n.attrs) {
    s += k + "=";
    std::visit(
        [&](const auto& x) {
          using T = std::decay_t<decltype(x)>;
          if constexpr (std::is_same_v<T, int64_t> || std::is_same_v<T, float>) {
            s += fmt::format("{}", x);
          } else if constexpr (std::is_same_v<T, std::string>) {
            s += x;
          } else {
            s += fmt::format("[{}]", fmt::join(x, ","));
          }
        },
        v);
    s += ";";
  }
  return s;
}

void expect_same_graph(const Graph& a, const Graph& b) {
  ASSERT_EQ(a.nodes.size(), b.nodes.size());
  for (size_t i = 0; i < a.nodes.size(); ++i) {
    const Node &x = a.nodes[i], &y = b.nodes[i];
    EXPECT_EQ(x.name, y.name);
    EXPECT_EQ(x.op_type, y.op_type) << x.name;
    EXPECT_EQ(x.inputs, y.inputs) << x.name;
    EXPECT_EQ(x.outputs, y.outputs) << x.name;
    EXPECT_EQ(attrs_str(x), attrs_str(y)) << x.name;
  }
  EXPECT_EQ(a.inputs, b.inputs);
  EXPECT_EQ(a.outputs, b.outputs);
  ASSERT_EQ(a.values.size(), b.values.size());
  for (const auto& [name, v] : a.values) {
    ASSERT_TRUE(b.values.count(name)) << name;
    EXPECT_EQ(v.shape, b.values.at(name).shape) << name;
    EXPECT_EQ(v.dtype, b.values.at(name).dtype) << name;
  }
  ASSERT_EQ(a.initializers.size(), b.initializers.size());
  for (const auto& [name, t] : a.initializers) {
    ASSERT_TRUE(b.initializers.count(name)) << name;
    const TensorData& u = *b.initializers.at(name);
    EXPECT_EQ(t->dtype, u.dtype) << name;
    EXPECT_EQ(t->shape, u.shape) << name;
    ASSERT_EQ(t->f32.size(), u.f32.size()) << name;
    ASSERT_EQ(t->i64.size(), u.i64.size()) << name;
    // Bit-identical, not merely equal within a tolerance.
    if (!t->f32.empty()) {
      EXPECT_EQ(0, std::memcmp(t->f32.data(), u.f32.data(), t->f32.size() * sizeof(float))) << name;
    }
    EXPECT_EQ(t->i64, u.i64) << name;
  }
}

}  // namespace

TEST(OnnxExport, TestGraphsCoverEveryOp) {
  std::set<std::string> used;
  for (const Graph& g : {cnn_graph(), attention_graph(), qdq_graph()}) {
    for (const auto& n : g.nodes) used.insert(n.op_type);
  }
  for (const auto& op : supported_ops()) EXPECT_TRUE(used.count(op)) << op << " is not tested";
}

TEST(OnnxExport, RoundTripKeepsNodesShapesAndWeights) {
  for (const Graph& g : {cnn_graph(), attention_graph()}) {
    for (int64_t opset : kOpsets) {
      SCOPED_TRACE(fmt::format("{} at opset {}", g.name, opset));
      const std::string bytes = to_onnx_bytes(g, ExportOptions{.opset = opset});
      const Graph back = load_onnx_bytes(bytes, g.name + ".onnx");
      expect_same_graph(g, back);
      EXPECT_TRUE(back.notes.empty()) << fmt::format("{}", fmt::join(back.notes, "; "));
    }
  }
}

TEST(OnnxExport, QdqRoundTripKeepsQuantizedWeights) {
  for (int64_t opset : kOpsets) {
    SCOPED_TRACE(fmt::format("opset {}", opset));
    const Graph g = qdq_graph(opset >= 13);
    expect_same_graph(g,
                      load_onnx_bytes(to_onnx_bytes(g, ExportOptions{.opset = opset}), "q.onnx"));
  }
  try {
    to_onnx_bytes(qdq_graph(true), ExportOptions{.opset = 11});
    FAIL() << "per-channel quantization exported at opset 11";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("needs opset 13"), std::string::npos) << e.what();
  }
}

TEST(OnnxExport, SaveAndLoadFile) {
  nnjoule::testing::TempDir dir;
  const Graph g = cnn_graph(5);
  save_onnx(g, dir / "cnn.onnx");
  expect_same_graph(g, load_onnx(dir / "cnn.onnx"));
  // The file holds exactly the serialized model (read_file reads binary data whole).
  EXPECT_EQ(read_file(dir / "cnn.onnx"), to_onnx_bytes(g));
}

TEST(OnnxExport, OnnxCheckerAndShapeInferenceAgree) {
  for (const Graph& g : {cnn_graph(), attention_graph()}) {
    for (int64_t opset : kOpsets) {
      SCOPED_TRACE(fmt::format("{} at opset {}", g.name, opset));
      onnx::ModelProto m;
      const std::string bytes = to_onnx_bytes(g, ExportOptions{.opset = opset});
      ASSERT_TRUE(m.ParseFromString(bytes));
      EXPECT_EQ(m.producer_name(), "nnjoule");
      ASSERT_EQ(m.opset_import_size(), 1);
      EXPECT_EQ(m.opset_import(0).version(), opset);
      EXPECT_NO_THROW(onnx::checker::check_model(m));
      // Every intermediate has value_info; drop it so onnx infers each shape on its own,
      // strictly (the full check of onnx.checker.check_model(full_check=True)).
      size_t intermediates = 0;
      for (const auto& n : g.nodes)
        for (const auto& o : n.outputs)
          if (std::find(g.outputs.begin(), g.outputs.end(), o) == g.outputs.end()) ++intermediates;
      EXPECT_GE(static_cast<size_t>(m.graph().value_info_size()), intermediates);
      m.mutable_graph()->clear_value_info();
      for (auto& o : *m.mutable_graph()->mutable_output()) o.clear_type();
      ASSERT_NO_THROW(onnx::shape_inference::InferShapes(
          m, onnx::OpSchemaRegistry::Instance(), onnx::ShapeInferenceOptions(true, 1, true)));
      std::map<std::string, Shape> theirs;
      auto collect = [&](const onnx::ValueInfoProto& vi) {
        Shape s;
        for (const auto& d : vi.type().tensor_type().shape().dim()) {
          s.push_back(d.has_dim_value() ? d.dim_value() : -1);
        }
        theirs[vi.name()] = s;
      };
      for (const auto& vi : m.graph().value_info()) collect(vi);
      for (const auto& vi : m.graph().output()) collect(vi);
      for (const auto& n : g.nodes) {
        for (const auto& o : n.outputs) {
          ASSERT_TRUE(theirs.count(o)) << "onnx inferred nothing for " << o;
          EXPECT_EQ(theirs[o], g.shape(o)) << o;
        }
      }
    }
  }
}

TEST(OnnxExport, HardSwishBelowOpset14IsWrittenAsHardSigmoidTimesX) {
  graph::GraphBuilder b("hs", 3);
  auto x = b.input("x", {1, 4, 5, 5});
  const Graph g = b.finish({b.hswish(x)});
  onnx::ModelProto m;
  ASSERT_TRUE(m.ParseFromString(to_onnx_bytes(g, ExportOptions{.opset = 13})));
  ASSERT_EQ(m.graph().node_size(), 2);
  EXPECT_EQ(m.graph().node(0).op_type(), "HardSigmoid");
  EXPECT_EQ(m.graph().node(1).op_type(), "Mul");
  ASSERT_TRUE(m.ParseFromString(to_onnx_bytes(g, ExportOptions{.opset = 14})));
  ASSERT_EQ(m.graph().node_size(), 1);
  EXPECT_EQ(m.graph().node(0).op_type(), "HardSwish");
}

TEST(OnnxExport, RefusesUnmaterializedWeights) {
  graph::GraphBuilder b("shapes_only", 1, /*materialize_weights=*/false);
  auto x = b.input("x", {1, 3, 8, 8});
  const Graph g = b.finish({b.conv(x, 4, 3)});
  try {
    to_onnx_bytes(g);
    FAIL() << "no error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("not materialized"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("w_0"), std::string::npos) << e.what();
  }
}

TEST(OnnxExport, RefusesUnsupportedOpsetsAndSoftmaxFormsOpset11CannotWrite) {
  EXPECT_THROW(to_onnx_bytes(cnn_graph(), ExportOptions{.opset = 9}), Error);
  EXPECT_THROW(to_onnx_bytes(cnn_graph(), ExportOptions{.opset = 18}), Error);
  graph::GraphBuilder b("sm", 1);
  auto x = b.input("x", {1, 4, 5});
  const Graph g = b.finish({b.softmax(x, 1)});
  try {
    to_onnx_bytes(g, ExportOptions{.opset = 11});
    FAIL() << "no error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("softmax_0"), std::string::npos) << e.what();
  }
  EXPECT_NO_THROW(to_onnx_bytes(g, ExportOptions{.opset = 13}));
}
