// Quantized models: QuantizeLinear/DequantizeLinear in the reference executor, and the int8
// operators the engine makes of DQ -> op -> Q, checked against the reference to within one
// unit of the output's quantization (docs/quantization.md).
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>

#include "graph/onnx_test_models.hpp"
#include "nnjoule/common/error.hpp"
#include "nnjoule/exec/engine.hpp"
#include "nnjoule/exec/reference.hpp"
#include "nnjoule/graph/onnx.hpp"
#include "support.hpp"
#include "support/qdq_graphs.hpp"

using namespace nnjoule;
using graph::DType;
using nnjoule::testing::QdqMaker;

namespace {

struct Compared {
  double max_units = 0;   // largest |engine - reference| in units of the output scale
  double off_by_one = 0;  // fraction of elements that differ by one unit
  std::vector<std::string> impls;
};

Compared compare(const graph::Graph& g, float out_scale, int threads = 1) {
  exec::CompileOptions o;
  o.threads = threads;
  auto m = exec::compile(g, o);
  const auto in = exec::testing::random_inputs(g, 11);
  const auto ref = exec::run_reference(g, in);
  Compared c;
  for (int run = 0; run < 3; ++run) {  // repeated runs give the same answer
    const auto got = exec::run_model(m, in);
    int64_t off = 0;
    for (size_t k = 0; k < got.size(); ++k) {
      EXPECT_EQ(got[k].shape, ref[k].shape);
      for (int64_t i = 0; i < got[k].size(); ++i) {
        const double units = std::fabs(got[k].data[i] - ref[k].data[i]) / out_scale;
        c.max_units = std::max(c.max_units, units);
        off += units > 0.5;
      }
    }
    c.off_by_one = static_cast<double>(off) / static_cast<double>(got[0].size());
  }
  for (const auto& s : m.steps()) c.impls.push_back(s.op + " " + s.impl);
  return c;
}

bool has_impl(const Compared& c, const std::string& what) {
  for (const auto& s : c.impls)
    if (s.find(what) != std::string::npos) return true;
  return false;
}

std::string impls(const Compared& c) {
  std::string s;
  for (const auto& i : c.impls) s += i + "; ";
  return s;
}

}  // namespace

TEST(Quant, ReferenceRoundsHalfToEvenAndSaturates) {
  QdqMaker q("q");
  auto x = q.input({1, 6});
  auto s = q.floats({}, {0.5f});
  auto z = q.ints({}, {-126}, DType::kInt8);
  auto y = q.node("QuantizeLinear", {x, s, z});
  auto d = q.node("DequantizeLinear", {y, s, z});
  auto g = q.finish({d});
  const exec::Tensor in({1, 6}, {0.25f, 0.75f, -0.25f, 1000.f, -100.f, 1.0f});
  const auto out = exec::run_reference(g, {in});
  // 0.25/0.5 = 0.5 -> 0 (even), 0.75/0.5 = 1.5 -> 2, -0.5 -> -0 (even); 2000, -200 saturate.
  EXPECT_EQ(out[0].data, (std::vector<float>{0.f, 1.f, 0.f, 126.5f, -1.f, 1.f}));
}

TEST(Quant, ConvPerChannelRunsAsOneInt8Operator) {
  for (bool depthwise : {false, true}) {
    QdqMaker q("conv");
    auto x = q.qdq(q.input({1, 8, 12, 12}), 0.01f, 3);
    const int64_t group = depthwise ? 8 : 1, cout = depthwise ? 8 : 16;
    auto w = q.weights({cout, 8 / group, 3, 3}, 0);
    auto b = q.bias(cout, 0.01f);
    auto c = q.node("Conv", {x, w, b},
                    {{"pads", std::vector<int64_t>{1, 1, 1, 1}},
                     {"strides", std::vector<int64_t>{1, 1}},
                     {"group", group}});
    auto r = q.node("Relu", {c});
    auto y = q.qdq(r, 0.004f, -128);
    const auto res = compare(q.finish({y}), 0.004f);
    EXPECT_TRUE(has_impl(res, "convolution2d_nhwc_qc8 +relu") ||
                (!depthwise && has_impl(res, "nnjoule:int8-gemm (avx512-vnni) +relu")))
        << impls(res);
    EXPECT_TRUE(has_impl(res, depthwise ? "dwconv" : "conv")) << impls(res);
    EXPECT_LE(res.max_units, 1.001) << "depthwise " << depthwise;
  }
}

