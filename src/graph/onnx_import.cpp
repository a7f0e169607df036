// ONNX import: protobuf parse, onnx's node checks, constant folding of shape computations,
// rewriting of legacy op forms into the canonical ones of ops.hpp, our shape inference, and a
// cross-check of every shape against onnx's own shape inference.
#include <fcntl.h>
#include <fmt/format.h>
#include <google/protobuf/io/zero_copy_stream_impl.h>
#include <onnx/checker.h>
#include <onnx/defs/schema.h>
#include <onnx/onnx_pb.h>
#include <onnx/shape_inference/implementation.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <climits>
#include <cmath>
#include <cstring>
#include <limits>
#include <set>
#include <unordered_set>

#include "nnjoule/common/error.hpp"
#include "nnjoule/common/io.hpp"
#include "nnjoule/common/text.hpp"
#include "nnjoule/graph/onnx.hpp"
#include "nnjoule/graph/ops.hpp"
#include "nnjoule/graph/shape_inference.hpp"
#include "onnx_detail.hpp"

namespace nnjoule::graph {
namespace {

using detail::checked_numel;
using onnx::AttributeProto;
using onnx::TensorProto;

// Exact arithmetic for sizes computed from untrusted values (GCC/Clang extension).
__extension__ using i128 = __int128;

constexpr int64_t kMinOpset = 7;
constexpr int64_t kMaxOpset = 17;
// Folded constants are shape computations; anything bigger is a malformed model.
constexpr int64_t kMaxFoldedElements = int64_t{1} << 26;

[[noreturn]] void node_fail(const Node& n, const std::string& what) {
  fail("node '{}' ({}): {}", n.name, n.op_type, what);
}

// Ops that exist here only to compute constants; they must fold away.
const std::set<std::string>& fold_only_ops() {
  static const std::set<std::string> ops = {"Shape", "Unsqueeze", "Squeeze",
                                            "Cast",  "Range",     "ConstantOfShape"};
  return ops;
}

// Every op folded when all its inputs are constants (Shape: when its input's shape is static).
const std::set<std::string>& foldable_ops() {
  static const std::set<std::string> ops = {
      "Shape", "Gather", "Unsqueeze", "Squeeze", "Cast",    "Concat",          "Slice",
      "Add",   "Sub",    "Mul",       "Div",     "Reshape", "ConstantOfShape", "Range"};
  return ops;
}

bool is_known_op(const std::string& op) {
  return is_supported_op(op) || fold_only_ops().count(op) || op == "Constant" || op == "Dropout" ||
         op == "Upsample";
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

std::string onnx_shape_str(const onnx::TensorShapeProto& s) {
  std::vector<std::string> dims;
  for (const auto& d : s.dim()) {
    dims.push_back(d.has_dim_value() ? std::to_string(d.dim_value())
                                     : (d.has_dim_param() ? d.dim_param() : "?"));
  }
  return fmt::format("[{}]", fmt::join(dims, ","));
}

std::vector<int64_t> strides_of(const Shape& s) {
  std::vector<int64_t> st(s.size(), 1);
  for (size_t i = s.size(); i-- > 1;) st[i - 1] = st[i] * s[i];
  return st;
}

// Calls f(offsets) for every element of `out` in row-major order, where offsets[k] is the flat
// index into operand k (broadcast to `out` numpy-style).
template <typename F>
void for_each_broadcast(const Shape& out, const std::vector<Shape>& operands, F f) {
  const size_t r = out.size();
  std::vector<std::vector<int64_t>> st(operands.size(), std::vector<int64_t>(r, 0));
  for (size_t k = 0; k < operands.size(); ++k) {
    const Shape& s = operands[k];
    int64_t acc = 1;
    for (size_t i = 0; i < s.size(); ++i) {
      const size_t d = s.size() - 1 - i, od = r - 1 - i;
      st[k][od] = s[d] == 1 ? 0 : acc;
      acc *= s[d];
    }
  }
  const int64_t total = numel(out);
  std::vector<int64_t> idx(r, 0), off(operands.size(), 0);
  for (int64_t e = 0; e < total; ++e) {
    f(off);
    for (size_t d = r; d-- > 0;) {
      ++idx[d];
      for (size_t k = 0; k < off.size(); ++k) off[k] += st[k][d];
      if (idx[d] < out[d]) break;
      for (size_t k = 0; k < off.size(); ++k) off[k] -= st[k][d] * idx[d];
      idx[d] = 0;
    }
  }
}

class Importer {
 public:
  explicit Importer(const ImportOptions& options) : opt_(options) {}

  // `parse_into` fills the ModelProto from the file or the bytes; false when protobuf fails.
  template <typename Parse>
  Graph run(uint64_t size, Parse parse_into) {
    parse(size, parse_into);
    read_graph();
    check_ops();
    g_.toposort();
    fold_and_canonicalize();
    finish_outputs();
    fuse_hardswish();
    prune_and_infer();
    g_.validate();
    if (opt_.check_with_onnx_inference) cross_check();
    write_notes();
    return std::move(g_);
  }

 private:
  // ---- reading ----------------------------------------------------------------------------

  template <typename Parse>
  void parse(uint64_t size, Parse parse_into) {
    if (size == 0) fail("empty file, not an ONNX model");
    if (size > static_cast<uint64_t>(INT_MAX)) {
      fail("{} bytes: protobuf cannot parse ONNX files of 2 GiB or more", size);
    }
    if (!parse_into(model_)) {
      fail("not a valid ONNX model (protobuf parsing failed: truncated or corrupt file)");
    }
    if (!model_.has_graph()) fail("not an ONNX model: it has no graph");
    if (model_.ir_version() <= 0) fail("not an ONNX model: ir_version is missing");
    for (const auto& imp : model_.opset_import()) {
      if (imp.domain().empty() || imp.domain() == "ai.onnx") opset_ = imp.version();
    }
    if (opset_ == 0) fail("no opset import for the default ONNX domain");
    if (opset_ < kMinOpset || opset_ > kMaxOpset) {
      fail("opset {} is not supported (nnjoule reads opsets {} to {})", opset_, kMinOpset,
           kMaxOpset);
    }
  }

  void read_graph() {
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
      if (!std_domain || !is_known_op(n.op_type)) {
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
          value_attrs_[n.name] =
              detail::tensor_from_proto(a.t(), ctx + " attribute 'value'", conv_);
          continue;
        }
        n.attrs[a.name()] = attr_value(a, ctx);
      }
      g_.nodes.push_back(std::move(n));
    }
    for (const auto& o : g_.outputs) consumed_.insert(o);
  }

