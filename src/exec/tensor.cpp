#include "nnjoule/exec/tensor.hpp"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>

#include "nnjoule/common/error.hpp"
#include "nnjoule/common/io.hpp"
#include "nnjoule/common/rng.hpp"

namespace nnjoule::exec {

Tensor::Tensor(graph::Shape s)
    : shape(std::move(s)), data(static_cast<size_t>(graph::numel(shape))) {}

Tensor::Tensor(graph::Shape s, std::vector<float> values)
    : shape(std::move(s)), data(std::move(values)) {
  if (static_cast<int64_t>(data.size()) != graph::numel(shape)) {
    fail("tensor of shape {} needs {} values, got {}", graph::shape_str(shape), graph::numel(shape),
         data.size());
  }
}

double relative_error(const Tensor& actual, const Tensor& reference) {
  if (actual.shape != reference.shape || actual.data.size() != reference.data.size()) {
    return std::numeric_limits<double>::infinity();
  }
  double max_ref = 0, max_diff = 0;
  for (size_t i = 0; i < reference.data.size(); ++i) {
    const double r = reference.data[i], a = actual.data[i];
    if (!std::isfinite(r) || !std::isfinite(a)) {
      if (r == a) continue;  // the same infinity
      return std::numeric_limits<double>::infinity();
    }
    max_ref = std::max(max_ref, std::fabs(r));
    max_diff = std::max(max_diff, std::fabs(a - r));
  }
  return max_diff / (max_ref + 1e-12);
}

Tensor constant_tensor(const graph::TensorData& c, const std::string& name) {
  using graph::DType;
  if (!c.materialized()) fail("constant '{}' has no values (a shape-only graph)", name);
  if (c.dtype == DType::kFloat32) return Tensor(c.shape, c.f32);
  if (c.dtype != DType::kInt8 && c.dtype != DType::kUInt8 && c.dtype != DType::kInt32) {
    fail("tensor '{}' is {}, not a float32 or quantized constant", name,
         graph::dtype_name(c.dtype));
  }
  std::vector<float> v(c.i64.begin(), c.i64.end());
  return Tensor(c.shape, std::move(v));
}

Tensor random_tensor(const graph::Shape& shape, uint64_t seed) {
  Tensor t(shape);
  Rng rng(seed);
  for (auto& v : t.data) v = static_cast<float>(rng.uniform(-1.0, 1.0));
  return t;
}

Tensor read_raw_tensor(const std::filesystem::path& path, const graph::Shape& shape,
                       const std::string& what) {
  const auto want = static_cast<uint64_t>(graph::numel(shape)) * sizeof(float);
  auto mismatch = [&](uint64_t have) {
    fail("{}: has {} bytes; input '{}' {} needs {} bytes (float32, NCHW)", path.string(), have,
         what, graph::shape_str(shape), want);
  };
  // Check the size first so a wrong (possibly huge) file is never read.
  std::error_code ec;
  const auto size = std::filesystem::file_size(path, ec);
  if (!ec && size != want) mismatch(size);
  const std::string bytes = read_file(path);
  if (bytes.size() != want) mismatch(bytes.size());
  Tensor t(shape);
  std::memcpy(t.data.data(), bytes.data(), bytes.size());
  return t;
}

void write_raw_tensor(const std::filesystem::path& path, const Tensor& t) {
  write_file_atomic(path, std::string_view(reinterpret_cast<const char*>(t.data.data()),
                                           t.data.size() * sizeof(float)));
}

}  // namespace nnjoule::exec