TEST(Quant, Uint8ActivationsAndPerTensorWeights) {
  QdqMaker q("u8");
  auto x = q.qdq(q.input({1, 4, 9, 9}), 0.01f, 128, DType::kUInt8);
  auto w = q.weights({6, 4, 3, 3}, 0, false);
  auto c =
      q.node("Conv", {x, w},
             {{"pads", std::vector<int64_t>{0, 0, 0, 0}}, {"strides", std::vector<int64_t>{2, 2}}});
  auto y = q.qdq(c, 0.002f, 120, DType::kUInt8);
  const auto res = compare(q.finish({y}), 0.002f);
  EXPECT_TRUE(has_impl(res, "qc8") || has_impl(res, "int8-gemm")) << impls(res);
  EXPECT_LE(res.max_units, 1.001);
}

TEST(Quant, FullyConnectedAddMulPoolsAndReshapes) {
  QdqMaker q("chain");
  auto x = q.qdq(q.input({1, 8, 8, 8}), 0.01f, 0);
  auto a = q.qdq(q.node("Conv", {x, q.weights({8, 8, 1, 1}, 0), q.bias(8, 0.01f)}), 0.01f, -5);
  auto mp = q.qdq(q.node("MaxPool", {a},
                         {{"kernel_shape", std::vector<int64_t>{2, 2}},
                          {"strides", std::vector<int64_t>{2, 2}},
                          {"pads", std::vector<int64_t>{0, 0, 0, 0}}}),
                  0.01f, -5);
  auto b = q.qdq(q.node("Conv", {mp, q.weights({8, 8, 3, 3}, 0), q.bias(8, 0.01f)},
                        {{"pads", std::vector<int64_t>{1, 1, 1, 1}}}),
                 0.02f, 10);
  auto sum = q.qdq(q.node("Add", {mp, b}), 0.02f, 0);
  auto prod = q.qdq(q.node("Mul", {sum, b}), 0.001f, 0);
  auto gap = q.qdq(q.node("GlobalAveragePool", {prod}), 0.0005f, 0);
  auto flat = q.qdq(q.node("Flatten", {gap}, {{"axis", int64_t{1}}}), 0.0005f, 0);
  auto fc =
      q.node("Gemm", {flat, q.weights({10, 8}, 0), q.bias(10, 0.0005f)}, {{"transB", int64_t{1}}});
  auto y = q.qdq(fc, 0.0001f, 0);
  const auto g = q.finish({y});
  const auto res = compare(g, 0.0001f);
  for (const char* impl : {"maxpool xnnpack:max_pooling2d_nhwc_s8", "add xnnpack:add_nd_qs8",
                           "mul xnnpack:multiply_nd_qs8", "global_average_pooling_nwc_qs8"}) {
    EXPECT_TRUE(has_impl(res, impl)) << impl << " not in " << impls(res);
  }
  // The fc: nnjoule's VNNI GEMM where the CPU has AVX512-VNNI, XNNPACK's otherwise.
  EXPECT_TRUE(has_impl(res, "fc xnnpack:convolution2d_nhwc_qc8 (1x1)") ||
              has_impl(res, "fc nnjoule:int8-gemm"))
      << impls(res);
  // One-unit differences upstream can move a later result by a unit more.
  EXPECT_LE(res.max_units, 3.001);
  // Two threads give the same bits as one.
  exec::CompileOptions two;
  two.threads = 2;
  auto m1 = exec::compile(g);
  auto m2 = exec::compile(g, two);
  const auto in = exec::testing::random_inputs(g, 5);
  EXPECT_TRUE(exec::testing::bit_identical(exec::run_model(m1, in), exec::run_model(m2, in)));
}

