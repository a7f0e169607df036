// ONNX import, constant folding: evaluates a node whose inputs are all constants (shape
// computations) into a new constant.
#include <fmt/format.h>
#include <onnx/onnx_pb.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <memory>
#include <set>
#include <string>
#include <type_traits>
#include <vector>

#include "nnjoule/common/error.hpp"
#include "nnjoule/graph/ops.hpp"
#include "nnjoule/graph/shape_inference.hpp"
#include "onnx_detail.hpp"
#include "onnx_importer.hpp"

namespace nnjoule::graph::detail {
namespace {

using onnx::TensorProto;

// Exact arithmetic for sizes computed from untrusted values (GCC/Clang extension).
__extension__ using i128 = __int128;

// Folded constants are shape computations; anything bigger is a malformed model.
constexpr int64_t kMaxFoldedElements = int64_t{1} << 26;

// Every op folded when all its inputs are constants (Shape: when its input's shape is static).
const std::set<std::string>& foldable_ops() {
  static const std::set<std::string> ops = {
      "Shape", "Gather", "Unsqueeze", "Squeeze", "Cast",    "Concat",          "Slice",
      "Add",   "Sub",    "Mul",       "Div",     "Reshape", "ConstantOfShape", "Range"};
  return ops;
}

std::vector<int64_t> strides_of(const Shape& s) {
  std::vector<int64_t> st(s.size(), 1);
  for (size_t i = s.size(); i-- > 1;) st[i - 1] = st[i] * s[i];
  return st;
}

// Calls f(offsets) for every element of `out` in row-major order, where offsets[k] is the flat
// index into operand k (broadcast to `out` numpy-style).
template <typename F>
void for_each_broadcast(const Shape& out, const std::vector<Shape>& operands, F f) {
  const size_t r = out.size();
  std::vector<std::vector<int64_t>> st(operands.size(), std::vector<int64_t>(r, 0));
  for (size_t k = 0; k < operands.size(); ++k) {
    const Shape& s = operands[k];
    int64_t acc = 1;
    for (size_t i = 0; i < s.size(); ++i) {
      const size_t d = s.size() - 1 - i, od = r - 1 - i;
      st[k][od] = s[d] == 1 ? 0 : acc;
      acc *= s[d];
    }
  }
  const int64_t total = numel(out);
  std::vector<int64_t> idx(r, 0), off(operands.size(), 0);
  for (int64_t e = 0; e < total; ++e) {
    f(off);
    for (size_t d = r; d-- > 0;) {
      ++idx[d];
      for (size_t k = 0; k < off.size(); ++k) off[k] += st[k][d];
      if (idx[d] < out[d]) break;
      for (size_t k = 0; k < off.size(); ++k) off[k] -= st[k][d] * idx[d];
      idx[d] = 0;
    }
  }
}

}  // namespace

bool Importer::try_fold(Node& n) {
  if (!foldable_ops().count(n.op_type)) return false;
  if (n.outputs.size() != 1 || n.outputs[0].empty()) return false;
  if (n.op_type == "Shape") {
    if (!has_input(n, 0) || !g_.values.count(n.inputs[0])) return false;
  } else {
    for (size_t i = 0; i < n.inputs.size(); ++i) {
      if (has_input(n, i) && !g_.is_constant(n.inputs[i])) return false;
    }
    if (n.inputs.empty() || !has_input(n, 0)) return false;
  }
  TensorData out = evaluate(n);
  const int64_t count = checked_numel(out.shape, fmt::format("node '{}'", n.name));
  if (count > kMaxFoldedElements) {
    node_fail(n, fmt::format("folded constant would hold {} elements", count));
  }
  add_constant(n.outputs[0], std::make_shared<TensorData>(std::move(out)));
  return true;
}

TensorData Importer::evaluate(Node& n) {
  const std::string op = n.op_type;
  if (op == "Shape") {
    const Shape& x = g_.shape(n.inputs[0]);
    const auto r = static_cast<int64_t>(x.size());
    int64_t start = n.attr_int("start", 0), end = n.attr_int("end", r);
    if (start < 0) start += r;
    if (end < 0) end += r;
    start = std::clamp<int64_t>(start, 0, r);
    end = std::clamp<int64_t>(end, start, r);
    std::vector<int64_t> dims(x.begin() + start, x.begin() + end);
    return TensorData::ints({static_cast<int64_t>(dims.size())}, dims);
  }
  const TensorData& a = g_.constant(n.inputs[0]);
  if (op == "Squeeze" || op == "Unsqueeze" || op == "Reshape") {
    TensorData out = a;
    if (op == "Reshape") {
      canonicalize(n);
      out.shape = infer_node(g_, n).at(0).shape;
    } else {
      out.shape = squeeze_shape(n, a.shape);
    }
    return out;
  }
  if (op == "Cast") {
    DType to;
    const auto elem = static_cast<int32_t>(n.require_int("to"));
    const bool floating = elem == TensorProto::FLOAT || elem == TensorProto::DOUBLE ||
                          elem == TensorProto::FLOAT16 || elem == TensorProto::BFLOAT16;
    if (!floating && !detail::dtype_from_onnx(elem, &to) && elem != TensorProto::UINT16 &&
        elem != TensorProto::INT16 && elem != TensorProto::UINT32 && elem != TensorProto::UINT64) {
      node_fail(n, fmt::format("cast to {} is not supported", detail::onnx_type_name(elem)));
    }
    TensorData out;
    out.shape = a.shape;
    if (floating) {
      out.dtype = DType::kFloat32;
      if (a.dtype == DType::kFloat32)
        out.f32 = a.f32;
      else
        out.f32.assign(a.i64.begin(), a.i64.end());
    } else {
      out.dtype = DType::kInt64;
      if (a.dtype != DType::kFloat32) {
        out.i64 = a.i64;
      } else {
        for (float v : a.f32) {
          if (!std::isfinite(v) || std::fabs(v) > 9.2e18f) node_fail(n, "value out of range");
          out.i64.push_back(static_cast<int64_t>(v));
        }
      }
      if (elem == TensorProto::BOOL) {
        for (auto& v : out.i64) v = v != 0;
      }
    }
    return out;
  }
  if (op == "ConstantOfShape") {
    const auto dims = const_ints(n, 0, "the shape");
    for (int64_t d : dims) {
      if (d < 0) node_fail(n, "negative dimension");
    }
    const int64_t count = checked_numel(dims, fmt::format("node '{}'", n.name));
    if (count > kMaxFoldedElements) node_fail(n, "constant too large");
    TensorData out;
    out.shape = dims;
    auto it = value_attrs_.find(n.name);
    if (it == value_attrs_.end()) {
      out.f32.assign(static_cast<size_t>(count), 0.f);
    } else {
      const TensorData& v = it->second;
      if (v.size() != 1) node_fail(n, "the value attribute must hold one element");
      out.dtype = v.dtype;
      if (v.dtype == DType::kFloat32)
        out.f32.assign(static_cast<size_t>(count), v.f32[0]);
      else
        out.i64.assign(static_cast<size_t>(count), v.i64[0]);
    }
    return out;
  }
  if (op == "Range") {
    const TensorData& l = g_.constant(n.inputs.at(1));
    const TensorData& d = g_.constant(n.inputs.at(2));
    if (a.size() != 1 || l.size() != 1 || d.size() != 1) node_fail(n, "needs scalar inputs");
    if (a.dtype != l.dtype || a.dtype != d.dtype) node_fail(n, "inputs differ in type");
    TensorData out;
    out.dtype = a.dtype;
    if (a.dtype == DType::kFloat32) {
      const double s = a.f32[0], lim = l.f32[0], step = d.f32[0];
      if (step == 0 || !std::isfinite(s) || !std::isfinite(lim) || !std::isfinite(step)) {
        node_fail(n, "invalid range");
      }
      const double count = std::max(0.0, std::ceil((lim - s) / step));
      if (count > static_cast<double>(kMaxFoldedElements)) node_fail(n, "range too long");
      for (int64_t i = 0; i < static_cast<int64_t>(count); ++i) {
        out.f32.push_back(static_cast<float>(s + static_cast<double>(i) * step));
      }
      out.shape = {static_cast<int64_t>(out.f32.size())};
    } else {
      const i128 s = a.i64[0], lim = l.i64[0], step = d.i64[0];
      if (step == 0) node_fail(n, "range step 0");
      i128 count = (lim - s + step + (step > 0 ? -1 : 1)) / step;
      if (count < 0) count = 0;
      if (count > kMaxFoldedElements) node_fail(n, "range too long");
      for (i128 i = 0; i < count; ++i) out.i64.push_back(static_cast<int64_t>(s + i * step));
      out.shape = {static_cast<int64_t>(out.i64.size())};
    }
    return out;
  }
  // The rest share canonical forms with runtime ops: canonicalise, infer, then compute.
  canonicalize(n);
  const Shape out_shape = infer_node(g_, n).at(0).shape;
  checked_numel(out_shape, fmt::format("node '{}'", n.name));
  if (numel(out_shape) > kMaxFoldedElements) node_fail(n, "folded constant too large");
  TensorData out;
  out.dtype = a.dtype;
  out.shape = out_shape;
  if (a.dtype == DType::kFloat32) {
    out.f32 = compute<float>(
        n, out_shape, [](const TensorData& t) -> const std::vector<float>& { return t.f32; });
  } else {
    out.i64 = compute<int64_t>(
        n, out_shape, [](const TensorData& t) -> const std::vector<int64_t>& { return t.i64; });
  }
  return out;
}

template <typename T, typename Get>
std::vector<T> Importer::compute(const Node& n, const Shape& out_shape, Get get) {
  const std::string& op = n.op_type;
  std::vector<const TensorData*> ins;
  for (const auto& in : n.inputs) {
    ins.push_back(in.empty() ? nullptr : &g_.constant(in));
  }
  const TensorData& a = *ins.at(0);
  const std::vector<T>& va = get(a);
  std::vector<T> out;
  out.reserve(static_cast<size_t>(numel(out_shape)));
  if (op == "Gather") {
    const TensorData& idx = *ins.at(1);
    if (idx.dtype == DType::kFloat32) node_fail(n, "indices must be integers");
    const auto axis = static_cast<size_t>(n.attr_int("axis", 0));
    int64_t outer = 1, inner = 1;
    for (size_t i = 0; i < axis; ++i) outer *= a.shape[i];
    for (size_t i = axis + 1; i < a.shape.size(); ++i) inner *= a.shape[i];
    const int64_t dim = a.shape[axis];
    for (int64_t o = 0; o < outer; ++o) {
      for (int64_t j : idx.i64) {
        if (j < -dim || j >= dim) node_fail(n, fmt::format("index {} out of range", j));
        if (j < 0) j += dim;
        const auto base = static_cast<size_t>((o * dim + j) * inner);
        out.insert(out.end(), va.begin() + static_cast<long>(base),
                   va.begin() + static_cast<long>(base + static_cast<size_t>(inner)));
      }
    }
  } else if (op == "Concat") {
    const auto axis = static_cast<size_t>(n.attr_int("axis", 0));
    int64_t outer = 1;
    for (size_t i = 0; i < axis; ++i) outer *= out_shape[i];
    for (int64_t o = 0; o < outer; ++o) {
      for (const TensorData* t : ins) {
        if (t->dtype != a.dtype) node_fail(n, "inputs differ in type");
        int64_t block = 1;
        for (size_t i = axis; i < t->shape.size(); ++i) block *= t->shape[i];
        const auto& v = get(*t);
        out.insert(out.end(), v.begin() + static_cast<long>(o * block),
                   v.begin() + static_cast<long>((o + 1) * block));
      }
    }
  } else if (op == "Slice") {
    const auto starts = n.attr_ints("starts"), axes = n.attr_ints("axes"),
               steps = n.attr_ints("steps");
    std::vector<int64_t> first(a.shape.size(), 0), step(a.shape.size(), 1);
    for (size_t i = 0; i < axes.size(); ++i) {
      first[static_cast<size_t>(axes[i])] = starts[i];
      step[static_cast<size_t>(axes[i])] = steps[i];
    }
    const auto st = strides_of(a.shape);
    int64_t base = 0;
    std::vector<int64_t> delta(a.shape.size());
    for (size_t d = 0; d < a.shape.size(); ++d) {
      base += first[d] * st[d];
      delta[d] = step[d] * st[d];
    }
    std::vector<int64_t> idx(out_shape.size(), 0);
    const int64_t total = numel(out_shape);
    int64_t off = base;
    for (int64_t e = 0; e < total; ++e) {
      out.push_back(va.at(static_cast<size_t>(off)));
      for (size_t d = out_shape.size(); d-- > 0;) {
        ++idx[d];
        off += delta[d];
        if (idx[d] < out_shape[d]) break;
        off -= delta[d] * idx[d];
        idx[d] = 0;
      }
    }
  } else if (is_elementwise_binary(op)) {
    const TensorData& b = *ins.at(1);
    if (b.dtype != a.dtype) node_fail(n, "operands differ in type");
    const std::vector<T>& vb = get(b);
    for_each_broadcast(out_shape, {a.shape, b.shape}, [&](const std::vector<int64_t>& off) {
      const T x = va[static_cast<size_t>(off[0])], y = vb[static_cast<size_t>(off[1])];
      out.push_back(binary(n, x, y));
    });
  } else {
    node_fail(n, "cannot fold this op");
  }
  return out;
}

template <typename T>
T Importer::binary(const Node& n, T x, T y) {
  const std::string& op = n.op_type;
  if constexpr (std::is_same_v<T, float>) {
    if (op == "Add") return x + y;
    if (op == "Sub") return x - y;
    if (op == "Mul") return x * y;
    return x / y;
  } else {
    T r = 0;
    bool overflow = false;
    if (op == "Add")
      overflow = __builtin_add_overflow(x, y, &r);
    else if (op == "Sub")
      overflow = __builtin_sub_overflow(x, y, &r);
    else if (op == "Mul")
      overflow = __builtin_mul_overflow(x, y, &r);
    else if (y == 0 || (x == std::numeric_limits<T>::min() && y == -1))
      overflow = true;
    else
      r = x / y;
    if (overflow) node_fail(n, "integer overflow or division by zero while folding");
    return r;
  }
}

}  // namespace nnjoule::graph::detail
