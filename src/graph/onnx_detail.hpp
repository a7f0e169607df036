#pragma once
// Helpers shared by the ONNX importer and exporter (private to src/graph).
#include <onnx/onnx_pb.h>

#include <string>
#include <string_view>

#include "nnjoule/graph/graph.hpp"

namespace nnjoule::graph::detail {

// ONNX TensorProto element type of an IR dtype.
int32_t onnx_elem_type(DType t);
// IR dtype of an ONNX element type; false when the IR has none.
bool dtype_from_onnx(int32_t elem, DType* out);
std::string onnx_type_name(int32_t elem);

// Counts of weights converted on import, reported once in Graph::notes.
struct Conversions {
  int float16 = 0;
  int float64 = 0;
  int bfloat16 = 0;
};

// Converts a TensorProto's data: floats of any width become f32, integers and bools i64.
// `what` names the tensor in errors ("initializer 'w'").
TensorData tensor_from_proto(const onnx::TensorProto& t, const std::string& what,
                             Conversions& conv);
// Writes f32 data as FLOAT and everything else as INT64, always as raw_data.
void tensor_to_proto(const TensorData& t, const std::string& name, onnx::TensorProto* out);

// Element count of a shape with every dimension checked (negative or overflowing: Error).
int64_t checked_numel(const Shape& s, const std::string& what);

// First line of an exception message from onnx (its messages append multi-line context).
std::string first_line(std::string_view s);

}  // namespace nnjoule::graph::detail