// 1x1 convolutions and fully connected layers of awkward sizes: K not a multiple of 4, N not of
// 16, rows not of 8 (the tails of the VNNI GEMM's packing and tiles), several threads.
TEST(Quant, PointwiseAndFullyConnectedShapes) {
  struct Case {
    int64_t k, n, hw;
  };
  for (const Case c :
       {Case{3, 10, 5}, Case{17, 33, 7}, Case{64, 64, 9}, Case{5, 16, 1}, Case{130, 7, 3}}) {
    SCOPED_TRACE(::testing::Message() << "K " << c.k << " N " << c.n << " HW " << c.hw);
    QdqMaker q("pw");
    auto x = q.qdq(q.input({1, c.k, c.hw, c.hw}), 0.01f, -7);
    auto conv = q.node("Conv", {x, q.weights({c.n, c.k, 1, 1}, 0), q.bias(c.n, 0.01f)});
    auto y = q.qdq(q.node("Relu", {conv}), 0.003f, -128);
    const auto g = q.finish({y});
    for (int threads : {1, 2}) {
      const auto res = compare(g, 0.003f, threads);
      EXPECT_LE(res.max_units, 1.001) << impls(res);
    }
  }
  // KxK convolutions: patches gathered with the zero point as padding, strides, dilation;
  // window rows of 3, 6, 9 and 48 bytes (each copy path), several images in a batch.
  struct Window {
    int64_t c, k, s, p, d, hw, n = 1;
  };
  for (const Window w :
       {Window{3, 3, 2, 1, 1, 15}, Window{16, 3, 1, 1, 1, 8}, Window{5, 5, 1, 2, 2, 9},
        Window{8, 7, 2, 3, 1, 12}, Window{1, 3, 1, 0, 1, 7, 2}, Window{2, 3, 1, 1, 1, 10, 3},
        Window{3, 3, 2, 1, 1, 9, 2}}) {
    SCOPED_TRACE(::testing::Message()
                 << "C " << w.c << " K " << w.k << " S " << w.s << " N " << w.n);
    QdqMaker q("window");
    auto x = q.qdq(q.input({w.n, w.c, w.hw, w.hw}), 0.01f, 9);
    auto conv = q.node("Conv", {x, q.weights({24, w.c, w.k, w.k}, 0), q.bias(24, 0.01f)},
                       {{"pads", std::vector<int64_t>{w.p, w.p, w.p, w.p}},
                        {"strides", std::vector<int64_t>{w.s, w.s}},
                        {"dilations", std::vector<int64_t>{w.d, w.d}}});
    const auto g = q.finish({q.qdq(conv, 0.004f, 3)});
    for (int threads : {1, 2}) EXPECT_LE(compare(g, 0.004f, threads).max_units, 1.001);
  }
  for (int64_t rows : {1, 3, 11}) {
    QdqMaker q("fc");
    auto x = q.qdq(q.input({rows, 37}), 0.02f, 4);
    auto mm = q.node("MatMul", {x, q.weights({37, 21}, 1)});
    const auto res = compare(q.finish({q.qdq(mm, 0.01f, 0)}), 0.01f);
    EXPECT_LE(res.max_units, 1.001) << impls(res);
    EXPECT_TRUE(has_impl(res, "fc ")) << impls(res);
  }
}

TEST(Quant, PatternsWithoutAnInt8OperatorRunInFloat) {
  // HardSwish has no int8 operator; DQ -> HardSwish -> Q runs in float between conversions.
  QdqMaker q("float-path");
  auto x = q.qdq(q.input({1, 4, 6, 6}), 0.02f, 0);
  auto h = q.qdq(q.node("HardSwish", {x}), 0.01f, -20);
  const auto res = compare(q.finish({h}), 0.01f);
  EXPECT_TRUE(has_impl(res, "convert_nc_qs8_f32")) << impls(res);
  EXPECT_LE(res.max_units, 1.001);
}

TEST(Quant, QdqModelsSurviveOnnxExportAndImport) {
  QdqMaker q("roundtrip");
  auto x = q.qdq(q.input({1, 3, 8, 8}), 0.01f, 0);
  auto c = q.node("Conv", {x, q.weights({4, 3, 3, 3}, 0), q.bias(4, 0.01f)});
  auto y = q.qdq(c, 0.003f, 7, DType::kUInt8);
  const auto g = q.finish({y});
  const auto bytes = graph::to_onnx_bytes(g);
  const auto back = graph::load_onnx_bytes(bytes, "roundtrip.onnx");
  ASSERT_EQ(back.nodes.size(), g.nodes.size());
  const auto in = exec::testing::random_inputs(g, 3);
  EXPECT_EQ(exec::run_reference(g, in)[0].data, exec::run_reference(back, in)[0].data);
}

TEST(Quant, ErrorsNameTheNode) {
  QdqMaker q("bad");
  auto x = q.input({1, 4});
  auto s = q.floats({}, {0.1f});
  auto z = q.ints({}, {0}, DType::kInt8);
  auto y = q.node("QuantizeLinear", {x, s, z});
  // An int8 tensor read by anything but DequantizeLinear.
  graph::Node relu{"r", "Relu", {y}, {"o"}, {}};
  try {
    graph::infer_node(q.graph(), relu);
    FAIL() << "no error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("only DequantizeLinear may read"), std::string::npos)
        << e.what();
  }
  // A zero scale.
  auto s0 = q.floats({}, {0.f});
  graph::Node bad{"q0", "QuantizeLinear", {x, s0, z}, {"o2"}, {}};
  try {
    graph::infer_node(q.graph(), bad);
    FAIL() << "no error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("scales must be positive"), std::string::npos) << e.what();
  }
}

