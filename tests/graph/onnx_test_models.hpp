#pragma once
// Models for the ONNX tests: GraphBuilder graphs that together use every op in ops.hpp, and a
// small writer of raw ModelProtos for legacy op forms and broken files.
#include <onnx/onnx_pb.h>

#include <string>
#include <variant>
#include <vector>

#include "nnjoule/graph/builder.hpp"

namespace nnjoule::testing {

// Convolutional graph: Conv (plain, depthwise, grouped), ConvTranspose, BN, every activation,
// arithmetic, Concat/Split, pools, Pad, Slice, Resize (both modes), ReduceMean, Flatten, Gemm,
// Softmax, channel shuffle (Reshape/Transpose) and squeeze-excitation.
inline graph::Graph cnn_graph(uint64_t seed = 1) {
  using namespace graph;
  GraphBuilder b("cnn", seed);
  auto x = b.input("x", {1, 3, 32, 32});
  auto c1 = b.relu(b.bn(b.conv(x, 16, 3, 2)));
  auto d = b.relu6(b.dwconv(c1, 3, 1));
  auto g = b.hswish(b.conv(d, 32, 3, ConvOptions{.groups = 4, .bias = true}));
  auto s = b.se(g, 8);
  auto parts = b.split(s, {8, 24});
  auto cat = b.concat({b.sigmoid(parts[0]), b.tanh(parts[1])});
  auto sh = b.leaky_relu(b.channel_shuffle(cat, 2), 0.1f);
  std::vector<float> ones(32, 1.5f);
  auto sub = b.sub(sh, b.constant({1, 32, 1, 1}, ones, "c"));
  auto dv = b.div(sub, b.constant({1}, {2.f}, "c"));
  auto sum = b.add(dv, sh);
  auto mp = b.maxpool(sum, 3, 2, 1);                    // [1,32,8,8]
  auto ap = b.avgpool(mp, 2, 2, 0, false, true);        // [1,32,4,4]
  auto pd = b.pad(ap, {0, 0, 1, 1, 0, 0, 1, 1}, 0.5f);  // [1,32,6,6]
  auto sl = b.slice(pd, {2, 3}, {1, 1}, {5, 5});        // [1,32,4,4]
  auto up = b.resize(sl, {1.f, 1.f, 2.f, 2.f});         // [1,32,8,8]
  auto ct = b.conv_transpose(up, 16, 3, 2, 1, 1);       // [1,16,16,16]
  auto rm = b.reduce_mean(ct, {2, 3}, true);            // [1,16,1,1]
  auto logits = b.fc(b.flatten(rm), 10);
  auto prob = b.softmax(logits);
  auto small = b.resize(b.global_avgpool(mp), {1.f, 1.f, 3.f, 3.f}, "linear");
  return b.finish({prob, small});
}

// Sequence graph: Gather from an embedding table, MatMul (weights and activations), Transpose,
// Softmax over the last axis, and an Identity kept to name an output after an input.
inline graph::Graph attention_graph(uint64_t seed = 2) {
  using namespace graph;
  GraphBuilder b("attention", seed);
  auto tok = b.int_input("tokens", {1, 8});
  auto emb = b.gather(b.weight({100, 16}, 16, "table"), tok);  // [1,8,16]
  auto q = b.matmul_weight(emb, 16);
  auto k = b.matmul_weight(emb, 16);
  auto att = b.softmax(b.matmul(q, b.transpose(k, {0, 2, 1})));  // [1,8,8]
  auto out = b.matmul(att, emb);
  auto echo = b.node("Identity", {tok})[0];
  return b.finish({out, echo});
}

// A QDQ graph: int8 and uint8 activations, per-channel int8 weights (per-tensor only where the
// opset predates per-channel quantization, 13).
inline graph::Graph qdq_graph(bool per_channel = true, uint64_t seed = 3) {
  using namespace graph;
  GraphBuilder b("qdq", seed);
  auto x = b.input("x", {1, 4, 8, 8});
  auto s = b.constant({}, {0.02f}, "s");
  auto z = b.constant_ints({}, {3}, "z", DType::kInt8);
  auto d = b.node("DequantizeLinear", {b.node("QuantizeLinear", {x, s, z})[0], s, z})[0];
  std::vector<int64_t> w(4 * 4);
  for (size_t i = 0; i < w.size(); ++i) w[i] = static_cast<int64_t>(i * 29 % 255) - 127;
  const int64_t ch = per_channel ? 4 : 1;
  const Shape cs = per_channel ? Shape{4} : Shape{};
  auto wq = b.constant_ints({4, 4, 1, 1}, w, "w", DType::kInt8);
  auto ws = b.constant(cs, std::vector<float>(static_cast<size_t>(ch), 0.01f), "ws");
  auto wz =
      b.constant_ints(cs, std::vector<int64_t>(static_cast<size_t>(ch), 0), "wz", DType::kInt8);
  std::map<std::string, AttrValue> axis;
  if (per_channel) axis["axis"] = int64_t{0};
  auto wd = b.node("DequantizeLinear", {wq, ws, wz}, axis)[0];
  auto c = b.node("Conv", {d, wd},
                  {{"dilations", std::vector<int64_t>{1, 1}},
                   {"group", int64_t{1}},
                   {"kernel_shape", std::vector<int64_t>{1, 1}},
                   {"pads", std::vector<int64_t>{0, 0, 0, 0}},
                   {"strides", std::vector<int64_t>{1, 1}}})[0];
  auto s2 = b.constant({}, {0.05f}, "s");
  auto z2 = b.constant_ints({}, {128}, "z", DType::kUInt8);
  auto y = b.node("DequantizeLinear", {b.node("QuantizeLinear", {c, s2, z2})[0], s2, z2})[0];
  return b.finish({y});
}

// Writes ModelProtos by hand, the way other exporters lay them out.
class ModelMaker {
 public:
  using Dim = std::variant<int64_t, std::string>;

