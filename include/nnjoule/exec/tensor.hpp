#pragma once
// Dense float32 tensors in the model's own layout (NCHW, row-major), as they enter and leave
// the execution engine and the reference executor.
#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

#include "nnjoule/graph/graph.hpp"

namespace nnjoule::exec {

struct Tensor {
  graph::Shape shape;
  std::vector<float> data;

  Tensor() = default;
  explicit Tensor(graph::Shape s);                    // zero-filled
  Tensor(graph::Shape s, std::vector<float> values);  // throws Error when sizes differ
  int64_t size() const { return static_cast<int64_t>(data.size()); }
};

// max |actual - reference| / (max |reference| + 1e-12); infinity when either holds a NaN or
// an infinity the other does not, or when the shapes differ.
double relative_error(const Tensor& actual, const Tensor& reference);

// A graph constant as a float tensor: float32 values, or the integers of an int8/uint8/int32
// constant (QDQ zero points, quantized weights, int32 biases); throws Error naming `name` for
// other types or a shape-only constant.
Tensor constant_tensor(const graph::TensorData& c, const std::string& name);

// Uniform in [-1, 1) from nnjoule's deterministic generator.
Tensor random_tensor(const graph::Shape& shape, uint64_t seed);

// Raw little-endian float32, NCHW, no header. `what` names the tensor in error messages; a
// file whose byte count differs from the shape's is rejected naming both counts.
Tensor read_raw_tensor(const std::filesystem::path& path, const graph::Shape& shape,
                       const std::string& what);
void write_raw_tensor(const std::filesystem::path& path, const Tensor& t);

}  // namespace nnjoule::exec
