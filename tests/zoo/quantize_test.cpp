#include "nnjoule/zoo/quantize.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <map>
#include <nlohmann/json.hpp>
#include <set>

#include "nnjoule/common/error.hpp"
#include "nnjoule/common/io.hpp"
#include "nnjoule/exec/engine.hpp"
#include "nnjoule/exec/reference.hpp"
#include "nnjoule/graph/builder.hpp"
#include "nnjoule/graph/onnx.hpp"
#include "nnjoule/graph/quant.hpp"
#include "nnjoule/zoo/export.hpp"
#include "nnjoule/zoo/zoo.hpp"
#include "support/test_support.hpp"

using namespace nnjoule;
using nnjoule::testing::contains;
using nnjoule::testing::error_of;
using nnjoule::testing::run_cli;
using nnjoule::testing::TempDir;

namespace {

std::vector<zoo::Feed> reference_runner(const graph::Graph& g,
                                        const std::vector<zoo::Feed>& feeds) {
  std::vector<zoo::Feed> out;
  for (const auto& f : feeds) {
    std::vector<exec::Tensor> in;
    for (size_t i = 0; i < f.size(); ++i) in.emplace_back(g.shape(g.inputs[i]), f[i]);
    zoo::Feed o;
    for (auto& t : exec::run_reference(g, in)) o.push_back(std::move(t.data));
    out.push_back(std::move(o));
  }
  return out;
}

// conv-bn-relu, a residual add, a max pool, a concat, global pool, fc: one of each quantized op.
graph::Graph small_model() {
  graph::GraphBuilder b("small", 3);
  const auto x = b.input("input", {1, 3, 12, 12});
  const auto c1 = b.relu(b.bn(b.conv(x, 8, 3, 1)));
  const auto c2 = b.bn(b.conv(c1, 8, 3, 1));
  const auto a = b.relu(b.add(c1, c2));
  const auto p = b.maxpool(a, 2, 2);
  const auto d = b.relu6(b.bn(b.dwconv(p, 3, 1)));
  const auto cat = b.concat({p, d});
  const auto f = b.flatten(b.global_avgpool(cat));
  return b.finish({b.fc(f, 10)});
}

const graph::Node* producer(const graph::Graph& g, const std::string& t) {
  for (const auto& n : g.nodes)
    for (const auto& o : n.outputs)
      if (o == t) return &n;
  return nullptr;
}

// The DequantizeLinear producing `t`, with its (constant) input; fails the test otherwise.
const graph::Node& dq_of(const graph::Graph& g, const std::string& t) {
  const graph::Node* n = producer(g, t);
  EXPECT_TRUE(n && n->op_type == "DequantizeLinear") << t;
  if (!n || n->op_type != "DequantizeLinear") throw Error("no DequantizeLinear for " + t);
  return *n;
}

zoo::QuantizeOptions options(int64_t eval = 0) {
  return {.runner = exec::run_feeds, .calibration_inputs = 4, .eval_inputs = eval, .seed = 5};
}

}  // namespace

TEST(Quantize, FoldsBatchNormIntoTheConvBeforeIt) {
  const graph::Graph g = small_model();
  int64_t folded = 0;
  const graph::Graph f = zoo::fold_conv_batchnorm(g, &folded);
  EXPECT_EQ(folded, 3);
  for (const auto& n : f.nodes) EXPECT_NE(n.op_type, "BatchNormalization");
  f.validate();
  // No BN parameter or unfolded weight is left behind.
  EXPECT_EQ(f.initializers.size(), g.initializers.size() - 3 * 4 + 3);  // + the new biases
  const auto in = zoo::calibration_feeds(g, 1, 9);
  const auto a = reference_runner(g, in), b = reference_runner(f, in);
  const auto& x = a[0][0];
  const auto& y = b[0][0];
  float scale = 0, diff = 0;
  for (size_t i = 0; i < x.size(); ++i) {
    scale = std::max(scale, std::fabs(x[i]));
    diff = std::max(diff, std::fabs(x[i] - y[i]));
  }
  EXPECT_LT(diff, 1e-5f * scale);
}

