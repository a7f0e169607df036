// ONNX export: canonical ops written in the form of the requested opset, weights as raw_data,
// value_info for every tensor, and onnx's checker run on the result before it is returned.
#include <fmt/format.h>
#include <onnx/checker.h>
#include <onnx/defs/schema.h>
#include <onnx/onnx_pb.h>

#include <climits>
#include <cmath>
#include <set>

#include "nnjoule/common/error.hpp"
#include "nnjoule/common/io.hpp"
#include "nnjoule/graph/onnx.hpp"
#include "nnjoule/graph/ops.hpp"
#include "nnjoule/version.hpp"
#include "onnx_detail.hpp"

namespace nnjoule::graph {
namespace {

using onnx::AttributeProto;
using onnx::TensorProto;

constexpr int64_t kMinExportOpset = 11;
constexpr int64_t kMaxExportOpset = 17;

int64_t ir_version_for(int64_t opset) {
  if (opset <= 11) return 6;
  if (opset <= 14) return 7;
  return 8;
}

class Exporter {
 public:
  Exporter(const Graph& g, const ExportOptions& o) : src_(g), opset_(o.opset) {}

  onnx::ModelProto run() {
    if (opset_ < kMinExportOpset || opset_ > kMaxExportOpset) {
      fail("graph '{}': cannot export at opset {} (nnjoule writes opsets {} to {})", src_.name,
           opset_, kMinExportOpset, kMaxExportOpset);
    }
    for (const auto& [name, t] : src_.initializers) {
      if (!t->materialized()) {
        fail(
            "graph '{}': weight '{}' is not materialized (built without weights); only graphs "
            "with weights can be exported",
            src_.name, name);
      }
    }
    Graph g = src_;  // initializers are shared pointers: the copy is cheap
    g.toposort();
    for (const auto& [name, v] : g.values) used_.insert(name);
    for (const auto& n : g.nodes) used_.insert(n.name);

    model_.set_ir_version(ir_version_for(opset_));
    model_.set_producer_name("nnjoule");
    model_.set_producer_version(kVersion);
    auto* imp = model_.add_opset_import();
    imp->set_domain("");
    imp->set_version(opset_);
    gp_ = model_.mutable_graph();
    gp_->set_name(g.name.empty() ? "nnjoule" : g.name);

    for (const auto& in : g.inputs) value_info(gp_->add_input(), in, g.value(in));
    for (const auto& [name, t] : g.initializers) {
      detail::tensor_to_proto(*t, name, gp_->add_initializer());
    }
    std::set<std::string> outputs(g.outputs.begin(), g.outputs.end());
    for (const auto& n : g.nodes) {
      emit(g, n);
      for (const auto& o : n.outputs) {
        if (!o.empty() && !outputs.count(o)) value_info(gp_->add_value_info(), o, g.value(o));
      }
    }
    for (const auto& o : g.outputs) value_info(gp_->add_output(), o, g.value(o));

    try {
      onnx::checker::check_model(model_);
    } catch (const std::exception& e) {
      fail("graph '{}': the exported model fails onnx's checker: {}", src_.name,
           detail::first_line(e.what()));
    }
    return std::move(model_);
  }

 private:
  static void value_info(onnx::ValueInfoProto* vi, const std::string& name, const ValueInfo& v) {
    vi->set_name(name);
    auto* tt = vi->mutable_type()->mutable_tensor_type();
    tt->set_elem_type(detail::onnx_elem_type(v.dtype));
    auto* shape = tt->mutable_shape();
    for (int64_t d : v.shape) shape->add_dim()->set_dim_value(d);
  }

  std::string fresh(const std::string& stem) {
    std::string name = stem;
    for (int k = 1; used_.count(name); ++k) name = fmt::format("{}_{}", stem, k);
    used_.insert(name);
    return name;
  }

  // A constant made for an argument that is an input at this opset (Clip bounds, Slice...).
  std::string constant(const std::string& stem, const TensorData& t) {
    const std::string name = fresh(stem);
    detail::tensor_to_proto(t, name, gp_->add_initializer());
    return name;
  }

  onnx::NodeProto* add_node(const std::string& name, const std::string& op,
                            const std::vector<std::string>& inputs,
                            const std::vector<std::string>& outputs) {
    auto* np = gp_->add_node();
    np->set_name(name);
    np->set_op_type(op);
    for (const auto& i : inputs) np->add_input(i);
    for (const auto& o : outputs) np->add_output(o);
    return np;
  }

