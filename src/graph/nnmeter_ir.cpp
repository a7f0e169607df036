// nn-Meter IR graph -> nnjoule Graph. The IR (nn-Meter's frozen-pb and ONNX converters) keeps
// per node its type, attributes and the shapes nn-Meter inferred; weights and most constants are
// stripped, so weights become shape-only tensors. TensorFlow IR is NHWC: every tensor carries
// the permutation from IR axes to ours (NCHW) so transposes, concats and pads map exactly.
#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <deque>
#include <set>

#include "nnjoule/graph/nnmeter_ir.hpp"

#include "nnjoule/common/error.hpp"
#include "nnjoule/graph/ops.hpp"
#include "nnjoule/graph/shape_inference.hpp"

namespace nnjoule::graph {
using nlohmann::json;

namespace {

using Perm = std::vector<int>;  // IR axis -> our axis

enum class Flavor { kTensorFlow, kOnnx };

const std::set<std::string> kTfTypes = {"Conv2D",
                                        "DepthwiseConv2dNative",
                                        "FusedBatchNorm",
                                        "FusedBatchNormV2",
                                        "FusedBatchNormV3",
                                        "BiasAdd",
                                        "AddV2",
                                        "ConcatV2",
                                        "AvgPool",
                                        "Mean",
                                        "Placeholder",
                                        "Relu6",
                                        "RealDiv",
                                        "SplitV",
                                        "Squeeze"};
const std::set<std::string> kOnnxTypes = {
    "Conv", "BatchNormalization", "Gemm", "AveragePool", "GlobalAveragePool", "Concat", "Flatten",
    "Clip", "HardSigmoid"};
// TensorFlow ops that only compute shapes for a Reshape: their result is in the IR's shapes.
const std::set<std::string> kShapePlumbing = {"Shape", "Pack", "StridedSlice", "Const", "Identity"};

Perm identity(size_t rank) {
  Perm p(rank);
  for (size_t i = 0; i < rank; ++i) p[i] = static_cast<int>(i);
  return p;
}

class Converter {
 public:
  Converter(const json& ir, std::string context) : ir_(ir), ctx_(std::move(context)) {}

  Graph run() {
    if (!ir_.is_object()) fail("{}: the graph must be an object of nodes", ctx_);
    if (ir_.empty()) fail("{}: the graph has no nodes", ctx_);
    detect_flavor();
    for (const auto& [name, node] : ir_.items()) check_node(name, node);
    g_.name = ctx_;
    for (const std::string& name : topo_order()) convert(name);
    // Outputs: tensors of converted nodes no converted node reads.
    std::set<std::string> read;
    for (const auto& n : g_.nodes)
      for (const auto& in : n.inputs) read.insert(in);
    for (const auto& name : order_) {
      auto it = outs_.find(name);
      if (it == outs_.end()) continue;
      for (const auto& t : it->second) {
        if (!read.count(t) && !g_.is_constant(t) &&
            std::find(g_.outputs.begin(), g_.outputs.end(), t) == g_.outputs.end() &&
            std::find(g_.inputs.begin(), g_.inputs.end(), t) == g_.inputs.end()) {
          g_.outputs.push_back(t);
        }
      }
    }
    if (g_.nodes.empty()) fail("{}: no computation nodes in the graph", ctx_);
    g_.validate();
    return std::move(g_);
  }

 private:
  const json& ir_;
  std::string ctx_;
  Flavor flavor_ = Flavor::kTensorFlow;
  Graph g_;
  std::vector<std::string> order_;
  std::map<std::string, std::vector<std::string>> outs_;  // IR node -> our tensors
  std::map<std::string, Perm> perm_;                      // our tensor -> IR axis map
  std::set<std::string> consts_;                          // IR Const nodes (materialized lazily)
  std::set<std::string> skipped_;                         // IR nodes without a tensor of ours
  std::map<std::string, size_t> producer_;                // our tensor -> node index
  std::map<std::string, bool> plumbing_;
  int counter_ = 0;

  // ---- IR access --------------------------------------------------------------------------

  [[noreturn]] void node_fail(const std::string& name, const std::string& msg) const {
    fail("{}: node '{}': {}", ctx_, name, msg);
  }

  const json& node(const std::string& name) const { return ir_.at(name); }
  const json& attr(const std::string& name) const { return node(name).at("attr"); }
  std::string type_of(const std::string& name) const {
    const json& a = attr(name);
    return a.contains("type") && a.at("type").is_string() ? a.at("type").get<std::string>()
                                                          : std::string();
  }
  const json& attrs(const std::string& name) const {
    static const json empty = json::object();
    const json& a = attr(name);
    if (a.contains("attr") && a.at("attr").is_object()) return a.at("attr");
    return empty;
  }
  std::vector<std::string> names(const std::string& name, const char* key) const {
    std::vector<std::string> out;
    const json& n = node(name);
    if (!n.contains(key)) return out;
    for (const auto& v : n.at(key)) out.push_back(v.get<std::string>());
    return out;
  }

  void check_node(const std::string& name, const json& n) {
    if (!n.is_object()) node_fail(name, "must be an object");
    for (const char* key : {"inbounds", "outbounds"}) {
      if (n.contains(key)) {
        if (!n.at(key).is_array()) node_fail(name, fmt::format("'{}' must be a list", key));
        for (const auto& v : n.at(key)) {
          if (!v.is_string()) node_fail(name, fmt::format("'{}' must list node names", key));
        }
      }
    }
    if (!n.contains("attr") || !n.at("attr").is_object()) node_fail(name, "missing key 'attr'");
    if (!n.at("attr").contains("type") || !n.at("attr").at("type").is_string()) {
      node_fail(name, "missing key 'attr.type'");
    }
    if (n.contains("inbounds")) {
      for (const auto& in : n.at("inbounds")) {
        if (!ir_.contains(in.get<std::string>())) {
          node_fail(name,
                    fmt::format("inbound '{}' is not a node of the graph", in.get<std::string>()));
        }
      }
    }
  }