TEST(Quantize, WeightsArePerChannelSymmetricInt8AndBiasesInt32) {
  const graph::Graph g = small_model();
  zoo::QuantizeReport r;
  const graph::Graph q = zoo::quantize_qdq(g, options(), &r);
  q.validate();
  EXPECT_EQ(q.name, "small-int8");
  EXPECT_EQ(q.inputs, g.inputs);
  EXPECT_EQ(q.outputs, g.outputs);
  EXPECT_EQ(q.value(q.outputs.at(0)).dtype, graph::DType::kFloat32);
  EXPECT_EQ(r.folded_batchnorms, 3);
  EXPECT_EQ(r.quantized_weights, 4);  // 3 convs and the fc
  EXPECT_EQ(r.quantized_biases, 4);   // the folded BNs' and the fc's
  // conv x3, add, maxpool, concat, global pool, fc
  EXPECT_EQ(r.quantized_ops, 8);
  EXPECT_TRUE(std::isnan(r.top1_agreement));
  int64_t weights = 0;
  for (const auto& n : q.nodes) {
    if (n.op_type != "Conv" && n.op_type != "Gemm") continue;
    SCOPED_TRACE(n.name);
    ++weights;
    const auto& wdq = dq_of(q, n.inputs[1]);
    const auto wp = graph::quant_params(q, wdq);
    const auto& w = q.constant(wdq.inputs[0]);
    ASSERT_EQ(w.dtype, graph::DType::kInt8);
    const int64_t cout = w.shape[0];  // Conv [Cout, ...]; the zoo's Gemm is transB=1 [N, K]
    EXPECT_EQ(wp.axis, 0);
    ASSERT_EQ(static_cast<int64_t>(wp.scale.size()), cout);
    EXPECT_TRUE(std::all_of(wp.zero.begin(), wp.zero.end(), [](int32_t z) { return z == 0; }));
    // Symmetric: each channel's largest magnitude maps to 127.
    const int64_t per = w.size() / cout;
    for (int64_t c = 0; c < cout; ++c) {
      int64_t m = 0;
      for (int64_t j = 0; j < per; ++j) m = std::max<int64_t>(m, std::abs(w.i64[c * per + j]));
      EXPECT_EQ(m, 127) << "channel " << c;
    }
    // The activation the op reads comes through a per-tensor int8 DQ.
    const auto xp = graph::quant_params(q, dq_of(q, n.inputs[0]));
    EXPECT_EQ(xp.dtype, graph::DType::kInt8);
    EXPECT_FALSE(xp.per_channel());
    // Bias: int32, scale x_scale * w_scale[c], zero 0.
    ASSERT_EQ(n.inputs.size(), 3u);
    const auto bp = graph::quant_params(q, dq_of(q, n.inputs[2]));
    EXPECT_EQ(bp.dtype, graph::DType::kInt32);
    ASSERT_EQ(bp.scale.size(), wp.scale.size());
    for (size_t c = 0; c < bp.scale.size(); ++c) {
      EXPECT_FLOAT_EQ(bp.scale[c], xp.scale[0] * wp.scale[c]);
      EXPECT_EQ(bp.zero[c], 0);
    }
  }
  EXPECT_EQ(weights, 4);
  // No float weight is left for Conv or Gemm, and no BN at all.
  for (const auto& [name, t] : q.initializers) {
    if (t->dtype == graph::DType::kFloat32) {
      EXPECT_LE(t->size(), 16) << name;  // scales only
    }
  }
}

