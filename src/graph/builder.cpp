#include "nnjoule/graph/builder.hpp"

#include <fmt/format.h>

#include <cctype>
#include <cmath>
#include <limits>

#include "nnjoule/common/error.hpp"
#include "nnjoule/graph/shape_inference.hpp"

namespace nnjoule::graph {

GraphBuilder::GraphBuilder(std::string name, uint64_t seed, bool materialize_weights)
    : rng_(seed), materialize_(materialize_weights) {
  g_.name = std::move(name);
}

std::string GraphBuilder::fresh(const std::string& stem) {
  int& c = counters_[stem];
  return fmt::format("{}_{}", stem, c++);
}

std::string GraphBuilder::input(const std::string& name, Shape shape) {
  for (int64_t d : shape)
    if (d <= 0) fail("input '{}' has a non-positive dimension {}", name, shape_str(shape));
  g_.inputs.push_back(name);
  g_.values[name] = ValueInfo{DType::kFloat32, std::move(shape)};
  return name;
}

std::string GraphBuilder::int_input(const std::string& name, Shape shape) {
  g_.inputs.push_back(name);
  g_.values[name] = ValueInfo{DType::kInt64, std::move(shape)};
  return name;
}

std::vector<std::string> GraphBuilder::node(const std::string& op, std::vector<std::string> inputs,
                                            std::map<std::string, AttrValue> attrs, int n_outputs) {
  Node n;
  std::string stem = op;
  for (auto& ch : stem) ch = static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
  n.name = fresh(stem);
  n.op_type = op;
  n.inputs = std::move(inputs);
  n.attrs = std::move(attrs);
  for (int i = 0; i < n_outputs; ++i) {
    n.outputs.push_back(n_outputs == 1 ? n.name : fmt::format("{}:{}", n.name, i));
  }
  auto infos = infer_node(g_, n);
  for (int i = 0; i < n_outputs; ++i) g_.values[n.outputs[i]] = infos.at(i);
  g_.nodes.push_back(n);
  return g_.nodes.back().outputs;
}

std::string GraphBuilder::weight(const Shape& shape, int64_t fan_in, const std::string& stem) {
  std::string name = fresh(stem);
  auto t = std::make_shared<TensorData>();
  t->dtype = DType::kFloat32;
  t->shape = shape;
  if (materialize_) {
    // He-uniform keeps activations of deep random ReLU networks at a sane scale.
    const double a = std::sqrt(6.0 / static_cast<double>(std::max<int64_t>(fan_in, 1)));
    t->f32.resize(static_cast<size_t>(numel(shape)));
    for (auto& v : t->f32) v = static_cast<float>(rng_.uniform(-a, a));
  }
  g_.initializers[name] = t;
  g_.values[name] = ValueInfo{DType::kFloat32, shape};
  return name;
}

std::string GraphBuilder::constant(const Shape& shape, std::vector<float> values,
                                   const std::string& stem) {
  std::string name = fresh(stem);
  g_.initializers[name] =
      std::make_shared<TensorData>(TensorData::floats(shape, std::move(values)));
  g_.values[name] = ValueInfo{DType::kFloat32, shape};
  return name;
}

std::string GraphBuilder::constant_ints(const Shape& shape, std::vector<int64_t> values,
                                        const std::string& stem, DType dtype) {
  std::string name = fresh(stem);
  auto t = TensorData::ints(shape, std::move(values));
  t.dtype = dtype;
  g_.initializers[name] = std::make_shared<TensorData>(std::move(t));
  g_.values[name] = ValueInfo{dtype, shape};
  return name;
}

std::string GraphBuilder::conv(const std::string& x, int64_t cout, int64_t k, ConvOptions o) {
  const int64_t cin = channels(x);
  if (cout <= 0 || k <= 0) fail("conv on '{}': channels and kernel size must be positive", x);
  if (cin % o.groups != 0 || cout % o.groups != 0) {
    fail("conv on '{}': groups {} do not divide {} -> {} channels", x, o.groups, cin, cout);
  }
  const int64_t pad = o.pad >= 0 ? o.pad : (k - 1) / 2 * o.dilation;
  const int64_t fan_in = cin / o.groups * k * k;
  std::vector<std::string> ins = {x, weight({cout, cin / o.groups, k, k}, fan_in, "w")};
  if (o.bias) ins.push_back(weight({cout}, fan_in, "b"));
  return node("Conv", ins,
              {{"kernel_shape", std::vector<int64_t>{k, k}},
               {"strides", std::vector<int64_t>{o.stride, o.stride}},
               {"pads", std::vector<int64_t>{pad, pad, pad, pad}},
               {"dilations", std::vector<int64_t>{o.dilation, o.dilation}},
               {"group", o.groups}})[0];
}

std::string GraphBuilder::dwconv(const std::string& x, int64_t k, int64_t stride) {
  const int64_t c = channels(x);
  return conv(x, c, k, ConvOptions{.stride = stride, .groups = c});
}

std::string GraphBuilder::conv_transpose(const std::string& x, int64_t cout, int64_t k,
                                         int64_t stride, int64_t pad, int64_t output_padding,
                                         bool bias) {
  const int64_t cin = channels(x);
  std::vector<std::string> ins = {x, weight({cin, cout, k, k}, cin * k * k, "w")};
  if (bias) ins.push_back(weight({cout}, cin * k * k, "b"));
  return node("ConvTranspose", ins,
              {{"kernel_shape", std::vector<int64_t>{k, k}},
               {"strides", std::vector<int64_t>{stride, stride}},
               {"pads", std::vector<int64_t>{pad, pad, pad, pad}},
               {"dilations", std::vector<int64_t>{1, 1}},
               {"output_padding", std::vector<int64_t>{output_padding, output_padding}},
               {"group", int64_t{1}}})[0];
}

std::string GraphBuilder::bn(const std::string& x) {
  const int64_t c = channels(x);
  std::vector<float> gamma(c), beta(c), mean(c), var(c);
  for (int64_t i = 0; i < c; ++i) {
    gamma[i] = static_cast<float>(rng_.uniform(0.5, 1.5));
    beta[i] = static_cast<float>(rng_.uniform(-0.1, 0.1));
    mean[i] = static_cast<float>(rng_.uniform(-0.1, 0.1));
    var[i] = static_cast<float>(rng_.uniform(0.5, 1.5));
  }
  if (!materialize_) gamma.clear(), beta.clear(), mean.clear(), var.clear();
  auto param = [&](std::vector<float> v, const char* stem) {
    if (!materialize_) {
      std::string name = fresh(stem);
      auto t = std::make_shared<TensorData>();
      t->shape = {c};
      g_.initializers[name] = t;
      g_.values[name] = ValueInfo{DType::kFloat32, {c}};
      return name;
    }
    return constant({c}, std::move(v), stem);
  };
  return node("BatchNormalization",
              {x, param(gamma, "bn_scale"), param(beta, "bn_bias"), param(mean, "bn_mean"),
               param(var, "bn_var")},
              {{"epsilon", 1e-5f}})[0];
}

std::string GraphBuilder::relu(const std::string& x) {
  return node("Relu", {x})[0];
}
std::string GraphBuilder::relu6(const std::string& x) {
  return clip(x, 0.f, 6.f);
}
std::string GraphBuilder::clip(const std::string& x, float lo, float hi) {
  return node("Clip", {x}, {{"min", lo}, {"max", hi}})[0];
}
std::string GraphBuilder::hswish(const std::string& x) {
  return node("HardSwish", {x})[0];
}
std::string GraphBuilder::hsigmoid(const std::string& x) {
  // PyTorch's Hardsigmoid: relu6(x + 3) / 6.
  return node("HardSigmoid", {x}, {{"alpha", 1.f / 6.f}, {"beta", 0.5f}})[0];
}
std::string GraphBuilder::sigmoid(const std::string& x) {
  return node("Sigmoid", {x})[0];
}
std::string GraphBuilder::tanh(const std::string& x) {
  return node("Tanh", {x})[0];
}
std::string GraphBuilder::leaky_relu(const std::string& x, float alpha) {
  return node("LeakyRelu", {x}, {{"alpha", alpha}})[0];
}

std::string GraphBuilder::activation(const std::string& x, const std::string& kind) {
  if (kind == "relu") return relu(x);
  if (kind == "relu6") return relu6(x);
  if (kind == "hswish") return hswish(x);
  if (kind == "sigmoid") return sigmoid(x);
  if (kind == "swish") return mul(x, sigmoid(x));
  if (kind == "leakyrelu") return leaky_relu(x, 0.2f);
  if (kind == "none" || kind.empty()) return x;
  fail("unknown activation '{}'", kind);
}

std::string GraphBuilder::add(const std::string& a, const std::string& b) {
  return node("Add", {a, b})[0];
}
std::string GraphBuilder::sub(const std::string& a, const std::string& b) {
  return node("Sub", {a, b})[0];
}
std::string GraphBuilder::mul(const std::string& a, const std::string& b) {
  return node("Mul", {a, b})[0];
}
std::string GraphBuilder::div(const std::string& a, const std::string& b) {
  return node("Div", {a, b})[0];
}

std::string GraphBuilder::concat(const std::vector<std::string>& xs, int64_t axis) {
  return node("Concat", xs, {{"axis", axis}})[0];
}

std::vector<std::string> GraphBuilder::split(const std::string& x,
                                             const std::vector<int64_t>& sizes, int64_t axis) {
  return node("Split", {x}, {{"axis", axis}, {"split", sizes}}, static_cast<int>(sizes.size()));
}

std::string GraphBuilder::maxpool(const std::string& x, int64_t k, int64_t stride, int64_t pad,
                                  bool ceil_mode) {
  return node("MaxPool", {x},
              {{"kernel_shape", std::vector<int64_t>{k, k}},
               {"strides", std::vector<int64_t>{stride, stride}},
               {"pads", std::vector<int64_t>{pad, pad, pad, pad}},
               {"ceil_mode", int64_t{ceil_mode}}})[0];
}

std::string GraphBuilder::avgpool(const std::string& x, int64_t k, int64_t stride, int64_t pad,
                                  bool ceil_mode, bool count_include_pad) {
  return node("AveragePool", {x},
              {{"kernel_shape", std::vector<int64_t>{k, k}},
               {"strides", std::vector<int64_t>{stride, stride}},
               {"pads", std::vector<int64_t>{pad, pad, pad, pad}},
               {"ceil_mode", int64_t{ceil_mode}},
               {"count_include_pad", int64_t{count_include_pad}}})[0];
}

std::string GraphBuilder::global_avgpool(const std::string& x) {
  return node("GlobalAveragePool", {x})[0];
}

std::string GraphBuilder::flatten(const std::string& x, int64_t axis) {
  return node("Flatten", {x}, {{"axis", axis}})[0];
}

std::string GraphBuilder::fc(const std::string& x, int64_t cout, bool bias) {
  const Shape& s = shape(x);
  if (s.size() != 2) fail("fc on '{}' needs a 2-D input, got {}", x, shape_str(s));
  std::vector<std::string> ins = {x, weight({cout, s[1]}, s[1], "fc_w")};
  if (bias) ins.push_back(weight({cout}, s[1], "fc_b"));
  return node("Gemm", ins,
              {{"transA", int64_t{0}}, {"transB", int64_t{1}}, {"alpha", 1.f}, {"beta", 1.f}})[0];
}

std::string GraphBuilder::matmul(const std::string& a, const std::string& b) {
  return node("MatMul", {a, b})[0];
}

std::string GraphBuilder::matmul_weight(const std::string& a, int64_t cout) {
  const int64_t k = shape(a).back();
  return matmul(a, weight({k, cout}, k, "mm_w"));
}

std::string GraphBuilder::softmax(const std::string& x, int64_t axis) {
  // The canonical form (what the importer produces) has a non-negative axis.
  const auto rank = static_cast<int64_t>(shape(x).size());
  return node("Softmax", {x}, {{"axis", axis < 0 ? axis + rank : axis}})[0];
}

std::string GraphBuilder::reshape(const std::string& x, const Shape& target) {
  return node("Reshape",
              {x, constant_ints({static_cast<int64_t>(target.size())}, target, "shape")})[0];
}

std::string GraphBuilder::transpose(const std::string& x, const std::vector<int64_t>& perm) {
  return node("Transpose", {x}, {{"perm", perm}})[0];
}

std::string GraphBuilder::pad(const std::string& x, const std::vector<int64_t>& pads, float value) {
  return node("Pad", {x}, {{"pads", pads}, {"mode", std::string("constant")}, {"value", value}})[0];
}

std::string GraphBuilder::slice(const std::string& x, const std::vector<int64_t>& axes,
                                const std::vector<int64_t>& starts,
                                const std::vector<int64_t>& ends,
                                const std::vector<int64_t>& steps) {
  std::map<std::string, AttrValue> attrs = {{"axes", axes}, {"starts", starts}, {"ends", ends}};
  attrs["steps"] = steps.empty() ? std::vector<int64_t>(starts.size(), 1) : steps;
  return node("Slice", {x}, attrs)[0];
}

std::string GraphBuilder::resize(const std::string& x, const std::vector<float>& scales,
                                 const std::string& mode) {
  return node("Resize", {x}, {{"scales", scales}, {"mode", mode}})[0];
}

std::string GraphBuilder::reduce_mean(const std::string& x, const std::vector<int64_t>& axes,
                                      bool keepdims) {
  return node("ReduceMean", {x}, {{"axes", axes}, {"keepdims", int64_t{keepdims}}})[0];
}

std::string GraphBuilder::gather(const std::string& table, const std::string& indices,
                                 int64_t axis) {
  return node("Gather", {table, indices}, {{"axis", axis}})[0];
}

std::string GraphBuilder::channel_shuffle(const std::string& x, int64_t groups) {
  const Shape s = shape(x);
  if (s.size() != 4 || s[1] % groups != 0) {
    fail("channel shuffle on '{}': {} channels not divisible by {} groups", x,
         s.size() > 1 ? s[1] : 0, groups);
  }
  auto r = reshape(x, {s[0], groups, s[1] / groups, s[2], s[3]});
  auto t = transpose(r, {0, 2, 1, 3, 4});
  return reshape(t, s);
}

std::string GraphBuilder::se(const std::string& x, int64_t mid, const std::string& gate) {
  const int64_t c = channels(x);
  auto p = global_avgpool(x);
  auto h = relu(conv(p, mid, 1, ConvOptions{.bias = true}));
  auto w = conv(h, c, 1, ConvOptions{.bias = true});
  w = gate == "sigmoid" ? sigmoid(w) : hsigmoid(w);
  return mul(x, w);
}

Graph GraphBuilder::finish(const std::vector<std::string>& outputs) {
  for (const auto& o : outputs) g_.value(o);
  g_.outputs = outputs;
  g_.validate();
  Graph out = std::move(g_);
  g_ = Graph{};
  return out;
}

}  // namespace nnjoule::graph
