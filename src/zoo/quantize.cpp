// Post-training QDQ quantization (quantize.hpp, docs/quantization.md).
#include "nnjoule/zoo/quantize.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <map>
#include <memory>
#include <optional>
#include <set>

#include "nnjoule/common/error.hpp"
#include "nnjoule/common/rng.hpp"
#include "nnjoule/graph/quant.hpp"
#include "nnjoule/graph/shape_inference.hpp"

namespace nnjoule::zoo {
namespace {

using graph::DType;
using graph::Graph;
using graph::Node;
using graph::Shape;
using graph::TensorData;
using graph::ValueInfo;

// Fresh tensor and node names; one set instead of graph::unique_name's scan over every node
// per name (a DenseNet gets about a thousand new names).
class Names {
 public:
  explicit Names(const Graph& g) {
    for (const auto& [k, v] : g.values) used_.insert(k);
    for (const auto& [k, v] : g.initializers) used_.insert(k);
    for (const auto& n : g.nodes) used_.insert(n.name);
  }
  std::string operator()(const std::string& stem) {
    std::string n = stem;
    for (int i = 1; used_.count(n); ++i) n = fmt::format("{}_{}", stem, i);
    used_.insert(n);
    return n;
  }

 private:
  std::set<std::string> used_;
};

std::string add_constant(Graph& g, Names& names, const std::string& stem, TensorData t) {
  const std::string name = names(stem);
  g.values[name] = ValueInfo{t.dtype, t.shape};
  g.initializers[name] = std::make_shared<const TensorData>(std::move(t));
  return name;
}

TensorData int_tensor(DType dtype, Shape shape, std::vector<int64_t> values) {
  TensorData t = TensorData::ints(std::move(shape), std::move(values));
  t.dtype = dtype;
  return t;
}

const TensorData& float_constant(const Graph& g, const Node& n, const std::string& name) {
  const TensorData& t = g.constant(name);
  if (t.dtype != DType::kFloat32 || !t.materialized()) {
    fail(
        "{}: node '{}' ({}): constant '{}' holds no float values (a model built without "
        "weights cannot be quantized)",
        g.name, n.name, n.op_type, name);
  }
  return t;
}

bool is_const(const Graph& g, const Node& n, size_t i) {
  return i < n.inputs.size() && !n.inputs[i].empty() && g.is_constant(n.inputs[i]);
}
bool absent(const Node& n, size_t i) {
  return i >= n.inputs.size() || n.inputs[i].empty();
}

// Drops constants no node reads any more (the float weights a folding or quantization replaced).
void prune_constants(Graph& g) {
  std::set<std::string> read;
  for (const auto& n : g.nodes)
    for (const auto& in : n.inputs) read.insert(in);
  for (auto it = g.initializers.begin(); it != g.initializers.end();) {
    if (read.count(it->first)) {
      ++it;
      continue;
    }
    g.values.erase(it->first);
    it = g.initializers.erase(it);
  }
}

// The inputs of `n` quantized as activations; empty when `n` is not an op this quantizer
// turns into DQ -> op -> Q (its weights and bias must be constants).
std::vector<size_t> activation_inputs(const Graph& g, const Node& n) {
  const std::string& op = n.op_type;
  const bool x_runtime = !n.inputs.empty() && !n.inputs[0].empty() && !g.is_constant(n.inputs[0]);
  if (op == "Conv") {
    if (x_runtime && is_const(g, n, 1) && (absent(n, 2) || is_const(g, n, 2))) return {0};
    return {};
  }
  if (op == "Gemm") {
    // The int32 bias scale x_scale * w_scale holds only without alpha, beta or a transposed A.
    const bool plain = n.attr_int("transA", 0) == 0 && n.attr_float("alpha", 1.f) == 1.f &&
                       n.attr_float("beta", 1.f) == 1.f;
    if (x_runtime && plain && is_const(g, n, 1) && g.shape(n.inputs[1]).size() == 2 &&
        (absent(n, 2) || is_const(g, n, 2)))
      return {0};
    return {};
  }
  if (op == "MatMul") {
    if (x_runtime && is_const(g, n, 1) && g.shape(n.inputs[1]).size() == 2) return {0};
    return {};
  }
  if (op == "GlobalAveragePool" || op == "MaxPool" || op == "AveragePool") {
    return x_runtime ? std::vector<size_t>{0} : std::vector<size_t>{};
  }
  if (op == "Add" || op == "Mul" || op == "Concat") {
    std::vector<size_t> all;
    for (size_t i = 0; i < n.inputs.size(); ++i) {
      if (n.inputs[i].empty() || g.is_constant(n.inputs[i])) return {};
      all.push_back(i);
    }
    return all;
  }
  return {};
}

// The tensor quantized after `n`: its output, or the end of a chain of Relu/Clip nodes that
// are each the only reader (DQ -> Conv -> Relu -> Q runs as one int8 conv).
std::string quantized_output(const Graph& g, const Node& n,
                             const std::map<std::string, std::vector<long>>& readers) {
  std::string t = n.outputs.at(0);
  for (;;) {
    auto it = readers.find(t);
    if (it == readers.end() || it->second.size() != 1 || it->second[0] < 0) break;
    const Node& c = g.nodes[static_cast<size_t>(it->second[0])];
    if (c.op_type != "Relu" && c.op_type != "Clip") break;
    t = c.outputs.at(0);
  }
  return t;
}

struct ActParams {
  float scale = 1.f;
  int32_t zero = -128;
};

// Asymmetric int8 over [min(lo, 0), max(hi, 0)]: real 0 is exactly representable.
ActParams activation_params(float lo, float hi) {
  lo = std::min(lo, 0.f);
  hi = std::max(hi, 0.f);
  // A tensor that is (about) 0 on every input: any scale is exact, and a denormal one would
  // not be a valid QuantizeLinear scale.
  if (!(hi > lo) || !std::isnormal((hi - lo) / 255.f)) return {};
  ActParams p;
  p.scale = (hi - lo) / 255.f;
  const double z = std::nearbyint(-128.0 - static_cast<double>(lo) / p.scale);
  p.zero = static_cast<int32_t>(std::clamp(z, -128.0, 127.0));
  return p;
}

struct WeightQuant {
  TensorData q;  // int8, the weight's shape
  std::vector<float> scale;
};

// Per-channel symmetric int8 along `axis`: scale = max|w| / 127, zero point 0.
WeightQuant quantize_weight(const TensorData& w, int64_t axis) {
  const int64_t c = w.shape.at(static_cast<size_t>(axis));
  int64_t inner = 1;
  for (size_t d = static_cast<size_t>(axis) + 1; d < w.shape.size(); ++d) inner *= w.shape[d];
  auto channel = [&](int64_t i) { return (i / inner) % c; };
  std::vector<float> maxabs(static_cast<size_t>(c), 0.f);
  for (int64_t i = 0; i < w.size(); ++i) {
    auto& m = maxabs[static_cast<size_t>(channel(i))];
    m = std::max(m, std::fabs(w.f32[static_cast<size_t>(i)]));
  }
  WeightQuant r;
  for (float m : maxabs) r.scale.push_back(m > 0 ? m / 127.f : 1.f);
  std::vector<int64_t> q(static_cast<size_t>(w.size()));
  for (int64_t i = 0; i < w.size(); ++i) {
    q[static_cast<size_t>(i)] = graph::quantize_value(
        w.f32[static_cast<size_t>(i)], r.scale[static_cast<size_t>(channel(i))], 0, -127, 127);
  }
  r.q = int_tensor(DType::kInt8, w.shape, std::move(q));
  return r;
}

Node make_node(Names& names, const std::string& op, std::vector<std::string> inputs,
               std::string output, std::optional<int64_t> axis = std::nullopt) {
  Node n;
  n.name = names(output + (op == "QuantizeLinear" ? "_Q" : "_DQ"));
  n.op_type = op;
  n.inputs = std::move(inputs);
  n.outputs = {std::move(output)};
  if (axis) n.attrs["axis"] = *axis;
  return n;
}

std::vector<Feed> make_feeds(const Graph& g, int64_t count, uint64_t base, uint64_t offset) {
  std::vector<Feed> feeds;
  for (int64_t i = 0; i < count; ++i) {
    const uint64_t set_seed = hash_mix(base, offset + static_cast<uint64_t>(i));
    Feed f;
    for (size_t j = 0; j < g.inputs.size(); ++j) {
      Rng rng(j == 0 ? set_seed : hash_mix(set_seed, j));
      std::vector<float> v(static_cast<size_t>(graph::numel(g.shape(g.inputs[j]))));
      for (auto& x : v) x = static_cast<float>(rng.uniform(-1.0, 1.0));
      f.push_back(std::move(v));
    }
    feeds.push_back(std::move(f));
  }
  return feeds;
}

// Runs and checks that every feed gave `outputs` tensors of the graph's sizes.
std::vector<Feed> run_checked(const ModelRunner& run, const Graph& g, const std::vector<Feed>& in) {
  std::vector<Feed> out = run(g, in);
  if (out.size() != in.size()) {
    fail("{}: the runner returned {} result(s) for {} input set(s)", g.name, out.size(), in.size());
  }
  for (const auto& o : out) {
    if (o.size() != g.outputs.size()) {
      fail("{}: the runner returned {} output(s); the graph has {}", g.name, o.size(),
           g.outputs.size());
    }
    for (size_t k = 0; k < o.size(); ++k) {
      if (static_cast<int64_t>(o[k].size()) != graph::numel(g.shape(g.outputs[k]))) {
        fail("{}: output '{}' has {} values, its shape {} needs {}", g.name, g.outputs[k],
             o[k].size(), graph::shape_str(g.shape(g.outputs[k])),
             graph::numel(g.shape(g.outputs[k])));
      }
    }
  }
  return out;
}

}  // namespace

std::vector<Feed> calibration_feeds(const Graph& g, int64_t count, uint64_t seed) {
  return make_feeds(g, count, seed, 0);
}

std::vector<Feed> eval_feeds(const Graph& g, int64_t count, uint64_t seed) {
  return make_feeds(g, count, seed ^ 0x5eedULL, 1000);
}

Agreement output_agreement(const std::vector<Feed>& reference, const std::vector<Feed>& quantized,
                           int64_t last_dim) {
  if (reference.size() != quantized.size() || reference.empty()) {
    fail("output agreement: {} reference and {} quantized results (equal and non-zero needed)",
         reference.size(), quantized.size());
  }
  if (last_dim <= 0) fail("output agreement: last dimension {} is not positive", last_dim);
  int64_t rows = 0, agree = 0;
  double signal = 0, noise = 0;
  for (size_t i = 0; i < reference.size(); ++i) {
    const auto& f = reference[i].at(0);
    const auto& q = quantized[i].at(0);
    if (f.size() != q.size() || f.size() % static_cast<size_t>(last_dim) != 0) {
      fail("output agreement: first outputs of {} and {} values (rows of {})", f.size(), q.size(),
           last_dim);
    }
    for (size_t r = 0; r < f.size(); r += static_cast<size_t>(last_dim)) {
      const auto fb = f.begin() + static_cast<long>(r);
      const auto qb = q.begin() + static_cast<long>(r);
      const auto fa = std::max_element(fb, fb + last_dim) - fb;
      const auto qa = std::max_element(qb, qb + last_dim) - qb;
      ++rows;
      agree += fa == qa ? 1 : 0;
    }
    for (size_t k = 0; k < f.size(); ++k) {
      signal += static_cast<double>(f[k]) * f[k];
      const double d = static_cast<double>(f[k]) - q[k];
      noise += d * d;
    }
  }
  Agreement a;
  a.top1 = static_cast<double>(agree) / static_cast<double>(rows);
  a.snr_db = noise == 0 ? std::numeric_limits<double>::infinity() : 10 * std::log10(signal / noise);
  return a;
}

Graph fold_conv_batchnorm(const Graph& src, int64_t* folded) {
  Graph g = src;
  const auto producers = g.producers();
  const auto readers = g.consumers();
  Names names(g);
  std::set<size_t> drop;
  for (size_t i = 0; i < g.nodes.size(); ++i) {
    const Node& bn = g.nodes[i];
    if (bn.op_type != "BatchNormalization" || bn.inputs.size() < 5) continue;
    const std::string& x = bn.inputs[0];
    auto p = producers.find(x);
    if (p == producers.end()) continue;
    Node& conv = g.nodes[p->second];
    if (conv.op_type != "Conv" || readers.at(x).size() != 1) continue;
    if (!is_const(g, conv, 1) || !(absent(conv, 2) || is_const(g, conv, 2))) continue;
    bool params = true;
    for (size_t k = 1; k < 5; ++k) params = params && is_const(g, bn, k);
    if (!params) continue;
    const TensorData& w = float_constant(g, conv, conv.inputs[1]);
    const int64_t cout = w.shape.at(0);
    const TensorData* v[4];
    for (size_t k = 0; k < 4; ++k) {
      v[k] = &float_constant(g, bn, bn.inputs[k + 1]);
      if (v[k]->size() != cout) {
        fail(
            "{}: node '{}' (BatchNormalization): '{}' has {} values; the conv before it has {} "
            "channels",
            g.name, bn.name, bn.inputs[k + 1], v[k]->size(), cout);
      }
    }
    const double eps = bn.attr_float("epsilon", 1e-5f);
    const int64_t per = w.size() / cout;
    std::vector<float> nw(w.f32.size()), nb(static_cast<size_t>(cout));
    const TensorData* b = absent(conv, 2) ? nullptr : &float_constant(g, conv, conv.inputs[2]);
    for (int64_t c = 0; c < cout; ++c) {
      const auto cc = static_cast<size_t>(c);
      const double k = v[0]->f32[cc] / std::sqrt(static_cast<double>(v[3]->f32[cc]) + eps);
      for (int64_t j = 0; j < per; ++j) {
        const auto idx = static_cast<size_t>(c * per + j);
        nw[idx] = static_cast<float>(w.f32[idx] * k);
      }
      const double bias = b ? b->f32[cc] : 0.0;
      nb[cc] = static_cast<float>((bias - v[2]->f32[cc]) * k + v[1]->f32[cc]);
    }
    const std::string stem = conv.name.empty() ? std::string("conv") : conv.name;
    const std::string nw_name =
        add_constant(g, names, stem + "_w_bn", TensorData::floats(w.shape, std::move(nw)));
    const std::string nb_name =
        add_constant(g, names, stem + "_b_bn", TensorData::floats({cout}, std::move(nb)));
    conv.inputs.resize(3);
    conv.inputs[1] = nw_name;
    conv.inputs[2] = nb_name;
    g.values.erase(conv.outputs[0]);
    conv.outputs[0] = bn.outputs.at(0);
    drop.insert(i);
  }
  std::vector<Node> kept;
  for (size_t i = 0; i < g.nodes.size(); ++i)
    if (!drop.count(i)) kept.push_back(std::move(g.nodes[i]));
  g.nodes = std::move(kept);
  prune_constants(g);
  if (folded) *folded = static_cast<int64_t>(drop.size());
  return g;
}

Graph quantize_qdq(const Graph& float_model, const QuantizeOptions& o, QuantizeReport* report) {
  const std::string& model = float_model.name;
  if (!o.runner) fail("{}: quantize: no model runner given (calibration runs the model)", model);
  if (o.calibration_inputs <= 0) {
    fail("{}: quantize: {} calibration inputs; at least 1 needed", model, o.calibration_inputs);
  }
  if (o.eval_inputs < 0) fail("{}: quantize: {} eval inputs is negative", model, o.eval_inputs);
  for (const auto& in : float_model.inputs) {
    if (float_model.value(in).dtype != DType::kFloat32) {
      fail("{}: quantize: input '{}' is {}; only float inputs can be calibrated", model, in,
           graph::dtype_name(float_model.value(in).dtype));
    }
  }
  for (const auto& n : float_model.nodes) {
    if (graph::is_quant_op(n.op_type)) {
      fail("{}: quantize: node '{}' is a {}; the model is already quantized", model, n.name,
           n.op_type);
    }
  }
  QuantizeReport rep;
  Graph g = fold_conv_batchnorm(float_model, &rep.folded_batchnorms);
  g.toposort();

  // Which tensors get a Q/DQ pair, in node order.
  const auto readers = g.consumers();
  std::vector<std::string> targets;
  std::set<std::string> is_target;
  std::vector<size_t> quantized_nodes;
  auto target = [&](const std::string& t) {
    if (g.value(t).dtype != DType::kFloat32) return;
    if (is_target.insert(t).second) targets.push_back(t);
  };
  for (size_t i = 0; i < g.nodes.size(); ++i) {
    const Node& n = g.nodes[i];
    const auto ins = activation_inputs(g, n);
    if (ins.empty()) continue;
    quantized_nodes.push_back(i);
    for (size_t k : ins) target(n.inputs[k]);
    target(quantized_output(g, n, readers));
  }

  // Calibration: every target that is not a graph input becomes an extra output of a copy.
  const std::set<std::string> graph_inputs(g.inputs.begin(), g.inputs.end());
  Graph cal = g;
  std::map<std::string, size_t> out_index;
  for (size_t k = 0; k < cal.outputs.size(); ++k) out_index.emplace(cal.outputs[k], k);
  for (const auto& t : targets) {
    if (graph_inputs.count(t) || out_index.count(t)) continue;
    out_index.emplace(t, cal.outputs.size());
    cal.outputs.push_back(t);
  }
  const auto cfeeds = calibration_feeds(g, o.calibration_inputs, o.seed);
  const auto couts = run_checked(o.runner, cal, cfeeds);
  std::map<std::string, ActParams> act;
  for (const auto& t : targets) {
    float lo = 0.f, hi = 0.f;
    for (size_t f = 0; f < cfeeds.size(); ++f) {
      const std::vector<float>* v;
      if (graph_inputs.count(t)) {
        const auto j = std::find(g.inputs.begin(), g.inputs.end(), t) - g.inputs.begin();
        v = &cfeeds[f][static_cast<size_t>(j)];
      } else {
        v = &couts[f][out_index.at(t)];
      }
      for (float x : *v) {
        if (!std::isfinite(x)) {
          fail("{}: quantize: tensor '{}' holds {} on calibration input {}; its range is unknown",
               model, t, x, f);
        }
        lo = std::min(lo, x);
        hi = std::max(hi, x);
      }
    }
    act[t] = activation_params(lo, hi);
  }

  // Weights and biases, while every node still reads its activations by their old names.
  Graph q = g;
  q.name = model + "-int8";
  Names names(q);
  std::vector<Node> added;
  for (size_t i : quantized_nodes) {
    Node& n = q.nodes[i];
    const bool gemm = n.op_type == "Gemm";
    if (n.op_type != "Conv" && !gemm && n.op_type != "MatMul") continue;
    const TensorData& w = float_constant(q, n, n.inputs[1]);
    const int64_t axis = n.op_type == "Conv" ? 0 : gemm && n.attr_int("transB", 0) != 0 ? 0 : 1;
    WeightQuant wq = quantize_weight(w, axis);
    const int64_t channels = static_cast<int64_t>(wq.scale.size());
    const std::string stem = n.inputs[1];
    const std::string wi = add_constant(q, names, stem + "_int8", std::move(wq.q));
    const std::string ws =
        add_constant(q, names, stem + "_scale", TensorData::floats({channels}, wq.scale));
    const std::string wz = add_constant(
        q, names, stem + "_zero",
        int_tensor(DType::kInt8, {channels}, std::vector<int64_t>(wq.scale.size(), 0)));
    const std::string wd = names(stem + "_dequantized");
    q.values[wd] = ValueInfo{DType::kFloat32, w.shape};
    added.push_back(make_node(names, "DequantizeLinear", {wi, ws, wz}, wd, axis));
    n.inputs[1] = wd;
    ++rep.quantized_weights;

    if (absent(n, 2)) continue;
    const TensorData& b = float_constant(q, n, n.inputs[2]);
    if (b.shape.size() != 1 || b.size() != channels) continue;  // a broadcast Gemm C stays float
    const float xs = act.at(n.inputs[0]).scale;
    std::vector<float> bs;
    for (float s : wq.scale) bs.push_back(xs * s);
    if (std::any_of(bs.begin(), bs.end(), [](float s) { return !std::isnormal(s); })) continue;
    std::vector<int64_t> bq;
    for (int64_t c = 0; c < channels; ++c) {
      const auto cc = static_cast<size_t>(c);
      bq.push_back(graph::quantize_value(b.f32[cc], bs[cc], 0, std::numeric_limits<int32_t>::min(),
                                         std::numeric_limits<int32_t>::max()));
    }
    const std::string bstem = n.inputs[2];
    const std::string bi =
        add_constant(q, names, bstem + "_int32", int_tensor(DType::kInt32, {channels}, bq));
    const std::string bsn =
        add_constant(q, names, bstem + "_scale", TensorData::floats({channels}, bs));
    const std::string bz =
        add_constant(q, names, bstem + "_zero",
                     int_tensor(DType::kInt32, {channels}, std::vector<int64_t>(bs.size(), 0)));
    const std::string bd = names(bstem + "_dequantized");
    q.values[bd] = ValueInfo{DType::kFloat32, {channels}};
    added.push_back(make_node(names, "DequantizeLinear", {bi, bsn, bz}, bd, int64_t{0}));
    n.inputs[2] = bd;
    ++rep.quantized_biases;
  }

  // One Q/DQ pair per activation; readers keep the name t (a graph input's readers move to
  // its dequantized copy, since the input itself must keep its name).
  const auto producers = q.producers();
  for (const auto& t : targets) {
    const ActParams p = act.at(t);
    const Shape shape = q.shape(t);
    const std::string s = add_constant(q, names, t + "_scale", TensorData::floats({}, {p.scale}));
    const std::string z =
        add_constant(q, names, t + "_zero", int_tensor(DType::kInt8, {}, {p.zero}));
    const std::string tq = names(t + "_quantized");
    q.values[tq] = ValueInfo{DType::kInt8, shape};
    if (graph_inputs.count(t)) {
      const std::string td = names(t + "_dequantized");
      q.values[td] = ValueInfo{DType::kFloat32, shape};
      for (auto& n : q.nodes)
        for (auto& in : n.inputs)
          if (in == t) in = td;
      added.push_back(make_node(names, "QuantizeLinear", {t, s, z}, tq));
      added.push_back(make_node(names, "DequantizeLinear", {tq, s, z}, td));
    } else {
      const std::string tf = names(t + "_float");
      q.values[tf] = ValueInfo{DType::kFloat32, shape};
      for (auto& out : q.nodes[producers.at(t)].outputs)
        if (out == t) out = tf;
      added.push_back(make_node(names, "QuantizeLinear", {tf, s, z}, tq));
      added.push_back(make_node(names, "DequantizeLinear", {tq, s, z}, t));
    }
  }
  for (auto& n : added) q.nodes.push_back(std::move(n));
  prune_constants(q);
  with_context(q.name, [&] {
    graph::infer_shapes(q);
    q.validate();
  });
  rep.quantized_ops = static_cast<int64_t>(quantized_nodes.size());
  rep.quantized_tensors = static_cast<int64_t>(targets.size());
  rep.calibration_inputs = o.calibration_inputs;

  if (o.eval_inputs > 0) {
    const auto efeeds = eval_feeds(g, o.eval_inputs, o.seed);
    const auto fout = run_checked(o.runner, float_model, efeeds);
    const auto qout = run_checked(o.runner, q, efeeds);
    const Shape& first = float_model.shape(float_model.outputs.at(0));
    const Agreement a = output_agreement(fout, qout, first.empty() ? 1 : first.back());
    rep.eval_inputs = o.eval_inputs;
    rep.top1_agreement = a.top1;
    rep.snr_db = a.snr_db;
  }
  if (report) *report = rep;
  return q;
}

}  // namespace nnjoule::zoo
