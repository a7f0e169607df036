#pragma once
// The ONNX importer (private to src/graph): its state and the declarations of its passes. The
// passes are defined by job: onnx_read.cpp (reading), onnx_canonical.cpp (folding and canonical
// forms), onnx_fold.cpp (constant folding) and onnx_import.cpp (finishing, and load_onnx).
#include <fmt/format.h>
#include <onnx/onnx_pb.h>

#include <climits>
#include <cstdint>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <unordered_set>
#include <vector>

#include "nnjoule/common/error.hpp"
#include "nnjoule/graph/graph.hpp"
#include "nnjoule/graph/onnx.hpp"
#include "onnx_detail.hpp"

namespace nnjoule::graph::detail {

inline constexpr int64_t kMinOpset = 7;
inline constexpr int64_t kMaxOpset = 17;

[[noreturn]] inline void node_fail(const Node& n, const std::string& what) {
  fail("node '{}' ({}): {}", n.name, n.op_type, what);
}

// Ops that exist here only to compute constants; they must fold away.
inline const std::set<std::string>& fold_only_ops() {
  static const std::set<std::string> ops = {"Shape", "Unsqueeze", "Squeeze",
                                            "Cast",  "Range",     "ConstantOfShape"};
  return ops;
}

// Operator-form quantized ops (QLinearConv, ...) the importer rewrites into QDQ.
const std::set<std::string>& qlinear_ops();
// Quantized ops read from ONNX Runtime's com.microsoft domain.
bool is_microsoft_quant_op(const std::string& op);

inline std::string onnx_shape_str(const onnx::TensorShapeProto& s) {
  std::vector<std::string> dims;
  for (const auto& d : s.dim()) {
    dims.push_back(d.has_dim_value() ? std::to_string(d.dim_value())
                                     : (d.has_dim_param() ? d.dim_param() : "?"));
  }
  return fmt::format("[{}]", fmt::join(dims, ","));
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

  // The rest of reading is in onnx_read.cpp.
  void read_graph();
  ValueInfo read_input(onnx::ValueInfoProto* vi);
  void read_constant(const onnx::NodeProto& np, const Node& n);
  void add_constant(const std::string& name, TensorPtr t);
  void check_ops();
  static std::string unsupported_message(
      const std::map<std::string, std::vector<std::string>>& ops);
  static std::string op_list(const std::map<std::string, std::vector<std::string>>& ops);

  // ---- folding and canonical forms ---------------------------------------------------------
  // In onnx_canonical.cpp.
  std::string resolve(const std::string& t) const;
  void fold_and_canonicalize();
  void keep_unknown(const Node& n);
  void remove_noop(Node& n);
  bool runtime_form(Node& n);
  std::string fresh_tensor(const std::string& stem);
  bool has_input(const Node& n, size_t i) const;
  const Shape& shape_of(const Node& n, size_t i) const;
  const TensorData* const_input(const Node& n, size_t i, const char* what) const;
  std::vector<int64_t> const_ints(const Node& n, size_t i, const char* what) const;
  std::optional<float> const_scalar(const Node& n, size_t i, const char* what) const;
  void drop_extra_outputs(Node& n, const char* what);
  int64_t norm_axis(const Node& n, int64_t axis, size_t rank) const;
  void canonicalize(Node& n);
  void canon_window(Node& n);
  void canon_clip(Node& n);
  void canon_split(Node& n);
  void canon_slice(Node& n);
  void canon_softmax(Node& n);
  void canon_pad(Node& n);
  void canon_resize(Node& n);
  Shape squeeze_shape(const Node& n, const Shape& x);
  // In onnx_qlinear.cpp: operator-form quantized ops rewritten into QDQ.
  void emit(Node n, std::vector<Node>& kept);
  std::string emit_dq(const Node& q, size_t at, int64_t axis, const std::string& stem,
                      std::vector<Node>& kept);
  void emit_q(const Node& q, const std::string& from, size_t scale_at, std::vector<Node>& kept);
  void expand_qlinear(Node& n, std::vector<Node>& kept);

  // ---- constant folding --------------------------------------------------------------------
  // In onnx_fold.cpp.
  bool try_fold(Node& n);
  TensorData evaluate(Node& n);
  template <typename T, typename Get>
  std::vector<T> compute(const Node& n, const Shape& out_shape, Get get);
  template <typename T>
  static T binary(const Node& n, T x, T y);

  // ---- finishing ---------------------------------------------------------------------------
  // In onnx_import.cpp.
  void finish_outputs();
  void fuse_hardswish();
  void prune_and_infer();
  std::set<std::string> onnx_divergences() const;
  const std::map<std::string, onnx::TypeProto>& onnx_types();
  void cross_check();
  void write_notes();

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

}  // namespace nnjoule::graph::detail