  void detect_flavor() {
    bool tf = false, onnx = false;
    for (const auto& [name, n] : ir_.items()) {
      if (!n.is_object() || !n.contains("attr") || !n.at("attr").is_object()) continue;
      const auto& a = n.at("attr");
      if (!a.contains("type") || !a.at("type").is_string()) continue;
      const std::string t = a.at("type").get<std::string>();
      tf = tf || kTfTypes.count(t);
      onnx = onnx || kOnnxTypes.count(t);
    }
    if (tf && onnx) fail("{}: the graph mixes TensorFlow and ONNX op types", ctx_);
    flavor_ = onnx ? Flavor::kOnnx : Flavor::kTensorFlow;
  }

  // Kahn's algorithm over inbounds, ties broken by the IR's own order.
  std::vector<std::string> topo_order() {
    std::map<std::string, int> pending;
    std::map<std::string, std::vector<std::string>> users;
    for (const auto& [name, n] : ir_.items()) {
      order_.push_back(name);
      pending[name] = 0;
    }
    for (const auto& name : order_) {
      for (const auto& in : names(name, "inbounds")) {
        ++pending[name];
        users[in].push_back(name);
      }
    }
    std::deque<std::string> ready;
    for (const auto& name : order_)
      if (pending[name] == 0) ready.push_back(name);
    std::vector<std::string> out;
    while (!ready.empty()) {
      const std::string n = ready.front();
      ready.pop_front();
      out.push_back(n);
      for (const auto& u : users[n])
        if (--pending[u] == 0) ready.push_back(u);
    }
    if (out.size() != order_.size()) {
      for (const auto& name : order_)
        if (pending[name] > 0) node_fail(name, "is on a cycle");
    }
    return out;
  }

  // IR shape `key`[i] ("output_shape"/"input_shape"); empty when absent. An unknown batch
  // dimension becomes 1.
  Shape ir_shape(const std::string& name, const char* key, size_t i) const {
    const json& a = attr(name);
    if (!a.contains(key) || !a.at(key).is_array() || a.at(key).size() <= i) return {};
    const json& s = a.at(key).at(i);
    if (!s.is_array()) return {};
    Shape out;
    for (size_t d = 0; d < s.size(); ++d) {
      const json& v = s.at(d);
      if (v.is_null() || (v.is_number_integer() && v.get<int64_t>() <= 0)) {
        if (d == 0) {
          out.push_back(1);
          continue;
        }
        if (v.is_number_integer() && v.get<int64_t>() == 0) {
          out.push_back(0);  // nn-Meter writes 0 for reduced axes; checked by the caller
          continue;
        }
        node_fail(name, fmt::format("'{}' has an unknown dimension {}", key, s.dump()));
      }
      if (!v.is_number_integer()) node_fail(name, fmt::format("'{}' must hold integers", key));
      out.push_back(v.get<int64_t>());
    }
    return out;
  }

  size_t ir_shape_count(const std::string& name, const char* key) const {
    const json& a = attr(name);
    return a.contains(key) && a.at(key).is_array() ? a.at(key).size() : 0;
  }

  std::vector<int64_t> ints(const std::string& name, const char* key) const {
    const json& a = attrs(name);
    if (!a.contains(key)) return {};
    const json& v = a.at(key);
    std::vector<int64_t> out;
    auto take = [&](const json& x) {
      if (x.is_number_integer()) {
        out.push_back(x.get<int64_t>());
      } else if (x.is_array()) {
        for (const auto& y : x) {
          if (!y.is_number_integer())
            node_fail(name, fmt::format("attribute '{}' must hold integers", key));
          out.push_back(y.get<int64_t>());
        }
      } else {
        node_fail(name, fmt::format("attribute '{}' must be an integer or a list", key));
      }
    };
    take(v);
    return out;
  }

  std::string str_attr(const std::string& name, const char* key) const {
    const json& a = attrs(name);
    if (!a.contains(key) || !a.at(key).is_string()) return {};
    std::string s = a.at(key).get<std::string>();
    // The ONNX converter writes str(bytes): "b'SAME'".
    if (s.size() >= 3 && s[0] == 'b' && (s[1] == '\'' || s[1] == '"'))
      s = s.substr(2, s.size() - 3);
    return s;
  }

  // A reshape's target from its output_shape (or "shape" attribute); one unknown dimension
  // (-1, 0 or null, as TensorFlow's flatten writes it) is what the element count leaves.
  Shape reshape_target(const std::string& name, int64_t elements) const {
    const json& a = attr(name);
    const json* src = nullptr;
    if (a.contains("output_shape") && a.at("output_shape").is_array() &&
        !a.at("output_shape").empty() && a.at("output_shape").at(0).is_array()) {
      src = &a.at("output_shape").at(0);
    } else if (attrs(name).contains("shape") && attrs(name).at("shape").is_array()) {
      src = &attrs(name).at("shape");
    }
    if (!src || src->empty()) node_fail(name, "no target shape (output_shape)");
    Shape t;
    int unknown = -1;
    int64_t known = 1;
    for (size_t d = 0; d < src->size(); ++d) {
      const json& v = src->at(d);
      if (v.is_null() || (v.is_number_integer() && v.get<int64_t>() <= 0)) {
        if (unknown >= 0) {
          node_fail(name, fmt::format("target shape {} has more than one unknown dimension",
                                      src->dump()));
        }
        unknown = static_cast<int>(d);
        t.push_back(1);
        continue;
      }
      if (!v.is_number_integer()) node_fail(name, "'output_shape' must hold integers");
      t.push_back(v.get<int64_t>());
      known *= t.back();
    }
    if (unknown >= 0) {
      if (known <= 0 || elements % known != 0) {
        node_fail(name, fmt::format("reshape of {} values to {}", elements, src->dump()));
      }
      t[static_cast<size_t>(unknown)] = elements / known;
    }
    return t;
  }