namespace {

// The same small network in operator form (QLinearConv, com.microsoft QLinearAdd, ...) and in
// QDQ form, as ONNX Runtime's quantizer writes either.
std::string operator_form(bool qdq) {
  using onnx::TensorProto;
  nnjoule::testing::ModelMaker m(13);
  m.import_domain("com.microsoft", 1);
  m.input("x", {1, 4, 6, 6}).output("y");
  m.floats("xs", {}, {0.02f}).typed("xz", {}, TensorProto::INT8, {2});
  m.floats("ys", {}, {0.05f}).typed("yz", {}, TensorProto::INT8, {-3});
  m.floats("as", {}, {0.07f}).typed("az", {}, TensorProto::INT8, {1});
  m.floats("gs", {}, {0.03f}).typed("gz", {}, TensorProto::INT8, {0});
  std::vector<int64_t> w(4 * 4 * 9);
  for (size_t i = 0; i < w.size(); ++i) w[i] = static_cast<int64_t>((i * 37) % 255) - 127;
  m.typed("w", {4, 4, 3, 3}, TensorProto::INT8, w);
  m.floats("ws", {4}, {0.01f, 0.02f, 0.015f, 0.03f})
      .typed("wz", {4}, TensorProto::INT8, {0, 0, 0, 0});
  m.typed("b", {4}, TensorProto::INT32, {100, -200, 50, 0});
  m.node("QuantizeLinear", {"x", "xs", "xz"}, {"xq"});
  if (!qdq) {
    auto& c = m.node("QLinearConv", {"xq", "xs", "xz", "w", "ws", "wz", "ys", "yz", "b"}, {"cq"});
    nnjoule::testing::ModelMaker::attr(c, "pads", std::vector<int64_t>{1, 1, 1, 1});
    m.node("QLinearAdd", {"cq", "ys", "yz", "xq", "xs", "xz", "as", "az"}, {"aq"})
        .set_domain("com.microsoft");
    m.node("QLinearGlobalAveragePool", {"aq", "as", "az", "gs", "gz"}, {"gq"})
        .set_domain("com.microsoft");
  } else {
    m.floats("bs", {4}, {0.02f * 0.01f, 0.02f * 0.02f, 0.02f * 0.015f, 0.02f * 0.03f});
    m.typed("bz", {4}, TensorProto::INT32, {0, 0, 0, 0});
    m.node("DequantizeLinear", {"xq", "xs", "xz"}, {"xf"});
    auto& dw = m.node("DequantizeLinear", {"w", "ws", "wz"}, {"wf"});
    nnjoule::testing::ModelMaker::attr(dw, "axis", int64_t{0});
    auto& db = m.node("DequantizeLinear", {"b", "bs", "bz"}, {"bf"});
    nnjoule::testing::ModelMaker::attr(db, "axis", int64_t{0});
    auto& c = m.node("Conv", {"xf", "wf", "bf"}, {"cf"});
    nnjoule::testing::ModelMaker::attr(c, "pads", std::vector<int64_t>{1, 1, 1, 1});
    m.node("QuantizeLinear", {"cf", "ys", "yz"}, {"cq"});
    m.node("DequantizeLinear", {"cq", "ys", "yz"}, {"cd"});
    m.node("Add", {"cd", "xf"}, {"af"});
    m.node("QuantizeLinear", {"af", "as", "az"}, {"aq"});
    m.node("DequantizeLinear", {"aq", "as", "az"}, {"ad"});
    m.node("GlobalAveragePool", {"ad"}, {"gf"});
    m.node("QuantizeLinear", {"gf", "gs", "gz"}, {"gq"});
  }
  m.node("DequantizeLinear", {"gq", "gs", "gz"}, {"y"});
  return m.bytes();
}

}  // namespace

TEST(Quant, OperatorFormImportsAsQdqAndRunsTheSame) {
  const auto op_form = graph::load_onnx_bytes(operator_form(false), "qlinear.onnx");
  const auto qdq = graph::load_onnx_bytes(operator_form(true), "qdq.onnx");
  std::vector<std::string> ops;
  for (const auto& n : op_form.nodes) ops.push_back(n.op_type);
  EXPECT_EQ(std::count(ops.begin(), ops.end(), "Conv"), 1);
  EXPECT_EQ(std::count(ops.begin(), ops.end(), "Add"), 1);
  EXPECT_EQ(std::count(ops.begin(), ops.end(), "QuantizeLinear"), 4);
  const auto in = exec::testing::random_inputs(qdq, 9);
  const auto a = exec::run_reference(op_form, in);
  const auto b = exec::run_reference(qdq, in);
  EXPECT_EQ(a[0].data, b[0].data);
  auto m = exec::compile(op_form);
  const auto got = exec::run_model(m, in);
  for (int64_t i = 0; i < got[0].size(); ++i)
    EXPECT_NEAR(got[0].data[i], a[0].data[i], 0.03f * 1.01f);
  int int8_steps = 0;
  for (const auto& s : m.steps())
    int8_steps +=
        s.impl.find("qs8") != std::string::npos || s.impl.find("qc8") != std::string::npos;
  EXPECT_GE(int8_steps, 3);
}
