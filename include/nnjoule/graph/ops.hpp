#pragma once
// The op table: every op nnjoule's IR knows, in its canonical form, with its inputs,
// attributes, shape function, kernel class, arithmetic cost and the nn-Meter IR types that
// convert to it. The ONNX importer rewrites older ONNX forms into these canonical ones (explicit
// pads instead of auto_pad; Clip/Split/Slice/Pad/ReduceMean arguments as attributes), so later
// stages handle one form only. The engine's own table (reference implementation and XNNPACK
// lowering per op) is exec's ops table; both are checked to cover exactly the same ops.
//
// Adding an op: one entry in src/graph/ops.cpp, one in the exec family file that runs it
// (src/exec/ops_*.cpp). Importers change only when the op has foreign forms to translate
// (older ONNX opsets: onnx_canonical.cpp and onnx_export.cpp; nn-Meter IR attribute layouts
// other than ours: nnmeter_ir.cpp).
#include <string>
#include <string_view>
#include <vector>

#include "nnjoule/graph/graph.hpp"

namespace nnjoule::graph {

enum class OpGroup {
  kConvolution,    // Conv, ConvTranspose
  kNormalization,  // BatchNormalization
  kActivation,     // unary elementwise: Relu, Clip, Sigmoid, ...
  kBinary,         // Add, Sub, Mul, Div with numpy broadcasting
  kPooling,        // windowed and global pooling
  kReduction,      // ReduceMean, Softmax
  kLinear,         // Gemm, MatMul
  kData,           // data movement: Concat, Split, Slice, Reshape, Transpose, Pad, Resize, Gather
  kQuantization,   // QuantizeLinear, DequantizeLinear (graph/quant.hpp)
};
std::string_view group_name(OpGroup g);

struct InputSpec {
  const char* name;
  bool optional = false;
  bool int_constant = false;  // an int64 constant argument (Reshape's shape, Gather's indices)
};

struct AttrSpec {
  const char* name;
  const char* fallback;  // the value when absent, as text; "required" when it must be given
};

struct OpDef {
  std::string name;
  OpGroup group;
  std::vector<InputSpec> inputs;
  bool variadic = false;  // the last input repeats (Concat)
  int min_outputs = 1;
  int max_outputs = 1;  // -1: any number (Split)
  std::vector<AttrSpec> attrs;
  std::string canonical;                   // what the canonical form fixes, for people
  std::vector<std::string> nnmeter_types;  // nn-Meter IR op types converted into this op
  // Output infos given the inputs' infos in the graph; throws Error naming the node.
  std::vector<ValueInfo> (*infer)(const Graph&, const Node&) = nullptr;
  // The kernel class of a lone node of this op ("conv", "relu6", ...); `classify` refines it
  // where it depends on the node (a depthwise Conv is "dwconv", Clip(0, 6) is "relu6").
  std::string kernel_class;
  std::string (*classify)(const Graph&, const Node&) = nullptr;
  // Floating-point operations per output element (activations, binaries, softmax), or a
  // function for ops whose cost depends on weights or windows; data movement costs 0.
  double flops_per_output = 0;
  double (*flops)(const Graph&, const Node&) = nullptr;

  size_t min_inputs() const;
  size_t max_inputs() const;  // SIZE_MAX when variadic
};

// Every op, sorted by name.
const std::vector<OpDef>& op_table();
// The op's entry, or nullptr when nnjoule does not know it.
const OpDef* find_op(std::string_view op_type);
// The op an nn-Meter IR type converts into (nn-Meter's TensorFlow and ONNX flavours), or
// nullptr when it is not an op (placeholders, constants, shape plumbing) or unknown.
const OpDef* find_nnmeter_op(std::string_view ir_type);

// Every op type the IR supports, sorted.
const std::vector<std::string>& supported_ops();
bool is_supported_op(const std::string& op_type);
bool is_elementwise_binary(const std::string& op_type);  // Add, Sub, Mul, Div
bool is_activation(const std::string& op_type);          // unary elementwise ops

// Throws Error naming the node when its input or output count does not fit its op.
void check_arity(const Node& n);
// The kernel class of one node ("unknown:<Op>" for ops outside the table).
std::string node_kernel_class(const Graph& g, const Node& n);
// Floating-point operations of one node with known shapes (0 for unknown ops).
double node_flops(const Graph& g, const Node& n);

// A depthwise convolution: one input channel per group.
bool is_depthwise_conv(const Graph& g, const Node& n);
// A mean over H and W of a 4-D tensor (GlobalAveragePool or ReduceMean over axes 2, 3).
bool is_spatial_mean(const Graph& g, const Node& n);

}  // namespace nnjoule::graph
