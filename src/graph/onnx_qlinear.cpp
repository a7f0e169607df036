// Operator-form quantized ops rewritten into QDQ: QLinearConv -> DequantizeLinear on x, w and
// the int32 bias, a float Conv, QuantizeLinear on the output. The rewrite is exact (it is the
// ops' definition); fusing the pattern back into one int8 kernel is the engine's job, the same
// as for models exported in QDQ form.
#include <fmt/format.h>

#include "nnjoule/graph/ops.hpp"
#include "nnjoule/graph/quant.hpp"
#include "nnjoule/graph/shape_inference.hpp"
#include "onnx_importer.hpp"

namespace nnjoule::graph::detail {

const std::set<std::string>& qlinear_ops() {
  static const std::set<std::string> ops = {"QLinearConv",
                                            "QLinearMatMul",
                                            "QLinearAdd",
                                            "QLinearMul",
                                            "QLinearSigmoid",
                                            "QLinearLeakyRelu",
                                            "QLinearGlobalAveragePool",
                                            "QLinearAveragePool",
                                            "QLinearConcat"};
  return ops;
}

// ONNX Runtime's contrib ops read from the com.microsoft domain, plus its older Q/DQ copies.
bool is_microsoft_quant_op(const std::string& op) {
  return (qlinear_ops().count(op) && op != "QLinearConv" && op != "QLinearMatMul") ||
         op == "QuantizeLinear" || op == "DequantizeLinear";
}

void Importer::emit(Node n, std::vector<Node>& kept) {
  canonicalize(n);
  auto infos = infer_node(g_, n);
  for (size_t i = 0; i < n.outputs.size(); ++i) {
    if (!n.outputs[i].empty()) g_.values[n.outputs[i]] = infos.at(i);
  }
  kept.push_back(std::move(n));
}

// DequantizeLinear of input triple (x, scale, zero point) starting at `at`; returns the float
// tensor. Weights and biases are per output channel along `axis`.
std::string Importer::emit_dq(const Node& q, size_t at, int64_t axis, const std::string& stem,
                              std::vector<Node>& kept) {
  if (!has_input(q, at) || !has_input(q, at + 1)) {
    node_fail(q, fmt::format("missing input {} or its scale", at));
  }
  const std::string out = fresh_tensor(q.name + "/" + stem);
  Node d{q.name + "/dq_" + stem, "DequantizeLinear", {q.inputs[at], q.inputs[at + 1]}, {out}, {}};
  if (has_input(q, at + 2)) d.inputs.push_back(q.inputs[at + 2]);
  d.attrs["axis"] = axis;
  emit(std::move(d), kept);
  return out;
}

void Importer::emit_q(const Node& q, const std::string& from, size_t scale_at,
                      std::vector<Node>& kept) {
  if (!has_input(q, scale_at))
    node_fail(q, fmt::format("missing the output scale (input {})", scale_at));
  Node o{q.name + "/q", "QuantizeLinear", {from, q.inputs[scale_at]}, {q.outputs.at(0)}, {}};
  if (has_input(q, scale_at + 1)) o.inputs.push_back(q.inputs[scale_at + 1]);
  emit(std::move(o), kept);
}

void Importer::expand_qlinear(Node& n, std::vector<Node>& kept) {
  const std::string op = n.op_type;
  if (n.outputs.size() != 1 || n.outputs[0].empty()) node_fail(n, "needs exactly one output");
  const std::string y = fresh_tensor(n.name + "/y");
  auto float_node = [&](const std::string& type, std::vector<std::string> inputs) {
    Node f{n.name, type, std::move(inputs), {y}, n.attrs};
    return f;
  };
  if (op == "QLinearConv") {
    const std::string x = emit_dq(n, 0, 1, "x", kept);
    const std::string w = emit_dq(n, 3, 0, "w", kept);
    std::vector<std::string> ins = {x, w};
    if (has_input(n, 8)) {
      // The int32 bias has scale x_scale * w_scale[c] and zero point 0 (the op's definition).
      const TensorData* xs = const_input(n, 1, "x_scale");
      const TensorData* ws = const_input(n, 4, "w_scale");
      if (!xs || !ws || xs->dtype != DType::kFloat32 || ws->dtype != DType::kFloat32 ||
          xs->f32.size() != 1 || ws->f32.empty()) {
        node_fail(n, "x_scale must be a float scalar and w_scale float constants");
      }
      std::vector<float> bs;
      for (float s : ws->f32) bs.push_back(xs->f32[0] * s);
      const std::string scale = fresh_tensor(n.name + "/b_scale");
      const auto channels = static_cast<int64_t>(bs.size());  // before bs is moved from
      add_constant(scale,
                   std::make_shared<TensorData>(TensorData::floats({channels}, std::move(bs))));
      const std::string zero = fresh_tensor(n.name + "/b_zero");
      TensorData z = TensorData::ints({static_cast<int64_t>(ws->f32.size())},
                                      std::vector<int64_t>(ws->f32.size(), 0));
      z.dtype = DType::kInt32;
      add_constant(zero, std::make_shared<TensorData>(std::move(z)));
      Node bq{n.name, "", {n.inputs[8], scale, zero}, {}, {}};
      ins.push_back(emit_dq(bq, 0, 0, "b", kept));
    }
    emit(float_node("Conv", ins), kept);
    emit_q(n, y, 6, kept);
  } else if (op == "QLinearMatMul") {
    const std::string a = emit_dq(n, 0, 1, "a", kept);
    // A per-column b_scale runs along B's last axis.
    const int64_t baxis = has_input(n, 3) && g_.values.count(n.inputs[3])
                              ? static_cast<int64_t>(g_.shape(n.inputs[3]).size()) - 1
                              : 1;
    const std::string b = emit_dq(n, 3, baxis, "b", kept);
    emit(float_node("MatMul", {a, b}), kept);
    emit_q(n, y, 6, kept);
  } else if (op == "QLinearAdd" || op == "QLinearMul") {
    const std::string a = emit_dq(n, 0, 1, "a", kept);
    const std::string b = emit_dq(n, 3, 1, "b", kept);
    emit(float_node(op == "QLinearAdd" ? "Add" : "Mul", {a, b}), kept);
    emit_q(n, y, 6, kept);
  } else if (op == "QLinearSigmoid" || op == "QLinearLeakyRelu" ||
             op == "QLinearGlobalAveragePool" || op == "QLinearAveragePool") {
    if (n.attr_int("channels_last", 0) != 0) {
      node_fail(n, "channels_last=1 (NHWC) is not supported; nnjoule reads NCHW models");
    }
    n.attrs.erase("channels_last");
    const std::string x = emit_dq(n, 0, 1, "x", kept);
    const std::string type = op == "QLinearSigmoid"             ? "Sigmoid"
                             : op == "QLinearLeakyRelu"         ? "LeakyRelu"
                             : op == "QLinearGlobalAveragePool" ? "GlobalAveragePool"
                                                                : "AveragePool";
    emit(float_node(type, {x}), kept);
    emit_q(n, y, 3, kept);
  } else if (op == "QLinearConcat") {
    // Y_scale, Y_zero_point, then (X, scale, zero point) per input.
    if (n.inputs.size() < 5 || (n.inputs.size() - 2) % 3 != 0) {
      node_fail(n, "expects Y_scale, Y_zero_point and (X, scale, zero point) triples");
    }
    std::vector<std::string> xs;
    for (size_t at = 2; at < n.inputs.size(); at += 3) {
      xs.push_back(emit_dq(n, at, 1, fmt::format("x{}", (at - 2) / 3), kept));
    }
    emit(float_node("Concat", xs), kept);
    Node o{n.name + "/q", "QuantizeLinear", {y, n.inputs[0], n.inputs[1]}, {n.outputs[0]}, {}};
    emit(std::move(o), kept);
  } else {
    node_fail(n, "not an operator-form quantized op");
  }
}

}  // namespace nnjoule::graph::detail
