// Lowering of convolutions (with their fused epilogues), standalone batch-norm, pooling and
// spatial means.
#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <map>
#include <optional>
#include <set>

#include "lowering.hpp"
#include "nnjoule/common/error.hpp"
#include "nnjoule/graph/ops.hpp"
#include "ops.hpp"

namespace nnjoule::exec::detail {

// ---- convolution ----

// The largest tap count XNNPACK's 2022 depthwise microkernels take (5x5): beyond it its
// operator runs one GEMM per channel, and nnjoule's own kernel takes over (measured on a 7x7,
// 128 channels at 56x56: 1.6 ms instead of about 5). With a channel multiplier XNNPACK also
// takes the GEMM path, but still beats our scalar loop for multipliers: it keeps those.
constexpr int64_t kXnnDepthwiseTaps = 25;

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
  if (!transpose && dw && KH * KW > kXnnDepthwiseTaps) {
    DepthwiseKernel k;
    const Shape& os = g_.shape(n.outputs[0]);
    k.N = N, k.H = H, k.W = W, k.C = cin, k.M = goc, k.OH = os[2], k.OW = os[3];
    k.KH = KH, k.KW = KW, k.SH = s[0], k.SW = s[1], k.DH = d[0], k.DW = d[1];
    k.PT = p[0], k.PL = p[1];
    // From XNNPACK's [channel][kh][kw] to one row of all channels per tap.
    k.weights.resize(kernel.size());
    for (int64_t oc = 0; oc < cout; ++oc)
      for (int64_t t = 0; t < KH * KW; ++t) k.weights[t * cout + oc] = kernel[oc * KH * KW + t];
    k.bias = bias;
    k.lo = c.lo, k.hi = c.hi;
    st.info.impl = "nnjoule:depthwise" + fused_label(e.fused);
    ++counts_["depthwise convolutions on nnjoule's kernel (XNNPACK lacks the tap count)"];
    st.bind = [k, in, y](const BindContext& b) -> std::function<void()> {
      const float* src = b.ptr(in);
      float* dst = b.ptr(y);
      const Parallel par = b.par;
      return [k, src, dst, par] { k.run(src, dst, par); };
    };
  } else if (!transpose) {
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

}  // namespace nnjoule::exec::detail

// ---- reference implementations ----

namespace nnjoule::exec::ref {
namespace {

// The window and sizes both reference convolutions read: NCHW input x, weights w, output out.
struct ConvGeometry {
  std::vector<int64_t> s, p, d;  // strides, pads (t, l, b, r), dilations
  int64_t N, C, H, W, K, OH, OW, KH, KW, gic, goc;