  // Nodes that only compute a shape for a Reshape (TensorFlow's Shape -> StridedSlice -> Pack
  // flatten): everything they feed is shape plumbing or a reshape. Their result is already in
  // the IR's shapes, so they are dropped (with a note).
  bool is_plumbing(const std::string& name) {
    auto it = plumbing_.find(name);
    if (it != plumbing_.end()) return it->second;
    plumbing_[name] = false;  // cycles are reported by topo_order
    bool p = kShapePlumbing.count(type_of(name)) > 0 && type_of(name) != "Identity";
    if (p) {
      const auto users = names(name, "outbounds");
      for (const auto& u : users) {
        if (!ir_.contains(u)) continue;
        const std::string t = type_of(u);
        if (t == "Reshape" || t == "Fill") continue;
        if (!is_plumbing(u)) p = false;
      }
      if (users.empty()) p = false;
    }
    plumbing_[name] = p;
    return p;
  }

  // ---- layouts ------------------------------------------------------------------------------

  Perm default_perm(size_t rank) const {
    if (flavor_ == Flavor::kTensorFlow && rank == 4) return {0, 2, 3, 1};
    return identity(rank);
  }
  Perm perm_of(const std::string& tensor) const {
    auto it = perm_.find(tensor);
    return it != perm_.end() ? it->second : identity(g_.shape(tensor).size());
  }
  static Shape to_ours(const Shape& ir, const Perm& p) {
    Shape out(ir.size());
    for (size_t a = 0; a < ir.size(); ++a) out[static_cast<size_t>(p[a])] = ir[a];
    return out;
  }
  int64_t axis_ours(const std::string& name, int64_t axis, const Perm& p) const {
    const auto rank = static_cast<int64_t>(p.size());
    if (axis < 0) axis += rank;
    if (axis < 0 || axis >= rank) node_fail(name, fmt::format("axis {} out of range", axis));
    return p[static_cast<size_t>(axis)];
  }

  // ---- building -----------------------------------------------------------------------------

  std::string fresh(const std::string& stem) {
    std::string n;
    do {
      n = fmt::format("{}_{}", stem, counter_++);
    } while (g_.values.count(n));
    return n;
  }

  std::string weight(const Shape& shape) {
    auto t = std::make_shared<TensorData>();
    t->dtype = DType::kFloat32;
    t->shape = shape;
    const std::string n = fresh("nnjoule_w");
    g_.initializers[n] = t;
    g_.values[n] = {DType::kFloat32, shape};
    return n;
  }

  std::string constant(const Shape& shape, std::vector<float> values) {
    auto t = std::make_shared<TensorData>();
    t->dtype = DType::kFloat32;
    t->shape = shape;
    t->f32 = std::move(values);
    const std::string n = fresh("nnjoule_c");
    g_.initializers[n] = t;
    g_.values[n] = {DType::kFloat32, shape};
    return n;
  }

  std::string int_constant(const std::vector<int64_t>& values) {
    auto t = std::make_shared<TensorData>(
        TensorData::ints({static_cast<int64_t>(values.size())}, values));
    const std::string n = fresh("nnjoule_shape");
    g_.initializers[n] = t;
    g_.values[n] = {DType::kInt64, t->shape};
    return n;
  }

  // Adds a supported op; shapes come from nnjoule's inference.
  std::vector<std::string> add(const std::string& ir_name, const std::string& op,
                               std::vector<std::string> inputs,
                               std::map<std::string, AttrValue> attrs = {}, int n_outputs = 1) {
    Node n;
    n.name = ir_name;
    n.op_type = op;
    n.inputs = std::move(inputs);
    n.attrs = std::move(attrs);
    for (int i = 0; i < n_outputs; ++i) {
      n.outputs.push_back(n_outputs == 1 ? ir_name : fmt::format("{}:{}", ir_name, i));
    }
    const auto infos = with_context(fmt::format("{}: node '{}'", ctx_, ir_name),
                                    [&] { return graph::infer_node(g_, n); });
    for (int i = 0; i < n_outputs; ++i) g_.values[n.outputs[i]] = infos.at(i);
    producer_[n.outputs[0]] = g_.nodes.size();
    g_.nodes.push_back(n);
    return g_.nodes.back().outputs;
  }

  void set_outputs(const std::string& ir_name, std::vector<std::string> tensors, const Perm& p) {
    for (const auto& t : tensors) perm_[t] = p;
    outs_[ir_name] = std::move(tensors);
  }

  // A graph input standing for a runtime input the IR does not list as a node.
  std::string implicit_input(const std::string& name) {
    Shape s = ir_shape(name, "input_shape", 0);
    if (s.empty()) node_fail(name, "has no inbound node and no 'input_shape' to make an input of");
    const Perm p = default_perm(s.size());
    const std::string t = fresh("input");
    g_.inputs.push_back(t);
    g_.values[t] = {DType::kFloat32, to_ours(s, p)};
    perm_[t] = p;
    return t;
  }

  struct Inputs {
    std::vector<std::string> runtime;    // our tensors, in inbound order
    std::vector<std::string> constants;  // IR Const nodes
  };

