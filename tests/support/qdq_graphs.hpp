#pragma once
// Small QDQ graphs written by hand, the way quantizing exporters lay them out:
// QuantizeLinear -> DequantizeLinear around float ops, int8 weights with per-channel scales,
// int32 biases with scale x_scale * w_scale.
#include <cmath>
#include <map>
#include <string>
#include <vector>

#include "nnjoule/common/rng.hpp"
#include "nnjoule/graph/graph.hpp"
#include "nnjoule/graph/shape_inference.hpp"

namespace nnjoule::testing {

class QdqMaker {
 public:
  explicit QdqMaker(std::string name, uint64_t seed = 7) : rng_(seed) { g_.name = std::move(name); }

  std::string input(const graph::Shape& s) {
    const std::string n = fresh("x");
    g_.inputs.push_back(n);
    g_.values[n] = {graph::DType::kFloat32, s};
    return n;
  }
  std::string floats(const graph::Shape& s, std::vector<float> v) {
    const std::string n = fresh("c");
    add(n, graph::TensorData::floats(s, std::move(v)));
    return n;
  }
  std::string ints(const graph::Shape& s, std::vector<int64_t> v, graph::DType t) {
    const std::string n = fresh("i");
    auto d = graph::TensorData::ints(s, std::move(v));
    d.dtype = t;
    add(n, std::move(d));
    return n;
  }
  std::string node(const std::string& op, std::vector<std::string> in,
                   std::map<std::string, graph::AttrValue> attrs = {}) {
    graph::Node n{fresh(op), op, std::move(in), {fresh("t")}, std::move(attrs)};
    auto infos = graph::infer_node(g_, n);
    g_.values[n.outputs[0]] = infos.at(0);
    const std::string out = n.outputs[0];
    g_.nodes.push_back(std::move(n));
    return out;
  }
  // Q then DQ of `x` per tensor; returns the float tensor.
  std::string qdq(const std::string& x, float scale, int64_t zero,
                  graph::DType t = graph::DType::kInt8) {
    const std::string s = floats({}, {scale});
    const std::string z = ints({}, {zero}, t);
    const std::string q = node("QuantizeLinear", {x, s, z});
    return node("DequantizeLinear", {q, s, z});
  }
  // Symmetric int8 weights [shape] with one scale per index of `axis`, read through DQ.
  std::string weights(const graph::Shape& shape, int64_t axis, bool per_channel = true) {
    const int64_t ch = shape[static_cast<size_t>(axis)];
    std::vector<int64_t> w(static_cast<size_t>(graph::numel(shape)));
    for (auto& v : w) v = rng_.uniform_int(-127, 127);
    std::vector<float> scale;
    for (int64_t c = 0; c < (per_channel ? ch : 1); ++c)
      scale.push_back(0.002f + 0.001f * static_cast<float>(c % 7));
    const std::string wq = ints(shape, w, graph::DType::kInt8);
    const graph::Shape ss = per_channel ? graph::Shape{ch} : graph::Shape{};
    const std::string s = floats(ss, scale);
    const std::string z = ints(ss, std::vector<int64_t>(scale.size(), 0), graph::DType::kInt8);
    return node("DequantizeLinear", {wq, s, z}, {{"axis", axis}});
  }
  // int32 bias read through DQ with scale x_scale * w_scale (w_scale as `weights` makes it).
  std::string bias(int64_t channels, float x_scale) {
    std::vector<int64_t> b(static_cast<size_t>(channels));
    std::vector<float> s;
    for (int64_t c = 0; c < channels; ++c) {
      b[c] = rng_.uniform_int(-1000, 1000);
      s.push_back(x_scale * (0.002f + 0.001f * static_cast<float>(c % 7)));
    }
    const std::string bq = ints({channels}, b, graph::DType::kInt32);
    const std::string sc = floats({channels}, s);
    const std::string z = ints({channels}, std::vector<int64_t>(channels, 0), graph::DType::kInt32);
    return node("DequantizeLinear", {bq, sc, z}, {{"axis", int64_t{0}}});
  }
  graph::Graph finish(const std::vector<std::string>& outputs) {
    g_.outputs = outputs;
    g_.toposort();
    g_.validate();
    return g_;
  }
  graph::Graph& graph() { return g_; }

 private:
  std::string fresh(const std::string& stem) { return stem + std::to_string(k_++); }
  void add(const std::string& n, graph::TensorData d) {
    g_.values[n] = {d.dtype, d.shape};
    g_.initializers[n] = std::make_shared<graph::TensorData>(std::move(d));
  }
  graph::Graph g_;
  Rng rng_;
  int k_ = 0;
};

}  // namespace nnjoule::testing
