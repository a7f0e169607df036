// ONNX import, reading: the graph's initializers, inputs, outputs and nodes into the IR, and the
// check of every op (ours, then onnx's node checks). parse() is in onnx_importer.hpp.
#include <fmt/format.h>
#include <onnx/checker.h>
#include <onnx/defs/schema.h>
#include <onnx/onnx_pb.h>

#include <map>
#include <memory>
#include <set>
#include <string>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include "nnjoule/common/error.hpp"
#include "nnjoule/graph/ops.hpp"
#include "onnx_detail.hpp"
#include "onnx_importer.hpp"

namespace nnjoule::graph::detail {
namespace {

using onnx::AttributeProto;
using onnx::TensorProto;

bool is_known_op(const std::string& op) {
  return is_supported_op(op) || fold_only_ops().count(op) || op == "Constant" || op == "Dropout" ||
         op == "Upsample" || qlinear_ops().count(op);
}

// ai.onnx ops, and ONNX Runtime's quantized contrib ops (com.microsoft) nnjoule reads.
bool readable(const onnx::NodeProto& np) {
  if (np.domain().empty() || np.domain() == "ai.onnx") return is_known_op(np.op_type());
  return np.domain() == "com.microsoft" && is_microsoft_quant_op(np.op_type());
}

AttrValue attr_value(const AttributeProto& a, const std::string& ctx) {
  auto type = a.type();
  if (type == AttributeProto::UNDEFINED) {
    // IR-version-1 files leave the type unset; the filled field tells it.
    if (a.has_f())
      type = AttributeProto::FLOAT;
    else if (a.has_i())
      type = AttributeProto::INT;
    else if (a.has_s())
      type = AttributeProto::STRING;
    else if (a.ints_size() > 0)
      type = AttributeProto::INTS;
    else if (a.floats_size() > 0)
      type = AttributeProto::FLOATS;
    else if (a.strings_size() > 0)
      type = AttributeProto::STRINGS;
    else if (a.has_t())
      type = AttributeProto::TENSOR;
  }
  switch (type) {
    case AttributeProto::INT:
      return static_cast<int64_t>(a.i());
    case AttributeProto::FLOAT:
      return a.f();
    case AttributeProto::STRING:
      return a.s();
    case AttributeProto::INTS:
      return std::vector<int64_t>(a.ints().begin(), a.ints().end());
    case AttributeProto::FLOATS:
      return std::vector<float>(a.floats().begin(), a.floats().end());
    case AttributeProto::STRINGS:
      return std::vector<std::string>(a.strings().begin(), a.strings().end());
    default:
      fail("{}: attribute '{}' of type {} is not supported", ctx, a.name(),
           AttributeProto::AttributeType_IsValid(type) ? AttributeProto::AttributeType_Name(type)
                                                       : std::to_string(static_cast<int>(type)));
  }
}

}  // namespace

void Importer::read_graph() {
  onnx::GraphProto& gp = *model_.mutable_graph();
  g_.name = gp.name().empty() ? "model" : gp.name();
  for (int i = 0; i < gp.initializer_size(); ++i) {
    const TensorProto& t = gp.initializer(i);
    if (t.name().empty()) fail("initializer #{} has no name", i);
    auto data = std::make_shared<TensorData>(
        detail::tensor_from_proto(t, fmt::format("initializer '{}'", t.name()), conv_));
    add_constant(t.name(), data);
    model_initializers_.insert(t.name());
  }
  if (gp.sparse_initializer_size() > 0) {
    fail("sparse initializer '{}' is not supported", gp.sparse_initializer(0).values().name());
  }
  std::set<std::string> seen;
  for (int i = 0; i < gp.input_size(); ++i) {
    onnx::ValueInfoProto* vi = gp.mutable_input(i);
    if (vi->name().empty()) fail("graph input #{} has no name", i);
    if (g_.initializers.count(vi->name())) continue;  // IR < 4 lists weights as inputs too
    if (!seen.insert(vi->name()).second) fail("graph input '{}' is listed twice", vi->name());
    g_.inputs.push_back(vi->name());
    g_.values[vi->name()] = read_input(vi);
  }
  for (int i = 0; i < gp.output_size(); ++i) {
    if (gp.output(i).name().empty()) fail("graph output #{} has no name", i);
    g_.outputs.push_back(gp.output(i).name());
  }
  if (g_.outputs.empty()) fail("the graph has no outputs");

  std::unordered_set<std::string> names;
  for (int i = 0; i < gp.node_size(); ++i) {
    const onnx::NodeProto& np = gp.node(i);
    Node n;
    n.op_type = np.op_type();
    if (n.op_type.empty()) fail("node #{} has no op_type", i);
    const std::string base = np.name().empty() ? fmt::format("{}_{}", n.op_type, i) : np.name();
    n.name = base;
    for (int k = 1; !names.insert(n.name).second; ++k) n.name = fmt::format("{}_{}", base, k);
    node_names_.push_back(n.name);
    n.inputs.assign(np.input().begin(), np.input().end());
    n.outputs.assign(np.output().begin(), np.output().end());
    for (const auto& in : n.inputs)
      if (!in.empty()) consumed_.insert(in);
    const bool std_domain = np.domain().empty() || np.domain() == "ai.onnx";
    if (!readable(np)) {
      if (!opt_.keep_unknown_ops) continue;  // check_ops() lists them all
      if (!std_domain) n.op_type = np.domain() + "." + n.op_type;
      for (const auto& a : np.attribute()) {
        // Kept for listing only: attributes the IR cannot hold (graphs, tensors) are left out.
        if (a.type() == AttributeProto::INT || a.type() == AttributeProto::FLOAT ||
            a.type() == AttributeProto::STRING || a.type() == AttributeProto::INTS ||
            a.type() == AttributeProto::FLOATS || a.type() == AttributeProto::STRINGS) {
          n.attrs[a.name()] = attr_value(a, n.name);
        }
      }
      unknown_ops_.insert(n.name);
      g_.nodes.push_back(std::move(n));
      continue;
    }
    if (n.op_type == "Constant") {
      read_constant(np, n);
      continue;
    }
    for (const auto& a : np.attribute()) {
      const std::string ctx = fmt::format("node '{}' ({})", n.name, n.op_type);
      if (a.type() == AttributeProto::TENSOR && a.name() == "value" &&
          n.op_type == "ConstantOfShape") {
        value_attrs_[n.name] = detail::tensor_from_proto(a.t(), ctx + " attribute 'value'", conv_);
        continue;
      }
      n.attrs[a.name()] = attr_value(a, ctx);
    }
    g_.nodes.push_back(std::move(n));
  }
  for (const auto& o : g_.outputs) consumed_.insert(o);
}

ValueInfo Importer::read_input(onnx::ValueInfoProto* vi) {
  const std::string& name = vi->name();
  if (!vi->has_type() || !vi->type().has_tensor_type()) {
    fail("graph input '{}' is not a tensor", name);
  }
  auto* tt = vi->mutable_type()->mutable_tensor_type();
  ValueInfo v;
  if (!detail::dtype_from_onnx(tt->elem_type(), &v.dtype)) {
    fail("graph input '{}': element type {} is not supported", name,
         detail::onnx_type_name(tt->elem_type()));
  }
  if (!tt->has_shape()) fail("graph input '{}' has no shape; nnjoule needs static shapes", name);
  for (int d = 0; d < tt->shape().dim_size(); ++d) {
    auto* dim = tt->mutable_shape()->mutable_dim(d);
    if (dim->has_dim_value()) {
      if (dim->dim_value() <= 0) {
        fail("graph input '{}' has a non-positive dimension {} at axis {}", name, dim->dim_value(),
             d);
      }
      v.shape.push_back(dim->dim_value());
      continue;
    }
    const std::string sym = dim->has_dim_param() ? "'" + dim->dim_param() + "'" : "(unnamed)";
    if (d != 0) {
      fail(
          "graph input '{}': dimension {} {} is unknown; only the batch dimension (0) may be "
          "symbolic",
          name, d, sym);
    }
    notes_.push_back(
        fmt::format("graph input '{}': symbolic batch dimension {} taken as 1", name, sym));
    dim->set_dim_value(1);  // onnx's own inference then works with the same batch
    v.shape.push_back(1);
  }
  checked_numel(v.shape, fmt::format("graph input '{}'", name));
  return v;
}

void Importer::read_constant(const onnx::NodeProto& np, const Node& n) {
  if (n.outputs.size() != 1 || n.outputs[0].empty()) node_fail(n, "needs exactly one output");
  const std::string ctx = fmt::format("node '{}' (Constant)", n.name);
  if (np.attribute_size() != 1) node_fail(n, "needs exactly one value attribute");
  const AttributeProto& a = np.attribute(0);
  TensorData t;
  if (a.name() == "value") {
    t = detail::tensor_from_proto(a.t(), ctx + " attribute 'value'", conv_);
  } else if (a.name() == "value_float") {
    t = TensorData::floats({}, {a.f()});
  } else if (a.name() == "value_floats") {
    t = TensorData::floats({a.floats_size()}, {a.floats().begin(), a.floats().end()});
  } else if (a.name() == "value_int") {
    t = TensorData::ints({}, {a.i()});
  } else if (a.name() == "value_ints") {
    t = TensorData::ints({a.ints_size()}, {a.ints().begin(), a.ints().end()});
  } else {
    node_fail(
        n, fmt::format("value attribute '{}' is not supported (numeric tensors only)", a.name()));
  }
  add_constant(n.outputs[0], std::make_shared<TensorData>(std::move(t)));
}

void Importer::add_constant(const std::string& name, TensorPtr t) {
  if (g_.values.count(name) || g_.initializers.count(name)) {
    fail("tensor '{}' is defined twice", name);
  }
  g_.values[name] = ValueInfo{t->dtype, t->shape};
  g_.initializers[name] = std::move(t);
}

// Lists every op we cannot read (all of them at once), then lets onnx check each node
// against its schema (input counts, attribute types) so later code sees well-formed nodes.
void Importer::check_ops() {
  const auto& gp = model_.graph();
  std::map<std::string, std::vector<std::string>> unsupported;
  for (int i = 0; i < gp.node_size(); ++i) {
    const auto& np = gp.node(i);
    const bool std_domain = np.domain().empty() || np.domain() == "ai.onnx";
    if (readable(np)) continue;
    const std::string op = std_domain ? np.op_type() : np.domain() + "." + np.op_type();
    unsupported[op].push_back(node_names_[static_cast<size_t>(i)]);
  }
  if (!unsupported.empty() && !opt_.keep_unknown_ops) {
    fail("{}", unsupported_message(unsupported));
  }

  onnx::checker::CheckerContext ctx;
  ctx.set_ir_version(static_cast<int>(model_.ir_version()));
  std::unordered_map<std::string, int> imports;
  for (const auto& imp : model_.opset_import()) {
    imports[imp.domain()] = static_cast<int>(imp.version());
  }
  imports[""] = imports["ai.onnx"] = static_cast<int>(opset_);
  ctx.set_opset_imports(imports);
  ctx.set_schema_registry(onnx::OpSchemaRegistry::Instance());
  onnx::checker::LexicalScopeContext lex;
  for (int i = 0; i < gp.node_size(); ++i) {
    const auto& np = gp.node(i);
    if (np.domain() == "com.microsoft") continue;  // not in onnx's schema registry
    try {
      onnx::checker::check_node(np, ctx, lex);
    } catch (const std::exception& e) {
      fail("node '{}' ({}): {}", node_names_[static_cast<size_t>(i)], np.op_type(),
           detail::first_line(e.what()));
    }
  }
}

std::string Importer::unsupported_message(
    const std::map<std::string, std::vector<std::string>>& ops) {
  return fmt::format("unsupported op{}: {}", ops.size() > 1 ? "s" : "", op_list(ops));
}

// "Erf (node 'e'); LSTM (nodes 'a', 'b', 'c' and 2 more)"
std::string Importer::op_list(const std::map<std::string, std::vector<std::string>>& ops) {
  std::vector<std::string> parts;
  for (const auto& [op, nodes] : ops) {
    std::vector<std::string> shown;
    for (size_t i = 0; i < nodes.size() && i < 3; ++i) shown.push_back("'" + nodes[i] + "'");
    std::string more = nodes.size() > 3 ? fmt::format(" and {} more", nodes.size() - 3) : "";
    parts.push_back(fmt::format("{} (node{} {}{})", op, nodes.size() > 1 ? "s" : "",
                                fmt::join(shown, ", "), more));
  }
  return fmt::format("{}", fmt::join(parts, "; "));
}

}  // namespace nnjoule::graph::detail