  Inputs inputs_of(const std::string& name) const {
    Inputs in;
    for (const auto& p : names(name, "inbounds")) {
      if (consts_.count(p)) {
        in.constants.push_back(p);
        continue;
      }
      if (skipped_.count(p)) continue;
      auto it = outs_.find(p);
      if (it == outs_.end() || it->second.empty())
        node_fail(name, fmt::format("inbound '{}' has no output", p));
      const auto& tensors = it->second;
      size_t idx = 0;
      if (tensors.size() > 1) {
        // Multi-output producers list their consumers in output order.
        const auto users = names(p, "outbounds");
        auto pos = std::find(users.begin(), users.end(), name);
        idx = std::min<size_t>(pos == users.end() ? 0 : static_cast<size_t>(pos - users.begin()),
                               tensors.size() - 1);
      }
      in.runtime.push_back(tensors[idx]);
    }
    return in;
  }

  std::string first_input(const std::string& name, const Inputs& in) {
    if (!in.runtime.empty()) return in.runtime.front();
    return implicit_input(name);
  }

  // Values of an IR Const node's "constant" attribute when it is a plain number.
  std::optional<std::vector<float>> const_values(const std::string& c) const {
    const json& a = attrs(c);
    if (!a.contains("constant")) return std::nullopt;
    const json& v = a.at("constant");
    std::vector<float> out;
    if (v.is_number()) {
      out.push_back(v.get<float>());
    } else if (v.is_array()) {
      for (const auto& x : v) {
        if (!x.is_number()) return std::nullopt;
        out.push_back(x.get<float>());
      }
    } else {
      return std::nullopt;
    }
    return out;
  }

  Shape const_ir_shape(const std::string& c) const {
    auto ts = ints(c, "tensor_shape");
    if (!ts.empty() || attrs(c).contains("tensor_shape")) return ts;
    return ir_shape(c, "output_shape", 0);
  }

  // The second operand of a binary op with one runtime input, shaped to broadcast like the IR.
  std::string binary_constant(const std::string& name, const Inputs& in, const std::string& x) {
    Shape ir;
    std::optional<std::vector<float>> values;
    if (!in.constants.empty()) {
      ir = const_ir_shape(in.constants.front());
      values = const_values(in.constants.front());
    } else if (ir_shape_count(name, "input_shape") >= 2) {
      ir = ir_shape(name, "input_shape", 1);
    }
    const Shape& xs = g_.shape(x);
    const Perm xp = perm_of(x);
    Shape ours;
    if (graph::numel(ir) <= 1) {
      ours = {};  // a scalar
    } else if (ir.size() == xs.size()) {
      ours = to_ours(ir, xp);
    } else if (ir.size() == 1 && !xs.empty()) {
      // A vector broadcasts along the IR's last axis.
      ours = Shape(xs.size(), 1);
      ours[static_cast<size_t>(xp.back())] = ir[0];
    } else {
      node_fail(name, fmt::format("cannot broadcast a constant of shape {} against {}",
                                  graph::shape_str(ir), graph::shape_str(xs)));
    }
    if (values && static_cast<int64_t>(values->size()) == graph::numel(ours)) {
      return constant(ours, std::move(*values));
    }
    return weight(ours);
  }

  // [t, l, b, r] pads of a window op.
  std::vector<int64_t> window_pads(const std::string& name, const Shape& x_ours, int64_t kh,
                                   int64_t kw, int64_t sh, int64_t sw, int64_t dh, int64_t dw) {
    std::string padding = str_attr(name, "padding");
    if (padding.empty()) padding = str_attr(name, "auto_pad");
    const int64_t h = x_ours[2], w = x_ours[3];
    auto same = [](int64_t in, int64_t k, int64_t s, int64_t d) {
      const int64_t out = (in + s - 1) / s;
      const int64_t total = std::max<int64_t>((out - 1) * s + (k - 1) * d + 1 - in, 0);
      return std::pair<int64_t, int64_t>{total / 2, total - total / 2};
    };
    if (padding == "SAME" || padding == "SAME_UPPER") {
      auto [t, b] = same(h, kh, sh, dh);
      auto [l, r] = same(w, kw, sw, dw);
      return {t, l, b, r};
    }
    if (padding == "VALID") return {0, 0, 0, 0};
    auto pads = ints(name, "pads");
    if (pads.empty()) return {0, 0, 0, 0};
    if (pads.size() != 4) node_fail(name, "'pads' must have 4 entries");
    if (flavor_ == Flavor::kTensorFlow) return {pads[0], pads[2], pads[1], pads[3]};  // t,b,l,r
    return pads;
  }

  // Two spatial values of a TF or ONNX attribute (4-entry TF forms are NHWC).
  std::pair<int64_t, int64_t> pair_attr(const std::string& name,
                                        std::initializer_list<const char*> keys, int64_t fallback) {
    for (const char* key : keys) {
      auto v = ints(name, key);
      if (v.empty()) continue;
      if (v.size() == 4) return {v[1], v[2]};
      if (v.size() == 2) return {v[0], v[1]};
      if (v.size() == 1) return {v[0], v[0]};
      node_fail(name, fmt::format("attribute '{}' must have 1, 2 or 4 entries", key));
    }
    return {fallback, fallback};
  }

  // Channels of the IR output (our axis 1 of the converted output shape).
  int64_t out_channels(const std::string& name) {
    const Shape o = ir_shape(name, "output_shape", 0);
    if (o.size() < 2) node_fail(name, "needs an 'output_shape' to know its output channels");
    return to_ours(o, default_perm(o.size()))[1];
  }

  // ---- conversion ---------------------------------------------------------------------------