  ValueInfo read_input(onnx::ValueInfoProto* vi) {
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
          fail("graph input '{}' has a non-positive dimension {} at axis {}", name,
               dim->dim_value(), d);
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

  void read_constant(const onnx::NodeProto& np, const Node& n) {
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

  void add_constant(const std::string& name, TensorPtr t) {
    if (g_.values.count(name) || g_.initializers.count(name)) {
      fail("tensor '{}' is defined twice", name);
    }
    g_.values[name] = ValueInfo{t->dtype, t->shape};
    g_.initializers[name] = std::move(t);
  }

  // Lists every op we cannot read (all of them at once), then lets onnx check each node
  // against its schema (input counts, attribute types) so later code sees well-formed nodes.
  void check_ops() {
    const auto& gp = model_.graph();
    std::map<std::string, std::vector<std::string>> unsupported;
    for (int i = 0; i < gp.node_size(); ++i) {
      const auto& np = gp.node(i);
      const bool std_domain = np.domain().empty() || np.domain() == "ai.onnx";
      if (std_domain && is_known_op(np.op_type())) continue;
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
      try {
        onnx::checker::check_node(np, ctx, lex);
      } catch (const std::exception& e) {
        fail("node '{}' ({}): {}", node_names_[static_cast<size_t>(i)], np.op_type(),
             detail::first_line(e.what()));
      }
    }
  }

  static std::string unsupported_message(
      const std::map<std::string, std::vector<std::string>>& ops) {
    return fmt::format("unsupported op{}: {}", ops.size() > 1 ? "s" : "", op_list(ops));
  }

  // "Erf (node 'e'); LSTM (nodes 'a', 'b', 'c' and 2 more)"
  static std::string op_list(const std::map<std::string, std::vector<std::string>>& ops) {
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

  // ---- folding and canonical forms ---------------------------------------------------------

  std::string resolve(const std::string& t) const {
    std::string cur = t;
    for (auto it = alias_.find(cur); it != alias_.end(); it = alias_.find(cur)) cur = it->second;
    return cur;
  }

  void fold_and_canonicalize() {
    std::vector<Node> kept;
    std::map<std::string, std::vector<std::string>> unsupported;
    std::set<std::string> unknown;  // outputs of nodes we could not read
    for (Node& n : g_.nodes) {
      for (auto& in : n.inputs) in = resolve(in);
      const bool blocked = std::any_of(n.inputs.begin(), n.inputs.end(),
                                       [&](const std::string& in) { return unknown.count(in); });
      if (blocked) {
        unknown.insert(n.outputs.begin(), n.outputs.end());
        continue;
      }
      if (unknown_ops_.count(n.name)) {
        keep_unknown(n);
        kept.push_back(std::move(n));
        continue;
      }
      if (n.op_type == "Identity" || n.op_type == "Dropout") {
        remove_noop(n);
        continue;
      }
      if (try_fold(n)) continue;
      if (fold_only_ops().count(n.op_type) && !runtime_form(n)) {
        unsupported[n.op_type + " on a runtime tensor"].push_back(n.name);
        unknown.insert(n.outputs.begin(), n.outputs.end());
        continue;
      }
      if (n.op_type == "Cast") {  // runtime_form() accepted it: a cast to the same type
        remove_noop(n);
        continue;
      }
      canonicalize(n);
      auto infos = infer_node(g_, n);
      for (size_t i = 0; i < n.outputs.size(); ++i) {
        if (!n.outputs[i].empty()) g_.values[n.outputs[i]] = infos.at(i);
      }
      kept.push_back(std::move(n));
    }
    if (!unsupported.empty()) fail("{}", unsupported_message(unsupported));
    g_.nodes = std::move(kept);
  }

  // An op nnjoule does not know: its outputs take onnx's inferred shapes, which must be static.
  void keep_unknown(const Node& n) {
    const auto& types = onnx_types();
    for (const auto& o : n.outputs) {
      if (o.empty()) continue;
      auto it = types.find(o);
      if (it == types.end() || !it->second.has_tensor_type() ||
          !it->second.tensor_type().has_shape()) {
        node_fail(n, fmt::format("op unknown to nnjoule, and onnx's shape inference gives its "
                                 "output '{}' no shape",
                                 o));
      }
      ValueInfo v;
      if (!detail::dtype_from_onnx(it->second.tensor_type().elem_type(), &v.dtype)) {
        v.dtype = DType::kFloat32;  // only the shape matters to later stages
      }
      for (const auto& d : it->second.tensor_type().shape().dim()) {
        if (!d.has_dim_value() || d.dim_value() <= 0) {
          node_fail(n, fmt::format("op unknown to nnjoule, and onnx's shape inference gives its "
                                   "output '{}' the non-static shape {}",
                                   o, onnx_shape_str(it->second.tensor_type().shape())));
        }
        v.shape.push_back(d.dim_value());
      }
      g_.values[o] = v;
    }
    kept_unknown_[n.op_type].push_back(n.name);
  }

  void remove_noop(Node& n) {
    if (!has_input(n, 0) || n.outputs.empty() || n.outputs[0].empty()) {
      node_fail(n, "needs one input and one output");
    }
    if (n.op_type == "Dropout") drop_extra_outputs(n, "the dropout mask");
    alias_[n.outputs[0]] = n.inputs[0];
    noop_names_[n.outputs[0]] = n.name;
    ++removed_noops_[n.op_type];
  }

  // Rewrites fold-only ops that can run on a runtime tensor; false when they cannot.
  bool runtime_form(Node& n) {
    if (n.op_type == "Squeeze" || n.op_type == "Unsqueeze") {
      const Shape out = squeeze_shape(n, shape_of(n, 0));
      const std::string shape_name = fresh_tensor(n.name + "_shape");
      add_constant(shape_name, std::make_shared<TensorData>(
                                   TensorData::ints({static_cast<int64_t>(out.size())}, out)));
      n.op_type = "Reshape";
      n.inputs = {n.inputs[0], shape_name};
      n.attrs.clear();
      return true;
    }
    if (n.op_type == "Cast") {
      DType to;
      return detail::dtype_from_onnx(static_cast<int32_t>(n.require_int("to")), &to) &&
             g_.values.count(n.inputs.at(0)) && g_.value(n.inputs[0]).dtype == to;
    }
    return false;
  }

  std::string fresh_tensor(const std::string& stem) {
    std::string name = stem;
    for (int k = 1; g_.values.count(name) || g_.initializers.count(name) || consumed_.count(name);
         ++k) {
      name = fmt::format("{}_{}", stem, k);
    }
    return name;
  }

  bool has_input(const Node& n, size_t i) const {
    return i < n.inputs.size() && !n.inputs[i].empty();
  }

  const Shape& shape_of(const Node& n, size_t i) const {
    if (!has_input(n, i)) node_fail(n, fmt::format("missing input {}", i));
    auto it = g_.values.find(n.inputs[i]);
    if (it == g_.values.end()) {
      node_fail(n, fmt::format("input '{}' has no known shape", n.inputs[i]));
    }
    return it->second.shape;
  }

  // A constant input, or nullptr when the optional input is omitted.
  const TensorData* const_input(const Node& n, size_t i, const char* what) const {
    if (!has_input(n, i)) return nullptr;
    auto it = g_.initializers.find(n.inputs[i]);
    if (it == g_.initializers.end()) {
      node_fail(n, fmt::format("{} (input '{}') must be a constant", what, n.inputs[i]));
    }
    return it->second.get();
  }

  std::vector<int64_t> const_ints(const Node& n, size_t i, const char* what) const {
    const TensorData* t = const_input(n, i, what);
    if (!t) node_fail(n, fmt::format("missing {}", what));
    if (t->dtype == DType::kFloat32) node_fail(n, fmt::format("{} must be integers", what));
    if (t->shape.size() > 1) node_fail(n, fmt::format("{} must be a 1-D tensor", what));
    return t->i64;
  }

  std::optional<float> const_scalar(const Node& n, size_t i, const char* what) const {
    const TensorData* t = const_input(n, i, what);
    if (!t) return std::nullopt;
    if (t->size() != 1) node_fail(n, fmt::format("{} must be a scalar", what));
    return t->dtype == DType::kFloat32 ? t->f32[0] : static_cast<float>(t->i64[0]);
  }

  void drop_extra_outputs(Node& n, const char* what) {
    for (size_t i = 1; i < n.outputs.size(); ++i) {
      if (!n.outputs[i].empty() && consumed_.count(n.outputs[i])) {
        node_fail(n,
                  fmt::format("output '{}' ({}) is used; nnjoule supports inference outputs only",
                              n.outputs[i], what));
      }
    }
    n.outputs.resize(1);
  }

  int64_t norm_axis(const Node& n, int64_t axis, size_t rank) const {
    const auto r = static_cast<int64_t>(rank);
    if (axis < -r || axis >= r) {
      node_fail(n, fmt::format("axis {} is out of range for rank {}", axis, r));
    }
    return axis < 0 ? axis + r : axis;
  }

  void canonicalize(Node& n) {
    const std::string& op = n.op_type;
    if (op == "Conv" || op == "ConvTranspose" || op == "MaxPool" || op == "AveragePool") {
      canon_window(n);
    } else if (op == "BatchNormalization") {
      if (n.attr_int("spatial", 1) == 0) {
        node_fail(n, "per-activation batch normalization (spatial=0) is not supported");
      }
      if (n.attr_int("training_mode", 0) != 0) {
        notes_.push_back(fmt::format(
            "node '{}' (BatchNormalization): training_mode=1 ignored; inference uses the running "
            "mean and variance",
            n.name));
      }
      drop_extra_outputs(n, "training statistics");
      n.attrs = {{"epsilon", n.attr_float("epsilon", 1e-5f)}};
    } else if (op == "Relu" || op == "Sigmoid" || op == "Tanh" || op == "HardSwish" ||
               op == "GlobalAveragePool" || op == "MatMul" || is_elementwise_binary(op)) {
      n.attrs.clear();
    } else if (op == "HardSigmoid") {
      n.attrs = {{"alpha", n.attr_float("alpha", 0.2f)}, {"beta", n.attr_float("beta", 0.5f)}};
    } else if (op == "LeakyRelu") {
      n.attrs = {{"alpha", n.attr_float("alpha", 0.01f)}};
    } else if (op == "Clip") {
      canon_clip(n);
    } else if (op == "Concat") {
      n.attrs = {{"axis", norm_axis(n, n.require_int("axis"), shape_of(n, 0).size())}};
    } else if (op == "Split") {
      canon_split(n);
    } else if (op == "Slice") {
      canon_slice(n);
    } else if (op == "Reshape") {
      const auto target = const_ints(n, 1, "the target shape");
      if (n.attr_int("allowzero", 0) != 0 && std::count(target.begin(), target.end(), 0)) {
        node_fail(n, "allowzero=1 with a 0 in the target shape makes an empty tensor");
      }
      n.inputs.resize(2);
      n.attrs.clear();
    } else if (op == "Flatten") {
      const auto r = static_cast<int64_t>(shape_of(n, 0).size());
      int64_t axis = n.attr_int("axis", 1);
      if (axis < -r || axis > r) node_fail(n, fmt::format("axis {} is out of range", axis));
      n.attrs = {{"axis", axis < 0 ? axis + r : axis}};
    } else if (op == "Transpose") {
      auto perm = n.attr_ints("perm");
      if (perm.empty()) {
        for (auto i = static_cast<int64_t>(shape_of(n, 0).size()) - 1; i >= 0; --i) {
          perm.push_back(i);
        }
      }
      n.attrs = {{"perm", perm}};
    } else if (op == "ReduceMean") {
      const Shape& x = shape_of(n, 0);
      auto axes = n.attr_ints("axes");
      if (axes.empty()) {
        for (size_t i = 0; i < x.size(); ++i) axes.push_back(static_cast<int64_t>(i));
      }
      for (auto& a : axes) a = norm_axis(n, a, x.size());
      n.attrs = {{"axes", axes},
                 {"keepdims", n.attr_int("keepdims", 1) != 0 ? int64_t{1} : int64_t{0}}};
    } else if (op == "Gemm") {
      n.attrs = {{"alpha", n.attr_float("alpha", 1.f)},
                 {"beta", n.attr_float("beta", 1.f)},
                 {"transA", n.attr_int("transA", 0) != 0 ? int64_t{1} : int64_t{0}},
                 {"transB", n.attr_int("transB", 0) != 0 ? int64_t{1} : int64_t{0}}};
    } else if (op == "Softmax") {
      canon_softmax(n);
    } else if (op == "Pad") {
      canon_pad(n);
    } else if (op == "Resize" || op == "Upsample") {
      canon_resize(n);
    } else if (op == "Gather") {
      if (!g_.is_constant(n.inputs.at(0))) {
        node_fail(n,
                  "gathering from a runtime tensor is not supported (only constant tables "
                  "such as embeddings)");
      }
      n.attrs = {{"axis", norm_axis(n, n.attr_int("axis", 0), shape_of(n, 0).size())}};
    } else if (!is_supported_op(op)) {
      node_fail(n, "unsupported op");
    }
  }

  void canon_window(Node& n) {
    const std::string& op = n.op_type;
    const bool conv = op == "Conv" || op == "ConvTranspose";
    const Shape& x = shape_of(n, 0);
    if (x.size() != 4) {
      node_fail(n, fmt::format("only 2-D windows over NCHW inputs are supported, input is {}",
                               shape_str(x)));
    }
    std::vector<int64_t> k;
    if (conv) {
      const Shape& w = shape_of(n, 1);
      if (w.size() != 4) node_fail(n, fmt::format("expects 4-D weights, got {}", shape_str(w)));
      k = n.attr_ints("kernel_shape", {w[2], w[3]});
    } else {
      k = n.require_ints("kernel_shape");
    }
    auto s = n.attr_ints("strides", {1, 1});
    auto d = n.attr_ints("dilations", {1, 1});
    auto p = n.attr_ints("pads", {0, 0, 0, 0});
    auto outpad = n.attr_ints("output_padding", {0, 0});
    if (k.size() != 2 || s.size() != 2 || d.size() != 2 || p.size() != 4 || outpad.size() != 2) {
      node_fail(n, "kernel_shape, strides, dilations and output_padding need 2 entries, pads 4");
    }
    constexpr int64_t kMaxWindow = int64_t{1} << 24;  // keeps the arithmetic below in range
    for (int i = 0; i < 2; ++i) {
      if (k[i] <= 0 || s[i] <= 0 || d[i] <= 0 || k[i] > kMaxWindow || s[i] > kMaxWindow ||
          d[i] > kMaxWindow) {
        node_fail(n, "kernel, stride and dilation must be positive (and sane)");
      }
      if (std::abs(outpad[i]) > kMaxWindow) node_fail(n, "output_padding out of range");
    }
    for (int64_t v : p) {
      if (std::abs(v) > kMaxWindow) node_fail(n, "padding out of range");
    }
    const std::string auto_pad = n.attr_string("auto_pad", "NOTSET");
    const bool transpose = op == "ConvTranspose";
    const auto out_shape = n.attr_ints("output_shape");
    if (transpose && !out_shape.empty()) {
      // ONNX: total padding from the requested output size, the odd pixel at the start unless
      // auto_pad says SAME_UPPER.
      if (out_shape.size() != 2 && out_shape.size() != 4)
        node_fail(n, "output_shape needs 2 entries");
      for (int i = 0; i < 2; ++i) {
        const int64_t want = out_shape[out_shape.size() - 2 + i];
        const int64_t total = s[i] * (x[2 + i] - 1) + outpad[i] + ((k[i] - 1) * d[i] + 1) - want;
        if (total < 0) node_fail(n, "output_shape is larger than the transposed conv produces");
        const bool upper = auto_pad == "SAME_UPPER";
        p[i] = upper ? total / 2 : total - total / 2;
        p[i + 2] = total - p[i];
      }
    } else if (auto_pad == "VALID") {
      p = {0, 0, 0, 0};
    } else if (auto_pad == "SAME_UPPER" || auto_pad == "SAME_LOWER") {
      for (int i = 0; i < 2; ++i) {
        const int64_t in = x[2 + i], eff = (k[i] - 1) * d[i] + 1;
        int64_t total;
        if (transpose) {
          total = std::max<int64_t>(0, s[i] * (in - 1) + outpad[i] + eff - in * s[i]);
        } else {
          const int64_t out = (in + s[i] - 1) / s[i];
          total = std::max<int64_t>(0, (out - 1) * s[i] + eff - in);
        }
        // SAME_UPPER puts the odd pixel at the end, SAME_LOWER at the start.
        p[i] = auto_pad == "SAME_UPPER" ? total / 2 : total - total / 2;
        p[i + 2] = total - p[i];
      }
    } else if (auto_pad != "NOTSET" && !auto_pad.empty()) {
      node_fail(n, fmt::format("unknown auto_pad '{}'", auto_pad));
    }
    std::map<std::string, AttrValue> attrs = {{"kernel_shape", k}, {"strides", s}, {"pads", p}};
    if (conv) {
      attrs["dilations"] = d;
      attrs["group"] = n.attr_int("group", 1);
      if (transpose) attrs["output_padding"] = outpad;
    } else {
      if (d != std::vector<int64_t>{1, 1}) attrs["dilations"] = d;
      attrs["ceil_mode"] = n.attr_int("ceil_mode", 0) != 0 ? int64_t{1} : int64_t{0};
      if (op == "AveragePool") {
        attrs["count_include_pad"] =
            n.attr_int("count_include_pad", 0) != 0 ? int64_t{1} : int64_t{0};
      }
      drop_extra_outputs(n, "the max indices");
    }
    n.attrs = std::move(attrs);
  }

  void canon_clip(Node& n) {
    std::optional<float> lo, hi;
    if (opset_ < 11) {
      if (n.has_attr("min")) lo = n.attr_float("min", 0.f);
      if (n.has_attr("max")) hi = n.attr_float("max", 0.f);
    } else {
      lo = const_scalar(n, 1, "the min bound");
      hi = const_scalar(n, 2, "the max bound");
    }
    // Exporters write the type's limits for "no bound"; the canonical form omits them.
    constexpr float kMax = std::numeric_limits<float>::max();
    n.attrs.clear();
    if (lo && *lo > -kMax) n.attrs["min"] = *lo;
    if (hi && *hi < kMax) n.attrs["max"] = *hi;
    n.inputs.resize(1);
  }

  void canon_split(Node& n) {
    const Shape& x = shape_of(n, 0);
    const int64_t axis = norm_axis(n, n.attr_int("axis", 0), x.size());
    std::vector<int64_t> sizes =
        opset_ < 13 ? n.attr_ints("split")
                    : (has_input(n, 1) ? const_ints(n, 1, "split") : std::vector<int64_t>{});
    if (sizes.empty()) {
      const auto parts = static_cast<int64_t>(n.outputs.size());
      if (parts == 0 || x[axis] % parts != 0) {
        node_fail(n, fmt::format("axis {} of size {} does not split into {} equal parts", axis,
                                 x[axis], parts));
      }
      sizes.assign(static_cast<size_t>(parts), x[axis] / parts);
    }
    n.inputs.resize(1);
    n.attrs = {{"axis", axis}, {"split", sizes}};
  }

  void canon_slice(Node& n) {
    const Shape& x = shape_of(n, 0);
    std::vector<int64_t> starts, ends, axes, steps;
    if (opset_ < 10) {
      starts = n.require_ints("starts");
      ends = n.require_ints("ends");
      axes = n.attr_ints("axes");
    } else {
      starts = const_ints(n, 1, "starts");
      ends = const_ints(n, 2, "ends");
      if (has_input(n, 3)) axes = const_ints(n, 3, "axes");
      if (has_input(n, 4)) steps = const_ints(n, 4, "steps");
    }
    if (axes.empty()) {
      for (size_t i = 0; i < starts.size(); ++i) axes.push_back(static_cast<int64_t>(i));
    }
    if (steps.empty()) steps.assign(starts.size(), 1);
    if (ends.size() != starts.size() || axes.size() != starts.size() ||
        steps.size() != starts.size()) {
      node_fail(n, "starts, ends, axes and steps differ in length");
    }
    std::set<int64_t> seen;
    for (size_t i = 0; i < starts.size(); ++i) {
      axes[i] = norm_axis(n, axes[i], x.size());
      if (!seen.insert(axes[i]).second) node_fail(n, "an axis is sliced twice");
      const int64_t dim = x[static_cast<size_t>(axes[i])];
      const int64_t step = steps[i];
      if (step == 0 || step == std::numeric_limits<int64_t>::min()) {
        node_fail(n, "invalid slice step");
      }
      // Clamp to the shape as ONNX does, so later stages read plain indices.
      int64_t st = starts[i] < 0 ? starts[i] + dim : starts[i];
      int64_t en = ends[i] < 0 ? ends[i] + dim : ends[i];
      if (starts[i] < -dim) st = 0;  // guards the addition above against wrap-around meaning
      if (ends[i] < -dim) en = step > 0 ? 0 : -1;
      if (step > 0) {
        st = std::clamp<int64_t>(st, 0, dim);
        en = std::clamp<int64_t>(en, 0, dim);
      } else {
        st = std::clamp<int64_t>(st, 0, dim - 1);
        en = std::clamp<int64_t>(en, -1, dim - 1);
        if (en == -1) en = -dim - 1;  // "before index 0": -1 alone would mean the last index
      }
      starts[i] = st;
      ends[i] = en;
    }
    n.inputs.resize(1);
    n.attrs = {{"starts", starts}, {"ends", ends}, {"axes", axes}, {"steps", steps}};
  }

  void canon_softmax(Node& n) {
    const Shape& x = shape_of(n, 0);
    const auto r = static_cast<int64_t>(x.size());
    int64_t axis = norm_axis(n, n.attr_int("axis", opset_ < 13 ? 1 : -1), x.size());
    if (opset_ < 13) {
      // Before opset 13 Softmax normalises over all axes from `axis` on, flattened: the same
      // as one-axis softmax when at most one of those axes is longer than 1.
      int64_t real = -1, count = 0;
      for (int64_t d = axis; d < r; ++d) {
        if (x[static_cast<size_t>(d)] != 1) ++count, real = d;
      }
      if (count > 1) {
        node_fail(n, fmt::format("opset-{} Softmax over axes {}..{} of {} flattens several axes; "
                                 "only one-axis softmax is supported",
                                 opset_, axis, r - 1, shape_str(x)));
      }
      if (count == 1) axis = real;
    }
    n.attrs = {{"axis", axis}};
  }

  void canon_pad(Node& n) {
    std::vector<int64_t> pads;
    float value = 0.f;
    if (opset_ < 11) {
      pads = n.require_ints("pads");
      value = n.attr_float("value", 0.f);
    } else {
      pads = const_ints(n, 1, "pads");
      value = const_scalar(n, 2, "constant_value").value_or(0.f);
      if (has_input(n, 3)) node_fail(n, "the axes input is not supported");
    }
    const std::string mode = n.attr_string("mode", "constant");
    if (mode != "constant" && mode != "reflect" && mode != "edge") {
      node_fail(n, fmt::format("unknown mode '{}'", mode));
    }
    for (int64_t p : pads) {
      if (std::abs(p) > (int64_t{1} << 40)) node_fail(n, "padding out of range");
    }
    n.inputs.resize(1);
    n.attrs = {{"pads", pads}, {"mode", mode}, {"value", value}};
  }

  void canon_resize(Node& n) {
    const Shape& x = shape_of(n, 0);
    std::vector<float> scales;
    const bool upsample = n.op_type == "Upsample";
    if (upsample && opset_ < 9) {
      auto it = n.attrs.find("scales");
      if (it == n.attrs.end() || !std::holds_alternative<std::vector<float>>(it->second)) {
        node_fail(n, "missing float attribute 'scales'");
      }
      scales = std::get<std::vector<float>>(it->second);
    } else {
      const size_t si = upsample || opset_ < 11 ? 1 : 2;
      const TensorData* s = const_input(n, si, "scales");
      if (s && s->size() > 0) {
        if (s->dtype != DType::kFloat32) node_fail(n, "scales must be floats");
        scales = s->f32;
      } else {
        const TensorData* z = upsample || opset_ < 11 ? nullptr : const_input(n, 3, "sizes");
        if (!z || z->size() == 0) node_fail(n, "needs constant scales or sizes");
        if (z->dtype == DType::kFloat32 || z->i64.size() != x.size()) {
          node_fail(n, "sizes must hold one integer per axis");
        }
        for (size_t i = 0; i < x.size(); ++i) {
          const int64_t want = z->i64[i];
          if (want <= 0 || want > (int64_t{1} << 30)) node_fail(n, "sizes must be positive");
          // The canonical form keeps scales; pick the float whose floor(in * scale) is `want`.
          auto scale = static_cast<float>(static_cast<double>(want) / static_cast<double>(x[i]));
          auto out = [&](float sc) {
            return static_cast<int64_t>(std::floor(static_cast<double>(x[i]) * sc));
          };
          while (out(scale) < want) scale = std::nextafter(scale, 2.f * scale);
          while (out(scale) > want) scale = std::nextafter(scale, 0.f);
          scales.push_back(scale);
        }
      }
    }
    if (scales.size() != x.size()) {
      node_fail(n, fmt::format("{} scales for a rank-{} input", scales.size(), x.size()));
    }
    for (float s : scales) {
      if (!(s > 0.f) || !std::isfinite(s)) node_fail(n, "scales must be positive and finite");
    }
    std::string mode = n.attr_string("mode", "nearest");
    if (mode == "bilinear") mode = "linear";  // Upsample-7 spelling
    if (mode != "nearest" && mode != "linear") {
      node_fail(n, fmt::format("mode '{}' is not supported (nearest, linear)", mode));
    }
    n.op_type = "Resize";
    n.inputs.resize(1);
    n.attrs = {{"scales", scales}, {"mode", mode}};
  }

  Shape squeeze_shape(const Node& n, const Shape& x) {
    std::vector<int64_t> axes;
    if (opset_ < 13) {
      axes = n.attr_ints("axes");
    } else if (has_input(n, 1)) {
      axes = const_ints(n, 1, "axes");
    }
    if (n.op_type == "Unsqueeze") {
      const size_t r = x.size() + axes.size();
      std::vector<bool> ins(r, false);
      for (int64_t a : axes) {
        const auto na = static_cast<size_t>(norm_axis(n, a, r));
        if (ins[na]) node_fail(n, "an axis is repeated");
        ins[na] = true;
      }
      Shape out;
      size_t j = 0;
      for (size_t i = 0; i < r; ++i) out.push_back(ins[i] ? 1 : x[j++]);
      return out;
    }
    std::vector<bool> drop(x.size(), false);
    if (axes.empty()) {
      for (size_t i = 0; i < x.size(); ++i) drop[i] = x[i] == 1;
    }
    for (int64_t a : axes) {
      const auto na = static_cast<size_t>(norm_axis(n, a, x.size()));
      if (x[na] != 1) node_fail(n, fmt::format("cannot squeeze axis {} of {}", na, shape_str(x)));
      drop[na] = true;
    }
    Shape out;
    for (size_t i = 0; i < x.size(); ++i)
      if (!drop[i]) out.push_back(x[i]);
    return out;
  }

  // ---- constant folding --------------------------------------------------------------------

  bool try_fold(Node& n) {
    if (!foldable_ops().count(n.op_type)) return false;
    if (n.outputs.size() != 1 || n.outputs[0].empty()) return false;
    if (n.op_type == "Shape") {
      if (!has_input(n, 0) || !g_.values.count(n.inputs[0])) return false;
    } else {
      for (size_t i = 0; i < n.inputs.size(); ++i) {
        if (has_input(n, i) && !g_.is_constant(n.inputs[i])) return false;
      }
      if (n.inputs.empty() || !has_input(n, 0)) return false;
    }
    TensorData out = evaluate(n);
    const int64_t count = checked_numel(out.shape, fmt::format("node '{}'", n.name));
    if (count > kMaxFoldedElements) {
      node_fail(n, fmt::format("folded constant would hold {} elements", count));
    }
    add_constant(n.outputs[0], std::make_shared<TensorData>(std::move(out)));
    return true;
  }

  TensorData evaluate(Node& n) {
    const std::string op = n.op_type;
    if (op == "Shape") {
      const Shape& x = g_.shape(n.inputs[0]);
      const auto r = static_cast<int64_t>(x.size());
      int64_t start = n.attr_int("start", 0), end = n.attr_int("end", r);
      if (start < 0) start += r;
      if (end < 0) end += r;
      start = std::clamp<int64_t>(start, 0, r);
      end = std::clamp<int64_t>(end, start, r);
      std::vector<int64_t> dims(x.begin() + start, x.begin() + end);
      return TensorData::ints({static_cast<int64_t>(dims.size())}, dims);
    }
    const TensorData& a = g_.constant(n.inputs[0]);
    if (op == "Squeeze" || op == "Unsqueeze" || op == "Reshape") {
      TensorData out = a;
      if (op == "Reshape") {
        canonicalize(n);
        out.shape = infer_node(g_, n).at(0).shape;
      } else {
        out.shape = squeeze_shape(n, a.shape);
      }
      return out;
    }
    if (op == "Cast") {
      DType to;
      const auto elem = static_cast<int32_t>(n.require_int("to"));
      const bool floating = elem == TensorProto::FLOAT || elem == TensorProto::DOUBLE ||
                            elem == TensorProto::FLOAT16 || elem == TensorProto::BFLOAT16;
      if (!floating && !detail::dtype_from_onnx(elem, &to) && elem != TensorProto::UINT16 &&
          elem != TensorProto::INT16 && elem != TensorProto::UINT32 &&
          elem != TensorProto::UINT64) {
        node_fail(n, fmt::format("cast to {} is not supported", detail::onnx_type_name(elem)));
      }
      TensorData out;
      out.shape = a.shape;
      if (floating) {
        out.dtype = DType::kFloat32;
        if (a.dtype == DType::kFloat32)
          out.f32 = a.f32;
        else
          out.f32.assign(a.i64.begin(), a.i64.end());
      } else {
        out.dtype = DType::kInt64;
        if (a.dtype != DType::kFloat32) {
          out.i64 = a.i64;
        } else {
          for (float v : a.f32) {
            if (!std::isfinite(v) || std::fabs(v) > 9.2e18f) node_fail(n, "value out of range");
            out.i64.push_back(static_cast<int64_t>(v));
          }
        }
        if (elem == TensorProto::BOOL) {
          for (auto& v : out.i64) v = v != 0;
        }
      }
      return out;
    }
    if (op == "ConstantOfShape") {
      const auto dims = const_ints(n, 0, "the shape");
      for (int64_t d : dims) {
        if (d < 0) node_fail(n, "negative dimension");
      }
      const int64_t count = checked_numel(dims, fmt::format("node '{}'", n.name));
      if (count > kMaxFoldedElements) node_fail(n, "constant too large");
      TensorData out;
      out.shape = dims;
      auto it = value_attrs_.find(n.name);
      if (it == value_attrs_.end()) {
        out.f32.assign(static_cast<size_t>(count), 0.f);
      } else {
        const TensorData& v = it->second;
        if (v.size() != 1) node_fail(n, "the value attribute must hold one element");
        out.dtype = v.dtype;
        if (v.dtype == DType::kFloat32)
          out.f32.assign(static_cast<size_t>(count), v.f32[0]);
        else
          out.i64.assign(static_cast<size_t>(count), v.i64[0]);
      }
      return out;
    }
    if (op == "Range") {
      const TensorData& l = g_.constant(n.inputs.at(1));
      const TensorData& d = g_.constant(n.inputs.at(2));
      if (a.size() != 1 || l.size() != 1 || d.size() != 1) node_fail(n, "needs scalar inputs");
      if (a.dtype != l.dtype || a.dtype != d.dtype) node_fail(n, "inputs differ in type");
      TensorData out;
      out.dtype = a.dtype;
      if (a.dtype == DType::kFloat32) {
        const double s = a.f32[0], lim = l.f32[0], step = d.f32[0];
        if (step == 0 || !std::isfinite(s) || !std::isfinite(lim) || !std::isfinite(step)) {
          node_fail(n, "invalid range");
        }
        const double count = std::max(0.0, std::ceil((lim - s) / step));
        if (count > static_cast<double>(kMaxFoldedElements)) node_fail(n, "range too long");
        for (int64_t i = 0; i < static_cast<int64_t>(count); ++i) {
          out.f32.push_back(static_cast<float>(s + static_cast<double>(i) * step));
        }
        out.shape = {static_cast<int64_t>(out.f32.size())};
      } else {
        const i128 s = a.i64[0], lim = l.i64[0], step = d.i64[0];
        if (step == 0) node_fail(n, "range step 0");
        i128 count = (lim - s + step + (step > 0 ? -1 : 1)) / step;
        if (count < 0) count = 0;
        if (count > kMaxFoldedElements) node_fail(n, "range too long");
        for (i128 i = 0; i < count; ++i) out.i64.push_back(static_cast<int64_t>(s + i * step));
        out.shape = {static_cast<int64_t>(out.i64.size())};
      }
      return out;
    }
    // The rest share canonical forms with runtime ops: canonicalise, infer, then compute.
    canonicalize(n);
    const Shape out_shape = infer_node(g_, n).at(0).shape;
    checked_numel(out_shape, fmt::format("node '{}'", n.name));
    if (numel(out_shape) > kMaxFoldedElements) node_fail(n, "folded constant too large");
    TensorData out;
    out.dtype = a.dtype;
    out.shape = out_shape;
    if (a.dtype == DType::kFloat32) {
      out.f32 = compute<float>(
          n, out_shape, [](const TensorData& t) -> const std::vector<float>& { return t.f32; });
    } else {
      out.i64 = compute<int64_t>(
          n, out_shape, [](const TensorData& t) -> const std::vector<int64_t>& { return t.i64; });
    }
    return out;
  }

  template <typename T, typename Get>
  std::vector<T> compute(const Node& n, const Shape& out_shape, Get get) {
    const std::string& op = n.op_type;
    std::vector<const TensorData*> ins;
    for (const auto& in : n.inputs) {
      ins.push_back(in.empty() ? nullptr : &g_.constant(in));
    }
    const TensorData& a = *ins.at(0);
    const std::vector<T>& va = get(a);
    std::vector<T> out;
    out.reserve(static_cast<size_t>(numel(out_shape)));
    if (op == "Gather") {
      const TensorData& idx = *ins.at(1);
      if (idx.dtype == DType::kFloat32) node_fail(n, "indices must be integers");
      const auto axis = static_cast<size_t>(n.attr_int("axis", 0));
      int64_t outer = 1, inner = 1;
      for (size_t i = 0; i < axis; ++i) outer *= a.shape[i];
      for (size_t i = axis + 1; i < a.shape.size(); ++i) inner *= a.shape[i];
      const int64_t dim = a.shape[axis];
      for (int64_t o = 0; o < outer; ++o) {
        for (int64_t j : idx.i64) {
          if (j < -dim || j >= dim) node_fail(n, fmt::format("index {} out of range", j));
          if (j < 0) j += dim;
          const auto base = static_cast<size_t>((o * dim + j) * inner);
          out.insert(out.end(), va.begin() + static_cast<long>(base),
                     va.begin() + static_cast<long>(base + static_cast<size_t>(inner)));
        }
      }
    } else if (op == "Concat") {
      const auto axis = static_cast<size_t>(n.attr_int("axis", 0));
      int64_t outer = 1;
      for (size_t i = 0; i < axis; ++i) outer *= out_shape[i];
      for (int64_t o = 0; o < outer; ++o) {
        for (const TensorData* t : ins) {
          if (t->dtype != a.dtype) node_fail(n, "inputs differ in type");
          int64_t block = 1;
          for (size_t i = axis; i < t->shape.size(); ++i) block *= t->shape[i];
          const auto& v = get(*t);
          out.insert(out.end(), v.begin() + static_cast<long>(o * block),
                     v.begin() + static_cast<long>((o + 1) * block));
        }
      }
    } else if (op == "Slice") {
      const auto starts = n.attr_ints("starts"), axes = n.attr_ints("axes"),
                 steps = n.attr_ints("steps");
      std::vector<int64_t> first(a.shape.size(), 0), step(a.shape.size(), 1);
      for (size_t i = 0; i < axes.size(); ++i) {
        first[static_cast<size_t>(axes[i])] = starts[i];
        step[static_cast<size_t>(axes[i])] = steps[i];
      }
      const auto st = strides_of(a.shape);
      int64_t base = 0;
      std::vector<int64_t> delta(a.shape.size());
      for (size_t d = 0; d < a.shape.size(); ++d) {
        base += first[d] * st[d];
        delta[d] = step[d] * st[d];
      }
      std::vector<int64_t> idx(out_shape.size(), 0);
      const int64_t total = numel(out_shape);
      int64_t off = base;
      for (int64_t e = 0; e < total; ++e) {
        out.push_back(va.at(static_cast<size_t>(off)));
        for (size_t d = out_shape.size(); d-- > 0;) {
          ++idx[d];
          off += delta[d];
          if (idx[d] < out_shape[d]) break;
          off -= delta[d] * idx[d];
          idx[d] = 0;
        }
      }
    } else if (is_elementwise_binary(op)) {
      const TensorData& b = *ins.at(1);
      if (b.dtype != a.dtype) node_fail(n, "operands differ in type");
      const std::vector<T>& vb = get(b);
      for_each_broadcast(out_shape, {a.shape, b.shape}, [&](const std::vector<int64_t>& off) {
        const T x = va[static_cast<size_t>(off[0])], y = vb[static_cast<size_t>(off[1])];
        out.push_back(binary(n, x, y));
      });
    } else {
      node_fail(n, "cannot fold this op");
    }
    return out;
  }

  template <typename T>
  static T binary(const Node& n, T x, T y) {
    const std::string& op = n.op_type;
    if constexpr (std::is_same_v<T, float>) {
      if (op == "Add") return x + y;
      if (op == "Sub") return x - y;
      if (op == "Mul") return x * y;
      return x / y;
    } else {
      T r = 0;
      bool overflow = false;
      if (op == "Add")
        overflow = __builtin_add_overflow(x, y, &r);
      else if (op == "Sub")
        overflow = __builtin_sub_overflow(x, y, &r);
      else if (op == "Mul")
        overflow = __builtin_mul_overflow(x, y, &r);
      else if (y == 0 || (x == std::numeric_limits<T>::min() && y == -1))
        overflow = true;
      else
        r = x / y;
      if (overflow) node_fail(n, "integer overflow or division by zero while folding");
      return r;
    }
  }

  // ---- finishing ---------------------------------------------------------------------------

  // Graph outputs that named a removed no-op's output: rename the producer's tensor, or keep an
  // Identity where the source is a graph input, a constant or another output.
  void finish_outputs() {
    std::set<std::string> claimed(g_.outputs.begin(), g_.outputs.end());
    std::map<std::string, std::string> renamed;  // source tensor -> graph output now naming it
    std::set<std::string> input_set(g_.inputs.begin(), g_.inputs.end());
    for (const auto& o : g_.outputs) {
      const std::string src = resolve(o);
      if (src == o) continue;
      auto r = renamed.find(src);
      const bool keep_identity = r != renamed.end() || input_set.count(src) ||
                                 g_.initializers.count(src) || claimed.count(src);
      if (keep_identity) {
        const std::string from = r != renamed.end() ? r->second : src;
        Node id{noop_names_.at(o), "Identity", {from}, {o}, {}};
        g_.values[o] = g_.value(from);
        g_.nodes.push_back(std::move(id));
        ++kept_identities_;
        continue;
      }
      for (auto& n : g_.nodes) {
        for (auto& in : n.inputs)
          if (in == src) in = o;
        for (auto& out : n.outputs)
          if (out == src) out = o;
      }
      g_.values[o] = g_.value(src);
      g_.values.erase(src);
      renamed[src] = o;
    }
    if (kept_identities_ > 0) g_.toposort();
  }

  // Exporters below opset 14 write HardSwish as x * HardSigmoid(x; 1/6, 0.5). The fusion is
  // exact, so it is not a note.
  void fuse_hardswish() {
    auto prod = g_.producers();
    auto cons = g_.consumers();
    std::vector<bool> drop(g_.nodes.size(), false);
    for (auto& m : g_.nodes) {
      if (m.op_type != "Mul" || m.inputs.size() != 2) continue;
      for (size_t side = 0; side < 2; ++side) {
        const std::string x = m.inputs[side], hs = m.inputs[1 - side];
        auto p = prod.find(hs);
        if (p == prod.end() || drop[p->second]) continue;
        const Node& h = g_.nodes[p->second];
        if (h.op_type != "HardSigmoid" || h.inputs.at(0) != x || cons[hs].size() != 1) continue;
        if (std::fabs(h.attr_float("alpha", 0.2f) - 1.f / 6.f) > 1e-6f ||
            std::fabs(h.attr_float("beta", 0.5f) - 0.5f) > 1e-6f) {
          continue;
        }
        m.op_type = "HardSwish";
        m.inputs = {x};
        m.attrs.clear();
        drop[p->second] = true;
        g_.values.erase(hs);
        break;
      }
    }
    std::vector<Node> kept;
    kept.reserve(g_.nodes.size());
    for (size_t i = 0; i < g_.nodes.size(); ++i) {
      if (!drop[i]) kept.push_back(std::move(g_.nodes[i]));
    }
    g_.nodes = std::move(kept);
  }

  void prune_and_infer() {
    std::set<std::string> used(g_.outputs.begin(), g_.outputs.end());
    for (const auto& n : g_.nodes) used.insert(n.inputs.begin(), n.inputs.end());
    for (auto it = g_.initializers.begin(); it != g_.initializers.end();) {
      if (used.count(it->first)) {
        ++it;
        continue;
      }
      if (model_initializers_.count(it->first) && !consumed_.count(it->first)) ++unused_weights_;
      it = g_.initializers.erase(it);
    }
    std::map<std::string, ValueInfo> values;
    for (const auto& in : g_.inputs) values[in] = g_.value(in);
    for (const auto& [name, t] : g_.initializers) values[name] = ValueInfo{t->dtype, t->shape};
    for (const auto& n : g_.nodes) {
      if (!unknown_ops_.count(n.name)) continue;
      for (const auto& o : n.outputs)  // infer_shapes keeps these (onnx's shapes)
        if (!o.empty()) values[o] = g_.value(o);
    }
    g_.values = std::move(values);
    infer_shapes(g_);
  }

  // Tensors whose shape onnx 1.12 gets differently on purpose: it keeps a ceil-mode pooling
  // window that starts in the right padding (PyTorch and nnjoule drop it; onnx fixed this
  // later), and everything computed from such a tensor.
  std::set<std::string> onnx_divergences() const {
    std::set<std::string> out;
    for (const auto& n : g_.nodes) {
      bool tainted = std::any_of(n.inputs.begin(), n.inputs.end(),
                                 [&](const std::string& in) { return out.count(in) != 0; });
      if (!tainted && (n.op_type == "MaxPool" || n.op_type == "AveragePool") &&
          n.attr_int("ceil_mode", 0) != 0) {
        const Shape& x = g_.shape(n.inputs[0]);
        const auto k = n.attr_ints("kernel_shape"), s = n.attr_ints("strides"),
                   p = n.attr_ints("pads"), d = n.attr_ints("dilations", {1, 1});
        for (size_t i = 0; i < 2; ++i) {
          const int64_t span = x[2 + i] + p[i] + p[i + 2] - ((k[i] - 1) * d[i] + 1);
          const int64_t naive = (span + s[i] - 1) / s[i] + 1;
          if (naive != window_output(x[2 + i], k[i], s[i], p[i], p[i + 2], d[i], true)) {
            tainted = true;
          }
        }
      }
      if (tainted) out.insert(n.outputs.begin(), n.outputs.end());
    }
    return out;
  }

  // onnx's shape inference over the model (batch dimension already fixed to 1), run once.
  const std::map<std::string, onnx::TypeProto>& onnx_types() {
    if (onnx_ran_) return onnx_types_;
    onnx_ran_ = true;
    try {
      onnx::shape_inference::InferShapes(model_, onnx::OpSchemaRegistry::Instance(),
                                         onnx::ShapeInferenceOptions(false, 0, true));
    } catch (const std::exception& e) {
      fail("onnx shape inference failed: {}", detail::first_line(e.what()));
    }
    for (const auto& vi : model_.graph().value_info()) onnx_types_[vi.name()] = vi.type();
    for (const auto& vi : model_.graph().output()) onnx_types_[vi.name()] = vi.type();
    return onnx_types_;
  }

  void cross_check() {
    const auto diverging = onnx_divergences();
    for (const auto& [name, type] : onnx_types()) {
      auto it = g_.values.find(name);
      if (it == g_.values.end() || diverging.count(name)) continue;
      if (!type.has_tensor_type() || !type.tensor_type().has_shape()) continue;
      const auto& sp = type.tensor_type().shape();
      const Shape& ours = it->second.shape;
      bool mismatch = sp.dim_size() != static_cast<int>(ours.size());
      for (int d = 0; !mismatch && d < sp.dim_size(); ++d) {
        mismatch =
            sp.dim(d).has_dim_value() && sp.dim(d).dim_value() != ours[static_cast<size_t>(d)];
      }
      if (mismatch) {
        fail("tensor '{}': nnjoule infers shape {}, onnx shape inference infers {}", name,
             shape_str(ours), onnx_shape_str(sp));
      }
    }
  }

  void write_notes() {
    auto plural = [](int n, const char* word) {
      return fmt::format("{} {}{}", n, word, n == 1 ? "" : "s");
    };
    if (conv_.float16) {
      notes_.push_back(fmt::format("converted {} from float16 to float32",
                                   plural(conv_.float16, "weight tensor")));
    }
    if (conv_.bfloat16) {
      notes_.push_back(fmt::format("converted {} from bfloat16 to float32",
                                   plural(conv_.bfloat16, "weight tensor")));
    }
    if (conv_.float64) {
      notes_.push_back(fmt::format("converted {} from float64 to float32",
                                   plural(conv_.float64, "weight tensor")));
    }
    std::vector<std::string> removed;
    int total = 0;
    for (auto [op, count] : removed_noops_) {
      if (op == "Identity") count -= kept_identities_;
      if (count > 0) removed.push_back(fmt::format("{} {}", count, op));
      total += count;
    }
    if (total > 0) {
      std::string msg = fmt::format("removed {} that are no-ops at inference ({})",
                                    plural(total, "node"), fmt::join(removed, ", "));
      if (kept_identities_ > 0) {
        msg += fmt::format("; kept {} to name graph outputs",
                           plural(kept_identities_, "Identity node"));
      }
      notes_.push_back(msg);
    }
    if (!kept_unknown_.empty()) {
      notes_.push_back(
          fmt::format("kept ops nnjoule does not know, with onnx's inferred shapes: {}",
                      op_list(kept_unknown_)));
    }
    if (unused_weights_) {
      notes_.push_back(fmt::format("dropped {} that no node reads",
                                   plural(unused_weights_, "unused initializer")));
    }
    g_.notes = std::move(notes_);
  }

  const ImportOptions& opt_;
  onnx::ModelProto model_;
  int64_t opset_ = 0;
  Graph g_;
  detail::Conversions conv_;
  std::vector<std::string> notes_;
  std::vector<std::string> node_names_;       // unique names, in model order
  std::unordered_set<std::string> consumed_;  // tensors read by nodes or graph outputs
  std::set<std::string> model_initializers_;
  std::map<std::string, TensorData> value_attrs_;  // ConstantOfShape 'value' by node
  std::map<std::string, std::string> alias_;       // output of a removed no-op -> its input
  std::map<std::string, std::string> noop_names_;  // output of a removed no-op -> node name
  std::map<std::string, int> removed_noops_;
  int kept_identities_ = 0;
  std::set<std::string> unknown_ops_;  // nodes kept under keep_unknown_ops
  std::map<std::string, std::vector<std::string>> kept_unknown_;
  bool onnx_ran_ = false;
  std::map<std::string, onnx::TypeProto> onnx_types_;
  int unused_weights_ = 0;
};

template <typename Parse>
Graph import_model(const std::string& source_name, const ImportOptions& options, uint64_t size,
                   Parse parse_into) {
  try {
    return Importer(options).run(size, parse_into);
  } catch (const Error& e) {
    throw Error(printable(source_name + ": " + e.what()));
  }
}

class FdCloser {
 public:
  explicit FdCloser(int fd) : fd_(fd) {}
  ~FdCloser() { ::close(fd_); }
  FdCloser(const FdCloser&) = delete;
  FdCloser& operator=(const FdCloser&) = delete;

 private:
  int fd_;
};

}  // namespace

Graph load_onnx_bytes(const std::string& bytes, const std::string& source_name,
                      const ImportOptions& options) {
  return import_model(source_name, options, bytes.size(), [&](onnx::ModelProto& m) {
    return m.ParseFromArray(bytes.data(), static_cast<int>(bytes.size()));
  });
}

Graph load_onnx(const std::filesystem::path& path, const ImportOptions& options) {
  require_regular_file(path);
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) fail("{}: cannot open ({})", path.string(), std::strerror(errno));
  FdCloser closer(fd);
  struct stat st {};
  if (::fstat(fd, &st) != 0) fail("{}: cannot stat ({})", path.string(), std::strerror(errno));
  // Parsing from the descriptor skips a whole-file buffer: a third less copying on big models.
  return import_model(path.string(), options, static_cast<uint64_t>(st.st_size),
                      [&](onnx::ModelProto& m) {
                        google::protobuf::io::FileInputStream in(fd, 1 << 20);
                        const bool ok = m.ParseFromZeroCopyStream(&in);
                        if (in.GetErrno() != 0) {
                          fail("read error ({})", std::strerror(in.GetErrno()));
                        }
                        return ok;
                      });
}

}  // namespace nnjoule::graph
