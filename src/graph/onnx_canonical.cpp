// ONNX import, folding and canonical forms: one pass in topological order that removes no-ops,
// folds constants (onnx_fold.cpp) and rewrites legacy op forms into the canonical ones of ops.hpp.
#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <variant>
#include <vector>

#include "nnjoule/common/error.hpp"
#include "nnjoule/graph/ops.hpp"
#include "nnjoule/graph/shape_inference.hpp"
#include "onnx_detail.hpp"
#include "onnx_importer.hpp"

namespace nnjoule::graph::detail {

std::string Importer::resolve(const std::string& t) const {
  std::string cur = t;
  for (auto it = alias_.find(cur); it != alias_.end(); it = alias_.find(cur)) cur = it->second;
  return cur;
}

void Importer::fold_and_canonicalize() {
  std::vector<Node> kept;
  std::map<std::string, std::vector<std::string>> unsupported;
  std::set<std::string> unknown;  // outputs of nodes we could not read
  for (Node& n : g_.nodes) {
    for (auto& in : n.inputs) in = resolve(in);
    const bool blocked = std::any_of(n.inputs.begin(), n.inputs.end(),
                                     [&](const std::string& in) { return unknown.count(in); });
    if (blocked) {
      unknown.insert(n.outputs.begin(), n.outputs.end());
      continue;
    }
    if (unknown_ops_.count(n.name)) {
      keep_unknown(n);
      kept.push_back(std::move(n));
      continue;
    }
    if (n.op_type == "Identity" || n.op_type == "Dropout") {
      remove_noop(n);
      continue;
    }
    if (try_fold(n)) continue;
    if (fold_only_ops().count(n.op_type) && !runtime_form(n)) {
      unsupported[n.op_type + " on a runtime tensor"].push_back(n.name);
      unknown.insert(n.outputs.begin(), n.outputs.end());
      continue;
    }
    if (n.op_type == "Cast") {  // runtime_form() accepted it: a cast to the same type
      remove_noop(n);
      continue;
    }
    if (qlinear_ops().count(n.op_type)) {
      expand_qlinear(n, kept);
      continue;
    }
    emit(std::move(n), kept);
  }
  if (!unsupported.empty()) fail("{}", unsupported_message(unsupported));
  g_.nodes = std::move(kept);
}

// An op nnjoule does not know: its outputs take onnx's inferred shapes, which must be static.
void Importer::keep_unknown(const Node& n) {
  const auto& types = onnx_types();
  for (const auto& o : n.outputs) {
    if (o.empty()) continue;
    auto it = types.find(o);
    if (it == types.end() || !it->second.has_tensor_type() ||
        !it->second.tensor_type().has_shape()) {
      node_fail(n, fmt::format("op unknown to nnjoule, and onnx's shape inference gives its "
                               "output '{}' no shape",
                               o));
    }
    ValueInfo v;
    if (!detail::dtype_from_onnx(it->second.tensor_type().elem_type(), &v.dtype)) {
      v.dtype = DType::kFloat32;  // only the shape matters to later stages
    }
    for (const auto& d : it->second.tensor_type().shape().dim()) {
      if (!d.has_dim_value() || d.dim_value() <= 0) {
        node_fail(n, fmt::format("op unknown to nnjoule, and onnx's shape inference gives its "
                                 "output '{}' the non-static shape {}",
                                 o, onnx_shape_str(it->second.tensor_type().shape())));
      }
      v.shape.push_back(d.dim_value());
    }
    g_.values[o] = v;
  }
  kept_unknown_[n.op_type].push_back(n.name);
}

void Importer::remove_noop(Node& n) {
  if (!has_input(n, 0) || n.outputs.empty() || n.outputs[0].empty()) {
    node_fail(n, "needs one input and one output");
  }
  if (n.op_type == "Dropout") drop_extra_outputs(n, "the dropout mask");
  alias_[n.outputs[0]] = n.inputs[0];
  noop_names_[n.outputs[0]] = n.name;
  ++removed_noops_[n.op_type];
}

// Rewrites fold-only ops that can run on a runtime tensor; false when they cannot.
bool Importer::runtime_form(Node& n) {
  if (n.op_type == "Squeeze" || n.op_type == "Unsqueeze") {
    const Shape out = squeeze_shape(n, shape_of(n, 0));
    const std::string shape_name = fresh_tensor(n.name + "_shape");
    add_constant(shape_name, std::make_shared<TensorData>(
                                 TensorData::ints({static_cast<int64_t>(out.size())}, out)));
    n.op_type = "Reshape";
    n.inputs = {n.inputs[0], shape_name};
    n.attrs.clear();
    return true;
  }
  if (n.op_type == "Cast") {
    DType to;
    return detail::dtype_from_onnx(static_cast<int32_t>(n.require_int("to")), &to) &&
           g_.values.count(n.inputs.at(0)) && g_.value(n.inputs[0]).dtype == to;
  }
  return false;
}

std::string Importer::fresh_tensor(const std::string& stem) {
  std::string name = stem;
  for (int k = 1; g_.values.count(name) || g_.initializers.count(name) || consumed_.count(name);
       ++k) {
    name = fmt::format("{}_{}", stem, k);
  }
  return name;
}

bool Importer::has_input(const Node& n, size_t i) const {
  return i < n.inputs.size() && !n.inputs[i].empty();
}

const Shape& Importer::shape_of(const Node& n, size_t i) const {
  if (!has_input(n, i)) node_fail(n, fmt::format("missing input {}", i));
  auto it = g_.values.find(n.inputs[i]);
  if (it == g_.values.end()) {
    node_fail(n, fmt::format("input '{}' has no known shape", n.inputs[i]));
  }
  return it->second.shape;
}

// A constant input, or nullptr when the optional input is omitted.
const TensorData* Importer::const_input(const Node& n, size_t i, const char* what) const {
  if (!has_input(n, i)) return nullptr;
  auto it = g_.initializers.find(n.inputs[i]);
  if (it == g_.initializers.end()) {
    node_fail(n, fmt::format("{} (input '{}') must be a constant", what, n.inputs[i]));
  }
  return it->second.get();
}

std::vector<int64_t> Importer::const_ints(const Node& n, size_t i, const char* what) const {
  const TensorData* t = const_input(n, i, what);
  if (!t) node_fail(n, fmt::format("missing {}", what));
  if (t->dtype == DType::kFloat32) node_fail(n, fmt::format("{} must be integers", what));
  if (t->shape.size() > 1) node_fail(n, fmt::format("{} must be a 1-D tensor", what));
  return t->i64;
}

std::optional<float> Importer::const_scalar(const Node& n, size_t i, const char* what) const {
  const TensorData* t = const_input(n, i, what);
  if (!t) return std::nullopt;
  if (t->size() != 1) node_fail(n, fmt::format("{} must be a scalar", what));
  return t->dtype == DType::kFloat32 ? t->f32[0] : static_cast<float>(t->i64[0]);
}

void Importer::drop_extra_outputs(Node& n, const char* what) {
  for (size_t i = 1; i < n.outputs.size(); ++i) {
    if (!n.outputs[i].empty() && consumed_.count(n.outputs[i])) {
      node_fail(n, fmt::format("output '{}' ({}) is used; nnjoule supports inference outputs only",
                               n.outputs[i], what));
    }
  }
  n.outputs.resize(1);
}

int64_t Importer::norm_axis(const Node& n, int64_t axis, size_t rank) const {
  const auto r = static_cast<int64_t>(rank);
  if (axis < -r || axis >= r) {
    node_fail(n, fmt::format("axis {} is out of range for rank {}", axis, r));
  }
  return axis < 0 ? axis + r : axis;
}

void Importer::canonicalize(Node& n) {
  const std::string& op = n.op_type;
  if (op == "Conv" || op == "ConvTranspose" || op == "MaxPool" || op == "AveragePool") {
    canon_window(n);
  } else if (op == "BatchNormalization") {
    if (n.attr_int("spatial", 1) == 0) {
      node_fail(n, "per-activation batch normalization (spatial=0) is not supported");
    }
    if (n.attr_int("training_mode", 0) != 0) {
      notes_.push_back(fmt::format(
          "node '{}' (BatchNormalization): training_mode=1 ignored; inference uses the running "
          "mean and variance",
          n.name));
    }
    drop_extra_outputs(n, "training statistics");
    n.attrs = {{"epsilon", n.attr_float("epsilon", 1e-5f)}};
  } else if (op == "Relu" || op == "Sigmoid" || op == "Tanh" || op == "HardSwish" ||
             op == "GlobalAveragePool" || op == "MatMul" || is_elementwise_binary(op)) {
    n.attrs.clear();
  } else if (op == "HardSigmoid") {
    n.attrs = {{"alpha", n.attr_float("alpha", 0.2f)}, {"beta", n.attr_float("beta", 0.5f)}};
  } else if (op == "LeakyRelu") {
    n.attrs = {{"alpha", n.attr_float("alpha", 0.01f)}};
  } else if (op == "Clip") {
    canon_clip(n);
  } else if (op == "QuantizeLinear" || op == "DequantizeLinear") {
    // The axis matters only with per-channel scales; the canonical form keeps it only there.
    const TensorData* scale = const_input(n, 1, "the scale");
    const int64_t axis = n.attr_int("axis", 1);
    n.attrs.clear();
    if (scale && scale->size() > 1) n.attrs["axis"] = norm_axis(n, axis, shape_of(n, 0).size());
  } else if (op == "Concat") {
    n.attrs = {{"axis", norm_axis(n, n.require_int("axis"), shape_of(n, 0).size())}};
  } else if (op == "Split") {
    canon_split(n);
  } else if (op == "Slice") {
    canon_slice(n);
  } else if (op == "Reshape") {
    const auto target = const_ints(n, 1, "the target shape");
    if (n.attr_int("allowzero", 0) != 0 && std::count(target.begin(), target.end(), 0)) {
      node_fail(n, "allowzero=1 with a 0 in the target shape makes an empty tensor");
    }
    n.inputs.resize(2);
    n.attrs.clear();
  } else if (op == "Flatten") {
    const auto r = static_cast<int64_t>(shape_of(n, 0).size());
    int64_t axis = n.attr_int("axis", 1);
    if (axis < -r || axis > r) node_fail(n, fmt::format("axis {} is out of range", axis));
    n.attrs = {{"axis", axis < 0 ? axis + r : axis}};
  } else if (op == "Transpose") {
    auto perm = n.attr_ints("perm");
    if (perm.empty()) {
      for (auto i = static_cast<int64_t>(shape_of(n, 0).size()) - 1; i >= 0; --i) {
        perm.push_back(i);
      }
    }
    n.attrs = {{"perm", perm}};
  } else if (op == "ReduceMean") {
    const Shape& x = shape_of(n, 0);
    auto axes = n.attr_ints("axes");
    if (axes.empty()) {
      for (size_t i = 0; i < x.size(); ++i) axes.push_back(static_cast<int64_t>(i));
    }
    for (auto& a : axes) a = norm_axis(n, a, x.size());
    n.attrs = {{"axes", axes},
               {"keepdims", n.attr_int("keepdims", 1) != 0 ? int64_t{1} : int64_t{0}}};
  } else if (op == "Gemm") {
    n.attrs = {{"alpha", n.attr_float("alpha", 1.f)},
               {"beta", n.attr_float("beta", 1.f)},
               {"transA", n.attr_int("transA", 0) != 0 ? int64_t{1} : int64_t{0}},
               {"transB", n.attr_int("transB", 0) != 0 ? int64_t{1} : int64_t{0}}};
  } else if (op == "Softmax") {
    canon_softmax(n);
  } else if (op == "Pad") {
    canon_pad(n);
  } else if (op == "Resize" || op == "Upsample") {
    canon_resize(n);
  } else if (op == "Gather") {
    if (!g_.is_constant(n.inputs.at(0))) {
      node_fail(n,
                "gathering from a runtime tensor is not supported (only constant tables "
                "such as embeddings)");
    }
    n.attrs = {{"axis", norm_axis(n, n.attr_int("axis", 0), shape_of(n, 0).size())}};
  } else if (!is_supported_op(op)) {
    node_fail(n, "unsupported op");
  }
}

void Importer::canon_window(Node& n) {
  const std::string& op = n.op_type;
  const bool conv = op == "Conv" || op == "ConvTranspose";
  const Shape& x = shape_of(n, 0);
  if (x.size() != 4) {
    node_fail(n, fmt::format("only 2-D windows over NCHW inputs are supported, input is {}",
                             shape_str(x)));
  }
  std::vector<int64_t> k;
  if (conv) {
    const Shape& w = shape_of(n, 1);
    if (w.size() != 4) node_fail(n, fmt::format("expects 4-D weights, got {}", shape_str(w)));
    k = n.attr_ints("kernel_shape", {w[2], w[3]});
  } else {
    k = n.require_ints("kernel_shape");
  }
  auto s = n.attr_ints("strides", {1, 1});
  auto d = n.attr_ints("dilations", {1, 1});
  auto p = n.attr_ints("pads", {0, 0, 0, 0});
  auto outpad = n.attr_ints("output_padding", {0, 0});
  if (k.size() != 2 || s.size() != 2 || d.size() != 2 || p.size() != 4 || outpad.size() != 2) {
    node_fail(n, "kernel_shape, strides, dilations and output_padding need 2 entries, pads 4");
  }
  constexpr int64_t kMaxWindow = int64_t{1} << 24;  // keeps the arithmetic below in range
  for (int i = 0; i < 2; ++i) {
    if (k[i] <= 0 || s[i] <= 0 || d[i] <= 0 || k[i] > kMaxWindow || s[i] > kMaxWindow ||
        d[i] > kMaxWindow) {
      node_fail(n, "kernel, stride and dilation must be positive (and sane)");
    }
    if (std::abs(outpad[i]) > kMaxWindow) node_fail(n, "output_padding out of range");
  }
  for (int64_t v : p) {
    if (std::abs(v) > kMaxWindow) node_fail(n, "padding out of range");
  }
  const std::string auto_pad = n.attr_string("auto_pad", "NOTSET");
  const bool transpose = op == "ConvTranspose";
  const auto out_shape = n.attr_ints("output_shape");
  if (transpose && !out_shape.empty()) {
    // ONNX: total padding from the requested output size, the odd pixel at the start unless
    // auto_pad says SAME_UPPER.
    if (out_shape.size() != 2 && out_shape.size() != 4)
      node_fail(n, "output_shape needs 2 entries");
    for (int i = 0; i < 2; ++i) {
      const int64_t want = out_shape[out_shape.size() - 2 + i];
      const int64_t total = s[i] * (x[2 + i] - 1) + outpad[i] + ((k[i] - 1) * d[i] + 1) - want;
      if (total < 0) node_fail(n, "output_shape is larger than the transposed conv produces");
      const bool upper = auto_pad == "SAME_UPPER";
      p[i] = upper ? total / 2 : total - total / 2;
      p[i + 2] = total - p[i];
    }
  } else if (auto_pad == "VALID") {
    p = {0, 0, 0, 0};
  } else if (auto_pad == "SAME_UPPER" || auto_pad == "SAME_LOWER") {
    for (int i = 0; i < 2; ++i) {
      const int64_t in = x[2 + i], eff = (k[i] - 1) * d[i] + 1;
      int64_t total;
      if (transpose) {
        total = std::max<int64_t>(0, s[i] * (in - 1) + outpad[i] + eff - in * s[i]);
      } else {
        const int64_t out = (in + s[i] - 1) / s[i];
        total = std::max<int64_t>(0, (out - 1) * s[i] + eff - in);
      }
      // SAME_UPPER puts the odd pixel at the end, SAME_LOWER at the start.
      p[i] = auto_pad == "SAME_UPPER" ? total / 2 : total - total / 2;
      p[i + 2] = total - p[i];
    }
  } else if (auto_pad != "NOTSET" && !auto_pad.empty()) {
    node_fail(n, fmt::format("unknown auto_pad '{}'", auto_pad));
  }
  std::map<std::string, AttrValue> attrs = {{"kernel_shape", k}, {"strides", s}, {"pads", p}};
  if (conv) {
    attrs["dilations"] = d;
    attrs["group"] = n.attr_int("group", 1);
    if (transpose) attrs["output_padding"] = outpad;
  } else {
    if (d != std::vector<int64_t>{1, 1}) attrs["dilations"] = d;
    attrs["ceil_mode"] = n.attr_int("ceil_mode", 0) != 0 ? int64_t{1} : int64_t{0};
    if (op == "AveragePool") {
      attrs["count_include_pad"] =
          n.attr_int("count_include_pad", 0) != 0 ? int64_t{1} : int64_t{0};
    }
    drop_extra_outputs(n, "the max indices");
  }
  n.attrs = std::move(attrs);
}

void Importer::canon_clip(Node& n) {
  std::optional<float> lo, hi;
  if (opset_ < 11) {
    if (n.has_attr("min")) lo = n.attr_float("min", 0.f);
    if (n.has_attr("max")) hi = n.attr_float("max", 0.f);
  } else {
    lo = const_scalar(n, 1, "the min bound");
    hi = const_scalar(n, 2, "the max bound");
  }
  // Exporters write the type's limits for "no bound"; the canonical form omits them.
  constexpr float kMax = std::numeric_limits<float>::max();
  n.attrs.clear();
  if (lo && *lo > -kMax) n.attrs["min"] = *lo;
  if (hi && *hi < kMax) n.attrs["max"] = *hi;
  n.inputs.resize(1);
}

void Importer::canon_split(Node& n) {
  const Shape& x = shape_of(n, 0);
  const int64_t axis = norm_axis(n, n.attr_int("axis", 0), x.size());
  std::vector<int64_t> sizes =
      opset_ < 13 ? n.attr_ints("split")
                  : (has_input(n, 1) ? const_ints(n, 1, "split") : std::vector<int64_t>{});
  if (sizes.empty()) {
    const auto parts = static_cast<int64_t>(n.outputs.size());
    if (parts == 0 || x[axis] % parts != 0) {
      node_fail(n, fmt::format("axis {} of size {} does not split into {} equal parts", axis,
                               x[axis], parts));
    }
    sizes.assign(static_cast<size_t>(parts), x[axis] / parts);
  }
  n.inputs.resize(1);
  n.attrs = {{"axis", axis}, {"split", sizes}};
}

void Importer::canon_slice(Node& n) {
  const Shape& x = shape_of(n, 0);
  std::vector<int64_t> starts, ends, axes, steps;
  if (opset_ < 10) {
    starts = n.require_ints("starts");
    ends = n.require_ints("ends");
    axes = n.attr_ints("axes");
  } else {
    starts = const_ints(n, 1, "starts");
    ends = const_ints(n, 2, "ends");
    if (has_input(n, 3)) axes = const_ints(n, 3, "axes");
    if (has_input(n, 4)) steps = const_ints(n, 4, "steps");
  }
  if (axes.empty()) {
    for (size_t i = 0; i < starts.size(); ++i) axes.push_back(static_cast<int64_t>(i));
  }
  if (steps.empty()) steps.assign(starts.size(), 1);
  if (ends.size() != starts.size() || axes.size() != starts.size() ||
      steps.size() != starts.size()) {
    node_fail(n, "starts, ends, axes and steps differ in length");
  }
  std::set<int64_t> seen;
  for (size_t i = 0; i < starts.size(); ++i) {
    axes[i] = norm_axis(n, axes[i], x.size());
    if (!seen.insert(axes[i]).second) node_fail(n, "an axis is sliced twice");
    const int64_t dim = x[static_cast<size_t>(axes[i])];
    const int64_t step = steps[i];
    if (step == 0 || step == std::numeric_limits<int64_t>::min()) {
      node_fail(n, "invalid slice step");
    }
    // Clamp to the shape as ONNX does, so later stages read plain indices.
    int64_t st = starts[i] < 0 ? starts[i] + dim : starts[i];
    int64_t en = ends[i] < 0 ? ends[i] + dim : ends[i];
    if (starts[i] < -dim) st = 0;  // guards the addition above against wrap-around meaning
    if (ends[i] < -dim) en = step > 0 ? 0 : -1;
    if (step > 0) {
      st = std::clamp<int64_t>(st, 0, dim);
      en = std::clamp<int64_t>(en, 0, dim);
    } else {
      st = std::clamp<int64_t>(st, 0, dim - 1);
      en = std::clamp<int64_t>(en, -1, dim - 1);
      if (en == -1) en = -dim - 1;  // "before index 0": -1 alone would mean the last index
    }
    starts[i] = st;
    ends[i] = en;
  }
  n.inputs.resize(1);
  n.attrs = {{"starts", starts}, {"ends", ends}, {"axes", axes}, {"steps", steps}};
}

void Importer::canon_softmax(Node& n) {
  const Shape& x = shape_of(n, 0);
  const auto r = static_cast<int64_t>(x.size());
  int64_t axis = norm_axis(n, n.attr_int("axis", opset_ < 13 ? 1 : -1), x.size());
  if (opset_ < 13) {
    // Before opset 13 Softmax normalises over all axes from `axis` on, flattened: the same
    // as one-axis softmax when at most one of those axes is longer than 1.
    int64_t real = -1, count = 0;
    for (int64_t d = axis; d < r; ++d) {
      if (x[static_cast<size_t>(d)] != 1) ++count, real = d;
    }
    if (count > 1) {
      node_fail(n, fmt::format("opset-{} Softmax over axes {}..{} of {} flattens several axes; "
                               "only one-axis softmax is supported",
                               opset_, axis, r - 1, shape_str(x)));
    }
    if (count == 1) axis = real;
  }
  n.attrs = {{"axis", axis}};
}

void Importer::canon_pad(Node& n) {
  std::vector<int64_t> pads;
  float value = 0.f;
  if (opset_ < 11) {
    pads = n.require_ints("pads");
    value = n.attr_float("value", 0.f);
  } else {
    pads = const_ints(n, 1, "pads");
    value = const_scalar(n, 2, "constant_value").value_or(0.f);
    if (has_input(n, 3)) node_fail(n, "the axes input is not supported");
  }
  const std::string mode = n.attr_string("mode", "constant");
  if (mode != "constant" && mode != "reflect" && mode != "edge") {
    node_fail(n, fmt::format("unknown mode '{}'", mode));
  }
  for (int64_t p : pads) {
    if (std::abs(p) > (int64_t{1} << 40)) node_fail(n, "padding out of range");
  }
  n.inputs.resize(1);
  n.attrs = {{"pads", pads}, {"mode", mode}, {"value", value}};
}

void Importer::canon_resize(Node& n) {
  const Shape& x = shape_of(n, 0);
  std::vector<float> scales;
  const bool upsample = n.op_type == "Upsample";
  if (upsample && opset_ < 9) {
    auto it = n.attrs.find("scales");
    if (it == n.attrs.end() || !std::holds_alternative<std::vector<float>>(it->second)) {
      node_fail(n, "missing float attribute 'scales'");
    }
    scales = std::get<std::vector<float>>(it->second);
  } else {
    const size_t si = upsample || opset_ < 11 ? 1 : 2;
    const TensorData* s = const_input(n, si, "scales");
    if (s && s->size() > 0) {
      if (s->dtype != DType::kFloat32) node_fail(n, "scales must be floats");
      scales = s->f32;
    } else {
      const TensorData* z = upsample || opset_ < 11 ? nullptr : const_input(n, 3, "sizes");
      if (!z || z->size() == 0) node_fail(n, "needs constant scales or sizes");
      if (z->dtype == DType::kFloat32 || z->i64.size() != x.size()) {
        node_fail(n, "sizes must hold one integer per axis");
      }
      for (size_t i = 0; i < x.size(); ++i) {
        const int64_t want = z->i64[i];
        if (want <= 0 || want > (int64_t{1} << 30)) node_fail(n, "sizes must be positive");
        // The canonical form keeps scales; pick the float whose floor(in * scale) is `want`.
        auto scale = static_cast<float>(static_cast<double>(want) / static_cast<double>(x[i]));
        auto out = [&](float sc) {
          return static_cast<int64_t>(std::floor(static_cast<double>(x[i]) * sc));
        };
        while (out(scale) < want) scale = std::nextafter(scale, 2.f * scale);
        while (out(scale) > want) scale = std::nextafter(scale, 0.f);
        scales.push_back(scale);
      }
    }
  }
  if (scales.size() != x.size()) {
    node_fail(n, fmt::format("{} scales for a rank-{} input", scales.size(), x.size()));
  }
  for (float s : scales) {
    if (!(s > 0.f) || !std::isfinite(s)) node_fail(n, "scales must be positive and finite");
  }
  std::string mode = n.attr_string("mode", "nearest");
  if (mode == "bilinear") mode = "linear";  // Upsample-7 spelling
  if (mode != "nearest" && mode != "linear") {
    node_fail(n, fmt::format("mode '{}' is not supported (nearest, linear)", mode));
  }
  n.op_type = "Resize";
  n.inputs.resize(1);
  n.attrs = {{"scales", scales}, {"mode", mode}};
}

Shape Importer::squeeze_shape(const Node& n, const Shape& x) {
  std::vector<int64_t> axes;
  if (opset_ < 13) {
    axes = n.attr_ints("axes");
  } else if (has_input(n, 1)) {
    axes = const_ints(n, 1, "axes");
  }
  if (n.op_type == "Unsqueeze") {
    const size_t r = x.size() + axes.size();
    std::vector<bool> ins(r, false);
    for (int64_t a : axes) {
      const auto na = static_cast<size_t>(norm_axis(n, a, r));
      if (ins[na]) node_fail(n, "an axis is repeated");
      ins[na] = true;
    }
    Shape out;
    size_t j = 0;
    for (size_t i = 0; i < r; ++i) out.push_back(ins[i] ? 1 : x[j++]);
    return out;
  }
  std::vector<bool> drop(x.size(), false);
  if (axes.empty()) {
    for (size_t i = 0; i < x.size(); ++i) drop[i] = x[i] == 1;
  }
  for (int64_t a : axes) {
    const auto na = static_cast<size_t>(norm_axis(n, a, x.size()));
    if (x[na] != 1) node_fail(n, fmt::format("cannot squeeze axis {} of {}", na, shape_str(x)));
    drop[na] = true;
  }
  Shape out;
  for (size_t i = 0; i < x.size(); ++i)
    if (!drop[i]) out.push_back(x[i]);
  return out;
}

}  // namespace nnjoule::graph::detail