  void convert(const std::string& name) {
    const std::string type = type_of(name);
    if (type == "Const") {
      consts_.insert(name);
      return;
    }
    Inputs in = inputs_of(name);
    if (type == "Placeholder" || type == "Input") {
      Shape s = ints(name, "shape");
      if (s.empty()) s = ir_shape(name, "output_shape", 0);
      if (s.empty()) node_fail(name, "input without a shape");
      if (s[0] <= 0) s[0] = 1;
      for (int64_t d : s)
        if (d <= 0)
          node_fail(name,
                    fmt::format("input shape {} has an unknown dimension", graph::shape_str(s)));
      const Perm p = default_perm(s.size());
      g_.inputs.push_back(name);
      g_.values[name] = {DType::kFloat32, to_ours(s, p)};
      set_outputs(name, {name}, p);
      return;
    }
    if (type == "Identity" || type == "NoOp" || type == "Dropout") {
      if (in.runtime.empty()) {
        skipped_.insert(name);
        return;
      }
      outs_[name] = {in.runtime.front()};
      return;
    }
    if (kShapePlumbing.count(type) && (in.runtime.empty() || is_plumbing(name))) {
      skipped_.insert(name);
      g_.notes.push_back(
          fmt::format("node '{}' ({}) computes a shape only; its result is taken from "
                      "the IR's shapes",
                      name, type));
      return;
    }
    if (type == "Slice" && ir_shape_count(name, "output_shape") > 1) {
      convert_split(name, in);  // TensorFlow slices a tensor into parts
      return;
    }
    // The op table names the op each IR type becomes; attribute layouts differ per type.
    const OpDef* def = graph::find_nnmeter_op(type);
    const std::string op = def ? def->name : "";
    if (op == "Conv") {
      convert_conv(name, type, in);
    } else if (op == "BatchNormalization") {
      const std::string x = first_input(name, in);
      const int64_t c = g_.shape(x).at(1);
      std::vector<std::string> args = {x};
      for (int i = 0; i < 4; ++i) args.push_back(weight({c}));
      float eps = 1e-3f;
      if (attrs(name).contains("epsilon") && attrs(name).at("epsilon").is_number())
        eps = attrs(name).at("epsilon").get<float>();
      set_outputs(name, add(name, "BatchNormalization", args, {{"epsilon", eps}}), perm_of(x));
    } else if (type == "BiasAdd") {
      convert_bias_add(name, in);
    } else if (def && def->group == graph::OpGroup::kBinary) {
      const std::string x = first_input(name, in);
      const std::string y = in.runtime.size() >= 2 ? in.runtime[1] : binary_constant(name, in, x);
      set_outputs(name, add(name, op, {x, y}), perm_of(x));
    } else if (type == "Relu6") {
      const std::string x = first_input(name, in);
      set_outputs(name, add(name, "Clip", {x}, {{"min", 0.f}, {"max", 6.f}}), perm_of(x));
    } else if (op == "Clip") {
      const std::string x = first_input(name, in);
      std::map<std::string, AttrValue> a;
      const json& at = attrs(name);
      if (at.contains("min") && at.contains("max")) {
        a = {{"min", at.at("min").get<float>()}, {"max", at.at("max").get<float>()}};
      } else {
        // nn-Meter maps Clip to relu; opset-11 Clip keeps its bounds in stripped inputs.
        a = {{"min", 0.f}, {"max", 6.f}};
        g_.notes.push_back(
            fmt::format("node '{}' (Clip) has no bounds in the IR; taken as "
                        "[0, 6] (ReLU6)",
                        name));
      }
      set_outputs(name, add(name, "Clip", {x}, a), perm_of(x));
    } else if (op == "HardSigmoid") {
      const std::string x = first_input(name, in);
      const json& at = attrs(name);
      const float alpha = at.contains("alpha") ? at.at("alpha").get<float>() : 0.2f;
      const float beta = at.contains("beta") ? at.at("beta").get<float>() : 0.5f;
      set_outputs(name, add(name, "HardSigmoid", {x}, {{"alpha", alpha}, {"beta", beta}}),
                  perm_of(x));
    } else if (op == "LeakyRelu") {
      const std::string x = first_input(name, in);
      const float alpha =
          attrs(name).contains("alpha") ? attrs(name).at("alpha").get<float>() : 0.2f;
      set_outputs(name, add(name, "LeakyRelu", {x}, {{"alpha", alpha}}), perm_of(x));
    } else if (def && def->group == graph::OpGroup::kActivation && def->attrs.empty()) {
      const std::string x = first_input(name, in);
      set_outputs(name, add(name, op, {x}), perm_of(x));
    } else if (op == "Softmax") {
      const std::string x = first_input(name, in);
      const Perm p = perm_of(x);
      const int64_t axis = attrs(name).contains("axis") ? ints(name, "axis").at(0) : -1;
      set_outputs(name, add(name, "Softmax", {x}, {{"axis", axis_ours(name, axis, p)}}), p);
    } else if (op == "MaxPool" || op == "AveragePool") {
      convert_pool(name, type, in);
    } else if (op == "ReduceMean" || op == "GlobalAveragePool") {
      convert_mean(name, type, in);
    } else if (op == "Gemm" || op == "MatMul") {
      convert_fc(name, in);
    } else if (op == "Concat") {
      if (in.runtime.empty()) node_fail(name, "concatenates nothing");
      const Perm p = perm_of(in.runtime.front());
      int64_t axis = 0;
      auto ax = ints(name, "axis");
      if (ax.empty() && !in.constants.empty()) {
        auto v = const_values(in.constants.back());
        if (v && v->size() == 1) ax = {static_cast<int64_t>((*v)[0])};
      }
      if (ax.empty()) node_fail(name, "no concatenation axis");
      axis = axis_ours(name, ax[0], p);
      set_outputs(name, add(name, "Concat", in.runtime, {{"axis", axis}}), p);
    } else if (op == "Split") {
      convert_split(name, in);
    } else if (op == "Reshape" || op == "Flatten") {
      convert_reshape(name, in);
    } else if (op == "Transpose") {
      convert_transpose(name, in);
    } else if (op == "Pad") {
      convert_pad(name, in);
    } else {
      convert_unknown(name, type, in);
    }
  }