  explicit ModelMaker(int64_t opset, int64_t ir_version = 0) {
    m_.set_ir_version(ir_version > 0 ? ir_version : (opset <= 8 ? 3 : opset <= 11 ? 6 : 7));
    m_.set_producer_name("test");
    auto* imp = m_.add_opset_import();
    imp->set_domain("");
    imp->set_version(opset);
    m_.mutable_graph()->set_name("legacy");
  }

  ModelMaker& input(const std::string& name, const std::vector<Dim>& dims,
                    int32_t elem = onnx::TensorProto::FLOAT) {
    value(m_.mutable_graph()->add_input(), name, dims, elem);
    return *this;
  }
  ModelMaker& output(const std::string& name, const std::vector<Dim>& dims = {},
                     int32_t elem = onnx::TensorProto::FLOAT) {
    auto* vi = m_.mutable_graph()->add_output();
    if (dims.empty()) {
      vi->set_name(name);
      vi->mutable_type()->mutable_tensor_type()->set_elem_type(elem);
    } else {
      value(vi, name, dims, elem);
    }
    return *this;
  }
  ModelMaker& floats(const std::string& name, const std::vector<int64_t>& dims,
                     const std::vector<float>& v) {
    auto* t = m_.mutable_graph()->add_initializer();
    t->set_name(name);
    t->set_data_type(onnx::TensorProto::FLOAT);
    for (auto d : dims) t->add_dims(d);
    for (float f : v) t->add_float_data(f);
    return *this;
  }
  ModelMaker& ints(const std::string& name, const std::vector<int64_t>& dims,
                   const std::vector<int64_t>& v) {
    auto* t = m_.mutable_graph()->add_initializer();
    t->set_name(name);
    t->set_data_type(onnx::TensorProto::INT64);
    for (auto d : dims) t->add_dims(d);
    for (auto i : v) t->add_int64_data(i);
    return *this;
  }
  // An integer initializer of type `elem` (INT8, UINT8, INT32: ONNX keeps them in int32_data).
  ModelMaker& typed(const std::string& name, const std::vector<int64_t>& dims, int32_t elem,
                    const std::vector<int64_t>& v) {
    auto* t = m_.mutable_graph()->add_initializer();
    t->set_name(name);
    t->set_data_type(elem);
    for (auto d : dims) t->add_dims(d);
    for (auto i : v) t->add_int32_data(static_cast<int32_t>(i));
    return *this;
  }
  ModelMaker& import_domain(const std::string& domain, int64_t version) {
    auto* imp = m_.add_opset_import();
    imp->set_domain(domain);
    imp->set_version(version);
    return *this;
  }
  // A float weight of the given shape filled with a ramp (values do not matter to the tests).
  ModelMaker& weight(const std::string& name, const std::vector<int64_t>& dims) {
    int64_t n = 1;
    for (auto d : dims) n *= d;
    std::vector<float> v(static_cast<size_t>(n));
    for (size_t i = 0; i < v.size(); ++i) v[i] = 0.01f * static_cast<float>(i % 17);
    return floats(name, dims, v);
  }

  onnx::NodeProto& node(const std::string& op, const std::vector<std::string>& inputs,
                        const std::vector<std::string>& outputs, const std::string& name = "") {
    auto* n = m_.mutable_graph()->add_node();
    n->set_op_type(op);
    n->set_name(name.empty() ? outputs.at(0) : name);
    for (const auto& i : inputs) n->add_input(i);
    for (const auto& o : outputs) n->add_output(o);
    return *n;
  }

  static void attr(onnx::NodeProto& n, const std::string& key, int64_t v) {
    auto* a = add(n, key, onnx::AttributeProto::INT);
    a->set_i(v);
  }
  static void attr(onnx::NodeProto& n, const std::string& key, float v) {
    auto* a = add(n, key, onnx::AttributeProto::FLOAT);
    a->set_f(v);
  }
  static void attr(onnx::NodeProto& n, const std::string& key, const std::string& v) {
    auto* a = add(n, key, onnx::AttributeProto::STRING);
    a->set_s(v);
  }
  static void attr(onnx::NodeProto& n, const std::string& key, const std::vector<int64_t>& v) {
    auto* a = add(n, key, onnx::AttributeProto::INTS);
    for (auto i : v) a->add_ints(i);
  }
  static void attr(onnx::NodeProto& n, const std::string& key, const std::vector<float>& v) {
    auto* a = add(n, key, onnx::AttributeProto::FLOATS);
    for (auto f : v) a->add_floats(f);
  }

  onnx::ModelProto& model() { return m_; }
  std::string bytes() const { return m_.SerializeAsString(); }

 private:
  static onnx::AttributeProto* add(onnx::NodeProto& n, const std::string& key,
                                   onnx::AttributeProto::AttributeType t) {
    auto* a = n.add_attribute();
    a->set_name(key);
    a->set_type(t);
    return a;
  }
  static void value(onnx::ValueInfoProto* vi, const std::string& name, const std::vector<Dim>& dims,
                    int32_t elem) {
    vi->set_name(name);
    auto* tt = vi->mutable_type()->mutable_tensor_type();
    tt->set_elem_type(elem);
    auto* s = tt->mutable_shape();
    for (const auto& d : dims) {
      if (auto* v = std::get_if<int64_t>(&d))
        s->add_dim()->set_dim_value(*v);
      else
        s->add_dim()->set_dim_param(std::get<std::string>(d));
    }
  }
  onnx::ModelProto m_;
};

}  // namespace nnjoule::testing