TEST(Quantize, ActivationsGetOnePairAfterTheReluChain) {
  const graph::Graph g = small_model();
  zoo::QuantizeReport r;
  const graph::Graph q = zoo::quantize_qdq(g, options(), &r);
  std::map<std::string, int> q_of;  // float tensor -> QuantizeLinear nodes reading it
  for (const auto& n : q.nodes) {
    if (n.op_type == "QuantizeLinear") ++q_of[n.inputs[0]];
    // Every Relu/Clip reads float computed by its op, never a dequantized tensor: the pair
    // sits after the chain.
    if (n.op_type == "Relu" || n.op_type == "Clip") {
      const graph::Node* p = producer(q, n.inputs[0]);
      ASSERT_TRUE(p);
      EXPECT_TRUE(p->op_type == "Conv" || p->op_type == "Add") << n.name << " after " << p->op_type;
    }
  }
  EXPECT_EQ(static_cast<int64_t>(q_of.size()), r.quantized_tensors);
  for (const auto& [t, count] : q_of) EXPECT_EQ(count, 1) << t;
  // input, conv1-relu, conv2, add-relu, maxpool, dw-relu6, concat, gap, flatten, fc output
  EXPECT_EQ(r.quantized_tensors, 10);
  // Activation zero points are int8 and real 0 is exact (min <= 0 <= max).
  for (const auto& n : q.nodes) {
    if (n.op_type != "QuantizeLinear") continue;
    const auto p = graph::quant_params(q, n);
    EXPECT_EQ(p.dtype, graph::DType::kInt8);
    EXPECT_GE(p.zero[0], -128);
    EXPECT_LE(p.zero[0], 127);
  }
}

TEST(Quantize, CalibratedRangesCoverTheCalibrationInputs) {
  // input -> Relu-free conv: the input's range is [-1, 1) (the synthetic inputs), so its scale
  // is about 2/255 and its zero point about 0.
  const graph::Graph q = zoo::quantize_qdq(small_model(), options(), nullptr);
  for (const auto& n : q.nodes) {
    if (n.op_type != "QuantizeLinear" || n.inputs[0] != "input") continue;
    const auto p = graph::quant_params(q, n);
    EXPECT_NEAR(p.scale[0], 2.0 / 255, 0.01 / 255);
    EXPECT_NEAR(p.zero[0], 0, 1);
    return;
  }
  FAIL() << "no QuantizeLinear reads the graph input";
}

TEST(Quantize, ExportedOnnxReloadsWithTheSameNodes) {
  const graph::Graph q = zoo::quantize_qdq(small_model(), options(), nullptr);
  graph::Graph back = graph::load_onnx_bytes(graph::to_onnx_bytes(q), "small-int8.onnx");
  auto ops = [](const graph::Graph& g) {
    std::multiset<std::string> s;
    for (const auto& n : g.nodes) s.insert(n.op_type);
    return s;
  };
  EXPECT_EQ(ops(back), ops(q));
  EXPECT_EQ(back.nodes.size(), q.nodes.size());
  int64_t int8 = 0, int32 = 0;
  for (const auto& [name, t] : back.initializers) {
    int8 += t->dtype == graph::DType::kInt8 ? 1 : 0;
    int32 += t->dtype == graph::DType::kInt32 ? 1 : 0;
    ASSERT_TRUE(q.initializers.count(name)) << name;
    EXPECT_EQ(t->i64, q.initializers.at(name)->i64) << name;
  }
  EXPECT_EQ(int8, 4 * 2 + 10);  // weights and their zero points, activation zero points
  EXPECT_EQ(int32, 4 * 2);      // biases and their zero points
}