  void convert_conv(const std::string& name, const std::string& type, const Inputs& in) {
    const std::string x = first_input(name, in);
    const Shape xs = g_.shape(x);
    if (xs.size() != 4) node_fail(name, fmt::format("convolution of a rank-{} tensor", xs.size()));
    const int64_t cin = xs[1];
    auto ws = ints(name, "weight_shape");  // TF: [kh, kw, cin, cout or multiplier]
    auto [kh, kw] = pair_attr(name, {"kernel_shape", "ks", "ksize"}, 0);
    if (kh == 0 && ws.size() == 4) {
      kh = ws[0];
      kw = ws[1];
    }
    if (kh <= 0 || kw <= 0) node_fail(name, "no kernel size (kernel_shape or weight_shape)");
    auto [sh, sw] = pair_attr(name, {"strides"}, 1);
    auto [dh, dw] = pair_attr(name, {"dilations"}, 1);
    int64_t group = 1, cout = 0;
    if (type == "DepthwiseConv2dNative") {
      group = cin;
      cout = ws.size() == 4 ? cin * ws[3] : out_channels(name);
    } else {
      const auto g = ints(name, "group");
      group = g.empty() ? 1 : g[0];
      cout = ws.size() == 4 && type == "Conv2D" ? ws[3] : out_channels(name);
    }
    if (group <= 0 || cin % group != 0)
      node_fail(name, fmt::format("group {} does not divide {} input channels", group, cin));
    const auto pads = window_pads(name, xs, kh, kw, sh, sw, dh, dw);
    const std::string w = weight({cout, cin / group, kh, kw});
    std::map<std::string, AttrValue> a = {{"kernel_shape", std::vector<int64_t>{kh, kw}},
                                          {"strides", std::vector<int64_t>{sh, sw}},
                                          {"pads", pads},
                                          {"dilations", std::vector<int64_t>{dh, dw}},
                                          {"group", group}};
    std::vector<std::string> args = {x, w};
    if (flavor_ == Flavor::kOnnx) args.push_back(weight({cout}));  // ONNX convs carry a bias
    set_outputs(name, add(name, "Conv", args, a), perm_of(x));
  }

  // TF adds conv / matmul biases as a separate BiasAdd; it folds into its producer when that is
  // the producer's only reader (as every runtime does), otherwise it is an Add.
  void convert_bias_add(const std::string& name, const Inputs& in) {
    const std::string x = first_input(name, in);
    auto pit = producer_.find(x);
    const auto producers = names(name, "inbounds");
    if (pit != producer_.end() && in.runtime.size() == 1) {
      Node& p = g_.nodes[pit->second];
      std::string producer_ir;
      for (const auto& pn : producers)
        if (!consts_.count(pn)) producer_ir = pn;
      const bool sole = names(producer_ir, "outbounds").size() == 1;
      if (sole && (p.op_type == "Conv" || p.op_type == "Gemm") && p.inputs.size() == 2) {
        const int64_t c = g_.shape(x).at(1);
        p.inputs.push_back(weight({c}));
        outs_[name] = {x};
        return;
      }
    }
    const std::string y = in.runtime.size() >= 2 ? in.runtime[1] : binary_constant(name, in, x);
    set_outputs(name, add(name, "Add", {x, y}), perm_of(x));
  }

  void convert_pool(const std::string& name, const std::string& type, const Inputs& in) {
    const std::string x = first_input(name, in);
    const Shape xs = g_.shape(x);
    if (xs.size() != 4) node_fail(name, fmt::format("pooling of a rank-{} tensor", xs.size()));
    auto [kh, kw] = pair_attr(name, {"ksize", "kernel_shape", "ks"}, 0);
    if (kh <= 0 || kw <= 0) node_fail(name, "no pooling window (ksize or kernel_shape)");
    auto [sh, sw] = pair_attr(name, {"strides"}, 1);
    const auto pads = window_pads(name, xs, kh, kw, sh, sw, 1, 1);
    std::map<std::string, AttrValue> a = {{"kernel_shape", std::vector<int64_t>{kh, kw}},
                                          {"strides", std::vector<int64_t>{sh, sw}},
                                          {"pads", pads}};
    const bool max = type == "MaxPool";
    if (!max) a["count_include_pad"] = int64_t{0};  // TF's SAME average excludes the padding
    set_outputs(name, add(name, max ? "MaxPool" : "AveragePool", {x}, a), perm_of(x));
  }

