#pragma once
// The ops nnjoule's IR knows, in their canonical form. The importer rewrites every older ONNX
// form into these (explicit pads instead of auto_pad, Clip/Split/Slice/Pad/ReduceMean arguments
// as attributes), so later stages handle one form only.
//
//   Conv, ConvTranspose     attrs kernel_shape, strides, pads[4] (t,l,b,r), dilations, group
//                           (+ output_padding for ConvTranspose); inputs X, W[, B]
//   BatchNormalization      attr epsilon; inputs X, scale, B, mean, var
//   Relu, Sigmoid, HardSwish, Tanh, Identity
//   HardSigmoid             attrs alpha, beta
//   LeakyRelu               attr alpha
//   Clip                    attrs min, max (absent = unbounded)
//   Add, Sub, Mul, Div      numpy broadcasting
//   Concat                  attr axis
//   Split                   attrs axis, split (sizes)
//   Slice                   attrs starts, ends, axes, steps (clamped to the shape)
//   Reshape                 inputs X, shape (int64 constant)
//   Flatten                 attr axis
//   Transpose               attr perm
//   MaxPool, AveragePool    attrs kernel_shape, strides, pads[4], ceil_mode
//                           (+ count_include_pad for AveragePool)
//   GlobalAveragePool
//   ReduceMean              attrs axes, keepdims
//   Gemm                    attrs alpha, beta, transA, transB; inputs A, B[, C]
//   MatMul                  numpy matmul broadcasting
//   Softmax                 attr axis (opset-13 meaning: one axis)
//   Pad                     attrs pads, mode, value
//   Resize                  attrs scales (per axis, floats), mode ("nearest" or "linear")
//   Gather                  attr axis; inputs data (constant), indices
#include <string>
#include <vector>

namespace nnjoule::graph {

// Every op type the IR supports, sorted.
const std::vector<std::string>& supported_ops();
bool is_supported_op(const std::string& op_type);
bool is_elementwise_binary(const std::string& op_type);  // Add, Sub, Mul, Div
bool is_activation(const std::string& op_type);          // unary elementwise ops

}  // namespace nnjoule::graph