TEST(Quantize, BadInputsAreNamed) {
  const graph::Graph g = small_model();
  EXPECT_TRUE(contains(error_of([&] { zoo::quantize_qdq(g, {.runner = {}}, nullptr); }),
                       "no model runner"));
  auto o = options();
  o.calibration_inputs = 0;
  EXPECT_TRUE(contains(error_of([&] { zoo::quantize_qdq(g, o, nullptr); }), "0 calibration"));
  const graph::Graph q = zoo::quantize_qdq(g, options(), nullptr);
  EXPECT_TRUE(
      contains(error_of([&] { zoo::quantize_qdq(q, options(), nullptr); }), "already quantized"));
  const graph::Graph shapes =
      zoo::build_model({.family = "mobilenetv2", .resolution = 32, .materialize_weights = false});
  EXPECT_TRUE(contains(error_of([&] { zoo::quantize_qdq(shapes, options(), nullptr); }),
                       "cannot be quantized"));
  // A runner that drops an output is caught, not read out of bounds.
  auto broken = options();
  broken.runner = [](const graph::Graph& m, const std::vector<zoo::Feed>& f) {
    auto out = exec::run_feeds(m, f);
    out.back().pop_back();
    return out;
  };
  EXPECT_TRUE(contains(error_of([&] { zoo::quantize_qdq(g, broken, nullptr); }),
                       "output(s); the graph has"));
}

TEST(Quantize, AgreementIsArgmaxPerRowAndSnr) {
  const std::vector<zoo::Feed> f = {{{1, 3, 2, 0, 0, 5}}};
  const std::vector<zoo::Feed> q = {{{1, 2, 3, 0, 0, 5}}};
  const auto a = zoo::output_agreement(f, q, 3);
  EXPECT_DOUBLE_EQ(a.top1, 0.5);  // row 1 moved its argmax, row 2 did not
  EXPECT_NEAR(a.snr_db, 10 * std::log10(39.0 / 2.0), 1e-12);
  EXPECT_TRUE(std::isinf(zoo::output_agreement(f, f, 3).snr_db));
  EXPECT_TRUE(contains(error_of([&] { zoo::output_agreement(f, {}, 3); }), "output agreement"));
}

TEST(Quantize, FeedsAreDeterministicAndCalibrationAndEvalDiffer) {
  const graph::Graph g = small_model();
  EXPECT_EQ(zoo::calibration_feeds(g, 2, 1), zoo::calibration_feeds(g, 2, 1));
  const auto c = zoo::calibration_feeds(g, 4, 1), e = zoo::eval_feeds(g, 4, 1);
  for (const auto& x : c)
    for (const auto& y : e) EXPECT_NE(x, y);
}

TEST(Quantize, Int8MobileNetV2AgreesWithFloat) {
  const graph::Graph g = zoo::build_model({.family = "mobilenetv2", .resolution = 64, .seed = 1});
  zoo::QuantizeReport r;
  const graph::Graph q = zoo::quantize_qdq(g, options(8), &r);
  std::cerr << "mobilenetv2 64: top1 " << r.top1_agreement << " snr " << r.snr_db << " dB\n";
  EXPECT_EQ(r.eval_inputs, 8);
  EXPECT_GT(r.snr_db, 10);
  EXPECT_GE(r.top1_agreement, 0.5);
  // The engine's int8 model and the reference executor's agree on the same QDQ graph.
  const auto in = zoo::eval_feeds(g, 1, 3);
  const auto e = exec::run_feeds(q, in), ref = reference_runner(q, in), f = reference_runner(g, in);
  const auto a = zoo::output_agreement(ref, e, 1000);
  const auto b = zoo::output_agreement(f, ref, 1000);
  std::cerr << "engine vs reference int8: snr " << a.snr_db << " dB; reference int8 vs float "
            << b.snr_db << " dB\n";
  EXPECT_GT(a.snr_db, 30);
  EXPECT_GT(b.snr_db, 10);
}