  void convert_mean(const std::string& name, const std::string& type, const Inputs& in) {
    const std::string x = first_input(name, in);
    const Perm p = perm_of(x);
    if (type == "GlobalAveragePool") {
      set_outputs(name, add(name, "GlobalAveragePool", {x}), p);
      return;
    }
    auto axes_ir = ints(name, "reduction_indices");
    if (axes_ir.empty()) axes_ir = ints(name, "axes");
    if (axes_ir.empty() && !in.constants.empty()) {
      if (auto v = const_values(in.constants.front())) {
        for (float f : *v) axes_ir.push_back(static_cast<int64_t>(f));
      }
    }
    if (axes_ir.empty()) node_fail(name, "no reduction axes");
    std::vector<int64_t> axes;
    for (int64_t a : axes_ir) axes.push_back(axis_ours(name, a, p));
    std::sort(axes.begin(), axes.end());
    // nn-Meter's IR drops keep_dims (and writes the reduced shape either way). A reader that
    // needs the rank back (a conv or a multiply, as in squeeze-and-excitation) means the dims
    // were kept; before a flattening reshape both forms compute the same, and the kept form is
    // the global average pool nn-Meter's kernel detection makes of every Mean.
    int64_t keep = 0;
    const auto kd = ints(name, "keepdims");
    if (!kd.empty()) {
      keep = kd[0];
    } else {
      static const std::set<std::string> rank_keepers = {"Conv2D",  "DepthwiseConv2dNative",
                                                         "Mul",     "Conv",
                                                         "Add",     "AddV2",
                                                         "BiasAdd", "Sub",
                                                         "Reshape", "Squeeze",
                                                         "Flatten"};
      for (const auto& u : names(name, "outbounds"))
        if (ir_.contains(u) && rank_keepers.count(type_of(u))) keep = 1;
    }
    const auto out = add(name, "ReduceMean", {x}, {{"axes", axes}, {"keepdims", keep}});
    Perm op = keep ? p : identity(g_.shape(out[0]).size());
    set_outputs(name, out, op);
  }

  void convert_fc(const std::string& name, const Inputs& in) {
    const std::string x = first_input(name, in);
    const Shape xs = g_.shape(x);
    if (in.runtime.size() >= 2) {  // a product of two activations
      set_outputs(name, add(name, "MatMul", {x, in.runtime[1]}), identity(xs.size()));
      return;
    }
    const Shape o = ir_shape(name, "output_shape", 0);
    if (o.empty()) node_fail(name, "needs an 'output_shape' to know its output features");
    const int64_t cout = o.back();
    const int64_t cin = xs.back();
    if (xs.size() == 2) {
      const std::string w = weight({cout, cin});
      std::vector<std::string> args = {x, w};
      if (flavor_ == Flavor::kOnnx) args.push_back(weight({cout}));
      set_outputs(name, add(name, "Gemm", args, {{"transB", int64_t{1}}}), identity(2));
    } else {
      const std::string w = weight({cin, cout});
      set_outputs(name, add(name, "MatMul", {x, w}), identity(xs.size()));
    }
  }

  void convert_split(const std::string& name, const Inputs& in) {
    const std::string x = first_input(name, in);
    const Perm p = perm_of(x);
    const size_t n = ir_shape_count(name, "output_shape");
    if (n < 1) node_fail(name, "a split without 'output_shape'");
    const Shape& xs = g_.shape(x);
    std::vector<Shape> outs_ir;
    for (size_t i = 0; i < n; ++i) outs_ir.push_back(ir_shape(name, "output_shape", i));
    int64_t axis_ir = -1;
    auto sd = ints(name, "split_dim");
    if (sd.empty()) sd = ints(name, "axis");
    if (!sd.empty()) {
      axis_ir = sd[0];
    } else if (outs_ir[0].size() == p.size()) {
      // The axis whose size the parts change.
      for (size_t a = 0; a < p.size(); ++a) {
        if (outs_ir[0][a] != xs[static_cast<size_t>(p[a])]) {
          axis_ir = static_cast<int64_t>(a);
          break;
        }
      }
    }
    if (axis_ir < 0) node_fail(name, "no split axis");
    const int64_t axis = axis_ours(name, axis_ir, p);
    std::vector<int64_t> sizes;
    int64_t total = 0;
    for (const auto& s : outs_ir) {
      const Shape so = s.size() == p.size() ? to_ours(s, p) : Shape{};
      if (so.empty()) node_fail(name, "split output of another rank");
      sizes.push_back(so[static_cast<size_t>(axis)]);
      total += sizes.back();
    }
    if (total != g_.shape(x)[static_cast<size_t>(axis)]) {
      // nn-Meter writes one (equal) part per consumer; the parts must cover the axis.
      const int64_t dim = g_.shape(x)[static_cast<size_t>(axis)];
      if (dim % static_cast<int64_t>(n) != 0) {
        node_fail(name, fmt::format("split sizes sum to {}, axis has {}", total, dim));
      }
      sizes.assign(n, dim / static_cast<int64_t>(n));
    }
    set_outputs(
        name, add(name, "Split", {x}, {{"axis", axis}, {"split", sizes}}, static_cast<int>(n)), p);
  }

  void convert_reshape(const std::string& name, const Inputs& in) {
    const std::string x = first_input(name, in);
    const Shape xs = g_.shape(x);
    const Perm xp = perm_of(x);
    Shape target_ir = reshape_target(name, graph::numel(xs));
    Perm op = default_perm(target_ir.size());
    // Splitting the channels of an NHWC tensor into two axes (channel shuffle): the spatial
    // axes stay last in our layout.
    if (flavor_ == Flavor::kTensorFlow && xs.size() == 4 && target_ir.size() == 5 &&
        xp == Perm{0, 2, 3, 1}) {
      const Shape x_ir = {xs[0], xs[2], xs[3], xs[1]};
      if (target_ir[0] == x_ir[0] && target_ir[1] == x_ir[1] && target_ir[2] == x_ir[2]) {
        op = {0, 3, 4, 1, 2};
      }
    }
    const Shape target = to_ours(target_ir, op);
    if (graph::numel(target) != graph::numel(xs)) {
      node_fail(name, fmt::format("reshape of {} values to {}", graph::numel(xs),
                                  graph::shape_str(target_ir)));
    }
    set_outputs(name, add(name, "Reshape", {x, int_constant(target)}), op);
  }

