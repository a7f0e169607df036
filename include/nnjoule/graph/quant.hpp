#pragma once
// Quantized tensors in the IR, in ONNX's QDQ form: an int8/uint8 tensor is made by
// QuantizeLinear and read by DequantizeLinear only; every other op computes on float. Operator
// forms (QLinearConv, QLinearMatMul, com.microsoft's QLinearAdd, ...) are rewritten into QDQ
// by the importer, so later stages see one form. Fusing DQ -> op -> Q into an int8 kernel is
// the engine's and the kernel detector's job. See docs/quantization.md.
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "nnjoule/graph/graph.hpp"

namespace nnjoule::graph {

// Scale and zero point of one QuantizeLinear/DequantizeLinear node: per tensor (one entry) or
// per channel along `axis`.
struct QuantParams {
  DType dtype = DType::kUInt8;  // the quantized side's type: kInt8, kUInt8 or kInt32
  std::vector<float> scale;
  std::vector<int32_t> zero;
  int64_t axis = 1;  // normalized; meaningful when per_channel()

  bool per_channel() const { return scale.size() > 1; }
  int32_t qmin() const;
  int32_t qmax() const;
  // Same type, scales and zero points (a requantization between them is the identity).
  bool same_as(const QuantParams& o) const;
};

// The node's quantization (QuantizeLinear or DequantizeLinear with constant scale and zero
// point); throws Error naming the node otherwise.
QuantParams quant_params(const Graph& g, const Node& n);

// ONNX QuantizeLinear of one value: round half to even, then saturate.
int32_t quantize_value(double v, float scale, int32_t zero, int32_t qmin, int32_t qmax);

// Integer constants (int8/uint8/int32 stored in TensorData::i64) as a flat vector.
std::vector<int32_t> int_values(const TensorData& t);

bool is_quant_op(const std::string& op_type);  // QuantizeLinear, DequantizeLinear

}  // namespace nnjoule::graph