  // Writes attrs with the types onnx's schema declares; an attribute the op does not have at
  // this opset is a bug in the graph, not something to drop silently.
  void set_attrs(const Node& n, onnx::NodeProto* np,
                 const std::map<std::string, AttrValue>& attrs) {
    const auto* schema =
        onnx::OpSchemaRegistry::Schema(np->op_type(), static_cast<int>(opset_), "");
    if (!schema) {
      fail("graph '{}': node '{}' ({}) has no ONNX definition at opset {}", src_.name, n.name,
           np->op_type(), opset_);
    }
    for (const auto& [key, value] : attrs) {
      auto it = schema->attributes().find(key);
      if (it == schema->attributes().end()) {
        fail("graph '{}': node '{}' ({}): attribute '{}' does not exist at opset {}", src_.name,
             n.name, np->op_type(), key, opset_);
      }
      auto* a = np->add_attribute();
      a->set_name(key);
      a->set_type(it->second.type);
      const std::string& name = key;  // clang 14 cannot capture a structured binding
      auto bad = [&] {
        fail("graph '{}': node '{}' ({}): attribute '{}' has the wrong type", src_.name, n.name,
             np->op_type(), name);
      };
      switch (it->second.type) {
        case AttributeProto::INT:
          if (auto* v = std::get_if<int64_t>(&value))
            a->set_i(*v);
          else
            bad();
          break;
        case AttributeProto::FLOAT:
          if (auto* v = std::get_if<float>(&value))
            a->set_f(*v);
          else if (auto* i = std::get_if<int64_t>(&value))
            a->set_f(static_cast<float>(*i));
          else
            bad();
          break;
        case AttributeProto::STRING:
          if (auto* v = std::get_if<std::string>(&value))
            a->set_s(*v);
          else
            bad();
          break;
        case AttributeProto::INTS:
          if (auto* v = std::get_if<std::vector<int64_t>>(&value)) {
            for (int64_t x : *v) a->add_ints(x);
          } else if (auto* i = std::get_if<int64_t>(&value)) {
            a->add_ints(*i);
          } else {
            bad();
          }
          break;
        case AttributeProto::FLOATS:
          if (auto* v = std::get_if<std::vector<float>>(&value)) {
            for (float x : *v) a->add_floats(x);
          } else {
            bad();
          }
          break;
        case AttributeProto::STRINGS:
          if (auto* v = std::get_if<std::vector<std::string>>(&value)) {
            for (const auto& x : *v) a->add_strings(x);
          } else {
            bad();
          }
          break;
        default:
          bad();
      }
    }
  }

  static TensorData ints1(const std::vector<int64_t>& v) {
    return TensorData::ints({static_cast<int64_t>(v.size())}, v);
  }