  ConvGeometry(const Node& n, const Tensor& x, const Tensor& w, const Shape& out)
      : s(n.attr_ints("strides", {1, 1})),
        p(n.attr_ints("pads", {0, 0, 0, 0})),
        d(n.attr_ints("dilations", {1, 1})),
        N(x.shape[0]),
        C(x.shape[1]),
        H(x.shape[2]),
        W(x.shape[3]),
        K(out[1]),
        OH(out[2]),
        OW(out[3]),
        KH(w.shape[2]),
        KW(w.shape[3]),
        gic(C / n.attr_int("group", 1)),
        goc(K / n.attr_int("group", 1)) {}
};

Tensor conv(const Node& n, const Tensor& x, const Tensor& w, const Tensor* b, const Shape& out) {
  const ConvGeometry g(n, x, w, out);
  const auto& [s, p, d, N, C, H, W, K, OH, OW, KH, KW, gic, goc] = g;
  Tensor y(out);
  // One output plane at a time: every (input channel, kernel tap) adds its shifted, weighted
  // input plane (the same sum as the textbook loop, in a cache-friendly order).
  std::vector<double> acc(static_cast<size_t>(OH * OW));
  for (int64_t nn = 0; nn < N; ++nn)
    for (int64_t k = 0; k < K; ++k) {
      const int64_t gi = k / goc;
      std::fill(acc.begin(), acc.end(), b ? b->data[k] : 0.0);
      for (int64_t c = 0; c < gic; ++c)
        for (int64_t kh = 0; kh < KH; ++kh)
          for (int64_t kw = 0; kw < KW; ++kw) {
            const double wv = w.data[((k * gic + c) * KH + kh) * KW + kw];
            for (int64_t oh = 0; oh < OH; ++oh) {
              const int64_t ih = oh * s[0] - p[0] + kh * d[0];
              if (ih < 0 || ih >= H) continue;
              const float* row = &x.data[((nn * C + gi * gic + c) * H + ih) * W];
              double* a = &acc[oh * OW];
              for (int64_t ow = 0; ow < OW; ++ow) {
                const int64_t iw = ow * s[1] - p[1] + kw * d[1];
                if (iw >= 0 && iw < W) a[ow] += row[iw] * wv;
              }
            }
          }
      for (int64_t i = 0; i < OH * OW; ++i) {
        y.data[(nn * K + k) * OH * OW + i] = static_cast<float>(acc[i]);
      }
    }
  return y;
}

Tensor conv_transpose(const Node& n, const Tensor& x, const Tensor& w, const Tensor* b,
                      const Shape& out) {
  const ConvGeometry g(n, x, w, out);
  const auto& [s, p, d, N, C, H, W, K, OH, OW, KH, KW, gic, goc] = g;
  std::vector<double> acc(static_cast<size_t>(graph::numel(out)), 0.0);
  for (int64_t nn = 0; nn < N; ++nn)
    for (int64_t c = 0; c < C; ++c) {
      const int64_t gi = c / gic;
      for (int64_t ih = 0; ih < H; ++ih)
        for (int64_t iw = 0; iw < W; ++iw) {
          const double xv = x.data[((nn * C + c) * H + ih) * W + iw];
          for (int64_t o = 0; o < goc; ++o)
            for (int64_t kh = 0; kh < KH; ++kh) {
              const int64_t oh = ih * s[0] + kh * d[0] - p[0];
              if (oh < 0 || oh >= OH) continue;
              for (int64_t kw = 0; kw < KW; ++kw) {
                const int64_t ow = iw * s[1] + kw * d[1] - p[1];
                if (ow < 0 || ow >= OW) continue;
                const int64_t k = gi * goc + o;
                acc[((nn * K + k) * OH + oh) * OW + ow] +=
                    xv * w.data[((c * goc + o) * KH + kh) * KW + kw];
              }
            }
        }
    }
  Tensor y(out);
  const int64_t plane = OH * OW;
  for (int64_t i = 0; i < y.size(); ++i) {
    const int64_t k = (i / plane) % K;
    y.data[i] = static_cast<float>(acc[i] + (b ? b->data[k] : 0.0));
  }
  return y;
}

Tensor pool(const Node& n, const Tensor& x, const Shape& out, bool is_max) {
  const auto k = n.require_ints("kernel_shape");
  const auto s = n.attr_ints("strides", {1, 1});
  const auto p = n.attr_ints("pads", {0, 0, 0, 0});
  const auto d = n.attr_ints("dilations", {1, 1});
  const bool include_pad = n.attr_int("count_include_pad", 0) != 0;
  const int64_t N = x.shape[0], C = x.shape[1], H = x.shape[2], W = x.shape[3];
  const int64_t OH = out[2], OW = out[3];
  Tensor y(out);
  for (int64_t nc = 0; nc < N * C; ++nc)
    for (int64_t oh = 0; oh < OH; ++oh)
      for (int64_t ow = 0; ow < OW; ++ow) {
        const int64_t h0 = oh * s[0] - p[0], w0 = ow * s[1] - p[1];
        double acc = is_max ? -std::numeric_limits<double>::infinity() : 0.0;
        int64_t count = 0;
        for (int64_t kh = 0; kh < k[0]; ++kh)
          for (int64_t kw = 0; kw < k[1]; ++kw) {
            const int64_t ih = h0 + kh * (is_max ? d[0] : 1);
            const int64_t iw = w0 + kw * (is_max ? d[1] : 1);
            if (ih < 0 || ih >= H || iw < 0 || iw >= W) continue;
            const double v = x.data[(nc * H + ih) * W + iw];
            acc = is_max ? std::max(acc, v) : acc + v;
            ++count;
          }
        if (!is_max) {
          if (include_pad) {
            // PyTorch's divisor: the window clipped to the padded input (padding counts, the
            // overhang of a ceil-mode window does not).
            const int64_t h1 = std::min(h0 + k[0], H + p[2]);
            const int64_t w1 = std::min(w0 + k[1], W + p[3]);
            count = (h1 - h0) * (w1 - w0);
          }
          acc = count > 0 ? acc / static_cast<double>(count) : 0.0;
        }
        y.data[(nc * OH + oh) * OW + ow] = static_cast<float>(acc);
      }
  return y;
}

Tensor batch_norm(const Node& n, const std::vector<const Tensor*>& in, const Shape& out) {
  const double eps = n.attr_float("epsilon", 1e-5f);
  const Tensor& x = *in[0];
  const int64_t C = x.shape[1];
  int64_t inner = 1;
  for (size_t i = 2; i < x.shape.size(); ++i) inner *= x.shape[i];
  Tensor y(out);
  for (int64_t i = 0; i < y.size(); ++i) {
    const int64_t c = (i / inner) % C;
    const double scale = in[1]->data[c] / std::sqrt(static_cast<double>(in[4]->data[c]) + eps);
    y.data[i] = static_cast<float>((x.data[i] - static_cast<double>(in[3]->data[c])) * scale +
                                   in[2]->data[c]);
  }
  return y;
}

Tensor reduce_mean(const Node& n, const Tensor& x, const Shape& out, bool global_pool) {
  std::set<int64_t> axes;
  if (global_pool) {
    for (size_t i = 2; i < x.shape.size(); ++i) axes.insert(static_cast<int64_t>(i));
  } else {
    for (int64_t a : n.attr_ints("axes")) axes.insert(norm_axis(n, a, x.shape.size()));
    if (axes.empty())
      for (size_t i = 0; i < x.shape.size(); ++i) axes.insert(static_cast<int64_t>(i));
  }
  // Accumulate into the keepdims shape, whose data equals the output's either way.
  Shape kept = x.shape;
  int64_t count = 1;
  for (int64_t a : axes) count *= kept[a], kept[a] = 1;
  std::vector<double> acc(static_cast<size_t>(graph::numel(kept)), 0.0);
  for (int64_t i = 0; i < x.size(); ++i) {
    auto idx = unravel(i, x.shape);
    for (int64_t a : axes) idx[a] = 0;
    int64_t off = 0;
    for (size_t d = 0; d < idx.size(); ++d) off = off * kept[d] + idx[d];
    acc[off] += x.data[i];
  }
  Tensor y(out);
  for (size_t i = 0; i < acc.size(); ++i) y.data[i] = static_cast<float>(acc[i] / count);
  return y;
}

}  // namespace
}  // namespace nnjoule::exec::ref

namespace nnjoule::exec {

std::vector<ExecOp> spatial_ops() {
  using detail::Compiler;
  return {
      {"Conv",
       [](const RefCall& c) -> std::vector<Tensor> {
         return {ref::conv(c.n, c.x(), c.input(1), c.optional(2), c.out)};
       },
       [](Compiler& k, size_t i) { k.lower_conv(i, false); }},
      {"ConvTranspose",
       [](const RefCall& c) -> std::vector<Tensor> {
         return {ref::conv_transpose(c.n, c.x(), c.input(1), c.optional(2), c.out)};
       },
       [](Compiler& k, size_t i) { k.lower_conv(i, true); }},
      {"BatchNormalization",
       [](const RefCall& c) -> std::vector<Tensor> {
         for (size_t j = 1; j < 5; ++j) c.input(j);
         return {ref::batch_norm(c.n, c.in, c.out)};
       },
       [](Compiler& k, size_t i) { k.lower_batchnorm(i); }},
      {"MaxPool",
       [](const RefCall& c) -> std::vector<Tensor> { return {ref::pool(c.n, c.x(), c.out, true)}; },
       [](Compiler& k, size_t i) { k.lower_pool(i); }},
      {"AveragePool",
       [](const RefCall& c) -> std::vector<Tensor> {
         return {ref::pool(c.n, c.x(), c.out, false)};
       },
       [](Compiler& k, size_t i) { k.lower_pool(i); }},
      {"GlobalAveragePool",
       [](const RefCall& c) -> std::vector<Tensor> {
         return {ref::reduce_mean(c.n, c.x(), c.out, true)};
       },
       [](Compiler& k, size_t i) { k.lower_mean(i); }},
      {"ReduceMean",
       [](const RefCall& c) -> std::vector<Tensor> {
         return {ref::reduce_mean(c.n, c.x(), c.out, false)};
       },
       [](Compiler& k, size_t i) { k.lower_mean(i); }},
  };
}

}  // namespace nnjoule::exec
