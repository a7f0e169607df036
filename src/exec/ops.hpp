#pragma once
// The engine's op table: for every op of graph's op table (graph/ops.hpp), its reference
// implementation (plain loops in double, the oracle the engine is tested against) and its
// lowering to engine steps (XNNPACK operators or our own kernels). Each family file
// (ops_spatial.cpp, ops_linear.cpp, ops_elementwise.cpp, ops_data.cpp) holds both for its ops,
// so adding an op to the engine touches one file.
#include <fmt/format.h>

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "nnjoule/common/error.hpp"
#include "nnjoule/exec/tensor.hpp"
#include "nnjoule/graph/graph.hpp"

namespace nnjoule::exec {

[[noreturn]] inline void node_fail(const graph::Node& n, const std::string& what) {
  fail("node '{}' ({}): {}", n.name, n.op_type, what);
}

namespace detail {
class Compiler;
}

// One node's evaluation by the reference executor: its float inputs (nullptr where omitted
// or an int64 constant argument) and the inferred output shape.
struct RefCall {
  const graph::Graph& g;
  const graph::Node& n;
  std::vector<const Tensor*> in;
  graph::Shape out;

  const Tensor& x() const { return input(0); }
  const Tensor& input(size_t i) const {
    if (i >= in.size() || !in[i]) node_fail(n, fmt::format("missing input {}", i));
    return *in[i];
  }
  const Tensor* optional(size_t i) const { return i < in.size() ? in[i] : nullptr; }
};

struct ExecOp {
  std::string name;
  std::vector<Tensor> (*reference)(const RefCall&);
  void (*lower)(detail::Compiler&, size_t node);
};

// Each family's entries; exec_ops() joins them.
std::vector<ExecOp> spatial_ops();
std::vector<ExecOp> linear_ops();
std::vector<ExecOp> elementwise_ops();
std::vector<ExecOp> data_ops();
std::vector<ExecOp> quant_ops();

// Every op the engine runs, sorted by name.
const std::vector<ExecOp>& exec_ops();
const ExecOp* find_exec_op(std::string_view op_type);

// Helpers of the reference implementations.
namespace ref {

using graph::Graph;
using graph::Node;
using graph::Shape;

inline std::vector<int64_t> strides_of(const Shape& s) {
  std::vector<int64_t> st(s.size(), 1);
  for (int64_t i = static_cast<int64_t>(s.size()) - 2; i >= 0; --i) st[i] = st[i + 1] * s[i + 1];
  return st;
}

// Multi-index of flat position `flat` in shape `s`.
inline std::vector<int64_t> unravel(int64_t flat, const Shape& s) {
  std::vector<int64_t> idx(s.size());
  for (int64_t i = static_cast<int64_t>(s.size()) - 1; i >= 0; --i) {
    idx[i] = flat % s[i];
    flat /= s[i];
  }
  return idx;
}

inline int64_t norm_axis(const Node& n, int64_t axis, size_t rank) {
  const auto r = static_cast<int64_t>(rank);
  if (axis < -r || axis >= r) node_fail(n, fmt::format("axis {} out of range", axis));
  return axis < 0 ? axis + r : axis;
}

// Offset into a tensor of shape `s` broadcast to `out` (right-aligned) at multi-index `idx`.
inline int64_t broadcast_offset(const Shape& s, const std::vector<int64_t>& idx) {
  const size_t off = idx.size() - s.size();
  int64_t o = 0;
  for (size_t i = 0; i < s.size(); ++i) o = o * s[i] + (s[i] == 1 ? 0 : idx[off + i]);
  return o;
}

inline const std::vector<int64_t>& const_ints(const Graph& g, const Node& n, size_t i) {
  if (i >= n.inputs.size() || !g.is_constant(n.inputs[i])) {
    node_fail(n, fmt::format("input {} must be a constant", i));
  }
  const auto& t = g.constant(n.inputs[i]);
  if (t.dtype == graph::DType::kFloat32) node_fail(n, fmt::format("input {} must be integer", i));
  return t.i64;
}

}  // namespace ref
}  // namespace nnjoule::exec
