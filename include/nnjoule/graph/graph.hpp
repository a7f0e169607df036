#pragma once
// The model IR every stage works on: ONNX-named ops over NCHW tensors with static shapes.
#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <variant>
#include <vector>

namespace nnjoule::graph {

enum class DType : uint8_t { kFloat32, kInt64, kInt32, kBool, kFloat16, kFloat64, kUInt8, kInt8 };
std::string dtype_name(DType t);
size_t dtype_size(DType t);

using Shape = std::vector<int64_t>;
int64_t numel(const Shape& s);
std::string shape_str(const Shape& s);  // "[1,3,224,224]"

// Constant data: weights and folded shape constants. Floats in f32, integers in i64.
struct TensorData {
  DType dtype = DType::kFloat32;
  Shape shape;
  std::vector<float> f32;
  std::vector<int64_t> i64;

  int64_t size() const { return numel(shape); }
  // False for shape-only weights (GraphBuilder without materialized weights).
  bool materialized() const {
    return static_cast<int64_t>(dtype == DType::kFloat32 ? f32.size() : i64.size()) == size();
  }
  static TensorData floats(Shape shape, std::vector<float> values);
  static TensorData ints(Shape shape, std::vector<int64_t> values);
};
using TensorPtr = std::shared_ptr<const TensorData>;

struct ValueInfo {
  DType dtype = DType::kFloat32;
  Shape shape;
};

using AttrValue = std::variant<int64_t, float, std::string, std::vector<int64_t>,
                               std::vector<float>, std::vector<std::string>>;

struct Node {
  std::string name;
  std::string op_type;              // ONNX op name: "Conv", "Relu", ...
  std::vector<std::string> inputs;  // "" marks an omitted optional input
  std::vector<std::string> outputs;
  std::map<std::string, AttrValue> attrs;

  bool has_attr(const std::string& key) const { return attrs.count(key) != 0; }
  int64_t attr_int(const std::string& key, int64_t fallback) const;
  float attr_float(const std::string& key, float fallback) const;
  std::string attr_string(const std::string& key, const std::string& fallback) const;
  std::vector<int64_t> attr_ints(const std::string& key, std::vector<int64_t> fallback = {}) const;
  // Throws Error naming the node when a required attribute is absent.
  int64_t require_int(const std::string& key) const;
  std::vector<int64_t> require_ints(const std::string& key) const;
};

class Graph {
 public:
  std::string name;
  std::vector<Node> nodes;          // topologically sorted once validate() has run
  std::vector<std::string> inputs;  // runtime inputs (not initializers)
  std::vector<std::string> outputs;
  std::map<std::string, ValueInfo> values;        // every tensor: inputs, weights, intermediates
  std::map<std::string, TensorPtr> initializers;  // constant tensors (weights)
  std::vector<std::string> notes;                 // things the importer assumed, shown to the user
  int64_t opset = 13;                             // opset of the canonical op forms this graph uses

  const ValueInfo& value(const std::string& tensor) const;  // throws Error if unknown
  const Shape& shape(const std::string& tensor) const { return value(tensor).shape; }
  bool is_constant(const std::string& tensor) const { return initializers.count(tensor) != 0; }
  const TensorData& constant(const std::string& tensor) const;  // throws Error if not constant

  // Index of the node producing each tensor; graph inputs and initializers are absent.
  std::map<std::string, size_t> producers() const;
  // Indices of nodes consuming each tensor (graph outputs count as an extra consumer -1).
  std::map<std::string, std::vector<long>> consumers() const;

  // Orders nodes topologically; throws Error naming a node on a cycle, a tensor produced twice,
  // or an input that nothing produces.
  void toposort();
  // Full structural check: toposort, shapes known and positive, outputs produced.
  void validate() const;

  int64_t parameter_count() const;  // float weights
  int64_t weight_bytes() const;
};

// A fresh unique tensor or node name with the given stem.
std::string unique_name(const Graph& g, const std::string& stem);

}  // namespace nnjoule::graph
