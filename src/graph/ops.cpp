// The op table (ops.hpp): one entry per op with its shape function, kernel class and cost.
#include "nnjoule/graph/ops.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>
#include <set>

#include "nnjoule/common/error.hpp"
#include "nnjoule/graph/quant.hpp"
#include "nnjoule/graph/shape_inference.hpp"

namespace nnjoule::graph {

namespace {

[[noreturn]] void node_fail(const Node& n, const std::string& what) {
  fail("node '{}' ({}): {}", n.name, n.op_type, what);
}

const Shape& in_shape(const Graph& g, const Node& n, size_t i) {
  if (i >= n.inputs.size() || n.inputs[i].empty()) {
    node_fail(n, fmt::format("missing input {}", i));
  }
  auto it = g.values.find(n.inputs[i]);
  if (it == g.values.end()) node_fail(n, fmt::format("input '{}' has no known shape", n.inputs[i]));
  return it->second.shape;
}

int64_t norm_axis(const Node& n, int64_t axis, size_t rank) {
  const auto r = static_cast<int64_t>(rank);
  if (axis < -r || axis >= r)
    node_fail(n, fmt::format("axis {} out of range for rank {}", axis, r));
  return axis < 0 ? axis + r : axis;
}

ValueInfo f32(Shape s) {
  return ValueInfo{DType::kFloat32, std::move(s)};
}

// Exact arithmetic for sizes computed from untrusted values (GCC/Clang extension).
__extension__ using i128 = __int128;

// Shapes and attributes can come from untrusted files; arithmetic on them must not overflow.
constexpr int64_t kMaxWindowParam = int64_t{1} << 30;
constexpr int64_t kMaxDim = int64_t{1} << 48;

int64_t checked_add(const Node& n, int64_t a, int64_t b) {
  int64_t r;
  if (__builtin_add_overflow(a, b, &r) || r > kMaxDim) node_fail(n, "dimension too large");
  return r;
}

void check_dims(const Node& n, const Shape& x) {
  for (int64_t d : x) {
    if (d > kMaxDim) node_fail(n, fmt::format("dimension too large in {}", shape_str(x)));
  }
}

std::vector<ValueInfo> infer_window(const Graph& g, const Node& n, bool is_conv) {
  const Shape& x = in_shape(g, n, 0);
  if (x.size() != 4) node_fail(n, fmt::format("expects a 4-D NCHW input, got {}", shape_str(x)));
  check_dims(n, x);
  std::vector<int64_t> k = n.attr_ints("kernel_shape");
  int64_t cout = x[1];
  if (is_conv) {
    const Shape& w = in_shape(g, n, 1);
    if (w.size() != 4) node_fail(n, fmt::format("expects 4-D weights, got {}", shape_str(w)));
    const int64_t group = n.attr_int("group", 1);
    if (group <= 0 || x[1] % group != 0) {
      node_fail(n, fmt::format("group {} does not divide {} input channels", group, x[1]));
    }
    if (w[1] * group != x[1]) {
      node_fail(n, fmt::format("weights {} expect {} input channels, input has {}", shape_str(w),
                               w[1] * group, x[1]));
    }
    if (w[0] % group != 0) node_fail(n, "output channels not divisible by group");
    if (k.empty()) k = {w[2], w[3]};
    if (k[0] != w[2] || k[1] != w[3]) node_fail(n, "kernel_shape disagrees with the weights");
    cout = w[0];
    if (n.inputs.size() > 2 && !n.inputs[2].empty()) {
      const Shape& b = in_shape(g, n, 2);
      if (b.size() != 1 || b[0] != cout) node_fail(n, "bias length differs from output channels");
    }
  }
  if (k.size() != 2) node_fail(n, "kernel_shape must have two entries");
  const auto s = n.attr_ints("strides", {1, 1});
  const auto p = n.attr_ints("pads", {0, 0, 0, 0});
  const auto d = n.attr_ints("dilations", {1, 1});
  if (s.size() != 2 || p.size() != 4 || d.size() != 2) {
    node_fail(n, "strides/dilations need 2 entries and pads 4");
  }
  for (int i = 0; i < 2; ++i) {
    if (k[i] <= 0 || s[i] <= 0 || d[i] <= 0)
      node_fail(n, "kernel, stride and dilation must be > 0");
    if (k[i] > kMaxWindowParam || s[i] > kMaxWindowParam || d[i] > kMaxWindowParam) {
      node_fail(n, "kernel, stride or dilation too large");
    }
  }
  for (int64_t v : p) {
    if (v < 0) node_fail(n, "negative padding");
    if (v > kMaxWindowParam) node_fail(n, "padding too large");
  }
  const bool ceil_mode = n.attr_int("ceil_mode", 0) != 0;
  const int64_t oh = window_output(x[2], k[0], s[0], p[0], p[2], d[0], ceil_mode);
  const int64_t ow = window_output(x[3], k[1], s[1], p[1], p[3], d[1], ceil_mode);
  if (oh <= 0 || ow <= 0) {
    node_fail(n, fmt::format("window {}x{} is larger than the padded input {}", k[0], k[1],
                             shape_str(x)));
  }
  return {f32({x[0], cout, oh, ow})};
}

std::vector<ValueInfo> infer_conv_transpose(const Graph& g, const Node& n) {
  const Shape& x = in_shape(g, n, 0);
  const Shape& w = in_shape(g, n, 1);
  if (x.size() != 4 || w.size() != 4) node_fail(n, "expects 4-D input and weights");
  const int64_t group = n.attr_int("group", 1);
  if (group <= 0 || w[0] != x[1])
    node_fail(n, "weights' first dimension must equal input channels");
  const auto s = n.attr_ints("strides", {1, 1});
  const auto p = n.attr_ints("pads", {0, 0, 0, 0});
  const auto d = n.attr_ints("dilations", {1, 1});
  const auto op = n.attr_ints("output_padding", {0, 0});
  if (s.size() != 2 || p.size() != 4 || d.size() != 2 || op.size() != 2) {
    node_fail(n, "strides/dilations/output_padding need 2 entries and pads 4");
  }
  check_dims(n, x);
  check_dims(n, w);
  if (group > kMaxWindowParam) node_fail(n, "group too large");
  for (int64_t v : {s[0], s[1], d[0], d[1], op[0], op[1], p[0], p[1], p[2], p[3]}) {
    if (v < 0 || v > kMaxWindowParam) node_fail(n, "stride, dilation or padding out of range");
  }
  Shape out = {x[0], w[1] * group, 0, 0};
  for (int i = 0; i < 2; ++i) {
    const i128 o = static_cast<i128>(s[i]) * (x[2 + i] - 1) + op[i] +
                   static_cast<i128>(w[2 + i] - 1) * d[i] + 1 - p[i] - p[i + 2];
    if (o <= 0) node_fail(n, "non-positive output size");
    if (o > kMaxDim) node_fail(n, "output size too large");
    out[2 + i] = static_cast<int64_t>(o);
  }
  return {f32(out)};
}

std::vector<ValueInfo> infer_reshape(const Graph& g, const Node& n) {
  const Shape& x = in_shape(g, n, 0);
  if (n.inputs.size() < 2 || !g.is_constant(n.inputs[1])) {
    node_fail(n, "the target shape must be a constant");
  }
  const auto& target = g.constant(n.inputs[1]).i64;
  Shape out(target.begin(), target.end());
  int64_t known = 1;
  int infer_at = -1;
  for (size_t i = 0; i < out.size(); ++i) {
    if (out[i] == 0) {
      if (i >= x.size()) node_fail(n, "0 in the target shape beyond the input rank");
      out[i] = x[i];
    }
    if (out[i] == -1) {
      if (infer_at >= 0) node_fail(n, "more than one -1 in the target shape");
      infer_at = static_cast<int>(i);
    } else if (out[i] < 0) {
      node_fail(n, fmt::format("invalid target dimension {}", out[i]));
    } else if (__builtin_mul_overflow(known, out[i], &known)) {
      node_fail(n, fmt::format("target shape {} is too large", shape_str(out)));
    }
  }
  if (infer_at >= 0) {
    if (known == 0 || numel(x) % known != 0) node_fail(n, "cannot infer the -1 dimension");
    out[infer_at] = numel(x) / known;
  }
  if (numel(out) != numel(x)) {
    node_fail(n, fmt::format("cannot reshape {} into {}", shape_str(x), shape_str(out)));
  }
  return {ValueInfo{g.value(n.inputs[0]).dtype, out}};
}

std::vector<ValueInfo> infer_slice(const Graph& g, const Node& n) {
  const Shape& x = in_shape(g, n, 0);
  const auto starts = n.require_ints("starts");
  const auto ends = n.require_ints("ends");
  auto axes = n.attr_ints("axes");
  auto steps = n.attr_ints("steps");
  if (axes.empty())
    for (size_t i = 0; i < starts.size(); ++i) axes.push_back(static_cast<int64_t>(i));
  if (steps.empty()) steps.assign(starts.size(), 1);
  if (ends.size() != starts.size() || axes.size() != starts.size() ||
      steps.size() != starts.size()) {
    node_fail(n, "starts, ends, axes and steps differ in length");
  }
  Shape out = x;
  for (size_t i = 0; i < starts.size(); ++i) {
    const int64_t a = norm_axis(n, axes[i], x.size());
    const int64_t dim = x[a];
    const int64_t step = steps[i];
    if (step == 0 || step == std::numeric_limits<int64_t>::min())
      node_fail(n, "invalid slice step");
    auto clampi = [&](int64_t v, int64_t lo, int64_t hi) { return std::clamp(v, lo, hi); };
    int64_t st = starts[i] < 0 ? starts[i] + dim : starts[i];
    int64_t en = ends[i] < 0 ? ends[i] + dim : ends[i];
    if (step > 0) {
      st = clampi(st, 0, dim);
      en = clampi(en, 0, dim);
      out[a] = en > st ? (en - st - 1) / step + 1 : 0;
    } else {
      st = clampi(st, 0, dim - 1);
      en = clampi(en, -1, dim - 1);
      out[a] = st > en ? (st - en - 1) / (-step) + 1 : 0;
    }
    if (out[a] <= 0) node_fail(n, fmt::format("slice on axis {} is empty", a));
  }
  return {ValueInfo{g.value(n.inputs[0]).dtype, out}};
}

std::vector<ValueInfo> infer_matmul(const Graph& g, const Node& n) {
  Shape a = in_shape(g, n, 0);
  Shape b = in_shape(g, n, 1);
  if (a.empty() || b.empty()) node_fail(n, "scalar operands");
  const bool a1 = a.size() == 1, b1 = b.size() == 1;
  if (a1) a.insert(a.begin(), 1);
  if (b1) b.push_back(1);
  if (a[a.size() - 1] != b[b.size() - 2]) {
    node_fail(n, fmt::format("inner dimensions differ: {} x {}", shape_str(in_shape(g, n, 0)),
                             shape_str(in_shape(g, n, 1))));
  }
  Shape ba(a.begin(), a.end() - 2), bb(b.begin(), b.end() - 2);
  Shape out = broadcast_shapes(ba, bb, fmt::format("node '{}' (MatMul)", n.name));
  if (!a1) out.push_back(a[a.size() - 2]);
  if (!b1) out.push_back(b.back());
  return {f32(out)};
}

// ---- shape functions of the simpler ops -------------------------------------------------------

std::vector<ValueInfo> infer_conv(const Graph& g, const Node& n) {
  return infer_window(g, n, true);
}

std::vector<ValueInfo> infer_pool(const Graph& g, const Node& n) {
  return infer_window(g, n, false);
}

std::vector<ValueInfo> infer_batchnorm(const Graph& g, const Node& n) {
  const Shape& x = in_shape(g, n, 0);
  if (x.size() < 2) node_fail(n, "input needs a channel dimension");
  for (size_t i = 1; i < 5; ++i) {
    const Shape& p = in_shape(g, n, i);
    if (p.size() != 1 || p[0] != x[1]) {
      node_fail(n, fmt::format("parameter {} has shape {}, expected [{}]", i, shape_str(p), x[1]));
    }
  }
  return {f32(x)};
}

std::vector<ValueInfo> infer_same(const Graph& g, const Node& n) {
  return {ValueInfo{g.value(n.inputs[0]).dtype, in_shape(g, n, 0)}};
}

std::vector<ValueInfo> infer_softmax(const Graph& g, const Node& n) {
  const Shape& x = in_shape(g, n, 0);
  norm_axis(n, n.attr_int("axis", -1), x.size());
  return {ValueInfo{g.value(n.inputs[0]).dtype, x}};
}

std::vector<ValueInfo> infer_binary(const Graph& g, const Node& n) {
  return {ValueInfo{g.value(n.inputs[0]).dtype,
                    broadcast_shapes(in_shape(g, n, 0), in_shape(g, n, 1),
                                     fmt::format("node '{}' ({})", n.name, n.op_type))}};
}

std::vector<ValueInfo> infer_concat(const Graph& g, const Node& n) {
  const Shape& x0 = in_shape(g, n, 0);
  const int64_t a = norm_axis(n, n.require_int("axis"), x0.size());
  Shape out = x0;
  out[a] = 0;
  for (size_t i = 0; i < n.inputs.size(); ++i) {
    const Shape& xi = in_shape(g, n, i);
    if (xi.size() != x0.size()) node_fail(n, "inputs differ in rank");
    for (size_t d = 0; d < xi.size(); ++d) {
      if (static_cast<int64_t>(d) != a && xi[d] != x0[d]) {
        node_fail(n, fmt::format("input {} has shape {}, incompatible with {}", i, shape_str(xi),
                                 shape_str(x0)));
      }
    }
    out[a] = checked_add(n, out[a], xi[a]);
  }
  return {ValueInfo{g.value(n.inputs[0]).dtype, out}};
}

std::vector<ValueInfo> infer_split(const Graph& g, const Node& n) {
  const Shape& x = in_shape(g, n, 0);
  const int64_t a = norm_axis(n, n.attr_int("axis", 0), x.size());
  auto sizes = n.attr_ints("split");
  if (sizes.empty()) {
    const auto parts = static_cast<int64_t>(n.outputs.size());
    if (x[a] % parts != 0) node_fail(n, "axis is not divisible into equal parts");
    sizes.assign(parts, x[a] / parts);
  }
  if (sizes.size() != n.outputs.size()) node_fail(n, "split sizes differ from output count");
  int64_t total = 0;
  std::vector<ValueInfo> out;
  for (int64_t s : sizes) {
    if (s <= 0) node_fail(n, "split size must be positive");
    Shape o = x;
    o[a] = s;
    total = checked_add(n, total, s);
    out.push_back(ValueInfo{g.value(n.inputs[0]).dtype, o});
  }
  if (total != x[a]) node_fail(n, fmt::format("split sizes sum to {}, axis has {}", total, x[a]));
  return out;
}

std::vector<ValueInfo> infer_flatten(const Graph& g, const Node& n) {
  const Shape& x = in_shape(g, n, 0);
  int64_t a = n.attr_int("axis", 1);
  if (a < 0) a += static_cast<int64_t>(x.size());
  if (a < 0 || a > static_cast<int64_t>(x.size())) node_fail(n, "axis out of range");
  const Shape head(x.begin(), x.begin() + a), tail(x.begin() + a, x.end());
  const int64_t outer = numel(head), inner = numel(tail);  // both throw on overflow
  return {ValueInfo{g.value(n.inputs[0]).dtype, {outer, inner}}};
}

std::vector<ValueInfo> infer_transpose(const Graph& g, const Node& n) {
  const Shape& x = in_shape(g, n, 0);
  auto perm = n.attr_ints("perm");
  if (perm.empty())
    for (int64_t i = static_cast<int64_t>(x.size()) - 1; i >= 0; --i) perm.push_back(i);
  if (perm.size() != x.size()) node_fail(n, "perm length differs from input rank");
  std::set<int64_t> seen;
  Shape out;
  for (int64_t p : perm) {
    const int64_t a = norm_axis(n, p, x.size());
    if (!seen.insert(a).second) node_fail(n, "perm repeats an axis");
    out.push_back(x[a]);
  }
  return {ValueInfo{g.value(n.inputs[0]).dtype, out}};
}

std::vector<ValueInfo> infer_global_pool(const Graph& g, const Node& n) {
  const Shape& x = in_shape(g, n, 0);
  if (x.size() < 3) node_fail(n, "expects an input with spatial dimensions");
  Shape out = x;
  for (size_t i = 2; i < out.size(); ++i) out[i] = 1;
  return {f32(out)};
}

std::vector<ValueInfo> infer_reduce_mean(const Graph& g, const Node& n) {
  const Shape& x = in_shape(g, n, 0);
  auto axes = n.attr_ints("axes");
  const bool keep = n.attr_int("keepdims", 1) != 0;
  std::set<int64_t> ax;
  if (axes.empty())
    for (size_t i = 0; i < x.size(); ++i) ax.insert(static_cast<int64_t>(i));
  for (int64_t a : axes) ax.insert(norm_axis(n, a, x.size()));
  Shape out;
  for (size_t i = 0; i < x.size(); ++i) {
    if (ax.count(static_cast<int64_t>(i))) {
      if (keep) out.push_back(1);
    } else {
      out.push_back(x[i]);
    }
  }
  return {f32(out)};
}

std::vector<ValueInfo> infer_gemm(const Graph& g, const Node& n) {
  const Shape& a = in_shape(g, n, 0);
  const Shape& b = in_shape(g, n, 1);
  if (a.size() != 2 || b.size() != 2) {
    node_fail(n, fmt::format("expects 2-D operands, got {} and {}", shape_str(a), shape_str(b)));
  }
  const bool ta = n.attr_int("transA", 0) != 0, tb = n.attr_int("transB", 0) != 0;
  const int64_t m = ta ? a[1] : a[0], k = ta ? a[0] : a[1];
  const int64_t kb = tb ? b[1] : b[0], nn = tb ? b[0] : b[1];
  if (k != kb) {
    node_fail(n, fmt::format("inner dimensions differ: {} x {}", shape_str(a), shape_str(b)));
  }
  if (n.inputs.size() > 2 && !n.inputs[2].empty()) {
    broadcast_shapes(in_shape(g, n, 2), {m, nn}, fmt::format("node '{}' (Gemm) bias", n.name));
  }
  return {f32({m, nn})};
}

std::vector<ValueInfo> infer_pad(const Graph& g, const Node& n) {
  const Shape& x = in_shape(g, n, 0);
  const auto pads = n.require_ints("pads");
  if (pads.size() != 2 * x.size()) node_fail(n, "pads must have 2 x rank entries");
  Shape out = x;
  for (size_t i = 0; i < x.size(); ++i) {
    const i128 o = static_cast<i128>(x[i]) + pads[i] + pads[i + x.size()];
    if (o <= 0) node_fail(n, "padding removes a whole dimension");
    if (o > kMaxDim) node_fail(n, "padding makes a dimension too large");
    out[i] = static_cast<int64_t>(o);
  }
  return {ValueInfo{g.value(n.inputs[0]).dtype, out}};
}

std::vector<ValueInfo> infer_resize(const Graph& g, const Node& n) {
  const Shape& x = in_shape(g, n, 0);
  auto it = n.attrs.find("scales");
  if (it == n.attrs.end()) node_fail(n, "missing attribute 'scales'");
  const auto* scales = std::get_if<std::vector<float>>(&it->second);
  if (!scales || scales->size() != x.size()) node_fail(n, "scales must have one entry per axis");
  Shape out = x;
  for (size_t i = 0; i < x.size(); ++i) {
    const double o = std::floor(static_cast<double>(x[i]) * (*scales)[i]);
    if (!(o >= 1.0)) node_fail(n, "scale yields an empty dimension");
    if (o > static_cast<double>(kMaxDim)) node_fail(n, "scale yields a dimension too large");
    out[i] = static_cast<int64_t>(o);
  }
  return {f32(out)};
}

std::vector<ValueInfo> infer_gather(const Graph& g, const Node& n) {
  const Shape& data = in_shape(g, n, 0);
  const Shape& idx = in_shape(g, n, 1);
  const int64_t a = norm_axis(n, n.attr_int("axis", 0), data.size());
  Shape out(data.begin(), data.begin() + a);
  out.insert(out.end(), idx.begin(), idx.end());
  out.insert(out.end(), data.begin() + a + 1, data.end());
  return {ValueInfo{g.value(n.inputs[0]).dtype, out}};
}

// ---- kernel classes and costs -----------------------------------------------------------------

double out_elems(const Graph& g, const Node& n) {
  return static_cast<double>(numel(g.shape(n.outputs.at(0))));
}

bool has_bias(const Node& n) {
  return n.inputs.size() > 2 && !n.inputs[2].empty();
}

double flops_conv(const Graph& g, const Node& n) {
  const Shape& w = g.shape(n.inputs[1]);
  const double out_n = out_elems(g, n);
  return 2.0 * out_n * static_cast<double>(w[1] * w[2] * w[3]) + (has_bias(n) ? out_n : 0);
}

double flops_conv_transpose(const Graph& g, const Node& n) {
  const Shape& w = g.shape(n.inputs[1]);
  const double in_n = static_cast<double>(numel(g.shape(n.inputs[0])));
  return 2.0 * in_n * static_cast<double>(w[1] * w[2] * w[3]) + (has_bias(n) ? out_elems(g, n) : 0);
}

double flops_gemm(const Graph& g, const Node& n) {
  const Shape& a = g.shape(n.inputs[0]);
  const double k = static_cast<double>(n.attr_int("transA", 0) ? a[0] : a[1]);
  const double out_n = out_elems(g, n);
  return 2.0 * out_n * k + (has_bias(n) ? out_n : 0);
}

double flops_matmul(const Graph& g, const Node& n) {
  return 2.0 * out_elems(g, n) * static_cast<double>(g.shape(n.inputs[0]).back());
}

double flops_pool(const Graph& g, const Node& n) {
  const auto k = n.attr_ints("kernel_shape");
  return out_elems(g, n) * static_cast<double>(k.at(0) * k.at(1));
}

double flops_input_elems(const Graph& g, const Node& n) {
  return static_cast<double>(numel(g.shape(n.inputs[0])));
}

double flops_resize(const Graph& g, const Node& n) {
  return n.attr_string("mode", "nearest") == "linear" ? 4.0 * out_elems(g, n) : 0;
}

std::string classify_conv(const Graph& g, const Node& n) {
  return is_depthwise_conv(g, n) ? "dwconv" : "conv";
}

std::string classify_clip(const Graph&, const Node& n) {
  const float lo = n.attr_float("min", -INFINITY), hi = n.attr_float("max", INFINITY);
  if (lo == 0.f && hi == 6.f) return "relu6";
  if (lo == 0.f && std::isinf(hi)) return "relu";
  return "clip";
}

std::string classify_matmul(const Graph& g, const Node& n) {
  return g.is_constant(n.inputs[1]) && g.shape(n.inputs[1]).size() == 2 ? "fc" : "matmul";
}

std::string classify_reduce_mean(const Graph& g, const Node& n) {
  return is_spatial_mean(g, n) ? "global-avgpool" : "reducemean";
}

const std::vector<AttrSpec> kWindowAttrs = {{"kernel_shape", "from the weights"},
                                            {"strides", "1,1"},
                                            {"pads", "0,0,0,0"},
                                            {"dilations", "1,1"}};

// QuantizeLinear makes the zero point's type (uint8 without one), DequantizeLinear float;
// quant_params checks scales and zero points.
std::vector<ValueInfo> infer_quant(const Graph& g, const Node& n) {
  const Shape& x = in_shape(g, n, 0);
  const DType in = g.value(n.inputs[0]).dtype;
  const QuantParams q = quant_params(g, n);
  if (n.op_type == "QuantizeLinear") {
    if (in != DType::kFloat32) {
      node_fail(n, fmt::format("input is {}; QuantizeLinear reads float32", dtype_name(in)));
    }
    return {ValueInfo{q.dtype, x}};
  }
  if (in != q.dtype) {
    node_fail(n, fmt::format("input is {} but the zero point is {}", dtype_name(in),
                             dtype_name(q.dtype)));
  }
  return {f32(x)};
}

OpDef activation(std::string name, std::string kernel_class, double cost,
                 std::vector<std::string> nnmeter, std::vector<AttrSpec> attrs = {}) {
  OpDef d{.name = std::move(name), .group = OpGroup::kActivation, .inputs = {{"X"}}};
  d.attrs = std::move(attrs);
  d.nnmeter_types = std::move(nnmeter);
  d.infer = infer_same;
  d.kernel_class = std::move(kernel_class);
  d.flops_per_output = cost;
  return d;
}

OpDef binary(std::string name, std::string kernel_class, std::vector<std::string> nnmeter) {
  OpDef d{.name = std::move(name), .group = OpGroup::kBinary, .inputs = {{"A"}, {"B"}}};
  d.canonical = "numpy broadcasting";
  d.nnmeter_types = std::move(nnmeter);
  d.infer = infer_binary;
  d.kernel_class = std::move(kernel_class);
  d.flops_per_output = 1;
  return d;
}

std::vector<OpDef> build_table() {
  std::vector<OpDef> t;
  auto add = [&](OpDef d) -> OpDef& { return t.emplace_back(std::move(d)); };

  {
    auto& d = add(
        {.name = "Conv", .group = OpGroup::kConvolution, .inputs = {{"X"}, {"W"}, {"B", true}}});
    d.attrs = kWindowAttrs;
    d.attrs.push_back({"group", "1"});
    d.canonical = "explicit pads (t,l,b,r; auto_pad resolved by the importer), 2-D NCHW only";
    d.nnmeter_types = {"Conv", "Conv2D", "DepthwiseConv2dNative"};
    d.infer = infer_conv;
    d.kernel_class = "conv";
    d.classify = classify_conv;
    d.flops = flops_conv;
  }
  {
    auto& d = add({.name = "ConvTranspose",
                   .group = OpGroup::kConvolution,
                   .inputs = {{"X"}, {"W"}, {"B", true}}});
    d.attrs = kWindowAttrs;
    d.attrs.push_back({"group", "1"});
    d.attrs.push_back({"output_padding", "0,0"});
    d.canonical = "explicit pads (t,l,b,r; output_shape resolved by the importer)";
    d.infer = infer_conv_transpose;
    d.kernel_class = "convtrans";
    d.flops = flops_conv_transpose;
  }
  {
    auto& d = add({.name = "BatchNormalization",
                   .group = OpGroup::kNormalization,
                   .inputs = {{"X"}, {"scale"}, {"B"}, {"mean"}, {"var"}}});
    d.attrs = {{"epsilon", "1e-5"}};
    d.canonical = "inference form: one output";
    d.nnmeter_types = {"BatchNormalization", "FusedBatchNorm", "FusedBatchNormV2",
                       "FusedBatchNormV3"};
    d.infer = infer_batchnorm;
    d.kernel_class = "bn";
    d.flops_per_output = 2;
  }
  add(activation("Relu", "relu", 1, {"Relu"}));
  add(activation("Sigmoid", "sigmoid", 4, {"Sigmoid"}));
  add(activation("Tanh", "tanh", 4, {"Tanh"}));
  add(activation("HardSwish", "hswish", 4, {"HardSwish"}));
  add(activation("HardSigmoid", "hsigmoid", 3, {"HardSigmoid"},
                 {{"alpha", "0.2"}, {"beta", "0.5"}}));
  add(activation("LeakyRelu", "leakyrelu", 2, {"LeakyRelu"}, {{"alpha", "0.01"}}));
  add(activation("Identity", "identity", 0, {}));
  {
    auto& d = add(activation("Clip", "clip", 1, {"Clip", "Relu6"},
                             {{"min", "unbounded"}, {"max", "unbounded"}}));
    d.canonical = "bounds as attributes (opset-11 inputs folded by the importer)";
    d.classify = classify_clip;
  }
  for (const char* op : {"QuantizeLinear", "DequantizeLinear"}) {
    const bool q = std::string_view(op) == "QuantizeLinear";
    auto& d =
        add({.name = op,
             .group = OpGroup::kQuantization,
             .inputs = {
                 {"x"}, {q ? "y_scale" : "x_scale"}, {q ? "y_zero_point" : "x_zero_point", true}}});
    d.attrs = {{"axis", "1"}};
    d.canonical =
        "constant scale and zero point, per tensor or per axis; operator forms "
        "(QLinearConv, QLinearMatMul, QLinearAdd, ...) rewritten into QDQ by the importer";
    d.infer = infer_quant;
    d.kernel_class = q ? "quantize" : "dequantize";
    d.flops_per_output = 2;
  }
  add(binary("Add", "add", {"Add", "AddV2", "BiasAdd"}));
  add(binary("Sub", "sub", {"Sub"}));
  add(binary("Mul", "mul", {"Mul"}));
  add(binary("Div", "div", {"Div", "RealDiv"}));
  {
    auto& d = add({.name = "MaxPool", .group = OpGroup::kPooling, .inputs = {{"X"}}});
    d.attrs = {
        {"kernel_shape", "required"}, {"strides", "1,1"}, {"pads", "0,0,0,0"}, {"ceil_mode", "0"}};
    d.canonical = "explicit pads (t,l,b,r), 2-D NCHW only";
    d.nnmeter_types = {"MaxPool"};
    d.infer = infer_pool;
    d.kernel_class = "maxpool";
    d.flops = flops_pool;
  }
  {
    auto& d = add({.name = "AveragePool", .group = OpGroup::kPooling, .inputs = {{"X"}}});
    d.attrs = {{"kernel_shape", "required"},
               {"strides", "1,1"},
               {"pads", "0,0,0,0"},
               {"ceil_mode", "0"},
               {"count_include_pad", "0"}};
    d.canonical = "explicit pads (t,l,b,r), 2-D NCHW only";
    d.nnmeter_types = {"AveragePool", "AvgPool"};
    d.infer = infer_pool;
    d.kernel_class = "avgpool";
    d.flops = flops_pool;
  }
  {
    auto& d = add({.name = "GlobalAveragePool", .group = OpGroup::kPooling, .inputs = {{"X"}}});
    d.nnmeter_types = {"GlobalAveragePool"};
    d.infer = infer_global_pool;
    d.kernel_class = "global-avgpool";
    d.flops = flops_input_elems;
  }
  {
    auto& d = add({.name = "ReduceMean", .group = OpGroup::kReduction, .inputs = {{"X"}}});
    d.attrs = {{"axes", "all"}, {"keepdims", "1"}};
    d.canonical = "axes as an attribute (opset-18 input folded by the importer)";
    d.nnmeter_types = {"ReduceMean", "Mean"};
    d.infer = infer_reduce_mean;
    d.kernel_class = "reducemean";
    d.classify = classify_reduce_mean;
    d.flops = flops_input_elems;
  }
  {
    auto& d = add({.name = "Softmax", .group = OpGroup::kReduction, .inputs = {{"X"}}});
    d.attrs = {{"axis", "-1"}};
    d.canonical = "opset-13 meaning: one axis";
    d.nnmeter_types = {"Softmax"};
    d.infer = infer_softmax;
    d.kernel_class = "softmax";
    d.flops_per_output = 3;
  }
  {
    auto& d =
        add({.name = "Gemm", .group = OpGroup::kLinear, .inputs = {{"A"}, {"B"}, {"C", true}}});
    d.attrs = {{"alpha", "1"}, {"beta", "1"}, {"transA", "0"}, {"transB", "0"}};
    d.nnmeter_types = {"Gemm"};
    d.infer = infer_gemm;
    d.kernel_class = "fc";
    d.flops = flops_gemm;
  }
  {
    auto& d = add({.name = "MatMul", .group = OpGroup::kLinear, .inputs = {{"A"}, {"B"}}});
    d.canonical = "numpy matmul broadcasting";
    d.nnmeter_types = {"MatMul"};
    d.infer = infer_matmul;
    d.kernel_class = "matmul";
    d.classify = classify_matmul;
    d.flops = flops_matmul;
  }
  {
    auto& d = add({.name = "Concat", .group = OpGroup::kData, .inputs = {{"inputs"}}});
    d.variadic = true;
    d.attrs = {{"axis", "required"}};
    d.nnmeter_types = {"Concat", "ConcatV2"};
    d.infer = infer_concat;
    d.kernel_class = "concat";
  }
  {
    auto& d = add({.name = "Split", .group = OpGroup::kData, .inputs = {{"X"}}});
    d.max_outputs = -1;
    d.attrs = {{"axis", "0"}, {"split", "equal parts"}};
    d.canonical = "sizes as an attribute (opset-13 input folded by the importer)";
    d.nnmeter_types = {"Split", "SplitV"};
    d.infer = infer_split;
    d.kernel_class = "split";
  }
  {
    auto& d = add({.name = "Slice", .group = OpGroup::kData, .inputs = {{"X"}}});
    d.attrs = {{"starts", "required"}, {"ends", "required"}, {"axes", "0..n-1"}, {"steps", "1"}};
    d.canonical = "arguments as attributes, clamped to the shape";
    d.infer = infer_slice;
    d.kernel_class = "slice";
  }
  {
    auto& d = add(
        {.name = "Reshape", .group = OpGroup::kData, .inputs = {{"X"}, {"shape", false, true}}});
    d.canonical = "shape an int64 constant";
    d.nnmeter_types = {"Reshape", "Squeeze", "ExpandDims", "Unsqueeze"};
    d.infer = infer_reshape;
    d.kernel_class = "reshape";
  }
  {
    auto& d = add({.name = "Flatten", .group = OpGroup::kData, .inputs = {{"X"}}});
    d.attrs = {{"axis", "1"}};
    d.nnmeter_types = {"Flatten"};
    d.infer = infer_flatten;
    d.kernel_class = "reshape";
  }
  {
    auto& d = add({.name = "Transpose", .group = OpGroup::kData, .inputs = {{"X"}}});
    d.attrs = {{"perm", "reversed axes"}};
    d.nnmeter_types = {"Transpose"};
    d.infer = infer_transpose;
    d.kernel_class = "transpose";
  }
  {
    auto& d = add({.name = "Pad", .group = OpGroup::kData, .inputs = {{"X"}}});
    d.attrs = {{"pads", "required"}, {"mode", "constant"}, {"value", "0"}};
    d.canonical = "pads and value as attributes (opset-11 inputs folded by the importer)";
    d.nnmeter_types = {"Pad", "PadV2", "MirrorPad"};
    d.infer = infer_pad;
    d.kernel_class = "pad";
  }
  {
    auto& d = add({.name = "Resize", .group = OpGroup::kData, .inputs = {{"X"}}});
    d.attrs = {{"scales", "required"}, {"mode", "nearest"}};
    d.canonical = "float scales per axis as an attribute; Upsample becomes Resize";
    d.infer = infer_resize;
    d.kernel_class = "resize";
    d.flops = flops_resize;
  }
  {
    auto& d = add({.name = "Gather",
                   .group = OpGroup::kData,
                   .inputs = {{"data"}, {"indices", false, true}}});
    d.attrs = {{"axis", "0"}};
    d.canonical = "indices an int64 constant";
    d.infer = infer_gather;
    d.kernel_class = "gather";
  }
  std::sort(t.begin(), t.end(), [](const OpDef& a, const OpDef& b) { return a.name < b.name; });
  return t;
}

}  // namespace

std::string_view group_name(OpGroup g) {
  switch (g) {
    case OpGroup::kConvolution:
      return "convolution";
    case OpGroup::kNormalization:
      return "normalization";
    case OpGroup::kActivation:
      return "activation";
    case OpGroup::kBinary:
      return "binary";
    case OpGroup::kPooling:
      return "pooling";
    case OpGroup::kReduction:
      return "reduction";
    case OpGroup::kLinear:
      return "linear";
    case OpGroup::kData:
      return "data movement";
    case OpGroup::kQuantization:
      return "quantization";
  }
  return "?";
}

size_t OpDef::min_inputs() const {
  size_t k = 0;
  for (const auto& in : inputs) k += in.optional ? 0 : 1;
  return k;
}

size_t OpDef::max_inputs() const {
  return variadic ? SIZE_MAX : inputs.size();
}

const std::vector<OpDef>& op_table() {
  static const std::vector<OpDef> table = build_table();
  return table;
}

const OpDef* find_op(std::string_view op_type) {
  const auto& t = op_table();
  auto it = std::lower_bound(t.begin(), t.end(), op_type,
                             [](const OpDef& d, std::string_view name) { return d.name < name; });
  return it != t.end() && it->name == op_type ? &*it : nullptr;
}

const OpDef* find_nnmeter_op(std::string_view ir_type) {
  for (const auto& d : op_table()) {
    for (const auto& t : d.nnmeter_types)
      if (t == ir_type) return &d;
  }
  return nullptr;
}

const std::vector<std::string>& supported_ops() {
  static const std::vector<std::string> ops = [] {
    std::vector<std::string> v;
    for (const auto& d : op_table()) v.push_back(d.name);
    return v;
  }();
  return ops;
}

bool is_supported_op(const std::string& op_type) {
  return find_op(op_type) != nullptr;
}

bool is_elementwise_binary(const std::string& op) {
  const OpDef* d = find_op(op);
  return d && d->group == OpGroup::kBinary;
}

bool is_activation(const std::string& op) {
  const OpDef* d = find_op(op);
  return d && d->group == OpGroup::kActivation;
}

void check_arity(const Node& n) {
  const OpDef* d = find_op(n.op_type);
  if (!d) node_fail(n, "unsupported op");
  size_t given = n.inputs.size();
  while (given > 0 && n.inputs[given - 1].empty()) --given;  // trailing omitted optionals
  if (given < d->min_inputs() || given > d->max_inputs()) {
    const std::string want = d->variadic ? fmt::format("at least {}", d->min_inputs())
                             : d->min_inputs() == d->max_inputs()
                                 ? fmt::format("{}", d->min_inputs())
                                 : fmt::format("{} to {}", d->min_inputs(), d->max_inputs());
    node_fail(n, fmt::format("has {} inputs, the op takes {}", given, want));
  }
  for (size_t i = 0; i < given && i < d->inputs.size(); ++i) {
    if (n.inputs[i].empty() && !d->inputs[i].optional) {
      node_fail(n, fmt::format("input {} ({}) is required", i, d->inputs[i].name));
    }
  }
  const auto outs = static_cast<int>(n.outputs.size());
  if (outs < d->min_outputs || (d->max_outputs >= 0 && outs > d->max_outputs)) {
    node_fail(n, fmt::format("has {} outputs, the op gives {}", outs,
                             d->max_outputs < 0 ? fmt::format("at least {}", d->min_outputs)
                                                : fmt::format("{}", d->max_outputs)));
  }
}

std::string node_kernel_class(const Graph& g, const Node& n) {
  const OpDef* d = find_op(n.op_type);
  if (!d) return "unknown:" + n.op_type;
  return d->classify ? d->classify(g, n) : d->kernel_class;
}

double node_flops(const Graph& g, const Node& n) {
  const OpDef* d = find_op(n.op_type);
  if (!d) return 0;
  if (d->flops) return d->flops(g, n);
  return d->flops_per_output == 0 ? 0 : d->flops_per_output * out_elems(g, n);
}

bool is_depthwise_conv(const Graph& g, const Node& n) {
  const int64_t group = n.attr_int("group", 1);
  const Shape& x = g.shape(n.inputs[0]);
  const Shape& w = g.shape(n.inputs[1]);
  return group > 1 && group == x[1] && w[1] == 1;
}

bool is_spatial_mean(const Graph& g, const Node& n) {
  if (n.op_type == "GlobalAveragePool") return true;
  if (n.op_type != "ReduceMean") return false;
  const auto rank = static_cast<int64_t>(g.shape(n.inputs[0]).size());
  std::set<int64_t> axes;
  for (int64_t a : n.attr_ints("axes")) axes.insert(a < 0 ? a + rank : a);
  return rank == 4 && axes == std::set<int64_t>{2, 3};
}

std::vector<ValueInfo> infer_node(const Graph& g, const Node& n) {
  const OpDef* d = find_op(n.op_type);
  if (!d) node_fail(n, "unsupported op");
  check_arity(n);
  if (d->group != OpGroup::kQuantization) {
    // QDQ form: quantized tensors are read through DequantizeLinear only.
    for (const auto& in : n.inputs) {
      if (in.empty() || g.is_constant(in)) continue;
      auto it = g.values.find(in);
      if (it != g.values.end() &&
          (it->second.dtype == DType::kInt8 || it->second.dtype == DType::kUInt8)) {
        node_fail(n, fmt::format("reads the quantized tensor '{}' ({}); only DequantizeLinear "
                                 "may read int8/uint8 tensors",
                                 in, dtype_name(it->second.dtype)));
      }
    }
  }
  return d->infer(g, n);
}

}  // namespace nnjoule::graph
