#include "nnjoule/graph/graph.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <queue>
#include <set>

#include "nnjoule/common/error.hpp"

namespace nnjoule::graph {

std::string dtype_name(DType t) {
  switch (t) {
    case DType::kFloat32:
      return "float32";
    case DType::kInt64:
      return "int64";
    case DType::kInt32:
      return "int32";
    case DType::kBool:
      return "bool";
    case DType::kFloat16:
      return "float16";
    case DType::kFloat64:
      return "float64";
    case DType::kUInt8:
      return "uint8";
    case DType::kInt8:
      return "int8";
  }
  return "unknown";
}

size_t dtype_size(DType t) {
  switch (t) {
    case DType::kFloat32:
      return 4;
    case DType::kInt64:
      return 8;
    case DType::kInt32:
      return 4;
    case DType::kBool:
      return 1;
    case DType::kFloat16:
      return 2;
    case DType::kFloat64:
      return 8;
    case DType::kUInt8:
      return 1;
    case DType::kInt8:
      return 1;
  }
  return 0;
}

int64_t numel(const Shape& s) {
  // Shapes come from untrusted files: overflow must be an error, not undefined behaviour.
  int64_t n = 1;
  for (int64_t d : s) {
    if (__builtin_mul_overflow(n, d, &n)) fail("shape {} has too many elements", shape_str(s));
  }
  return n;
}

std::string shape_str(const Shape& s) {
  return fmt::format("[{}]", fmt::join(s, ","));
}

TensorData TensorData::floats(Shape shape, std::vector<float> values) {
  TensorData t;
  t.dtype = DType::kFloat32;
  t.shape = std::move(shape);
  t.f32 = std::move(values);
  if (static_cast<int64_t>(t.f32.size()) != numel(t.shape)) {
    fail("float tensor {} holds {} values", shape_str(t.shape), t.f32.size());
  }
  return t;
}

TensorData TensorData::ints(Shape shape, std::vector<int64_t> values) {
  TensorData t;
  t.dtype = DType::kInt64;
  t.shape = std::move(shape);
  t.i64 = std::move(values);
  if (static_cast<int64_t>(t.i64.size()) != numel(t.shape)) {
    fail("int tensor {} holds {} values", shape_str(t.shape), t.i64.size());
  }
  return t;
}

int64_t Node::attr_int(const std::string& key, int64_t fallback) const {
  auto it = attrs.find(key);
  if (it == attrs.end()) return fallback;
  if (auto* v = std::get_if<int64_t>(&it->second)) return *v;
  fail("node '{}' ({}): attribute '{}' is not an integer", name, op_type, key);
}

float Node::attr_float(const std::string& key, float fallback) const {
  auto it = attrs.find(key);
  if (it == attrs.end()) return fallback;
  if (auto* v = std::get_if<float>(&it->second)) return *v;
  if (auto* v = std::get_if<int64_t>(&it->second)) return static_cast<float>(*v);
  fail("node '{}' ({}): attribute '{}' is not a float", name, op_type, key);
}

std::string Node::attr_string(const std::string& key, const std::string& fallback) const {
  auto it = attrs.find(key);
  if (it == attrs.end()) return fallback;
  if (auto* v = std::get_if<std::string>(&it->second)) return *v;
  fail("node '{}' ({}): attribute '{}' is not a string", name, op_type, key);
}

std::vector<int64_t> Node::attr_ints(const std::string& key, std::vector<int64_t> fallback) const {
  auto it = attrs.find(key);
  if (it == attrs.end()) return fallback;
  if (auto* v = std::get_if<std::vector<int64_t>>(&it->second)) return *v;
  if (auto* v = std::get_if<int64_t>(&it->second)) return {*v};
  fail("node '{}' ({}): attribute '{}' is not a list of integers", name, op_type, key);
}

int64_t Node::require_int(const std::string& key) const {
  if (!has_attr(key)) fail("node '{}' ({}): missing attribute '{}'", name, op_type, key);
  return attr_int(key, 0);
}

std::vector<int64_t> Node::require_ints(const std::string& key) const {
  if (!has_attr(key)) fail("node '{}' ({}): missing attribute '{}'", name, op_type, key);
  return attr_ints(key);
}

const ValueInfo& Graph::value(const std::string& tensor) const {
  auto it = values.find(tensor);
  if (it == values.end()) fail("tensor '{}' has no known shape", tensor);
  return it->second;
}

const TensorData& Graph::constant(const std::string& tensor) const {
  auto it = initializers.find(tensor);
  if (it == initializers.end()) fail("tensor '{}' is not a constant", tensor);
  return *it->second;
}

std::map<std::string, size_t> Graph::producers() const {
  std::map<std::string, size_t> p;
  for (size_t i = 0; i < nodes.size(); ++i)
    for (const auto& o : nodes[i].outputs)
      if (!o.empty()) p[o] = i;
  return p;
}

std::map<std::string, std::vector<long>> Graph::consumers() const {
  std::map<std::string, std::vector<long>> c;
  for (size_t i = 0; i < nodes.size(); ++i)
    for (const auto& in : nodes[i].inputs)
      if (!in.empty()) c[in].push_back(static_cast<long>(i));
  for (const auto& o : outputs) c[o].push_back(-1);
  return c;
}

void Graph::toposort() {
  std::map<std::string, size_t> producer;
  for (size_t i = 0; i < nodes.size(); ++i) {
    for (const auto& o : nodes[i].outputs) {
      if (o.empty()) continue;
      if (!producer.emplace(o, i).second) {
        fail("tensor '{}' is produced by both node '{}' and node '{}'", o, nodes[producer[o]].name,
             nodes[i].name);
      }
      if (initializers.count(o) || std::find(inputs.begin(), inputs.end(), o) != inputs.end()) {
        fail("node '{}' writes tensor '{}', which is a graph input or initializer", nodes[i].name,
             o);
      }
    }
  }
  std::vector<int> pending(nodes.size(), 0);
  std::vector<std::vector<size_t>> users(nodes.size());
  for (size_t i = 0; i < nodes.size(); ++i) {
    for (const auto& in : nodes[i].inputs) {
      if (in.empty()) continue;
      auto it = producer.find(in);
      if (it != producer.end()) {
        ++pending[i];
        users[it->second].push_back(i);
      } else if (!initializers.count(in) &&
                 std::find(inputs.begin(), inputs.end(), in) == inputs.end()) {
        fail("node '{}' ({}) reads tensor '{}', which no node, input or initializer provides",
             nodes[i].name, nodes[i].op_type, in);
      }
    }
  }
  // Kahn's algorithm, keeping the original order among ready nodes so output is stable.
  std::priority_queue<size_t, std::vector<size_t>, std::greater<>> ready;
  for (size_t i = 0; i < nodes.size(); ++i)
    if (pending[i] == 0) ready.push(i);
  std::vector<size_t> order;
  order.reserve(nodes.size());
  while (!ready.empty()) {
    size_t i = ready.top();
    ready.pop();
    order.push_back(i);
    for (size_t u : users[i])
      if (--pending[u] == 0) ready.push(u);
  }
  if (order.size() != nodes.size()) {
    for (size_t i = 0; i < nodes.size(); ++i) {
      if (pending[i] > 0) {
        fail("graph '{}' has a cycle through node '{}' ({})", name, nodes[i].name,
             nodes[i].op_type);
      }
    }
  }
  std::vector<Node> sorted;
  sorted.reserve(nodes.size());
  for (size_t i : order) sorted.push_back(std::move(nodes[i]));
  nodes = std::move(sorted);
}

void Graph::validate() const {
  Graph copy_order;  // toposort checks producers and cycles; run it on a shallow copy
  copy_order.name = name;
  copy_order.inputs = inputs;
  copy_order.initializers = initializers;
  copy_order.nodes = nodes;
  copy_order.toposort();
  for (size_t i = 0; i < nodes.size(); ++i) {
    if (nodes[i].name != copy_order.nodes[i].name) {
      fail("graph '{}' nodes are not in topological order (node '{}')", name, nodes[i].name);
    }
  }
  auto check_shape = [&](const std::string& t) {
    const auto& v = value(t);
    for (int64_t d : v.shape) {
      if (d <= 0) fail("tensor '{}' has a non-positive dimension {}", t, shape_str(v.shape));
    }
  };
  for (const auto& in : inputs) check_shape(in);
  for (const auto& n : nodes)
    for (const auto& o : n.outputs)
      if (!o.empty()) check_shape(o);
  auto prod = producers();
  for (const auto& o : outputs) {
    if (!prod.count(o) && std::find(inputs.begin(), inputs.end(), o) == inputs.end() &&
        !initializers.count(o)) {
      fail("graph output '{}' is not produced by any node", o);
    }
  }
}

int64_t Graph::parameter_count() const {
  int64_t n = 0;
  for (const auto& [name_, t] : initializers)
    if (t->dtype == DType::kFloat32) n += t->size();
  return n;
}

int64_t Graph::weight_bytes() const {
  int64_t n = 0;
  for (const auto& [name_, t] : initializers)
    n += t->size() * static_cast<int64_t>(dtype_size(t->dtype));
  return n;
}

std::string unique_name(const Graph& g, const std::string& stem) {
  if (!g.values.count(stem) && !g.initializers.count(stem)) {
    bool used = false;
    for (const auto& n : g.nodes)
      if (n.name == stem) used = true;
    if (!used) return stem;
  }
  for (int i = 1;; ++i) {
    std::string candidate = fmt::format("{}_{}", stem, i);
    bool used = g.values.count(candidate) || g.initializers.count(candidate);
    for (const auto& n : g.nodes)
      if (n.name == candidate) used = true;
    if (!used) return candidate;
  }
}

}  // namespace nnjoule::graph
