// Lowers a Graph into engine steps. Every stored tensor carries a layout (a permutation of its
// logical NCHW axes); each op asks for the layout it needs and the compiler inserts a copy only
// where the bytes differ. Linear operators absorb the per-channel epilogue a TFLite CPU runtime
// fuses (batch-norm, bias add, hard-sigmoid, relu/relu6/clip clamps) into weights and clamps.
#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <map>
#include <optional>
#include <set>

#include "compiler.hpp"
#include "nnjoule/common/error.hpp"
#include "nnjoule/exec/reference.hpp"
#include "nnjoule/graph/ops.hpp"

namespace nnjoule::exec::detail {
namespace {

constexpr float kInf = std::numeric_limits<float>::infinity();

using graph::Graph;
using graph::Node;
constexpr int64_t kAlign = 64;

[[noreturn]] void node_fail(const Node& n, const std::string& what) {
  fail("node '{}' ({}): {}", n.name, n.op_type, what);
}

void xnn_check(xnn_status s, const std::string& node, const char* what) {
  if (s != xnn_status_success) {
    fail("node '{}': XNNPACK {} failed ({})", node, what, xnn_status_name(s));
  }
}

std::string perm_str(const Perm& p) {
  std::string s;
  for (int d : p) s += static_cast<char>('0' + d);
  return s;
}

DimMap ident(int d, int64_t len) {
  DimMap m{d, std::vector<int64_t>(static_cast<size_t>(len))};
  for (int64_t i = 0; i < len; ++i) m.idx[i] = i;
  return m;
}

Perm inverse(const Perm& p) {
  Perm inv(p.size());
  for (size_t i = 0; i < p.size(); ++i) inv[p[i]] = static_cast<int>(i);
  return inv;
}

// The runner of an XNNPACK operator; checks the status so a failure is never silent.
std::function<void()> xnn_runner(std::shared_ptr<XnnOp> op, pthreadpool_t pool, std::string name) {
  return [op = std::move(op), pool, name = std::move(name)] {
    const xnn_status s = xnn_run_operator(op->op, pool);
    if (s != xnn_status_success)
      fail("node '{}': XNNPACK run failed ({})", name, xnn_status_name(s));
  };
}

std::vector<size_t> to_sizes(const Shape& s) {
  return {s.begin(), s.end()};
}

}  // namespace

Compiler::Compiler(const Graph& g, CompiledModel::Impl& m) : g_(g), m_(m) {}

// ---- values ----

int Compiler::add_value(Value v) {
  m_.values.push_back(std::move(v));
  return static_cast<int>(m_.values.size()) - 1;
}

int Compiler::new_value(const std::string& name, const Shape& shape, const Perm& perm) {
  int64_t bytes = static_cast<int64_t>(sizeof(float));
  for (int64_t d : shape) {
    if (d <= 0 || __builtin_mul_overflow(bytes, d, &bytes)) {
      fail("tensor '{}' {} is too large to address", name, graph::shape_str(shape));
    }
  }
  // XNNPACK may read XNN_EXTRA_BYTES past the end of an input.
  bytes = (bytes + XNN_EXTRA_BYTES + kAlign - 1) / kAlign * kAlign;
  m_.buffers.push_back(Buffer{bytes});
  Value v{name, shape, perm};
  v.buffer = static_cast<int>(m_.buffers.size()) - 1;
  return add_value(std::move(v));
}

int Compiler::alias(int src, const Shape& shape, const Perm& perm) {
  Value v = m_.values[src];
  v.shape = shape;
  v.perm = perm;
  return add_value(std::move(v));
}

int Compiler::constant_value(const std::string& name, const Shape& shape, const Perm& perm,
                             std::vector<float> physical) {
  m_.constant_bytes += static_cast<int64_t>(physical.size() * sizeof(float));
  physical.resize(physical.size() + XNN_EXTRA_BYTES / sizeof(float), 0.f);
  m_.constants.push_back(std::move(physical));
  Value v{name, shape, perm};
  v.constant = static_cast<int>(m_.constants.size()) - 1;
  return add_value(std::move(v));
}

int Compiler::value_of(const std::string& t) {
  if (auto it = val_.find(t); it != val_.end()) return it->second;
  if (g_.is_constant(t)) {
    const auto& c = g_.constant(t);
    if (c.dtype != graph::DType::kFloat32) {
      fail("tensor '{}' is {}: the engine computes on float32 tensors only", t,
           graph::dtype_name(c.dtype));
    }
    if (!c.materialized()) fail("constant '{}' has no values (a shape-only graph)", t);
    const int v = constant_value(t, c.shape, identity_perm(c.shape.size()), c.f32);
    val_[t] = v;
    return v;
  }
  fail("tensor '{}' has no producer", t);
}

const float* Compiler::constant_data(int v) const {
  return m_.constants[m_.values[v].constant].data();
}

IndexMap Compiler::build_map(const Value& in, const Shape& out_shape, const Perm& out_perm,
                             const std::vector<DimMap>& maps, float fill) const {
  const auto st = logical_strides(in.shape, in.perm);
  IndexMap m;
  m.fill = fill;
  for (int d : out_perm) {
    const DimMap& dm = maps[d];
    if (static_cast<int64_t>(dm.idx.size()) != out_shape[d]) {
      fail("index map for '{}': axis {} has {} entries, expected {}", in.name, d, dm.idx.size(),
           out_shape[d]);
    }
    std::vector<int64_t> t(dm.idx.size());
    for (size_t i = 0; i < t.size(); ++i)
      t[i] = dm.idx[i] == kFill ? kFill : dm.idx[i] * st[dm.src];
    m.add_axis(std::move(t));
  }
  m.simplify();
  return m;
}

int Compiler::ensure(int v, const Perm& p, bool output_io) {
  const Value x = m_.values[v];
  if (x.perm == p) return v;
  if (same_bytes(x.shape, x.perm, p)) return alias(v, x.shape, p);
  if (auto it = converted_.find({v, p}); it != converted_.end()) return it->second;
  std::vector<DimMap> maps;
  for (size_t d = 0; d < x.shape.size(); ++d)
    maps.push_back(ident(static_cast<int>(d), x.shape[d]));
  IndexMap map = build_map(x, x.shape, p, maps, 0.f);
  int out;
  if (x.constant >= 0) {
    std::vector<float> data(static_cast<size_t>(x.numel()));
    map.run(constant_data(v), data.data(), Parallel{});
    out = constant_value(x.name, x.shape, p, std::move(data));
  } else {
    out = new_value(x.name + "@" + perm_str(p), x.shape, p);
    const bool io = x.graph_input || output_io;
    StepImpl s;
    s.info.name = x.graph_input ? "input:" + x.name : output_io ? "output:" + x.name : x.name;
    s.info.op = "layout";
    s.info.impl = fmt::format("nnjoule:index-copy {}->{}", perm_str(x.perm), perm_str(p));
    s.info.anchor = io ? -1 : anchor_;
    s.info.io = io;
    s.reads = {v};
    s.writes = {out};
    if (io) s.io_map = std::make_shared<IndexMap>(map);
    s.bind = [map, v, out](const BindContext& c) -> std::function<void()> {
      const float* src = c.ptr(v);
      float* dst = c.ptr(out);
      const Parallel par = c.par;
      return [map, src, dst, par] { map.run(src, dst, par); };
    };
    add_step(std::move(s));
    if (!io) ++counts_["layout conversions"];
  }
  converted_[{v, p}] = out;
  return out;
}

void Compiler::add_step(StepImpl s) {
  m_.steps.push_back(std::move(s));
}

StepImpl Compiler::step_for(size_t node, const std::string& op, const std::string& impl,
                            std::vector<size_t> nodes) const {
  StepImpl s;
  s.info.name = g_.nodes[node].name;
  s.info.op = op;
  s.info.impl = impl;
  s.info.nodes = std::move(nodes);
  s.info.anchor = static_cast<long>(node);
  return s;
}

// ---- fusion helpers ----

long Compiler::sole_consumer(const std::string& t) const {
  if (outputs_.count(t)) return -1;
  auto it = consumers_.find(t);
  if (it == consumers_.end() || it->second.size() != 1) return -1;
  const size_t j = it->second[0];
  return done_[j] ? -1 : static_cast<long>(j);
}

std::optional<std::vector<double>> Compiler::per_channel(const std::string& t, const Shape& out,
                                                         int axis, int64_t channels) const {
  if (!g_.is_constant(t)) return std::nullopt;
  const auto& c = g_.constant(t);
  if (c.dtype != graph::DType::kFloat32 || !c.materialized() || c.shape.size() > out.size()) {
    return std::nullopt;
  }
  const size_t off = out.size() - c.shape.size();
  for (size_t i = 0; i < c.shape.size(); ++i) {
    const bool on_axis = static_cast<int>(off + i) == axis;
    if (c.shape[i] != 1 && !(on_axis && c.shape[i] == channels)) return std::nullopt;
  }
  std::vector<double> v(static_cast<size_t>(channels));
  for (int64_t k = 0; k < channels; ++k) v[k] = c.f32.size() == 1 ? c.f32[0] : c.f32[k];
  return v;
}

bool Compiler::absorb_clamp(const Node& c, Clamp& clamp) const {
  Clamp n = clamp;
  if (c.op_type == "Relu") {
    n.lo = std::max(n.lo, 0.f);
  } else if (c.op_type == "Clip") {
    if (c.has_attr("min")) n.lo = std::max(n.lo, c.attr_float("min", 0));
    if (c.has_attr("max")) n.hi = std::min(n.hi, c.attr_float("max", 0));
  } else {
    return false;
  }
  if (!(n.lo < n.hi)) return false;
  clamp = n;
  return true;
}

std::string Compiler::absorb_clamps(std::string t, Clamp& clamp, std::vector<size_t>& nodes) {
  for (long j; (j = sole_consumer(t)) >= 0;) {
    const Node& c = g_.nodes[j];
    if (!absorb_clamp(c, clamp)) break;
    nodes.push_back(static_cast<size_t>(j));
    done_[j] = true;
    ++counts_["activations fused"];
    t = c.outputs[0];
  }
  return t;
}

std::string Compiler::absorb(std::string t, int axis, int64_t channels, Epilogue& e,
                             std::vector<size_t>& nodes) {
  for (long j; (j = sole_consumer(t)) >= 0;) {
    const Node& c = g_.nodes[j];
    const Shape& ts = g_.shape(t);
    const bool free = !e.clamp.bounded();
    if (c.op_type == "BatchNormalization" && free && axis == 1) {
      std::vector<std::optional<std::vector<double>>> p;
      for (size_t i = 1; i < 5; ++i) {
        p.push_back(i < c.inputs.size() ? per_channel(c.inputs[i], {channels}, 0, channels)
                                        : std::nullopt);
      }
      if (!p[0] || !p[1] || !p[2] || !p[3]) break;
      const double eps = c.attr_float("epsilon", 1e-5f);
      for (int64_t k = 0; k < channels; ++k) {
        const double s = (*p[0])[k] / std::sqrt((*p[3])[k] + eps);
        e.scale[k] *= s;
        e.shift[k] = e.shift[k] * s + ((*p[1])[k] - (*p[2])[k] * s);
      }
      e.fused.push_back("bn");
      ++counts_["batch-norms folded"];
    } else if (c.op_type == "Add" && free && g_.shape(c.outputs[0]) == ts) {
      const std::string& other = c.inputs[0] == t ? c.inputs[1] : c.inputs[0];
      auto v = per_channel(other, ts, axis, channels);
      if (!v) break;
      for (int64_t k = 0; k < channels; ++k) e.shift[k] += (*v)[k];
      e.fused.push_back("bias");
    } else if (c.op_type == "HardSigmoid" && free) {
      const double a = c.attr_float("alpha", 0.2f), b = c.attr_float("beta", 0.5f);
      for (int64_t k = 0; k < channels; ++k) {
        e.scale[k] *= a;
        e.shift[k] = e.shift[k] * a + b;
      }
      e.clamp = {0.f, 1.f};
      e.fused.push_back("hsigmoid");
      ++counts_["activations fused"];
    } else if (absorb_clamp(c, e.clamp)) {
      e.fused.push_back(c.op_type == "Relu" ? "relu" : "clip");
      ++counts_["activations fused"];
    } else {
      break;
    }
    nodes.push_back(static_cast<size_t>(j));
    done_[j] = true;
    t = c.outputs[0];
  }
  return t;
}

const std::vector<float>& Compiler::weights(const Node& n, size_t i, const char* what) const {
  if (i >= n.inputs.size() || n.inputs[i].empty()) node_fail(n, fmt::format("missing {}", what));
  const std::string& t = n.inputs[i];
  if (!g_.is_constant(t)) {
    node_fail(n, fmt::format("{} '{}' must be a constant for the engine", what, t));
  }
  const auto& c = g_.constant(t);
  if (c.dtype != graph::DType::kFloat32 || !c.materialized()) {
    node_fail(n, fmt::format("{} '{}' has no float32 values", what, t));
  }
  return c.f32;
}

static std::string fused_label(const std::vector<std::string>& fused) {
  std::string s;
  for (const auto& f : fused) s += " +" + f;
  return s;
}

// ---- convolution ----

void Compiler::lower_conv(size_t i, bool transpose) {
  const Node& n = g_.nodes[i];
  const auto& w = weights(n, 1, "weights");
  const Shape& ws = g_.shape(n.inputs[1]);
  const Shape& xs = g_.shape(n.inputs[0]);
  const auto group = static_cast<uint32_t>(n.attr_int("group", 1));
  const auto s = n.attr_ints("strides", {1, 1});
  const auto p = n.attr_ints("pads", {0, 0, 0, 0});
  const auto d = n.attr_ints("dilations", {1, 1});
  const int64_t N = xs[0], cin = xs[1], H = xs[2], W = xs[3];
  const int64_t KH = ws[2], KW = ws[3];
  const int64_t cout = transpose ? ws[1] * group : ws[0];
  const int64_t gic = cin / group, goc = cout / group;

  Epilogue e{std::vector<double>(cout, 1.0), std::vector<double>(cout, 0.0)};
  if (n.inputs.size() > 2 && !n.inputs[2].empty()) {
    const auto& b = weights(n, 2, "bias");
    for (int64_t k = 0; k < cout; ++k) e.shift[k] = b[k];
  }
  std::vector<size_t> nodes = {i};
  const std::string out = absorb(n.outputs[0], 1, cout, e, nodes);

  // XNNPACK wants [groups][group_output][kh][kw][group_input].
  std::vector<float> kernel(w.size());
  for (int64_t gi = 0; gi < group; ++gi)
    for (int64_t o = 0; o < goc; ++o)
      for (int64_t y = 0; y < KH; ++y)
        for (int64_t x = 0; x < KW; ++x)
          for (int64_t c = 0; c < gic; ++c) {
            const int64_t k = gi * goc + o;
            const int64_t src = transpose ? (((gi * gic + c) * goc + o) * KH + y) * KW + x
                                          : ((k * gic + c) * KH + y) * KW + x;
            kernel[(((gi * goc + o) * KH + y) * KW + x) * gic + c] =
                static_cast<float>(w[src] * e.scale[k]);
          }
  std::vector<float> bias(e.shift.begin(), e.shift.end());
  m_.constant_bytes += static_cast<int64_t>((kernel.size() + bias.size()) * sizeof(float));

  const int in = ensure(value_of(n.inputs[0]), nhwc_perm());
  const int y = new_value(out, g_.shape(out), nhwc_perm());
  val_[out] = y;
  const bool dw = !transpose && gic == 1 && group > 1;
  StepImpl st = step_for(i,
                         transpose ? "convtranspose"
                         : dw      ? "dwconv"
                                   : "conv",
                         transpose ? "xnnpack:deconvolution2d_nhwc_f32"
                                   : "xnnpack:convolution2d_nhwc_f32" + fused_label(e.fused),
                         nodes);
  if (transpose) st.info.impl += fused_label(e.fused);
  st.reads = {in};
  st.writes = {y};
  const Clamp c = e.clamp;
  const std::string name = n.name;
  const auto u = [](int64_t v) { return static_cast<uint32_t>(v); };
  // ONNX pads are (top, left, bottom, right); XNNPACK takes (top, right, bottom, left).
  if (!transpose) {
    // XNNPACK walks the output in tiles of a few rows, each across every output channel, so
    // the whole weight matrix streams through the cache once per row tile. Where the weights
    // outgrow half the L2 and several row tiles reuse them, the output channels are split into
    // parts whose weights stay in L2 (one operator each, writing its channels of the output).
    const Shape& os = g_.shape(n.outputs[0]);
    const int64_t rows = N * os[2] * os[3];
    const int64_t per_channel = (KH * KW * gic + 1) * static_cast<int64_t>(sizeof(float));
    const int64_t budget = l2_cache_bytes() / 2;
    int64_t part = cout;
    if (group == 1 && rows >= 2 * kRowTile && cout * per_channel > budget) {
      const int64_t fit = std::max<int64_t>(kChannelTile, budget / per_channel);
      const int64_t parts = (cout + fit - 1) / fit;  // as few parts as fit, of equal size
      part = ((cout + parts - 1) / parts + kChannelTile - 1) / kChannelTile * kChannelTile;
    }
    std::vector<int64_t> starts;
    for (int64_t c0 = 0; c0 < cout; c0 += part) starts.push_back(c0);
    if (starts.size() > 1) {
      st.info.impl += fmt::format(" x{} (output channels split for L2)", starts.size());
      ++counts_["convolutions split by output channels for L2"];
    }
    std::vector<std::shared_ptr<XnnOp>> ops;
    for (size_t k = 0; k < starts.size(); ++k) ops.push_back(std::make_shared<XnnOp>());
    st.create = [=, kernel = std::move(kernel), bias = std::move(bias)](uint32_t f) {
      for (size_t k = 0; k < starts.size(); ++k) {
        const int64_t c0 = starts[k], cc = std::min(part, cout - c0);
        xnn_check(xnn_create_convolution2d_nhwc_f32(
                      u(p[0]), u(p[3]), u(p[2]), u(p[1]), u(KH), u(KW), u(s[0]), u(s[1]), u(d[0]),
                      u(d[1]), group, static_cast<size_t>(gic),
                      static_cast<size_t>(group == 1 ? cc : goc), static_cast<size_t>(cin),
                      static_cast<size_t>(cout), kernel.data() + c0 * KH * KW * gic,
                      bias.data() + c0, c.lo, c.hi, f, &ops[k]->op),
                  name, "create convolution");
      }
    };
    st.bind = [=](const BindContext& b) -> std::function<void()> {
      std::vector<std::function<void()>> runs;
      for (size_t k = 0; k < starts.size(); ++k) {
        xnn_check(xnn_setup_convolution2d_nhwc_f32(ops[k]->op, N, H, W, b.ptr(in),
                                                   b.ptr(y) + starts[k], b.pool),
                  name, "setup convolution");
        runs.push_back(xnn_runner(ops[k], b.pool, name));
      }
      if (runs.size() == 1) return runs[0];
      return [runs] {
        for (const auto& r : runs) r();
      };
    };
  } else {
    const auto adj = n.attr_ints("output_padding", {0, 0});
    auto op = std::make_shared<XnnOp>();
    st.create = [=, kernel = std::move(kernel), bias = std::move(bias)](uint32_t f) {
      xnn_check(
          xnn_create_deconvolution2d_nhwc_f32(
              u(p[0]), u(p[3]), u(p[2]), u(p[1]), u(KH), u(KW), u(s[0]), u(s[1]), u(d[0]), u(d[1]),
              group, static_cast<size_t>(gic), static_cast<size_t>(goc), static_cast<size_t>(cin),
              static_cast<size_t>(cout), kernel.data(), bias.data(), c.lo, c.hi, f, &op->op),
          name, "create deconvolution");
    };
    st.bind = [=](const BindContext& b) {
      xnn_check(xnn_setup_deconvolution2d_nhwc_f32(op->op, N, H, W, u(adj[0]), u(adj[1]), b.ptr(in),
                                                   b.ptr(y), b.pool),
                name, "setup deconvolution");
      return xnn_runner(op, b.pool, name);
    };
  }
  add_step(std::move(st));
}

// Standalone batch-norm: a 1x1 depthwise convolution (XNNPACK runs it as a per-channel
// multiply-add) for 4-D tensors, a plain per-channel affine loop otherwise.
void Compiler::lower_batchnorm(size_t i) {
  const Node& n = g_.nodes[i];
  const Shape& xs = g_.shape(n.inputs[0]);
  const int64_t C = xs[1];
  const double eps = n.attr_float("epsilon", 1e-5f);
  std::vector<const std::vector<float>*> p;
  for (size_t k = 1; k < 5; ++k) p.push_back(&weights(n, k, "batch-norm parameter"));
  Epilogue e{std::vector<double>(C), std::vector<double>(C)};
  for (int64_t k = 0; k < C; ++k) {
    e.scale[k] = (*p[0])[k] / std::sqrt((*p[3])[k] + eps);
    e.shift[k] = (*p[1])[k] - (*p[2])[k] * e.scale[k];
  }
  std::vector<size_t> nodes = {i};
  const std::string out = absorb(n.outputs[0], 1, C, e, nodes);
  const std::string name = n.name;
  if (xs.size() == 4) {
    const int64_t N = xs[0], H = xs[2], W = xs[3];
    std::vector<float> kernel(e.scale.begin(), e.scale.end()), bias(e.shift.begin(), e.shift.end());
    const int in = ensure(value_of(n.inputs[0]), nhwc_perm());
    const int y = new_value(out, g_.shape(out), nhwc_perm());
    val_[out] = y;
    auto op = std::make_shared<XnnOp>();
    StepImpl st = step_for(
        i, "bn", "xnnpack:convolution2d_nhwc_f32 (1x1 depthwise)" + fused_label(e.fused), nodes);
    st.reads = {in};
    st.writes = {y};
    const Clamp c = e.clamp;
    st.create = [=, kernel = std::move(kernel), bias = std::move(bias)](uint32_t f) {
      xnn_check(xnn_create_convolution2d_nhwc_f32(
                    0, 0, 0, 0, 1, 1, 1, 1, 1, 1, static_cast<uint32_t>(C), 1, 1, C, C,
                    kernel.data(), bias.data(), c.lo, c.hi, f, &op->op),
                name, "create convolution");
    };
    st.bind = [=](const BindContext& b) {
      xnn_check(xnn_setup_convolution2d_nhwc_f32(op->op, N, H, W, b.ptr(in), b.ptr(y), b.pool),
                name, "setup convolution");
      return xnn_runner(op, b.pool, name);
    };
    add_step(std::move(st));
    return;
  }
  ChannelAffineKernel k;
  k.outer = xs[0];
  k.channels = C;
  k.inner = graph::numel(xs) / (xs[0] * C);
  k.scale.assign(e.scale.begin(), e.scale.end());
  k.shift.assign(e.shift.begin(), e.shift.end());
  k.lo = e.clamp.lo;
  k.hi = e.clamp.hi;
  const int in = ensure(value_of(n.inputs[0]), identity_perm(xs.size()));
  const int y = new_value(out, g_.shape(out), identity_perm(xs.size()));
  val_[out] = y;
  StepImpl st = step_for(i, "bn", "nnjoule:channel-affine" + fused_label(e.fused), nodes);
  st.reads = {in};
  st.writes = {y};
  st.bind = [k, in, y](const BindContext& b) -> std::function<void()> {
    const float* x = b.ptr(in);
    float* o = b.ptr(y);
    const Parallel par = b.par;
    return [k, x, o, par] { k.run(x, o, par); };
  };
  add_step(std::move(st));
}

// ---- pooling ----

void Compiler::lower_pool(size_t i) {
  const Node& n = g_.nodes[i];
  const bool is_max = n.op_type == "MaxPool";
  const Shape& xs = g_.shape(n.inputs[0]);
  const Shape& os = g_.shape(n.outputs[0]);
  const auto k = n.require_ints("kernel_shape");
  const auto s = n.attr_ints("strides", {1, 1});
  auto p = n.attr_ints("pads", {0, 0, 0, 0});
  const auto d = n.attr_ints("dilations", {1, 1});
  const int64_t N = xs[0], C = xs[1];
  int64_t H = xs[2], W = xs[3];
  if (!is_max && (d[0] != 1 || d[1] != 1)) node_fail(n, "dilated average pooling is not supported");
  int in = ensure(value_of(n.inputs[0]), nhwc_perm());
  if (k[0] * k[1] == 1) {
    // A 1x1 window is a strided slice (ONNX forbids padding it).
    Value x = m_.values[in];
    std::vector<DimMap> maps = {ident(0, N), ident(1, C), {2, {}}, {3, {}}};
    for (int64_t o = 0; o < os[2]; ++o) maps[2].idx.push_back(o * s[0]);
    for (int64_t o = 0; o < os[3]; ++o) maps[3].idx.push_back(o * s[1]);
    lower_index_copy(i, is_max ? "maxpool" : "avgpool", x, in, n.outputs[0], os, nhwc_perm(), maps,
                     0.f);
    return;
  }
  Clamp c;
  std::vector<size_t> nodes = {i};
  const std::string out = absorb_clamps(n.outputs[0], c, nodes);
  const std::string name = n.name;
  std::string impl =
      is_max ? "xnnpack:max_pooling2d_nhwc_f32" : "xnnpack:average_pooling2d_nhwc_f32";
  const bool include_pad = n.attr_int("count_include_pad", 0) != 0;
  std::vector<std::shared_ptr<XnnOp>> pad_op;
  int padded = -1;
  Shape pre, post;
  if (!is_max && include_pad && (p[0] || p[1] || p[2] || p[3])) {
    // Padding that counts in the divisor: pad with real zeros first.
    H += p[0] + p[2];
    W += p[1] + p[3];
    padded = new_value(n.outputs[0] + "@padded", {N, C, H, W}, nhwc_perm());
    pre = {0, p[0], p[1], 0};
    post = {0, p[2], p[3], 0};
    p = {0, 0, 0, 0};
    impl = "xnnpack:constant_pad_nd_x32 + " + impl;
  }
  // Ceil mode: extra bottom/right padding, which XNNPACK leaves out of max and average alike.
  const int64_t eh = (os[2] - 1) * s[0] + (k[0] - 1) * d[0] + 1 - (H + p[0] + p[2]);
  const int64_t ew = (os[3] - 1) * s[1] + (k[1] - 1) * d[1] + 1 - (W + p[1] + p[3]);
  if (eh > 0) p[2] += eh;
  if (ew > 0) p[3] += ew;
  const int y = new_value(out, g_.shape(out), nhwc_perm());
  val_[out] = y;
  StepImpl st =
      step_for(i, is_max ? "maxpool" : "avgpool",
               impl + fused_label(std::vector<std::string>(nodes.size() - 1, "clamp")), nodes);
  st.reads = {in};
  st.writes = padded >= 0 ? std::vector<int>{padded, y} : std::vector<int>{y};
  auto op = std::make_shared<XnnOp>();
  auto pop = std::make_shared<XnnOp>();
  const auto u = [](int64_t v) { return static_cast<uint32_t>(v); };
  st.create = [=](uint32_t f) {
    if (is_max) {
      xnn_check(xnn_create_max_pooling2d_nhwc_f32(u(p[0]), u(p[3]), u(p[2]), u(p[1]), u(k[0]),
                                                  u(k[1]), u(s[0]), u(s[1]), u(d[0]), u(d[1]), C, C,
                                                  C, c.lo, c.hi, f, &op->op),
                name, "create max pooling");
    } else {
      xnn_check(xnn_create_average_pooling2d_nhwc_f32(u(p[0]), u(p[3]), u(p[2]), u(p[1]), u(k[0]),
                                                      u(k[1]), u(s[0]), u(s[1]), C, C, C, c.lo,
                                                      c.hi, f, &op->op),
                name, "create average pooling");
    }
    if (padded >= 0) {
      const float zero = 0.f;
      xnn_check(xnn_create_constant_pad_nd_x32(&zero, f, &pop->op), name, "create pad");
    }
  };
  const Shape xphys = {xs[0], xs[2], xs[3], xs[1]};
  st.bind = [=](const BindContext& b) -> std::function<void()> {
    const float* src = b.ptr(in);
    if (padded >= 0) {
      const auto shape = to_sizes(xphys), pr = to_sizes(pre), po = to_sizes(post);
      xnn_check(xnn_setup_constant_pad_nd_x32(pop->op, 4, shape.data(), pr.data(), po.data(), src,
                                              b.ptr(padded), b.pool),
                name, "setup pad");
      src = b.ptr(padded);
    }
    if (is_max) {
      xnn_check(xnn_setup_max_pooling2d_nhwc_f32(op->op, N, H, W, src, b.ptr(y), b.pool), name,
                "setup max pooling");
    } else {
      xnn_check(xnn_setup_average_pooling2d_nhwc_f32(op->op, N, H, W, src, b.ptr(y), b.pool), name,
                "setup average pooling");
    }
    auto run = xnn_runner(op, b.pool, name);
    if (padded < 0) return run;
    auto run_pad = xnn_runner(pop, b.pool, name);
    return [run_pad, run] {
      run_pad();
      run();
    };
  };
  add_step(std::move(st));
}

// Mean over spatial axes of a 4-D tensor runs on XNNPACK; any other mean is a plain loop.
void Compiler::lower_mean(size_t i) {
  const Node& n = g_.nodes[i];
  const Shape& xs = g_.shape(n.inputs[0]);
  const Shape& os = g_.shape(n.outputs[0]);
  std::set<int> axes;
  const bool gap = n.op_type == "GlobalAveragePool";
  bool keep = true;
  if (gap) {
    for (size_t a = 2; a < xs.size(); ++a) axes.insert(static_cast<int>(a));
  } else {
    keep = n.attr_int("keepdims", 1) != 0;
    for (int64_t a : n.attr_ints("axes")) {
      axes.insert(static_cast<int>(a < 0 ? a + static_cast<int64_t>(xs.size()) : a));
    }
    if (axes.empty())
      for (size_t a = 0; a < xs.size(); ++a) axes.insert(static_cast<int>(a));
  }
  const std::string name = n.name;
  if (xs.size() == 4 && axes == std::set<int>{2, 3}) {
    Clamp c;
    std::vector<size_t> nodes = {i};
    const std::string out = absorb_clamps(n.outputs[0], c, nodes);
    const int64_t N = xs[0], C = xs[1], HW = xs[2] * xs[3];
    const int in = ensure(value_of(n.inputs[0]), nhwc_perm());
    const int y4 = new_value(out, {N, C, 1, 1}, nhwc_perm());
    // Without keepdims the [N,C] result has the same bytes as [N,C,1,1] in NHWC.
    val_[out] = keep ? y4 : alias(y4, os, identity_perm(os.size()));
    StepImpl st = step_for(i, "gap", "xnnpack:global_average_pooling_nwc_f32", nodes);
    st.reads = {in};
    st.writes = {y4};
    auto op = std::make_shared<XnnOp>();
    st.create = [=](uint32_t f) {
      xnn_check(xnn_create_global_average_pooling_nwc_f32(C, C, C, c.lo, c.hi, f, &op->op), name,
                "create global average pooling");
    };
    st.bind = [=](const BindContext& b) {
      xnn_check(
          xnn_setup_global_average_pooling_nwc_f32(op->op, N, HW, b.ptr(in), b.ptr(y4), b.pool),
          name, "setup global average pooling");
      return xnn_runner(op, b.pool, name);
    };
    add_step(std::move(st));
    return;
  }
  const int in = value_of(n.inputs[0]);
  const Value x = m_.values[in];
  ReduceKernel k;
  k.dims = physical_shape(x.shape, x.perm);
  for (int d : x.perm) k.reduce.push_back(axes.count(d) != 0);
  // The output keeps the input's layout over the axes that remain.
  Shape kept = x.shape;
  for (int a : axes) kept[a] = 1;
  const int y = new_value(n.outputs[0], kept, x.perm);
  if (keep) {
    val_[n.outputs[0]] = y;
  } else {
    Perm p;
    for (int d : x.perm) {
      if (axes.count(d)) continue;
      int shift = 0;
      for (int a : axes) shift += a < d;
      p.push_back(d - shift);
    }
    val_[n.outputs[0]] = alias(y, os, p);
  }
  StepImpl st = step_for(i, "reducemean", "nnjoule:reduce-mean", {i});
  st.reads = {in};
  st.writes = {y};
  st.bind = [k, in, y](const BindContext& b) -> std::function<void()> {
    const float* src = b.ptr(in);
    float* dst = b.ptr(y);
    return [k, src, dst] { k.run(src, dst); };
  };
  add_step(std::move(st));
}

// ---- fully connected and matrix products ----

void Compiler::add_fc_step(size_t i, const std::vector<size_t>& nodes, int in, int y, int64_t batch,
                           int64_t K, int64_t N, std::vector<float> kernel, std::vector<float> bias,
                           Clamp c, const std::string& label) {
  const std::string name = g_.nodes[i].name;
  m_.constant_bytes += static_cast<int64_t>((kernel.size() + bias.size()) * sizeof(float));
  StepImpl st = step_for(i, "fc", "xnnpack:fully_connected_nc_f32" + label, nodes);
  st.reads = {in};
  st.writes = {y};
  auto op = std::make_shared<XnnOp>();
  st.create = [=, kernel = std::move(kernel), bias = std::move(bias)](uint32_t f) {
    xnn_check(xnn_create_fully_connected_nc_f32(K, N, K, N, kernel.data(), bias.data(), c.lo, c.hi,
                                                f, &op->op),
              name, "create fully connected");
  };
  st.bind = [=](const BindContext& b) {
    xnn_check(xnn_setup_fully_connected_nc_f32(op->op, batch, b.ptr(in), b.ptr(y), b.pool), name,
              "setup fully connected");
    return xnn_runner(op, b.pool, name);
  };
  add_step(std::move(st));
}

void Compiler::lower_gemm(size_t i) {
  const Node& n = g_.nodes[i];
  const Shape& as = g_.shape(n.inputs[0]);
  const Shape& bs = g_.shape(n.inputs[1]);
  const Shape& os = g_.shape(n.outputs[0]);
  const bool ta = n.attr_int("transA", 0) != 0, tb = n.attr_int("transB", 0) != 0;
  const double alpha = n.attr_float("alpha", 1.f), beta = n.attr_float("beta", 1.f);
  if (!g_.is_constant(n.inputs[1])) {
    node_fail(n, "Gemm with a runtime B operand is not supported by the engine (MatMul is)");
  }
  const auto& b = weights(n, 1, "B");
  const int64_t M = os[0], N = os[1], K = ta ? as[0] : as[1];
  std::vector<float> kernel(static_cast<size_t>(N * K));
  const bool has_c = n.inputs.size() > 2 && !n.inputs[2].empty();
  std::optional<std::vector<double>> cvec;
  if (has_c) cvec = per_channel(n.inputs[2], os, 1, N);
  const bool c_add = has_c && !cvec;  // a runtime or full-matrix C: a separate add
  Epilogue e{std::vector<double>(N, 1.0), std::vector<double>(N, 0.0)};
  if (cvec)
    for (int64_t k = 0; k < N; ++k) e.shift[k] = beta * (*cvec)[k];
  std::vector<size_t> nodes = {i};
  const std::string out = c_add ? n.outputs[0] : absorb(n.outputs[0], 1, N, e, nodes);
  for (int64_t o = 0; o < N; ++o)
    for (int64_t k = 0; k < K; ++k) {
      const float v = tb ? b[o * bs[1] + k] : b[k * bs[1] + o];
      kernel[o * K + k] = static_cast<float>(alpha * v * e.scale[o]);
    }
  std::vector<float> bias(e.shift.begin(), e.shift.end());
  int a = value_of(n.inputs[0]);
  if (ta) a = alias(ensure(a, {0, 1}), {as[1], as[0]}, {1, 0});
  a = ensure(a, {0, 1});
  const int y = new_value(c_add ? out + "@ab" : out, os, {0, 1});
  add_fc_step(i, nodes, a, y, M, K, N, std::move(kernel), std::move(bias), e.clamp,
              fused_label(e.fused));
  if (!c_add) {
    val_[out] = y;
    return;
  }
  int cv = value_of(n.inputs[2]);
  if (beta != 1.0) {
    const Value c = m_.values[cv];
    if (c.constant < 0) node_fail(n, "a runtime C with beta != 1 is not supported by the engine");
    std::vector<float> scaled(static_cast<size_t>(c.numel()));
    for (size_t k = 0; k < scaled.size(); ++k) {
      scaled[k] = static_cast<float>(beta * m_.constants[c.constant][k]);
    }
    cv = constant_value(c.name + "@beta", c.shape, c.perm, std::move(scaled));
  }
  Clamp c;
  std::vector<size_t> add_nodes;
  const std::string final_out = absorb_clamps(out, c, add_nodes);
  val_[final_out] = make_binary(i, "Add", y, cv, final_out, os, c, add_nodes);
}

void Compiler::lower_matmul(size_t i) {
  const Node& n = g_.nodes[i];
  const Shape& as = g_.shape(n.inputs[0]);
  const Shape& bs = g_.shape(n.inputs[1]);
  const Shape& os = g_.shape(n.outputs[0]);
  const bool b_const = g_.is_constant(n.inputs[1]);
  if (b_const && bs.size() <= 2 && !g_.is_constant(n.inputs[0])) {
    // A runtime activation times a weight matrix: one fully connected operator.
    const auto& b = weights(n, 1, "B");
    const int64_t K = bs[0], N = bs.size() == 2 ? bs[1] : 1;
    const int64_t batch = graph::numel(as) / K;
    Epilogue e{std::vector<double>(N, 1.0), std::vector<double>(N, 0.0)};
    std::vector<size_t> nodes = {i};
    std::string out = n.outputs[0];
    if (bs.size() == 2 && !os.empty()) {
      out = absorb(out, static_cast<int>(os.size()) - 1, N, e, nodes);
    }
    std::vector<float> kernel(static_cast<size_t>(N * K));
    for (int64_t o = 0; o < N; ++o)
      for (int64_t k = 0; k < K; ++k)
        kernel[o * K + k] = static_cast<float>(b[k * N + o] * e.scale[o]);
    std::vector<float> bias(e.shift.begin(), e.shift.end());
    const int a = ensure(value_of(n.inputs[0]), identity_perm(as.size()));
    const Shape& final_shape = g_.shape(out);
    const int y = new_value(out, final_shape, identity_perm(final_shape.size()));
    val_[out] = y;
    add_fc_step(i, nodes, a, y, batch, K, N, std::move(kernel), std::move(bias), e.clamp,
                fused_label(e.fused));
    return;
  }
  // A batched product: one fully connected operator per output batch, B as its [K, N]
  // weights. A constant B is packed once here; a runtime B is packed on every run, which is
  // what any runtime must do with weights it has not seen (still ~10x a plain loop).
  Shape a2 = as, b2 = bs;
  if (a2.size() == 1) a2.insert(a2.begin(), 1);
  if (b2.size() == 1) b2.push_back(1);
  const int64_t M = a2[a2.size() - 2], K = a2.back(), N = b2.back();
  Shape ab(a2.begin(), a2.end() - 2), bb(b2.begin(), b2.end() - 2);
  const size_t r = std::max(ab.size(), bb.size());
  ab.insert(ab.begin(), r - ab.size(), 1);
  bb.insert(bb.begin(), r - bb.size(), 1);
  Shape ob(r);
  for (size_t d = 0; d < r; ++d) ob[d] = std::max(ab[d], bb[d]);
  std::vector<int64_t> a_off, b_off;  // per output batch, in elements
  for (int64_t flat = 0; flat < graph::numel(ob); ++flat) {
    int64_t rem = flat, ao = 0, bo = 0, am = 1, bm = 1;
    for (int64_t d = static_cast<int64_t>(r) - 1; d >= 0; --d) {
      const int64_t idx = rem % ob[d];
      rem /= ob[d];
      if (ab[d] != 1) ao += idx * am;
      if (bb[d] != 1) bo += idx * bm;
      am *= ab[d];
      bm *= bb[d];
    }
    a_off.push_back(ao * M * K);
    b_off.push_back(bo * K * N);
  }
  const int a = ensure(value_of(n.inputs[0]), identity_perm(as.size()));
  const int b = ensure(value_of(n.inputs[1]), identity_perm(bs.size()));
  const int y = new_value(n.outputs[0], os, identity_perm(os.size()));
  val_[n.outputs[0]] = y;
  const bool constant_b = m_.values[b].constant >= 0;
  StepImpl st = step_for(i, "matmul",
                         constant_b ? "xnnpack:fully_connected_nc_f32 per batch"
                                    : "xnnpack:fully_connected_nc_f32 per batch, B packed per run",
                         {i});
  st.reads = {a, b};
  st.writes = {y};
  const std::string name = n.name;
  const size_t batches = a_off.size();
  std::vector<std::shared_ptr<XnnOp>> ops;
  for (size_t k = 0; k < batches; ++k) ops.push_back(std::make_shared<XnnOp>());
  const size_t uM = static_cast<size_t>(M), uK = static_cast<size_t>(K),
               uN = static_cast<size_t>(N);
  if (constant_b) {
    const float* bdata = constant_data(b);
    st.create = [=](uint32_t f) {
      for (size_t k = 0; k < batches; ++k) {
        xnn_check(
            xnn_create_fully_connected_nc_f32(uK, uN, uK, uN, bdata + b_off[k], nullptr, -kInf,
                                              kInf, XNN_FLAG_TRANSPOSE_WEIGHTS | f, &ops[k]->op),
            name, "create fully connected");
      }
    };
    st.bind = [=](const BindContext& c) -> std::function<void()> {
      std::vector<std::function<void()>> runs;
      for (size_t k = 0; k < batches; ++k) {
        xnn_check(
            xnn_setup_fully_connected_nc_f32(ops[k]->op, uM, c.ptr(a) + a_off[k],
                                             c.ptr(y) + static_cast<int64_t>(k) * M * N, c.pool),
            name, "setup fully connected");
        runs.push_back(xnn_runner(ops[k], c.pool, name));
      }
      return [runs] {
        for (const auto& run : runs) run();
      };
    };
  } else {
    st.bind = [=](const BindContext& c) -> std::function<void()> {
      const float* pa = c.ptr(a);
      const float* pb = c.ptr(b);
      float* py = c.ptr(y);
      pthreadpool_t pool = c.pool;
      const uint32_t f = XNN_FLAG_TRANSPOSE_WEIGHTS | c.xnn_flags;
      return [=] {
        for (size_t k = 0; k < batches; ++k) {
          XnnOp op;
          xnn_check(xnn_create_fully_connected_nc_f32(uK, uN, uK, uN, pb + b_off[k], nullptr, -kInf,
                                                      kInf, f, &op.op),
                    name, "create fully connected");
          xnn_check(xnn_setup_fully_connected_nc_f32(op.op, uM, pa + a_off[k],
                                                     py + static_cast<int64_t>(k) * M * N, pool),
                    name, "setup fully connected");
          xnn_check(xnn_run_operator(op.op, pool), name, "run fully connected");
        }
      };
    };
  }
  add_step(std::move(st));
}

// ---- elementwise ----

int Compiler::expand_rank(int v, size_t rank) {
  const Value x = m_.values[v];
  const size_t k = rank - x.shape.size();
  if (k == 0) return v;
  Shape s(k, 1);
  s.insert(s.end(), x.shape.begin(), x.shape.end());
  Perm p = identity_perm(k);
  for (int d : x.perm) p.push_back(d + static_cast<int>(k));
  return alias(v, s, p);
}

int Compiler::make_binary(size_t node, const std::string& op, int va, int vb,
                          const std::string& out, const Shape& os, Clamp c,
                          std::vector<size_t> nodes) {
  const size_t r = os.size();
  va = expand_rank(va, r);
  vb = expand_rank(vb, r);
  // The output takes the layout of the operand that has its full shape, so only a broadcast
  // operand may need converting.
  Perm p = identity_perm(r);
  for (int v : {va, vb}) {
    const Value& x = m_.values[v];
    if (x.constant < 0 && x.shape == os) {
      p = x.perm;
      break;
    }
  }
  va = ensure(va, p);
  vb = ensure(vb, p);
  const int y = new_value(out, os, p);
  // Physical shapes, with size-1 axes dropped and neighbours of equal broadcast merged.
  const Shape ps = physical_shape(os, p);
  const Shape pa0 = physical_shape(m_.values[va].shape, p);
  const Shape pb0 = physical_shape(m_.values[vb].shape, p);
  Shape pa, pb;
  for (size_t j = 0; j < r; ++j) {
    if (ps[j] == 1) continue;
    const bool fa = pa0[j] != 1, fb = pb0[j] != 1;
    if (!pa.empty() && (pa.back() != 1) == fa && (pb.back() != 1) == fb) {
      pa.back() *= pa0[j];
      pb.back() *= pb0[j];
    } else {
      pa.push_back(pa0[j]);
      pb.push_back(pb0[j]);
    }
  }
  if (pa.empty()) pa = pb = {1};
  const Node& n = g_.nodes[node];
  if (pa.size() > XNN_MAX_TENSOR_DIMS) {
    node_fail(n, fmt::format("broadcast over {} axes exceeds XNNPACK's {}", pa.size(),
                             XNN_MAX_TENSOR_DIMS));
  }
  std::string kind = op == "Add" ? "add" : op == "Sub" ? "sub" : op == "Mul" ? "mul" : "div";
  const char* impl = op == "Add"   ? "xnnpack:add_nd_f32"
                     : op == "Sub" ? "xnnpack:subtract_nd_f32"
                     : op == "Mul" ? "xnnpack:multiply_nd_f32"
                                   : "xnnpack:divide_nd_f32";
  nodes.insert(nodes.begin(), node);
  StepImpl st = step_for(
      node, kind, impl + fused_label(std::vector<std::string>(nodes.size() - 1, "clamp")), nodes);
  st.reads = {va, vb};
  st.writes = {y};
  auto xop = std::make_shared<XnnOp>();
  const std::string name = n.name;
  st.create = [=](uint32_t f) {
    xnn_status s;
    if (op == "Add")
      s = xnn_create_add_nd_f32(c.lo, c.hi, f, &xop->op);
    else if (op == "Sub")
      s = xnn_create_subtract_nd_f32(c.lo, c.hi, f, &xop->op);
    else if (op == "Mul")
      s = xnn_create_multiply_nd_f32(c.lo, c.hi, f, &xop->op);
    else
      s = xnn_create_divide_nd_f32(c.lo, c.hi, f, &xop->op);
    xnn_check(s, name, "create binary operator");
  };
  st.bind = [=](const BindContext& b) {
    const auto sa = to_sizes(pa), sb = to_sizes(pb);
    xnn_status s;
    const float *x1 = b.ptr(va), *x2 = b.ptr(vb);
    float* o = b.ptr(y);
    if (op == "Add") {
      s = xnn_setup_add_nd_f32(xop->op, sa.size(), sa.data(), sb.size(), sb.data(), x1, x2, o,
                               b.pool);
    } else if (op == "Sub") {
      s = xnn_setup_subtract_nd_f32(xop->op, sa.size(), sa.data(), sb.size(), sb.data(), x1, x2, o,
                                    b.pool);
    } else if (op == "Mul") {
      s = xnn_setup_multiply_nd_f32(xop->op, sa.size(), sa.data(), sb.size(), sb.data(), x1, x2, o,
                                    b.pool);
    } else {
      s = xnn_setup_divide_nd_f32(xop->op, sa.size(), sa.data(), sb.size(), sb.data(), x1, x2, o,
                                  b.pool);
    }
    xnn_check(s, name, "setup binary operator");
    return xnn_runner(xop, b.pool, name);
  };
  add_step(std::move(st));
  return y;
}

void Compiler::lower_binary(size_t i) {
  const Node& n = g_.nodes[i];
  Clamp c;
  std::vector<size_t> nodes;
  const std::string out = absorb_clamps(n.outputs[0], c, nodes);
  const int y = make_binary(i, n.op_type, value_of(n.inputs[0]), value_of(n.inputs[1]), out,
                            g_.shape(n.outputs[0]), c, nodes);
  val_[out] = y;
}

void Compiler::lower_unary(size_t i) {
  const Node& n = g_.nodes[i];
  const std::string& op = n.op_type;
  const int in = value_of(n.inputs[0]);
  const Value x = m_.values[in];
  if (op == "Identity") {
    val_[n.outputs[0]] = alias(in, x.shape, x.perm);
    return;
  }
  std::vector<size_t> nodes = {i};
  std::string out = n.outputs[0];
  std::string kind_op = op;
  // x * HardSigmoid(x) with PyTorch's constants is h-swish (how torch exports Hardswish
  // before opset 14): one XNNPACK operator.
  if (op == "HardSigmoid" && std::fabs(n.attr_float("alpha", 0.2f) - 1.f / 6.f) < 1e-6f &&
      n.attr_float("beta", 0.5f) == 0.5f) {
    const long j = sole_consumer(out);
    if (j >= 0 && g_.nodes[j].op_type == "Mul") {
      const Node& mul = g_.nodes[j];
      const std::string& other = mul.inputs[0] == out ? mul.inputs[1] : mul.inputs[0];
      if (other == n.inputs[0] && g_.shape(mul.outputs[0]) == x.shape) {
        done_[j] = true;
        nodes.push_back(static_cast<size_t>(j));
        out = mul.outputs[0];
        kind_op = "HardSwish";
        ++counts_["h-swish patterns recognised"];
      }
    }
  }
  Clamp c;
  if (op == "Relu" || op == "Clip") {
    if (!absorb_clamp(n, c)) node_fail(n, "empty clip range");
    out = absorb_clamps(out, c, nodes);
    if (!c.bounded()) {
      val_[out] = alias(in, x.shape, x.perm);
      return;
    }
  }
  const int y = new_value(out, x.shape, x.perm);
  val_[out] = y;
  const size_t count = static_cast<size_t>(x.numel());
  const std::string name = n.name;
  if (kind_op == "Tanh" || kind_op == "HardSigmoid") {
    UnaryKernel k;
    k.kind = op == "Tanh" ? UnaryKind::kTanh : UnaryKind::kHardSigmoid;
    k.alpha = n.attr_float("alpha", 0.2f);
    k.beta = n.attr_float("beta", 0.5f);
    k.count = static_cast<int64_t>(count);
    StepImpl st = step_for(i, op == "Tanh" ? "tanh" : "hsigmoid", "nnjoule:elementwise", nodes);
    st.reads = {in};
    st.writes = {y};
    st.bind = [k, in, y](const BindContext& b) -> std::function<void()> {
      const float* src = b.ptr(in);
      float* dst = b.ptr(y);
      const Parallel par = b.par;
      return [k, src, dst, par] { k.run(src, dst, par); };
    };
    add_step(std::move(st));
    return;
  }
  std::string kind = kind_op == "Sigmoid"     ? "sigmoid"
                     : kind_op == "HardSwish" ? "hswish"
                     : kind_op == "LeakyRelu" ? "leakyrelu"
                                              : "clamp";
  if (kind_op != "Sigmoid" && kind_op != "HardSwish" && kind_op != "LeakyRelu" &&
      kind_op != "Relu" && kind_op != "Clip") {
    node_fail(n, "op not supported by the execution engine");
  }
  const float slope = n.attr_float("alpha", 0.01f);
  StepImpl st = step_for(i, kind, "xnnpack:" + kind + "_nc_f32", nodes);
  st.reads = {in};
  st.writes = {y};
  auto xop = std::make_shared<XnnOp>();
  st.create = [=](uint32_t f) {
    xnn_status s;
    if (kind_op == "Sigmoid")
      s = xnn_create_sigmoid_nc_f32(count, count, count, f, &xop->op);
    else if (kind_op == "HardSwish")
      s = xnn_create_hardswish_nc_f32(count, count, count, f, &xop->op);
    else if (kind_op == "LeakyRelu") {
      s = xnn_create_leaky_relu_nc_f32(count, count, count, slope, f, &xop->op);
    } else {
      s = xnn_create_clamp_nc_f32(count, count, count, c.lo, c.hi, f, &xop->op);
    }
    xnn_check(s, name, "create elementwise operator");
  };
  st.bind = [=](const BindContext& b) {
    xnn_status s;
    const float* src = b.ptr(in);
    float* dst = b.ptr(y);
    if (kind_op == "Sigmoid")
      s = xnn_setup_sigmoid_nc_f32(xop->op, 1, src, dst, b.pool);
    else if (kind_op == "HardSwish")
      s = xnn_setup_hardswish_nc_f32(xop->op, 1, src, dst, b.pool);
    else if (kind_op == "LeakyRelu")
      s = xnn_setup_leaky_relu_nc_f32(xop->op, 1, src, dst, b.pool);
    else
      s = xnn_setup_clamp_nc_f32(xop->op, 1, src, dst, b.pool);
    xnn_check(s, name, "setup elementwise operator");
    return xnn_runner(xop, b.pool, name);
  };
  add_step(std::move(st));
}

void Compiler::lower_softmax(size_t i) {
  const Node& n = g_.nodes[i];
  const Shape& xs = g_.shape(n.inputs[0]);
  int64_t axis = n.attr_int("axis", -1);
  if (axis < 0) axis += static_cast<int64_t>(xs.size());
  int in = value_of(n.inputs[0]);
  Perm p = m_.values[in].perm;
  if (p.back() != axis) {
    p.clear();
    for (size_t d = 0; d < xs.size(); ++d)
      if (static_cast<int64_t>(d) != axis) p.push_back(static_cast<int>(d));
    p.push_back(static_cast<int>(axis));
  }
  in = ensure(in, p);
  const int y = new_value(n.outputs[0], xs, p);
  val_[n.outputs[0]] = y;
  const size_t len = static_cast<size_t>(xs[axis]);
  const size_t batch = static_cast<size_t>(graph::numel(xs)) / len;
  const std::string name = n.name;
  StepImpl st = step_for(i, "softmax", "xnnpack:softmax_nc_f32", {i});
  st.reads = {in};
  st.writes = {y};
  auto op = std::make_shared<XnnOp>();
  st.create = [=](uint32_t f) {
    xnn_check(xnn_create_softmax_nc_f32(len, len, len, f, &op->op), name, "create softmax");
  };
  st.bind = [=](const BindContext& b) {
    xnn_check(xnn_setup_softmax_nc_f32(op->op, batch, b.ptr(in), b.ptr(y), b.pool), name,
              "setup softmax");
    return xnn_runner(op, b.pool, name);
  };
  add_step(std::move(st));
}

// ---- data movement ----

void Compiler::lower_index_copy(size_t i, const std::string& kind, const Value& x, int in,
                                const std::string& out, const Shape& os, const Perm& out_perm,
                                const std::vector<DimMap>& maps, float fill) {
  IndexMap map = build_map(x, os, out_perm, maps, fill);
  const int y = new_value(out, os, out_perm);
  val_[out] = y;
  StepImpl st = step_for(i, kind, "nnjoule:index-copy", {i});
  st.reads = {in};
  st.writes = {y};
  st.bind = [map, in, y](const BindContext& b) -> std::function<void()> {
    const float* src = b.ptr(in);
    float* dst = b.ptr(y);
    const Parallel par = b.par;
    return [map, src, dst, par] { map.run(src, dst, par); };
  };
  add_step(std::move(st));
}

// Concat and split along any axis are strided row copies: `rows` rows of `cols` contiguous
// floats from one tensor into a column range of another (XNNPACK's copy operator).
void Compiler::lower_concat_split(size_t i, bool concat) {
  const Node& n = g_.nodes[i];
  const Shape& big = g_.shape(concat ? n.outputs[0] : n.inputs[0]);
  int64_t axis = concat ? n.require_int("axis") : n.attr_int("axis", 0);
  if (axis < 0) axis += static_cast<int64_t>(big.size());
  // Use the layout of the first runtime tensor involved.
  Perm p = identity_perm(big.size());
  std::vector<int> parts;
  int whole = -1;
  if (concat) {
    for (const auto& t : n.inputs) parts.push_back(value_of(t));
    for (int v : parts)
      if (m_.values[v].constant < 0) {
        p = m_.values[v].perm;
        break;
      }
    for (auto& v : parts) v = ensure(v, p);
    whole = new_value(n.outputs[0], big, p);
    val_[n.outputs[0]] = whole;
  } else {
    whole = value_of(n.inputs[0]);
    p = m_.values[whole].perm;
    for (const auto& t : n.outputs) {
      const int v = new_value(t, g_.shape(t), p);
      val_[t] = v;
      parts.push_back(v);
    }
  }
  const Shape phys = physical_shape(big, p);
  size_t pa = 0;
  while (p[pa] != axis) ++pa;
  int64_t rows = 1, inner = 1;
  for (size_t j = 0; j < pa; ++j) rows *= phys[j];
  for (size_t j = pa + 1; j < phys.size(); ++j) inner *= phys[j];
  const int64_t total = phys[pa] * inner;
  std::vector<int64_t> cols, offsets;
  int64_t off = 0;
  for (int v : parts) {
    cols.push_back(m_.values[v].shape[axis] * inner);
    offsets.push_back(off);
    off += cols.back();
  }
  const std::string name = n.name;
  StepImpl st = step_for(i, concat ? "concat" : "split", "xnnpack:copy_nc_x32", {i});
  if (concat) {
    st.reads = parts;
    st.writes = {whole};
  } else {
    st.reads = {whole};
    st.writes = parts;
  }
  std::vector<std::shared_ptr<XnnOp>> ops;
  for (size_t k = 0; k < parts.size(); ++k) ops.push_back(std::make_shared<XnnOp>());
  st.create = [=](uint32_t f) {
    for (size_t k = 0; k < ops.size(); ++k) {
      const auto c = static_cast<size_t>(cols[k]);
      xnn_check(xnn_create_copy_nc_x32(c, concat ? c : total, concat ? total : c, f, &ops[k]->op),
                name, "create copy");
    }
  };
  st.bind = [=](const BindContext& b) -> std::function<void()> {
    std::vector<std::function<void()>> runs;
    for (size_t k = 0; k < ops.size(); ++k) {
      const float* src = concat ? b.ptr(parts[k]) : b.ptr(whole) + offsets[k];
      float* dst = concat ? b.ptr(whole) + offsets[k] : b.ptr(parts[k]);
      xnn_check(xnn_setup_copy_nc_x32(ops[k]->op, rows, src, dst, b.pool), name, "setup copy");
      runs.push_back(xnn_runner(ops[k], b.pool, name));
    }
    return [runs] {
      for (const auto& r : runs) r();
    };
  };
  add_step(std::move(st));
}

void Compiler::lower_slice(size_t i) {
  const Node& n = g_.nodes[i];
  const int in = value_of(n.inputs[0]);
  const Value x = m_.values[in];
  const Shape& os = g_.shape(n.outputs[0]);
  const auto starts = n.require_ints("starts");
  auto axes = n.attr_ints("axes");
  auto steps = n.attr_ints("steps");
  if (axes.empty())
    for (size_t k = 0; k < starts.size(); ++k) axes.push_back(static_cast<int64_t>(k));
  if (steps.empty()) steps.assign(starts.size(), 1);
  std::vector<DimMap> maps;
  for (size_t d = 0; d < x.shape.size(); ++d) maps.push_back(ident(static_cast<int>(d), os[d]));
  for (size_t k = 0; k < starts.size(); ++k) {
    const int64_t a = axes[k] < 0 ? axes[k] + static_cast<int64_t>(x.shape.size()) : axes[k];
    const int64_t dim = x.shape[a];
    int64_t st = starts[k] < 0 ? starts[k] + dim : starts[k];
    st = steps[k] > 0 ? std::clamp<int64_t>(st, 0, dim) : std::clamp<int64_t>(st, 0, dim - 1);
    for (int64_t o = 0; o < os[a]; ++o) maps[a].idx[o] = st + o * steps[k];
  }
  lower_index_copy(i, "slice", x, in, n.outputs[0], os, x.perm, maps, 0.f);
}

void Compiler::lower_pad(size_t i) {
  const Node& n = g_.nodes[i];
  const int in = value_of(n.inputs[0]);
  const Value x = m_.values[in];
  const Shape& os = g_.shape(n.outputs[0]);
  const auto pads = n.require_ints("pads");
  const std::string mode = n.attr_string("mode", "constant");
  const float value = n.attr_float("value", 0.f);
  const size_t r = x.shape.size();
  if (mode != "constant" && mode != "reflect" && mode != "edge") {
    node_fail(n, fmt::format("pad mode '{}' is not supported", mode));
  }
  const bool nonneg = std::all_of(pads.begin(), pads.end(), [](int64_t v) { return v >= 0; });
  if (mode == "constant" && nonneg && r <= XNN_MAX_TENSOR_DIMS) {
    const Shape phys = physical_shape(x.shape, x.perm);
    Shape pre, post;
    for (int d : x.perm) {
      pre.push_back(pads[d]);
      post.push_back(pads[d + r]);
    }
    const int y = new_value(n.outputs[0], os, x.perm);
    val_[n.outputs[0]] = y;
    StepImpl st = step_for(i, "pad", "xnnpack:constant_pad_nd_x32", {i});
    st.reads = {in};
    st.writes = {y};
    auto op = std::make_shared<XnnOp>();
    const std::string name = n.name;
    st.create = [=](uint32_t f) {
      xnn_check(xnn_create_constant_pad_nd_x32(&value, f, &op->op), name, "create pad");
    };
    st.bind = [=](const BindContext& b) {
      const auto s = to_sizes(phys), a = to_sizes(pre), z = to_sizes(post);
      xnn_check(xnn_setup_constant_pad_nd_x32(op->op, s.size(), s.data(), a.data(), z.data(),
                                              b.ptr(in), b.ptr(y), b.pool),
                name, "setup pad");
      return xnn_runner(op, b.pool, name);
    };
    add_step(std::move(st));
    return;
  }
  std::vector<DimMap> maps;
  for (size_t d = 0; d < r; ++d) {
    DimMap m{static_cast<int>(d), {}};
    const int64_t len = x.shape[d];
    for (int64_t o = 0; o < os[d]; ++o) {
      int64_t k = o - pads[d];
      if (k < 0 || k >= len) {
        if (mode == "constant")
          k = kFill;
        else if (mode == "edge")
          k = std::clamp<int64_t>(k, 0, len - 1);
        else if (len == 1)
          k = 0;
        else
          while (k < 0 || k >= len) k = k < 0 ? -k : 2 * (len - 1) - k;
      }
      m.idx.push_back(k);
    }
    maps.push_back(std::move(m));
  }
  lower_index_copy(i, "pad", x, in, n.outputs[0], os, x.perm, maps, value);
}

void Compiler::lower_transpose(size_t i) {
  const Node& n = g_.nodes[i];
  const int in = value_of(n.inputs[0]);
  const Value x = m_.values[in];
  auto t = n.attr_ints("perm");
  if (t.empty())
    for (int64_t d = static_cast<int64_t>(x.shape.size()) - 1; d >= 0; --d) t.push_back(d);
  Perm tp;
  for (int64_t d : t)
    tp.push_back(static_cast<int>(d < 0 ? d + static_cast<int64_t>(t.size()) : d));
  // A transpose only relabels axes: the output keeps the input's bytes in a new layout.
  const Perm tinv = inverse(tp);
  Perm q;
  for (int d : x.perm) q.push_back(tinv[d]);
  val_[n.outputs[0]] = alias(in, g_.shape(n.outputs[0]), q);
}

void Compiler::lower_reshape(size_t i) {
  const Node& n = g_.nodes[i];
  const Shape& os = g_.shape(n.outputs[0]);
  const int in = ensure(value_of(n.inputs[0]), identity_perm(g_.shape(n.inputs[0]).size()));
  val_[n.outputs[0]] = alias(in, os, identity_perm(os.size()));
}

// Reshape [N,g,C/g,H,W] -> Transpose(0,2,1,3,4) -> Reshape [N,C,H,W]: one channel shuffle.
bool Compiler::try_channel_shuffle(size_t i) {
  const Node& r1 = g_.nodes[i];
  const Shape& xs = g_.shape(r1.inputs[0]);
  const Shape& s5 = g_.shape(r1.outputs[0]);
  if (xs.size() != 4 || s5.size() != 5 || s5[0] != xs[0] || s5[1] * s5[2] != xs[1] ||
      s5[3] != xs[2] || s5[4] != xs[3]) {
    return false;
  }
  const long j = sole_consumer(r1.outputs[0]);
  if (j < 0 || g_.nodes[j].op_type != "Transpose" ||
      g_.nodes[j].attr_ints("perm") != std::vector<int64_t>{0, 2, 1, 3, 4}) {
    return false;
  }
  const long k = sole_consumer(g_.nodes[j].outputs[0]);
  if (k < 0 || g_.nodes[k].op_type != "Reshape" || g_.shape(g_.nodes[k].outputs[0]) != xs) {
    return false;
  }
  done_[j] = done_[k] = true;
  const std::string out = g_.nodes[k].outputs[0];
  const size_t groups = static_cast<size_t>(s5[1]), gc = static_cast<size_t>(s5[2]);
  const size_t C = static_cast<size_t>(xs[1]);
  const size_t batch = static_cast<size_t>(xs[0] * xs[2] * xs[3]);
  const int in = ensure(value_of(r1.inputs[0]), nhwc_perm());
  const int y = new_value(out, xs, nhwc_perm());
  val_[out] = y;
  StepImpl st = step_for(i, "channelshuffle", "xnnpack:channel_shuffle_nc_x32",
                         {i, static_cast<size_t>(j), static_cast<size_t>(k)});
  st.reads = {in};
  st.writes = {y};
  auto op = std::make_shared<XnnOp>();
  const std::string name = r1.name;
  st.create = [=](uint32_t f) {
    xnn_check(xnn_create_channel_shuffle_nc_x32(groups, gc, C, C, f, &op->op), name,
              "create channel shuffle");
  };
  st.bind = [=](const BindContext& b) {
    xnn_check(xnn_setup_channel_shuffle_nc_x32(op->op, batch, b.ptr(in), b.ptr(y), b.pool), name,
              "setup channel shuffle");
    return xnn_runner(op, b.pool, name);
  };
  add_step(std::move(st));
  ++counts_["channel shuffles recognised"];
  return true;
}

void Compiler::lower_gather(size_t i) {
  const Node& n = g_.nodes[i];
  const int in = value_of(n.inputs[0]);
  const Value x = m_.values[in];
  if (n.inputs.size() < 2 || !g_.is_constant(n.inputs[1])) {
    node_fail(n, "Gather with runtime indices is not supported by the engine");
  }
  const auto& ic = g_.constant(n.inputs[1]);
  if (ic.dtype == graph::DType::kFloat32) node_fail(n, "indices must be integers");
  int64_t axis = n.attr_int("axis", 0);
  if (axis < 0) axis += static_cast<int64_t>(x.shape.size());
  // Gather into the input shape with the axis replaced by the flattened indices, then view.
  Shape flat = x.shape;
  flat[axis] = static_cast<int64_t>(ic.i64.size());
  std::vector<DimMap> maps;
  for (size_t d = 0; d < x.shape.size(); ++d) maps.push_back(ident(static_cast<int>(d), flat[d]));
  for (size_t k = 0; k < ic.i64.size(); ++k) {
    int64_t v = ic.i64[k];
    if (v < -x.shape[axis] || v >= x.shape[axis]) {
      node_fail(n, fmt::format("index {} out of range for an axis of length {}", v, x.shape[axis]));
    }
    maps[axis].idx[k] = v < 0 ? v + x.shape[axis] : v;
  }
  const std::string out = n.outputs[0];
  lower_index_copy(i, "gather", x, in, out + "@flat", flat, identity_perm(flat.size()), maps, 0.f);
  const int flat_v = val_[out + "@flat"];
  val_.erase(out + "@flat");
  const Shape& os = g_.shape(out);
  val_[out] = alias(flat_v, os, identity_perm(os.size()));
}

void Compiler::lower_resize(size_t i) {
  const Node& n = g_.nodes[i];
  const int in = value_of(n.inputs[0]);
  const Value x = m_.values[in];
  const Shape& os = g_.shape(n.outputs[0]);
  const std::string mode = n.attr_string("mode", "nearest");
  const std::string coord = n.attr_string("coordinate_transformation_mode", "half_pixel");
  const std::string nearest = n.attr_string("nearest_mode", "round_prefer_floor");
  const auto& scales = std::get<std::vector<float>>(n.attrs.at("scales"));
  auto source = [&](int64_t o, size_t d) {
    const double s = scales[d];
    const int64_t len = x.shape[d], out_len = os[d];
    if (coord == "half_pixel") return (o + 0.5) / s - 0.5;
    if (coord == "pytorch_half_pixel") return out_len > 1 ? (o + 0.5) / s - 0.5 : 0.0;
    if (coord == "align_corners") {
      return out_len == 1 ? 0.0 : static_cast<double>(o) * (len - 1) / (out_len - 1);
    }
    if (coord == "asymmetric") return o / s;
    if (coord == "tf_half_pixel_for_nn") return (o + 0.5) / s;
    node_fail(n, fmt::format("coordinate_transformation_mode '{}' is not supported", coord));
  };
  if (mode == "nearest") {
    std::vector<DimMap> maps;
    for (size_t d = 0; d < x.shape.size(); ++d) {
      DimMap m{static_cast<int>(d), {}};
      for (int64_t o = 0; o < os[d]; ++o) {
        const double c = source(o, d);
        double r = 0;
        if (nearest == "floor")
          r = std::floor(c);
        else if (nearest == "ceil")
          r = std::ceil(c);
        else if (nearest == "round_prefer_ceil")
          r = std::floor(c + 0.5);
        else if (nearest == "round_prefer_floor")
          r = std::ceil(c - 0.5);
        else
          node_fail(n, fmt::format("nearest_mode '{}' is not supported", nearest));
        m.idx.push_back(std::clamp<int64_t>(static_cast<int64_t>(r), 0, x.shape[d] - 1));
      }
      maps.push_back(std::move(m));
    }
    lower_index_copy(i, "resize", x, in, n.outputs[0], os, x.perm, maps, 0.f);
    return;
  }
  if (mode != "linear") node_fail(n, fmt::format("resize mode '{}' is not supported", mode));
  if (x.shape.size() != 4 || os[0] != x.shape[0] || os[1] != x.shape[1]) {
    node_fail(n, "linear resize is supported on the H and W axes of a 4-D tensor");
  }
  // XNNPACK's bilinear resize derives its scale from the sizes; where ONNX's scale differs
  // (257 / 33 is not a float), or the coordinate mode is one XNNPACK lacks, a plain kernel
  // applies ONNX's rule exactly.
  const bool sizes_match =
      static_cast<double>(os[2]) == x.shape[2] * static_cast<double>(scales[2]) &&
      static_cast<double>(os[3]) == x.shape[3] * static_cast<double>(scales[3]);
  const bool xnn_mode = coord == "half_pixel" || coord == "align_corners" ||
                        coord == "asymmetric" ||
                        (coord == "pytorch_half_pixel" && os[2] > 1 && os[3] > 1);
  if (!sizes_match || !xnn_mode) {
    BilinearKernel k;
    k.N = x.shape[0], k.C = x.shape[1], k.H = x.shape[2], k.W = x.shape[3];
    k.OH = os[2], k.OW = os[3];
    auto table = [&](size_t d, std::vector<int64_t>& i0, std::vector<int64_t>& i1,
                     std::vector<float>& w) {
      const int64_t len = x.shape[d];
      for (int64_t o = 0; o < os[d]; ++o) {
        const double c = std::clamp(source(o, d), 0.0, static_cast<double>(len - 1));
        const auto f = static_cast<int64_t>(std::floor(c));
        i0.push_back(f);
        i1.push_back(std::min(f + 1, len - 1));
        w.push_back(static_cast<float>(c - static_cast<double>(f)));
      }
    };
    table(2, k.y0, k.y1, k.wy);
    table(3, k.x0, k.x1, k.wx);
    const int v = ensure(in, nhwc_perm());
    const int y = new_value(n.outputs[0], os, nhwc_perm());
    val_[n.outputs[0]] = y;
    StepImpl st = step_for(i, "resize", "nnjoule:bilinear", {i});
    st.reads = {v};
    st.writes = {y};
    st.bind = [k, v, y](const BindContext& b) -> std::function<void()> {
      const float* src = b.ptr(v);
      float* dst = b.ptr(y);
      const Parallel par = b.par;
      return [k, src, dst, par] { k.run(src, dst, par); };
    };
    add_step(std::move(st));
    return;
  }
  uint32_t flags = 0;
  if (coord == "align_corners")
    flags = XNN_FLAG_ALIGN_CORNERS;
  else if (coord == "asymmetric")
    flags = XNN_FLAG_TENSORFLOW_LEGACY_MODE;
  const int v = ensure(in, nhwc_perm());
  const int y = new_value(n.outputs[0], os, nhwc_perm());
  val_[n.outputs[0]] = y;
  const size_t N = x.shape[0], C = x.shape[1], H = x.shape[2], W = x.shape[3];
  const size_t OH = os[2], OW = os[3];
  StepImpl st = step_for(i, "resize", "xnnpack:resize_bilinear2d_nhwc_f32", {i});
  st.reads = {v};
  st.writes = {y};
  auto op = std::make_shared<XnnOp>();
  const std::string name = n.name;
  st.create = [=](uint32_t f) {
    xnn_check(xnn_create_resize_bilinear2d_nhwc_f32(C, C, C, flags | f, &op->op), name,
              "create resize");
  };
  st.bind = [=](const BindContext& b) {
    xnn_check(
        xnn_setup_resize_bilinear2d_nhwc_f32(op->op, N, H, W, OH, OW, b.ptr(v), b.ptr(y), b.pool),
        name, "setup resize");
    return xnn_runner(op, b.pool, name);
  };
  add_step(std::move(st));
}

// ---- driver ----

void Compiler::fold_constants() {
  std::map<std::string, Tensor> cache;
  for (size_t i = 0; i < g_.nodes.size(); ++i) {
    const Node& n = g_.nodes[i];
    bool all_const = !n.inputs.empty();
    for (const auto& t : n.inputs) {
      if (t.empty()) continue;
      if (!g_.is_constant(t) || !g_.constant(t).materialized()) all_const = false;
    }
    for (const auto& t : n.outputs)
      if (g_.value(t).dtype != graph::DType::kFloat32) all_const = false;
    if (!all_const) continue;
    auto get = [&](const std::string& t) -> const Tensor& {
      auto it = cache.find(t);
      if (it != cache.end()) return it->second;
      const auto& c = g_.constant(t);
      if (c.dtype != graph::DType::kFloat32) fail("tensor '{}' is not float32", t);
      return cache[t] = Tensor(c.shape, c.f32);
    };
    auto outs = reference_node(g_, n, get);
    for (size_t o = 0; o < n.outputs.size(); ++o) {
      g_.initializers[n.outputs[o]] = std::make_shared<graph::TensorData>(
          graph::TensorData::floats(outs[o].shape, std::move(outs[o].data)));
    }
    done_[i] = true;
    ++counts_["nodes folded into constants"];
  }
}

void Compiler::lower(size_t i) {
  const Node& n = g_.nodes[i];
  const std::string& op = n.op_type;
  anchor_ = static_cast<long>(i);
  for (const auto& t : n.outputs) {
    if (t.empty()) continue;
    if (g_.value(t).dtype != graph::DType::kFloat32) {
      node_fail(n, fmt::format("output '{}' is {}: the engine computes on float32 tensors only", t,
                               graph::dtype_name(g_.value(t).dtype)));
    }
  }
  if (op == "Conv") return lower_conv(i, false);
  if (op == "ConvTranspose") return lower_conv(i, true);
  if (op == "BatchNormalization") return lower_batchnorm(i);
  if (op == "MaxPool" || op == "AveragePool") return lower_pool(i);
  if (op == "GlobalAveragePool" || op == "ReduceMean") return lower_mean(i);
  if (op == "Gemm") return lower_gemm(i);
  if (op == "MatMul") return lower_matmul(i);
  if (graph::is_elementwise_binary(op)) return lower_binary(i);
  if (graph::is_activation(op)) return lower_unary(i);
  if (op == "Softmax") return lower_softmax(i);
  if (op == "Concat") return lower_concat_split(i, true);
  if (op == "Split") return lower_concat_split(i, false);
  if (op == "Slice") return lower_slice(i);
  if (op == "Pad") return lower_pad(i);
  if (op == "Transpose") return lower_transpose(i);
  if (op == "Reshape") {
    if (try_channel_shuffle(i)) return;
    return lower_reshape(i);
  }
  if (op == "Flatten") return lower_reshape(i);
  if (op == "Gather") return lower_gather(i);
  if (op == "Resize") return lower_resize(i);
  node_fail(n, "op not supported by the execution engine");
}

// Conversions at the graph's edges leave run(): an input read only through one conversion is
// written converted by set_input, an output made by one is converted when read.
void Compiler::move_io_conversions() {
  std::vector<bool> drop(m_.steps.size(), false);
  auto buffer_of = [&](int v) { return m_.values[v].buffer; };
  for (size_t i = 0; i < m_.input_values.size(); ++i) {
    const int b = buffer_of(m_.input_values[i]);
    long conv = -1;
    bool other_use = false;
    for (size_t s = 0; s < m_.steps.size(); ++s) {
      for (int v : m_.steps[s].reads) {
        if (buffer_of(v) != b) continue;
        if (m_.steps[s].io_map && conv < 0)
          conv = static_cast<long>(s);
        else
          other_use = true;
      }
    }
    for (int v : m_.output_values) other_use |= buffer_of(v) == b;
    m_.input_maps.push_back(nullptr);
    if (conv < 0 || other_use) continue;
    drop[conv] = true;
    m_.input_maps.back() = m_.steps[conv].io_map;
    m_.input_values[i] = m_.steps[conv].writes[0];
  }
  for (size_t o = 0; o < m_.output_values.size(); ++o) {
    m_.output_maps.push_back(nullptr);
    const int v = m_.output_values[o];
    for (size_t s = 0; s < m_.steps.size(); ++s) {
      const auto& st = m_.steps[s];
      if (drop[s] || !st.io_map || st.writes[0] != v || st.info.name.rfind("output:", 0) != 0) {
        continue;
      }
      // Nothing else may read the converted tensor (another output naming the same tensor).
      bool shared = false;
      for (size_t p = 0; p < m_.output_values.size(); ++p)
        shared |= p != o && m_.output_values[p] == v;
      if (shared) break;
      drop[s] = true;
      m_.output_maps.back() = st.io_map;
      m_.output_values[o] = st.reads[0];
      break;
    }
  }
  std::vector<StepImpl> kept;
  for (size_t s = 0; s < m_.steps.size(); ++s)
    if (!drop[s]) kept.push_back(std::move(m_.steps[s]));
  m_.steps = std::move(kept);
}

void Compiler::run() {
  g_.validate();
  m_.name = g_.name;
  done_.assign(g_.nodes.size(), false);
  outputs_ = std::set<std::string>(g_.outputs.begin(), g_.outputs.end());
  for (const auto& t : g_.inputs) {
    const auto& vi = g_.value(t);
    if (vi.dtype != graph::DType::kFloat32) {
      fail("input '{}' is {}: the engine runs float32 inputs only", t, graph::dtype_name(vi.dtype));
    }
    const int v = new_value(t, vi.shape, identity_perm(vi.shape.size()));
    m_.values[v].graph_input = true;
    val_[t] = v;
    m_.input_values.push_back(v);
    m_.inputs.push_back({t, vi.shape});
  }
  fold_constants();
  for (size_t i = 0; i < g_.nodes.size(); ++i)
    if (!done_[i])
      for (const auto& t : g_.nodes[i].inputs)
        if (!t.empty()) consumers_[t].push_back(i);
  for (size_t i = 0; i < g_.nodes.size(); ++i) {
    if (done_[i]) continue;
    done_[i] = true;
    lower(i);
  }
  anchor_ = -1;
  for (const auto& t : g_.outputs) {
    const Shape& s = g_.shape(t);
    int v = ensure(value_of(t), identity_perm(s.size()), true);
    if (m_.values[v].constant >= 0) {
      // A constant output (everything folded): copy it into a buffer each run.
      const int c = v;
      v = new_value(t, s, identity_perm(s.size()));
      StepImpl st;
      st.info = Step{"output:" + t, "copy", "memcpy", {}, -1, true};
      st.reads = {c};
      st.writes = {v};
      const size_t bytes = static_cast<size_t>(graph::numel(s)) * sizeof(float);
      st.bind = [c, v, bytes](const BindContext& b) -> std::function<void()> {
        const float* src = b.ptr(c);
        float* dst = b.ptr(v);
        return [src, dst, bytes] { std::memcpy(dst, src, bytes); };
      };
      add_step(std::move(st));
    }
    m_.output_values.push_back(v);
    m_.outputs.push_back({t, s});
  }
  move_io_conversions();
  for (const auto& [what, count] : counts_) m_.notes.push_back(fmt::format("{}: {}", what, count));
}

}  // namespace nnjoule::exec::detail
