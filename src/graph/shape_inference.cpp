#include "nnjoule/graph/shape_inference.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <set>

#include "nnjoule/common/error.hpp"
#include "nnjoule/graph/ops.hpp"

namespace nnjoule::graph {

const std::vector<std::string>& supported_ops() {
  static const std::vector<std::string> ops = [] {
    std::vector<std::string> v = {"Add",           "AveragePool", "BatchNormalization",
                                  "Clip",          "Concat",      "Conv",
                                  "ConvTranspose", "Div",         "Flatten",
                                  "Gather",        "Gemm",        "GlobalAveragePool",
                                  "HardSigmoid",   "HardSwish",   "Identity",
                                  "LeakyRelu",     "MatMul",      "MaxPool",
                                  "Mul",           "Pad",         "ReduceMean",
                                  "Relu",          "Reshape",     "Resize",
                                  "Sigmoid",       "Slice",       "Softmax",
                                  "Split",         "Sub",         "Tanh",
                                  "Transpose"};
    std::sort(v.begin(), v.end());
    return v;
  }();
  return ops;
}

bool is_supported_op(const std::string& op_type) {
  const auto& ops = supported_ops();
  return std::binary_search(ops.begin(), ops.end(), op_type);
}

bool is_elementwise_binary(const std::string& op) {
  return op == "Add" || op == "Sub" || op == "Mul" || op == "Div";
}

bool is_activation(const std::string& op) {
  return op == "Relu" || op == "Clip" || op == "Sigmoid" || op == "HardSwish" ||
         op == "HardSigmoid" || op == "Tanh" || op == "LeakyRelu" || op == "Identity";
}

Shape broadcast_shapes(const Shape& a, const Shape& b, const std::string& context) {
  const size_t r = std::max(a.size(), b.size());
  Shape out(r);
  for (size_t i = 0; i < r; ++i) {
    const int64_t da = i < r - a.size() ? 1 : a[i - (r - a.size())];
    const int64_t db = i < r - b.size() ? 1 : b[i - (r - b.size())];
    if (da != db && da != 1 && db != 1) {
      fail("{}: shapes {} and {} do not broadcast", context, shape_str(a), shape_str(b));
    }
    out[i] = da == 1 ? db : da;
  }
  return out;
}

int64_t window_output(int64_t in, int64_t k, int64_t stride, int64_t pad_begin, int64_t pad_end,
                      int64_t dilation, bool ceil_mode) {
  const int64_t eff = (k - 1) * dilation + 1;
  const int64_t span = in + pad_begin + pad_end - eff;
  if (span < 0) return 0;
  int64_t out = ceil_mode ? (span + stride - 1) / stride + 1 : span / stride + 1;
  // A ceil-mode window must start inside the input or left padding (ONNX/PyTorch rule).
  if (ceil_mode && (out - 1) * stride >= in + pad_begin) --out;
  return out;
}

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

}  // namespace

std::vector<ValueInfo> infer_node(const Graph& g, const Node& n) {
  const std::string& op = n.op_type;
  if (op == "Conv") return infer_window(g, n, true);
  if (op == "MaxPool" || op == "AveragePool") return infer_window(g, n, false);
  if (op == "ConvTranspose") return infer_conv_transpose(g, n);
  if (op == "BatchNormalization") {
    const Shape& x = in_shape(g, n, 0);
    if (x.size() < 2) node_fail(n, "input needs a channel dimension");
    for (size_t i = 1; i < 5; ++i) {
      const Shape& p = in_shape(g, n, i);
      if (p.size() != 1 || p[0] != x[1]) {
        node_fail(n,
                  fmt::format("parameter {} has shape {}, expected [{}]", i, shape_str(p), x[1]));
      }
    }
    return {f32(x)};
  }
  if (is_activation(op) || op == "Softmax") {
    const Shape& x = in_shape(g, n, 0);
    if (op == "Softmax") norm_axis(n, n.attr_int("axis", -1), x.size());
    return {ValueInfo{g.value(n.inputs[0]).dtype, x}};
  }
  if (is_elementwise_binary(op)) {
    return {ValueInfo{g.value(n.inputs[0]).dtype,
                      broadcast_shapes(in_shape(g, n, 0), in_shape(g, n, 1),
                                       fmt::format("node '{}' ({})", n.name, op))}};
  }
  if (op == "Concat") {
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
  if (op == "Split") {
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
    if (total != x[a]) {
      node_fail(n, fmt::format("split sizes sum to {}, axis has {}", total, x[a]));
    }
    return out;
  }
  if (op == "Slice") return infer_slice(g, n);
  if (op == "Reshape") return infer_reshape(g, n);
  if (op == "Flatten") {
    const Shape& x = in_shape(g, n, 0);
    int64_t a = n.attr_int("axis", 1);
    if (a < 0) a += static_cast<int64_t>(x.size());
    if (a < 0 || a > static_cast<int64_t>(x.size())) node_fail(n, "axis out of range");
    const Shape head(x.begin(), x.begin() + a), tail(x.begin() + a, x.end());
    const int64_t outer = numel(head), inner = numel(tail);  // both throw on overflow
    return {ValueInfo{g.value(n.inputs[0]).dtype, {outer, inner}}};
  }
  if (op == "Transpose") {
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
  if (op == "GlobalAveragePool") {
    const Shape& x = in_shape(g, n, 0);
    if (x.size() < 3) node_fail(n, "expects an input with spatial dimensions");
    Shape out = x;
    for (size_t i = 2; i < out.size(); ++i) out[i] = 1;
    return {f32(out)};
  }
  if (op == "ReduceMean") {
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
  if (op == "Gemm") {
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
  if (op == "MatMul") return infer_matmul(g, n);
  if (op == "Pad") {
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
  if (op == "Resize") {
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
  if (op == "Gather") {
    const Shape& data = in_shape(g, n, 0);
    const Shape& idx = in_shape(g, n, 1);
    const int64_t a = norm_axis(n, n.attr_int("axis", 0), data.size());
    Shape out(data.begin(), data.begin() + a);
    out.insert(out.end(), idx.begin(), idx.end());
    out.insert(out.end(), data.begin() + a + 1, data.end());
    return {ValueInfo{g.value(n.inputs[0]).dtype, out}};
  }
  node_fail(n, "unsupported op");
}

void infer_shapes(Graph& g) {
  g.toposort();
  for (const auto& n : g.nodes) {
    if (!is_supported_op(n.op_type)) {
      // An op nnjoule does not know keeps the shapes the importer took from onnx's inference;
      // kernel detection then reports it as unknown:<OpType>.
      bool known = true;
      for (const auto& o : n.outputs) known = known && (o.empty() || g.values.count(o));
      if (known) continue;
    }
    auto outs = infer_node(g, n);
    if (outs.size() < n.outputs.size()) {
      fail("node '{}' ({}): has {} outputs, op defines {}", n.name, n.op_type, n.outputs.size(),
           outs.size());
    }
    for (size_t i = 0; i < n.outputs.size(); ++i) {
      if (!n.outputs[i].empty()) g.values[n.outputs[i]] = outs[i];
    }
  }
}

}  // namespace nnjoule::graph