TEST(Quantize, CliExportsInt8ZooModelsAndQuantizesFiles) {
  TempDir dir;
  const auto out = (dir / "zoo").string();
  auto r = run_cli({"zoo", "export", "mobilenetv2", "--resolution", "32", "--dtype", "int8",
                    "--calibration", "2", "-o", out});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_TRUE(contains(r.out, "top-1 agreement")) << r.out;
  EXPECT_TRUE(contains(r.out, "synthetic inputs")) << r.out;
  r = run_cli({"zoo", "export", "mobilenetv2", "--resolution", "32", "-o", out});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const auto j = nlohmann::json::parse(read_file(dir / "zoo" / "manifest.json"));
  ASSERT_EQ(j["models"].size(), 2u);  // the fp32 and the int8 model side by side
  std::map<std::string, nlohmann::json> by_name;
  for (const auto& m : j["models"]) by_name[m["name"].get<std::string>()] = m;
  const auto& q = by_name.at("mobilenetv2-int8");
  EXPECT_EQ(q["dtype"], "int8");
  EXPECT_EQ(q["file"], "mobilenetv2-int8.onnx");
  EXPECT_EQ(q["calibration_inputs"], 2);
  EXPECT_GT(q["snr_db"].get<double>(), 5);
  EXPECT_GE(q["top1_agreement"].get<double>(), 0);
  EXPECT_EQ(q["parameters"], by_name.at("mobilenetv2")["parameters"]);
  EXPECT_EQ(by_name.at("mobilenetv2")["dtype"], "fp32");
  EXPECT_FALSE(by_name.at("mobilenetv2").contains("snr_db"));
  // The fp32 file is the model as built, byte for byte.
  const auto fp32 =
      graph::to_onnx_bytes(zoo::build_model({.family = "mobilenetv2", .resolution = 32}));
  EXPECT_EQ(read_file(dir / "zoo" / "mobilenetv2.onnx"), fp32);

  const auto qfile = (dir / "q.onnx").string();
  r = run_cli({"quantize", (dir / "zoo" / "mobilenetv2.onnx").string(), "-o", qfile,
               "--calibration", "2", "--eval", "2"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_TRUE(contains(r.out, "top-1 agreement")) << r.out;
  EXPECT_TRUE(contains(r.out, "2 synthetic inputs")) << r.out;
  EXPECT_EQ(graph::load_onnx(qfile).name, "mobilenetv2-int8");
  // Quantizing a quantized file, an unknown dtype: one error line each.
  EXPECT_TRUE(nnjoule::testing::one_error_line(
      run_cli({"quantize", qfile, "-o", (dir / "qq.onnx").string()}), "already quantized"));
  EXPECT_TRUE(nnjoule::testing::one_error_line(
      run_cli({"zoo", "export", "mobilenetv2", "--dtype", "int4", "-o", out}), "int4"));
}

TEST(Quantize, MatMulWeightsArePerOutputColumn) {
  graph::GraphBuilder b("mm", 4);
  const auto x = b.input("input", {1, 64});
  const auto h = b.relu(b.matmul_weight(x, 32));  // B is [K, N] = [64, 32]
  const graph::Graph g = b.finish({b.fc(h, 16)});
  zoo::QuantizeReport r;
  auto o = options(8);
  // Few values per input: the ranges need more inputs to cover what the eval inputs reach.
  o.calibration_inputs = 32;
  const graph::Graph q = zoo::quantize_qdq(g, o, &r);
  EXPECT_EQ(r.quantized_ops, 2);
  EXPECT_EQ(r.quantized_weights, 2);
  EXPECT_EQ(r.quantized_biases, 1);  // MatMul has none
  EXPECT_EQ(r.eval_inputs, 8);
  std::cerr << "matmul-fc: snr " << r.snr_db << " dB, top1 " << r.top1_agreement << "\n";
  EXPECT_GT(r.snr_db, 25);  // two small layers: a few steps of noise
  for (const auto& n : q.nodes) {
    if (n.op_type != "MatMul") continue;
    const auto p = graph::quant_params(q, dq_of(q, n.inputs[1]));
    EXPECT_EQ(p.axis, 1);
    EXPECT_EQ(p.scale.size(), 32u);
    EXPECT_EQ(graph::quant_params(q, dq_of(q, n.inputs[0])).dtype, graph::DType::kInt8);
    return;
  }
  FAIL() << "no MatMul in the quantized graph";
}
