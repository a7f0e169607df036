// Quantization parameters of QuantizeLinear/DequantizeLinear nodes (quant.hpp).
#include "nnjoule/graph/quant.hpp"

#include <fmt/format.h>

#include <cmath>
#include <limits>

#include "nnjoule/common/error.hpp"

namespace nnjoule::graph {

namespace {

[[noreturn]] void node_fail(const Node& n, const std::string& what) {
  fail("node '{}' ({}): {}", n.name, n.op_type, what);
}

}  // namespace

int32_t QuantParams::qmin() const {
  return dtype == DType::kInt8    ? -128
         : dtype == DType::kUInt8 ? 0
                                  : std::numeric_limits<int32_t>::min();
}

int32_t QuantParams::qmax() const {
  return dtype == DType::kInt8    ? 127
         : dtype == DType::kUInt8 ? 255
                                  : std::numeric_limits<int32_t>::max();
}

bool QuantParams::same_as(const QuantParams& o) const {
  return dtype == o.dtype && scale == o.scale && zero == o.zero &&
         (!per_channel() || axis == o.axis);
}

std::vector<int32_t> int_values(const TensorData& t) {
  if (t.dtype == DType::kFloat32) fail("expected an integer tensor, got float32");
  std::vector<int32_t> v;
  v.reserve(t.i64.size());
  for (int64_t x : t.i64) v.push_back(static_cast<int32_t>(x));
  return v;
}

QuantParams quant_params(const Graph& g, const Node& n) {
  if (!is_quant_op(n.op_type)) node_fail(n, "not a QuantizeLinear or DequantizeLinear node");
  if (n.inputs.size() < 2 || n.inputs[1].empty()) node_fail(n, "missing the scale input");
  const std::string& x = n.inputs[0];
  const Shape& xs = g.shape(x);
  QuantParams q;
  if (!g.is_constant(n.inputs[1])) {
    node_fail(n, fmt::format("scale '{}' must be a constant", n.inputs[1]));
  }
  const TensorData& s = g.constant(n.inputs[1]);
  if (s.dtype != DType::kFloat32 || !s.materialized()) {
    node_fail(n, fmt::format("scale '{}' must hold float values", n.inputs[1]));
  }
  q.scale = s.f32;
  for (float v : q.scale) {
    if (!(v > 0) || !std::isfinite(v)) {
      node_fail(n, fmt::format("scale '{}' holds {}; scales must be positive and finite",
                               n.inputs[1], v));
    }
  }
  const bool has_zero = n.inputs.size() > 2 && !n.inputs[2].empty();
  if (has_zero) {
    if (!g.is_constant(n.inputs[2])) {
      node_fail(n, fmt::format("zero point '{}' must be a constant", n.inputs[2]));
    }
    const TensorData& z = g.constant(n.inputs[2]);
    if (z.dtype != DType::kInt8 && z.dtype != DType::kUInt8 && z.dtype != DType::kInt32) {
      node_fail(n, fmt::format("zero point '{}' is {}; int8, uint8 or int32 expected", n.inputs[2],
                               dtype_name(z.dtype)));
    }
    if (!z.materialized()) node_fail(n, "zero point has no values");
    q.dtype = z.dtype;
    q.zero = int_values(z);
    if (q.zero.size() != q.scale.size()) {
      node_fail(n,
                fmt::format("zero point has {} values, scale {}", q.zero.size(), q.scale.size()));
    }
  } else {
    // Without a zero point, QuantizeLinear makes uint8 and DequantizeLinear reads its input's type.
    q.dtype = n.op_type == "DequantizeLinear" ? g.value(x).dtype : DType::kUInt8;
    q.zero.assign(q.scale.size(), 0);
  }
  if (q.dtype != DType::kInt8 && q.dtype != DType::kUInt8 && q.dtype != DType::kInt32) {
    node_fail(n, fmt::format("quantized type {} is not supported (int8, uint8, int32)",
                             dtype_name(q.dtype)));
  }
  if (q.dtype == DType::kInt32 && n.op_type == "QuantizeLinear") {
    node_fail(n, "QuantizeLinear to int32 is not supported (int8 or uint8)");
  }
  for (int32_t z : q.zero) {
    if (z < q.qmin() || z > q.qmax()) node_fail(n, fmt::format("zero point {} out of range", z));
  }
  const auto rank = static_cast<int64_t>(xs.size());
  int64_t axis = n.attr_int("axis", 1);
  if (q.scale.size() > 1 || s.shape.size() == 1) {
    if (axis < -rank || axis >= rank) {
      node_fail(n, fmt::format("axis {} out of range for rank {}", axis, rank));
    }
    axis = axis < 0 ? axis + rank : axis;
  }
  if (s.shape.size() > 1) node_fail(n, "scale must be a scalar or 1-D");
  if (q.scale.size() > 1 && static_cast<int64_t>(q.scale.size()) != xs[axis]) {
    node_fail(n, fmt::format("{} scales for axis {} of length {}", q.scale.size(), axis, xs[axis]));
  }
  if (q.scale.empty()) node_fail(n, "scale is empty");
  q.axis = axis;
  return q;
}

int32_t quantize_value(double v, float scale, int32_t zero, int32_t qmin, int32_t qmax) {
  const double r = std::nearbyint(v / static_cast<double>(scale));  // ties to even
  if (std::isnan(r)) return zero;  // ONNX leaves NaN undefined; it maps to real zero here
  const double q = r + zero;
  if (q <= qmin) return qmin;
  if (q >= qmax) return qmax;
  return static_cast<int32_t>(q);
}

bool is_quant_op(const std::string& op_type) {
  return op_type == "QuantizeLinear" || op_type == "DequantizeLinear";
}

}  // namespace nnjoule::graph