  void convert_transpose(const std::string& name, const Inputs& in) {
    const std::string x = first_input(name, in);
    const Perm p = perm_of(x);
    std::vector<int64_t> perm_ir = ints(name, "perm");
    if (perm_ir.empty() && !in.constants.empty()) {
      if (auto v = const_values(in.constants.front())) {
        for (float f : *v) perm_ir.push_back(static_cast<int64_t>(f));
      }
    }
    if (perm_ir.size() != p.size()) node_fail(name, "no permutation of the input's rank");
    // Output keeps the input's layout when it has the same rank; see the header comment.
    const Perm& op = p;
    Perm op_inv(op.size());
    for (size_t a = 0; a < op.size(); ++a) op_inv[static_cast<size_t>(op[a])] = static_cast<int>(a);
    std::vector<int64_t> perm(p.size());
    for (size_t i = 0; i < p.size(); ++i) {
      const int64_t src = perm_ir.at(static_cast<size_t>(op_inv[i]));
      if (src < 0 || src >= static_cast<int64_t>(p.size())) node_fail(name, "bad permutation");
      perm[i] = p[static_cast<size_t>(src)];
    }
    set_outputs(name, add(name, "Transpose", {x}, {{"perm", perm}}), op);
  }

  void convert_pad(const std::string& name, const Inputs& in) {
    const std::string x = first_input(name, in);
    const Perm p = perm_of(x);
    const size_t rank = p.size();
    // TensorFlow's paddings come as a Const input: [[begin, end] per axis].
    auto const_paddings = [&](const Inputs& ins) -> const json* {
      for (const auto& c : ins.constants) {
        const json& a = attrs(c);
        if (!a.contains("constant")) continue;
        const json& v = a.at("constant");
        if (!v.is_array() || v.size() != rank) continue;
        bool ok = true;
        for (const auto& be : v)
          ok = ok && be.is_array() && be.size() == 2 && be.at(0).is_number_integer() &&
               be.at(1).is_number_integer();
        if (ok) return &v;
      }
      return nullptr;
    };
    std::vector<int64_t> pads(2 * rank, 0);
    const json& a = attrs(name);
    if (a.contains("paddings") && a.at("paddings").is_array()) {
      const json& pd = a.at("paddings");
      if (pd.size() != rank) node_fail(name, "'paddings' must have one [begin, end] per axis");
      for (size_t ax = 0; ax < rank; ++ax) {
        const json& be = pd.at(ax);
        if (!be.is_array() || be.size() != 2)
          node_fail(name, "'paddings' entries are [begin, end]");
        pads[static_cast<size_t>(p[ax])] = be.at(0).get<int64_t>();
        pads[static_cast<size_t>(p[ax]) + rank] = be.at(1).get<int64_t>();
      }
    } else if (const json* pc = const_paddings(in); pc) {
      for (size_t ax = 0; ax < rank; ++ax) {
        pads[static_cast<size_t>(p[ax])] = pc->at(ax).at(0).get<int64_t>();
        pads[static_cast<size_t>(p[ax]) + rank] = pc->at(ax).at(1).get<int64_t>();
      }
    } else if (auto pv = ints(name, "pads"); pv.size() == 2 * rank) {
      for (size_t ax = 0; ax < rank; ++ax) {
        pads[static_cast<size_t>(p[ax])] = pv[ax];
        pads[static_cast<size_t>(p[ax]) + rank] = pv[ax + rank];
      }
    } else {
      const Shape o = ir_shape(name, "output_shape", 0);
      if (o.size() != rank) node_fail(name, "no paddings and no output_shape to derive them from");
      const Shape oo = to_ours(o, p);
      const Shape& xs = g_.shape(x);
      for (size_t ax = 0; ax < rank; ++ax) {
        const int64_t d = oo[ax] - xs[ax];
        pads[ax] = d / 2;
        pads[ax + rank] = d - d / 2;
      }
    }
    set_outputs(
        name,
        add(name, "Pad", {x}, {{"pads", pads}, {"mode", std::string("constant")}, {"value", 0.f}}),
        p);
  }

  // An op nnjoule does not know: kept with the IR's output shapes, detected as unknown:<type>.
  void convert_unknown(const std::string& name, const std::string& type, const Inputs& in) {
    const size_t n = ir_shape_count(name, "output_shape");
    if (n == 0)
      node_fail(name, fmt::format("op type '{}' is not known and has no output_shape", type));
    Node node;
    node.name = name;
    node.op_type = type;
    node.inputs = in.runtime;
    if (node.inputs.empty() && ir_shape_count(name, "input_shape") > 0) {
      node.inputs.push_back(implicit_input(name));
    }
    std::vector<std::string> tensors;
    Perm p;
    for (size_t i = 0; i < n; ++i) {
      const Shape s = ir_shape(name, "output_shape", i);
      if (s.empty()) node_fail(name, "empty output_shape");
      for (int64_t d : s)
        if (d <= 0)
          node_fail(name,
                    fmt::format("output shape {} has an unknown dimension", graph::shape_str(s)));
      p = default_perm(s.size());
      const std::string t = n == 1 ? name : fmt::format("{}:{}", name, i);
      g_.values[t] = {DType::kFloat32, to_ours(s, p)};
      node.outputs.push_back(t);
      tensors.push_back(t);
    }
    producer_[tensors[0]] = g_.nodes.size();
    g_.nodes.push_back(std::move(node));
    set_outputs(name, tensors, p);
  }
};

}  // namespace

Graph from_nnmeter_ir(const json& ir, const std::string& context) {
  try {
    return Converter(ir, context).run();
  } catch (const json::exception& e) {
    fail("{}: malformed nn-Meter IR: {}", context, e.what());
  }
}

}  // namespace nnjoule::graph
