// Quantized tensors in the engine (graph/quant.hpp): QuantizeLinear and DequantizeLinear, and
// the int8 operators a DequantizeLinear -> op -> QuantizeLinear pattern becomes, as a phone
// runtime (TFLite, ONNX Runtime's QDQ transformer) fuses them. A pattern that does not fit an
// XNNPACK int8 operator runs in float between a conversion pair, which is exact by the ops'
// definition. See docs/quantization.md for the numerics.
#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <map>
#include <optional>

#include "lowering.hpp"
#include "nnjoule/common/error.hpp"
#include "nnjoule/graph/ops.hpp"
#include "nnjoule/graph/quant.hpp"
#include "ops.hpp"

namespace nnjoule::exec {

namespace ref {
namespace {

// The quantization channel of every element: the index along the per-channel axis.
int64_t channel_of(const graph::QuantParams& q, const Shape& s, int64_t flat) {
  if (!q.per_channel()) return 0;
  int64_t inner = 1;
  for (size_t d = static_cast<size_t>(q.axis) + 1; d < s.size(); ++d) inner *= s[d];
  return (flat / inner) % s[static_cast<size_t>(q.axis)];
}

std::vector<Tensor> quantize_linear(const RefCall& c) {
  const auto q = graph::quant_params(c.g, c.n);
  const Tensor& x = c.x();
  Tensor y(x.shape);
  for (int64_t i = 0; i < x.size(); ++i) {
    const int64_t ch = channel_of(q, x.shape, i);
    y.data[i] = static_cast<float>(
        graph::quantize_value(x.data[i], q.scale[ch], q.zero[ch], q.qmin(), q.qmax()));
  }
  return {y};
}

std::vector<Tensor> dequantize_linear(const RefCall& c) {
  const auto q = graph::quant_params(c.g, c.n);
  const Tensor& x = c.x();
  Tensor y(x.shape);
  for (int64_t i = 0; i < x.size(); ++i) {
    const int64_t ch = channel_of(q, x.shape, i);
    y.data[i] = static_cast<float>((static_cast<double>(x.data[i]) - q.zero[ch]) *
                                   static_cast<double>(q.scale[ch]));
  }
  return {y};
}

}  // namespace
}  // namespace ref

namespace detail {
namespace {

// uint8 tensors live as int8 with the zero point moved by -128 (Value::int8).
int32_t shifted_zero(const graph::QuantParams& q, size_t ch = 0) {
  return q.dtype == graph::DType::kUInt8 ? q.zero[ch] - 128 : q.zero[ch];
}

// Symmetric int8 weights read through DequantizeLinear of a constant, per channel along
// `axis` (a per-tensor scale repeats); nullopt when they are not that.
struct Int8Weights {
  std::vector<int8_t> w;     // logical (ONNX) layout
  std::vector<float> scale;  // one per index of `axis`
};
std::optional<Int8Weights> int8_weights(const Graph& g,
                                        const std::map<std::string, size_t>& producers,
                                        const std::string& t, int64_t axis) {
  auto p = producers.find(t);
  const Node* dq = p == producers.end() ? nullptr : &g.nodes[p->second];
  if (!dq || dq->op_type != "DequantizeLinear" || !g.is_constant(dq->inputs[0])) {
    return std::nullopt;
  }
  const auto q = graph::quant_params(g, *dq);
  const auto& c = g.constant(dq->inputs[0]);
  if ((q.dtype != graph::DType::kInt8 && q.dtype != graph::DType::kUInt8) || !c.materialized()) {
    return std::nullopt;
  }
  const Shape& s = c.shape;
  if (axis >= static_cast<int64_t>(s.size())) return std::nullopt;
  if (q.per_channel() && q.axis != axis) return std::nullopt;
  for (size_t k = 0; k < q.zero.size(); ++k)
    if (shifted_zero(q, k) != 0) return std::nullopt;  // XNNPACK's int8 kernels are symmetric
  Int8Weights r;
  const int64_t channels = s[static_cast<size_t>(axis)];
  r.scale =
      q.per_channel() ? q.scale : std::vector<float>(static_cast<size_t>(channels), q.scale[0]);
  const int32_t shift = q.dtype == graph::DType::kUInt8 ? 128 : 0;
  r.w.reserve(c.i64.size());
  for (int64_t v : c.i64) r.w.push_back(static_cast<int8_t>(v - shift));
  return r;
}

int8_t clamp_i8(int32_t v) {
  return static_cast<int8_t>(std::clamp(v, -128, 127));
}

int32_t bias_i32(double b, double scale) {
  const double q = std::nearbyint(b / scale);
  return static_cast<int32_t>(std::clamp(q,
                                         static_cast<double>(std::numeric_limits<int32_t>::min()),
                                         static_cast<double>(std::numeric_limits<int32_t>::max())));
}

bool in_range(double r, double lo, double hi) {
  return r >= lo && r < hi;
}

}  // namespace

struct Compiler::Int8Out {
  size_t q_node = 0;
  std::vector<size_t> clamps;
  std::string tensor;  // the QuantizeLinear's output
  Value quant;         // its scale and (shifted) zero point
  int8_t lo = -128, hi = 127;
  std::string label;
};

// The QuantizeLinear `t` reaches through single-consumer Relu/Clip nodes. Quantization is
// monotone, so Q(clamp(v)) = clamp(Q(v)): the clamp becomes the operator's int8 bounds.
bool Compiler::int8_output(const std::string& t0, Int8Out& out) const {
  Clamp c;
  std::string t = t0;
  out.clamps.clear();
  out.label.clear();
  for (long j; (j = sole_consumer(t)) >= 0;) {
    const Node& m = g_.nodes[static_cast<size_t>(j)];
    if (m.op_type == "QuantizeLinear") {
      const auto q = graph::quant_params(g_, m);
      if (q.per_channel()) return false;
      out.q_node = static_cast<size_t>(j);
      out.tensor = m.outputs[0];
      out.quant.qscale = q.scale[0];
      out.quant.qzero = shifted_zero(q);
      const int32_t z = out.quant.qzero;
      out.lo =
          c.lo == -kInf ? -128 : clamp_i8(graph::quantize_value(c.lo, q.scale[0], z, -128, 127));
      out.hi = c.hi == kInf ? 127 : clamp_i8(graph::quantize_value(c.hi, q.scale[0], z, -128, 127));
      return out.lo < out.hi;
    }
    if (!absorb_clamp(m, c)) return false;
    out.clamps.push_back(static_cast<size_t>(j));
    out.label += m.op_type == "Relu" ? " +relu" : " +clip";
    t = m.outputs[0];
  }
  return false;
}

long Compiler::int8_source(const std::string& t) const {
  auto it = deferred_.find(t);
  if (it == deferred_.end()) return -1;
  const Node& dq = g_.nodes[it->second];
  auto v = val_.find(dq.inputs[0]);
  if (v == val_.end() || !m_.values[v->second].int8) return -1;
  const auto q = graph::quant_params(g_, dq);
  const Value& x = m_.values[v->second];
  // A DequantizeLinear reading with other parameters than its QuantizeLinear wrote: float path.
  if (q.per_channel() || q.scale[0] != x.qscale || shifted_zero(q) != x.qzero) return -1;
  return v->second;
}

void Compiler::commit(const Int8Out& out, std::vector<size_t>& nodes) {
  for (size_t j : out.clamps) {
    done_[j] = true;
    nodes.push_back(j);
    ++counts_["activations fused"];
  }
  done_[out.q_node] = true;
  nodes.push_back(out.q_node);
  ++counts_["int8 operators"];
}

void Compiler::lower_quantize(size_t i) {
  const Node& n = g_.nodes[i];
  const auto q = graph::quant_params(g_, n);
  if (q.per_channel()) {
    node_fail(n, "per-channel QuantizeLinear of a runtime tensor is not supported by the engine");
  }
  const int x = value_of(n.inputs[0]);
  const Value xv = m_.values[x];
  Value qv;
  qv.qscale = q.scale[0];
  qv.qzero = shifted_zero(q);
  const int y = new_value(n.outputs[0], xv.shape, xv.perm, &qv);
  val_[n.outputs[0]] = y;
  StepImpl st = step_for(i, "quantize", "xnnpack:convert_nc_f32_qs8", {i});
  st.reads = {x};
  st.writes = {y};
  const auto count = static_cast<size_t>(xv.numel());
  const std::string name = n.name;
  auto op = std::make_shared<XnnOp>();
  st.create = [=](uint32_t f) {
    xnn_check(xnn_create_convert_nc_f32_qs8(count, count, count, qv.qscale,
                                            static_cast<int8_t>(qv.qzero), -128, 127, f, &op->op),
              name, "create convert");
  };
  st.bind = [=](const BindContext& b) {
    xnn_check(xnn_setup_convert_nc_f32_qs8(op->op, 1, b.ptr(x), reinterpret_cast<int8_t*>(b.ptr(y)),
                                           b.pool),
              name, "setup convert");
    return xnn_runner(op, b.pool, name);
  };
  add_step(std::move(st));
}

void Compiler::lower_dequantize(size_t i) {
  const Node& n = g_.nodes[i];
  if (graph::quant_params(g_, n).per_channel()) {
    node_fail(n, "per-channel DequantizeLinear of a runtime tensor is not supported by the engine");
  }
  deferred_[n.outputs[0]] = i;
}

int Compiler::dequantize(size_t i) {
  const Node& n = g_.nodes[i];
  const auto q = graph::quant_params(g_, n);
  const int x = val_.at(n.inputs[0]);
  const Value xv = m_.values[x];
  if (!xv.int8) node_fail(n, fmt::format("input '{}' is not a quantized value", n.inputs[0]));
  const int y = new_value(n.outputs[0], xv.shape, xv.perm);
  val_[n.outputs[0]] = y;
  deferred_.erase(n.outputs[0]);
  StepImpl st = step_for(i, "dequantize", "xnnpack:convert_nc_qs8_f32", {i});
  st.reads = {x};
  st.writes = {y};
  const auto count = static_cast<size_t>(xv.numel());
  const std::string name = n.name;
  const float scale = q.scale[0];
  const auto zero = static_cast<int8_t>(shifted_zero(q));
  auto op = std::make_shared<XnnOp>();
  st.create = [=](uint32_t f) {
    xnn_check(xnn_create_convert_nc_qs8_f32(count, count, count, scale, zero, f, &op->op), name,
              "create convert");
  };
  st.bind = [=](const BindContext& b) {
    xnn_check(xnn_setup_convert_nc_qs8_f32(op->op, 1, reinterpret_cast<const int8_t*>(b.ptr(x)),
                                           b.ptr(y), b.pool),
              name, "setup convert");
    return xnn_runner(op, b.pool, name);
  };
  add_step(std::move(st));
  return y;
}

namespace {

// One XNNPACK qc8 convolution (a 1x1 one for fully connected layers).
struct QConv {
  uint32_t pt = 0, pr = 0, pb = 0, pl = 0, kh = 1, kw = 1, sh = 1, sw = 1, dh = 1, dw = 1;
  uint32_t groups = 1;
  size_t gic = 1, goc = 1, cin = 1, cout = 1;
  size_t batch = 1, h = 1, w = 1;
  std::vector<int8_t> kernel;  // [groups][goc][kh][kw][gic]
  std::vector<int32_t> bias;
  std::vector<float> kscale;
  int8_t xzero = 0, yzero = 0, lo = -128, hi = 127;
  float xscale = 1, yscale = 1;
};

void add_qconv_step(StepImpl& st, std::shared_ptr<QConv> c, int in, int y,
                    const std::string& name) {
  auto op = std::make_shared<XnnOp>();
  st.create = [=](uint32_t f) {
    xnn_check(xnn_create_convolution2d_nhwc_qc8(
                  c->pt, c->pr, c->pb, c->pl, c->kh, c->kw, c->sh, c->sw, c->dh, c->dw, c->groups,
                  c->gic, c->goc, c->cin, c->cout, c->xzero, c->xscale, c->kscale.data(),
                  c->kernel.data(), c->bias.data(), c->yzero, c->yscale, c->lo, c->hi, f, &op->op),
              name, "create int8 convolution");
  };
  st.bind = [=](const BindContext& b) {
    xnn_check(xnn_setup_convolution2d_nhwc_qc8(op->op, c->batch, c->h, c->w,
                                               reinterpret_cast<const int8_t*>(b.ptr(in)),
                                               reinterpret_cast<int8_t*>(b.ptr(y)), b.pool),
              name, "setup int8 convolution");
    return xnn_runner(op, b.pool, name);
  };
}

// XNNPACK's int8 kernels requantize with accumulator scale / output scale in [2^-32, 256).
bool requantizable(const QConv& c) {
  for (float ks : c.kscale) {
    if (!in_range(static_cast<double>(c.xscale) * ks / c.yscale, 0x1.0p-32, 256.0)) return false;
  }
  return true;
}

}  // namespace

bool Compiler::lower_int8(size_t i) {
  const Node& n = g_.nodes[i];
  const std::string& op = n.op_type;
  if (op == "QuantizeLinear") {
    lower_quantize(i);
    return true;
  }
  if (op == "DequantizeLinear") {
    lower_dequantize(i);
    return true;
  }
  if (n.inputs.empty() || int8_source(n.inputs[0]) < 0) return false;
  const int xv = static_cast<int>(int8_source(n.inputs[0]));
  const Value x = m_.values[xv];
  Int8Out out;
  if (!int8_output(n.outputs[0], out)) return false;
  std::vector<size_t> nodes = {i};
  const std::string name = n.name;

  if (op == "Conv" || op == "Gemm" || op == "MatMul") {
    auto c = std::make_shared<QConv>();
    c->xscale = x.qscale;
    c->xzero = static_cast<int8_t>(x.qzero);
    c->yscale = out.quant.qscale;
    c->yzero = static_cast<int8_t>(out.quant.qzero);
    c->lo = out.lo;
    c->hi = out.hi;
    std::vector<double> bias;
    Perm in_perm, out_perm;
    std::string kind;
    if (op == "Conv") {
      const Shape& xs = g_.shape(n.inputs[0]);
      const Shape& ws = g_.shape(n.inputs[1]);
      auto w = int8_weights(g_, producers_, n.inputs[1], 0);
      if (!w) return false;
      const auto s = n.attr_ints("strides", {1, 1});
      const auto p = n.attr_ints("pads", {0, 0, 0, 0});
      const auto d = n.attr_ints("dilations", {1, 1});
      const int64_t group = n.attr_int("group", 1);
      const int64_t cout = ws[0], gic = ws[1], goc = cout / group, KH = ws[2], KW = ws[3];
      c->groups = static_cast<uint32_t>(group);
      c->gic = static_cast<size_t>(gic);
      c->goc = static_cast<size_t>(goc);
      c->cin = static_cast<size_t>(xs[1]);
      c->cout = static_cast<size_t>(cout);
      // ONNX pads are (top, left, bottom, right); XNNPACK takes (top, right, bottom, left).
      c->pt = static_cast<uint32_t>(p[0]), c->pl = static_cast<uint32_t>(p[1]);
      c->pb = static_cast<uint32_t>(p[2]), c->pr = static_cast<uint32_t>(p[3]);
      c->kh = static_cast<uint32_t>(KH), c->kw = static_cast<uint32_t>(KW);
      c->sh = static_cast<uint32_t>(s[0]), c->sw = static_cast<uint32_t>(s[1]);
      c->dh = static_cast<uint32_t>(d[0]), c->dw = static_cast<uint32_t>(d[1]);
      c->batch = static_cast<size_t>(xs[0]);
      c->h = static_cast<size_t>(xs[2]);
      c->w = static_cast<size_t>(xs[3]);
      c->kscale = w->scale;
      // ONNX [cout][gic][kh][kw] to XNNPACK's [cout][kh][kw][gic].
      c->kernel.resize(w->w.size());
      for (int64_t o = 0; o < cout; ++o)
        for (int64_t ci = 0; ci < gic; ++ci)
          for (int64_t t = 0; t < KH * KW; ++t)
            c->kernel[(o * KH * KW + t) * gic + ci] = w->w[(o * gic + ci) * KH * KW + t];
      bias.assign(static_cast<size_t>(cout), 0.0);
      if (n.inputs.size() > 2 && !n.inputs[2].empty()) {
        auto b = per_channel(n.inputs[2], {cout}, 0, cout);
        if (!b) return false;
        bias = *b;
      }
      in_perm = out_perm = nhwc_perm();
      kind = gic == 1 && group > 1 ? "dwconv" : "conv";
    } else {
      // A fully connected layer: a 1x1 convolution over the rows of A.
      const Shape& as = g_.shape(n.inputs[0]);
      const Shape& bs = g_.shape(n.inputs[1]);
      if (bs.size() != 2 || as.empty()) return false;
      const bool gemm = op == "Gemm";
      if (gemm && n.attr_int("transA", 0) != 0) return false;
      const bool tb = gemm && n.attr_int("transB", 0) != 0;
      const int64_t K = tb ? bs[1] : bs[0], N = tb ? bs[0] : bs[1];
      if (as.back() != K) return false;
      auto w = int8_weights(g_, producers_, n.inputs[1], tb ? 0 : 1);
      if (!w) return false;
      const double alpha = gemm ? n.attr_float("alpha", 1.f) : 1.0;
      if (!(alpha > 0)) return false;
      c->kscale.resize(static_cast<size_t>(N));
      for (int64_t o = 0; o < N; ++o) c->kscale[o] = static_cast<float>(w->scale[o] * alpha);
      c->kernel.resize(static_cast<size_t>(N * K));
      for (int64_t o = 0; o < N; ++o)
        for (int64_t k = 0; k < K; ++k)
          c->kernel[o * K + k] = tb ? w->w[o * K + k] : w->w[k * N + o];
      c->gic = c->cin = static_cast<size_t>(K);
      c->goc = c->cout = static_cast<size_t>(N);
      c->batch = static_cast<size_t>(graph::numel(as) / K);
      bias.assign(static_cast<size_t>(N), 0.0);
      if (gemm && n.inputs.size() > 2 && !n.inputs[2].empty()) {
        auto b = per_channel(n.inputs[2], g_.shape(n.outputs[0]), 1, N);
        if (!b) return false;
        const double beta = n.attr_float("beta", 1.f);
        for (int64_t o = 0; o < N; ++o) bias[o] = beta * (*b)[o];
      }
      in_perm = identity_perm(as.size());
      out_perm = identity_perm(g_.shape(n.outputs[0]).size());
      kind = "fc";
    }
    if (!requantizable(*c)) return false;
    c->bias.resize(bias.size());
    for (size_t o = 0; o < bias.size(); ++o) {
      c->bias[o] = bias_i32(bias[o], static_cast<double>(c->xscale) * c->kscale[o]);
    }
    commit(out, nodes);
    const int in = ensure(xv, in_perm);
    const int y = new_value(out.tensor, g_.shape(out.tensor), out_perm, &out.quant);
    val_[out.tensor] = y;
    m_.constant_bytes += static_cast<int64_t>(c->kernel.size() + c->bias.size() * 4);
    const bool pointwise = c->kh == 1 && c->kw == 1 && c->sh == 1 && c->sw == 1 && c->pt == 0 &&
                           c->pl == 0 && c->pb == 0 && c->pr == 0 && c->groups == 1;
    if (c->groups == 1 && Int8GemmKernel::available()) {
      auto k = std::make_shared<Int8GemmKernel>();
      const Shape& ys = g_.shape(out.tensor);
      k->M = pointwise ? static_cast<int64_t>(c->batch * c->h * c->w) : graph::numel(ys) / ys[1];
      k->K = static_cast<int64_t>(c->cin * c->kh * c->kw);
      k->N = static_cast<int64_t>(c->cout);
      if (!pointwise) {
        auto& p = k->patches;
        p.on = true;
        p.H = static_cast<int64_t>(c->h), p.W = static_cast<int64_t>(c->w);
        p.C = static_cast<int64_t>(c->cin), p.OH = ys[2], p.OW = ys[3];
        p.KH = c->kh, p.KW = c->kw, p.SH = c->sh, p.SW = c->sw, p.DH = c->dh, p.DW = c->dw;
        p.PT = c->pt, p.PL = c->pl;
        p.fill = c->xzero;
      }
      k->pack(c->kernel.data(), c->bias.data(), c->kscale.data(), c->xscale, c->xzero, c->yscale,
              c->yzero, c->lo, c->hi);
      StepImpl st = step_for(i, kind, "nnjoule:int8-gemm (avx512-vnni)" + out.label, nodes);
      st.reads = {in};
      st.writes = {y};
      st.bind = [k, in, y](const BindContext& b) -> std::function<void()> {
        const auto* src = reinterpret_cast<const int8_t*>(b.ptr(in));
        auto* dst = reinterpret_cast<int8_t*>(b.ptr(y));
        const Parallel par = b.par;
        return [k, src, dst, par] { k->run(src, dst, par); };
      };
      add_step(std::move(st));
      ++counts_["int8 convolutions and fc on nnjoule's VNNI GEMM"];
      return true;
    }
    StepImpl st = step_for(
        i, kind,
        "xnnpack:convolution2d_nhwc_qc8" + std::string(kind == "fc" ? " (1x1)" : "") + out.label,
        nodes);
    st.reads = {in};
    st.writes = {y};
    add_qconv_step(st, c, in, y, name);
    add_step(std::move(st));
    return true;
  }

  if (op == "Add" || op == "Mul") {
    const long bv = n.inputs.size() > 1 ? int8_source(n.inputs[1]) : -1;
    if (bv < 0) return false;
    const Value b = m_.values[bv];
    const Shape& os = g_.shape(out.tensor);
    if (x.shape.size() != os.size() || b.shape.size() != os.size()) return false;
    const double sa = x.qscale / out.quant.qscale, sb = b.qscale / out.quant.qscale;
    const bool add = op == "Add";
    if (add ? !(in_range(sa, 0x1.0p-10, 256.0) && in_range(sb, 0x1.0p-10, 256.0))
            : !in_range(static_cast<double>(x.qscale) * b.qscale / out.quant.qscale, 0x1.0p-16,
                        256.0)) {
      return false;
    }
    commit(out, nodes);
    const Perm perm = x.perm;
    const int ia = xv;
    const int ib = ensure(static_cast<int>(bv), perm);
    const int y = new_value(out.tensor, os, perm, &out.quant);
    val_[out.tensor] = y;
    const auto sa_shape = to_sizes(physical_shape(x.shape, perm));
    const auto sb_shape = to_sizes(physical_shape(b.shape, perm));
    StepImpl st = step_for(
        i, add ? "add" : "mul",
        std::string(add ? "xnnpack:add_nd_qs8" : "xnnpack:multiply_nd_qs8") + out.label, nodes);
    st.reads = {ia, ib};
    st.writes = {y};
    auto xop = std::make_shared<XnnOp>();
    const auto za = static_cast<int8_t>(x.qzero), zb = static_cast<int8_t>(b.qzero);
    const float xa = x.qscale, xb = b.qscale;
    const Int8Out o = out;
    st.create = [=](uint32_t f) {
      const auto zy = static_cast<int8_t>(o.quant.qzero);
      xnn_check(
          add ? xnn_create_add_nd_qs8(za, xa, zb, xb, zy, o.quant.qscale, o.lo, o.hi, f, &xop->op)
              : xnn_create_multiply_nd_qs8(za, xa, zb, xb, zy, o.quant.qscale, o.lo, o.hi, f,
                                           &xop->op),
          name, "create int8 binary");
    };
    st.bind = [=](const BindContext& c) {
      const auto* pa = reinterpret_cast<const int8_t*>(c.ptr(ia));
      const auto* pb = reinterpret_cast<const int8_t*>(c.ptr(ib));
      auto* py = reinterpret_cast<int8_t*>(c.ptr(y));
      xnn_check(
          add ? xnn_setup_add_nd_qs8(xop->op, sa_shape.size(), sa_shape.data(), sb_shape.size(),
                                     sb_shape.data(), pa, pb, py, c.pool)
              : xnn_setup_multiply_nd_qs8(xop->op, sa_shape.size(), sa_shape.data(),
                                          sb_shape.size(), sb_shape.data(), pa, pb, py, c.pool),
          name, "setup int8 binary");
      return xnn_runner(xop, c.pool, name);
    };
    add_step(std::move(st));
    return true;
  }

  if (op == "GlobalAveragePool") {
    const Shape& xs = g_.shape(n.inputs[0]);
    if (xs.size() != 4 || !in_range(x.qscale / out.quant.qscale, 0x1.0p-8, 256.0)) return false;
    commit(out, nodes);
    const int in = ensure(xv, nhwc_perm());
    const int y = new_value(out.tensor, g_.shape(out.tensor), nhwc_perm(), &out.quant);
    val_[out.tensor] = y;
    StepImpl st =
        step_for(i, "global-avgpool", "xnnpack:global_average_pooling_nwc_qs8" + out.label, nodes);
    st.reads = {in};
    st.writes = {y};
    const auto C = static_cast<size_t>(xs[1]), N = static_cast<size_t>(xs[0]),
               W = static_cast<size_t>(xs[2] * xs[3]);
    auto xop = std::make_shared<XnnOp>();
    const Int8Out o = out;
    st.create = [=](uint32_t f) {
      xnn_check(xnn_create_global_average_pooling_nwc_qs8(
                    C, C, C, static_cast<int8_t>(x.qzero), x.qscale,
                    static_cast<int8_t>(o.quant.qzero), o.quant.qscale, o.lo, o.hi, f, &xop->op),
                name, "create int8 global average pooling");
    };
    st.bind = [=](const BindContext& c) {
      xnn_check(xnn_setup_global_average_pooling_nwc_qs8(
                    xop->op, N, W, reinterpret_cast<const int8_t*>(c.ptr(in)),
                    reinterpret_cast<int8_t*>(c.ptr(y)), c.pool),
                name, "setup int8 global average pooling");
      return xnn_runner(xop, c.pool, name);
    };
    add_step(std::move(st));
    return true;
  }

  // Ops that move int8 values unchanged: the same scale and zero point on both sides.
  const bool same = out.quant.qscale == x.qscale && out.quant.qzero == x.qzero;
  if (op == "MaxPool" && same && n.attr_int("ceil_mode", 0) == 0) {
    const Shape& xs = g_.shape(n.inputs[0]);
    const auto k = n.attr_ints("kernel_shape");
    const auto s = n.attr_ints("strides", {1, 1});
    const auto p = n.attr_ints("pads", {0, 0, 0, 0});
    commit(out, nodes);
    const int in = ensure(xv, nhwc_perm());
    const int y = new_value(out.tensor, g_.shape(out.tensor), nhwc_perm(), &out.quant);
    val_[out.tensor] = y;
    StepImpl st = step_for(i, "maxpool", "xnnpack:max_pooling2d_nhwc_s8" + out.label, nodes);
    st.reads = {in};
    st.writes = {y};
    const auto u = [](int64_t v) { return static_cast<uint32_t>(v); };
    const auto C = static_cast<size_t>(xs[1]);
    auto xop = std::make_shared<XnnOp>();
    const int8_t lo = out.lo, hi = out.hi;
    st.create = [=](uint32_t f) {
      xnn_check(
          xnn_create_max_pooling2d_nhwc_s8(u(p[0]), u(p[3]), u(p[2]), u(p[1]), u(k[0]), u(k[1]),
                                           u(s[0]), u(s[1]), 1, 1, C, C, C, lo, hi, f, &xop->op),
          name, "create int8 max pooling");
    };
    st.bind = [=](const BindContext& c) {
      xnn_check(xnn_setup_max_pooling2d_nhwc_s8(
                    xop->op, static_cast<size_t>(xs[0]), static_cast<size_t>(xs[2]),
                    static_cast<size_t>(xs[3]), reinterpret_cast<const int8_t*>(c.ptr(in)),
                    reinterpret_cast<int8_t*>(c.ptr(y)), c.pool),
                name, "setup int8 max pooling");
      return xnn_runner(xop, c.pool, name);
    };
    add_step(std::move(st));
    return true;
  }
  if ((op == "Reshape" || op == "Flatten") && same && out.clamps.empty()) {
    commit(out, nodes);
    const int in = ensure(xv, identity_perm(x.shape.size()));
    const Shape& os = g_.shape(out.tensor);
    val_[out.tensor] = alias(in, os, identity_perm(os.size()));
    ++counts_["int8 reshapes (free)"];
    return true;
  }
  return false;
}

}  // namespace detail

std::vector<ExecOp> quant_ops() {
  return {
      {"DequantizeLinear", ref::dequantize_linear,
       [](detail::Compiler& k, size_t i) { k.lower_dequantize(i); }},
      {"QuantizeLinear", ref::quantize_linear,
       [](detail::Compiler& k, size_t i) { k.lower_quantize(i); }},
  };
}

}  // namespace nnjoule::exec