  void emit(const Graph& g, const Node& n) {
    const std::string& op = n.op_type;
    if (!is_supported_op(op)) {
      fail("graph '{}': node '{}' has op '{}', which nnjoule cannot export", src_.name, n.name, op);
    }
    auto attrs = n.attrs;
    std::vector<std::string> inputs = n.inputs;
    auto take = [&](const char* key) {
      auto it = attrs.find(key);
      std::optional<AttrValue> v;
      if (it != attrs.end()) {
        v = it->second;
        attrs.erase(it);
      }
      return v;
    };
    auto take_ints = [&](const char* key) {
      auto v = take(key);
      if (!v) return std::vector<int64_t>{};
      if (auto* p = std::get_if<std::vector<int64_t>>(&*v)) return *p;
      fail("graph '{}': node '{}' ({}): attribute '{}' must be a list of integers", src_.name,
           n.name, op, key);
    };
    auto take_float = [&](const char* key) -> std::optional<float> {
      auto v = take(key);
      if (!v) return std::nullopt;
      if (auto* p = std::get_if<float>(&*v)) return *p;
      if (auto* p = std::get_if<int64_t>(&*v)) return static_cast<float>(*p);
      fail("graph '{}': node '{}' ({}): attribute '{}' must be a number", src_.name, n.name, op,
           key);
    };
    if ((op == "QuantizeLinear" || op == "DequantizeLinear") && opset_ < 13) {
      // Opsets 10-12 quantize per tensor only and have no axis attribute.
      const bool per_channel = g.is_constant(n.inputs.at(1)) && g.constant(n.inputs[1]).size() > 1;
      if (per_channel) {
        fail("graph '{}': node '{}' ({}) quantizes per channel, which needs opset 13 or later",
             src_.name, n.name, op);
      }
      take("axis");
    }

    if (op == "HardSwish" && opset_ < 14) {
      // HardSwish arrived in opset 14; earlier opsets spell it x * HardSigmoid(x).
      const std::string hs = fresh(n.outputs.at(0) + "_hsigmoid");
      auto* h = add_node(fresh(n.name + "_hsigmoid"), "HardSigmoid", {inputs.at(0)}, {hs});
      set_attrs(n, h, {{"alpha", 1.f / 6.f}, {"beta", 0.5f}});
      value_info(gp_->add_value_info(), hs, g.value(n.outputs.at(0)));
      add_node(n.name, "Mul", {inputs.at(0), hs}, n.outputs);
      return;
    }
    if (op == "Clip") {
      inputs.resize(1);
      auto lo = take_float("min"), hi = take_float("max");
      if (lo) inputs.push_back(constant(n.name + "_min", TensorData::floats({}, {*lo})));
      if (hi) {
        if (!lo) inputs.emplace_back("");
        inputs.push_back(constant(n.name + "_max", TensorData::floats({}, {*hi})));
      }
    } else if (op == "Split" && opset_ >= 13) {
      inputs.resize(1);
      const auto split = take_ints("split");
      if (!split.empty()) inputs.push_back(constant(n.name + "_split", ints1(split)));
    } else if (op == "Slice") {
      inputs.resize(1);
      const auto starts = take_ints("starts"), ends = take_ints("ends");
      auto axes = take_ints("axes"), steps = take_ints("steps");
      inputs.push_back(constant(n.name + "_starts", ints1(starts)));
      inputs.push_back(constant(n.name + "_ends", ints1(ends)));
      if (!axes.empty()) inputs.push_back(constant(n.name + "_axes", ints1(axes)));
      if (!steps.empty()) {
        if (axes.empty()) inputs.emplace_back("");
        inputs.push_back(constant(n.name + "_steps", ints1(steps)));
      }
    } else if (op == "Pad") {
      inputs.resize(1);
      inputs.push_back(constant(n.name + "_pads", ints1(take_ints("pads"))));
      const float value = take_float("value").value_or(0.f);
      const auto mode = n.attr_string("mode", "constant");
      if (mode == "constant") {
        inputs.push_back(constant(n.name + "_value", TensorData::floats({}, {value})));
      }
    } else if (op == "Resize") {
      inputs.resize(1);
      auto sv = take("scales");
      const auto* scales = sv ? std::get_if<std::vector<float>>(&*sv) : nullptr;
      if (!scales) {
        fail("graph '{}': node '{}' (Resize) needs float attribute 'scales'", src_.name, n.name);
      }
      // roi is required at opset 11 and ignored by these coordinate modes; an empty tensor.
      inputs.push_back(constant(n.name + "_roi", TensorData::floats({0}, {})));
      inputs.push_back(constant(
          n.name + "_scales", TensorData::floats({static_cast<int64_t>(scales->size())}, *scales)));
      if (n.attr_string("mode", "nearest") == "nearest") {
        // PyTorch's nearest upsampling: floor of the asymmetric source coordinate.
        attrs["coordinate_transformation_mode"] = std::string("asymmetric");
        attrs["nearest_mode"] = std::string("floor");
      }
    } else if (op == "Softmax" && opset_ < 13) {
      // Before opset 13 Softmax flattens every axis from `axis` on: equal only when those
      // after it are all 1.
      const Shape& x = g.shape(inputs.at(0));
      const int64_t axis = n.attr_int("axis", -1);
      const auto r = static_cast<int64_t>(x.size());
      const int64_t a = axis < 0 ? axis + r : axis;
      for (int64_t d = a + 1; d < r; ++d) {
        if (x[static_cast<size_t>(d)] != 1) {
          fail(
              "graph '{}': node '{}' (Softmax) over axis {} of {} cannot be written at opset {} "
              "(needs opset 13)",
              src_.name, n.name, a, shape_str(x), opset_);
        }
      }
    }
    auto* np = add_node(n.name, op, inputs, n.outputs);
    set_attrs(n, np, attrs);
  }

  const Graph& src_;
  int64_t opset_;
  onnx::ModelProto model_;
  onnx::GraphProto* gp_ = nullptr;
  std::set<std::string> used_;
};

}  // namespace

std::string to_onnx_bytes(const Graph& g, const ExportOptions& options) {
  const onnx::ModelProto model = Exporter(g, options).run();
  if (model.ByteSizeLong() > static_cast<size_t>(INT_MAX)) {
    fail("graph '{}': the model is {} bytes; ONNX files are limited to 2 GiB", g.name,
         model.ByteSizeLong());
  }
  std::string out;
  if (!model.SerializeToString(&out)) fail("graph '{}': protobuf serialization failed", g.name);
  return out;
}

void save_onnx(const Graph& g, const std::filesystem::path& path, const ExportOptions& options) {
  write_file_atomic(path, to_onnx_bytes(g, options));
}

}  // namespace nnjoule::graph
