// ONNX import: protobuf parse, onnx's node checks, constant folding of shape computations,
// rewriting of legacy op forms into the canonical ones of ops.hpp, our shape inference, and a
// cross-check of every shape against onnx's own shape inference.
// The importer is split by job (onnx_importer.hpp): onnx_read.cpp, onnx_canonical.cpp and
// onnx_fold.cpp; this file finishes the graph and holds the entry points, load_onnx and
// load_onnx_bytes.
#include <fcntl.h>
#include <fmt/format.h>
#include <google/protobuf/io/zero_copy_stream_impl.h>
#include <onnx/defs/schema.h>
#include <onnx/onnx_pb.h>
#include <onnx/shape_inference/implementation.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstring>
#include <map>
#include <set>
#include <string>
#include <vector>

#include "nnjoule/common/error.hpp"
#include "nnjoule/common/io.hpp"
#include "nnjoule/common/text.hpp"
#include "nnjoule/graph/onnx.hpp"
#include "nnjoule/graph/shape_inference.hpp"
#include "onnx_detail.hpp"
#include "onnx_importer.hpp"

namespace nnjoule::graph {
namespace detail {

// Graph outputs that named a removed no-op's output: rename the producer's tensor, or keep an
// Identity where the source is a graph input, a constant or another output.
void Importer::finish_outputs() {
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
void Importer::fuse_hardswish() {
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

void Importer::prune_and_infer() {
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
std::set<std::string> Importer::onnx_divergences() const {
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
const std::map<std::string, onnx::TypeProto>& Importer::onnx_types() {
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

void Importer::cross_check() {
  const auto diverging = onnx_divergences();
  for (const auto& [name, type] : onnx_types()) {
    auto it = g_.values.find(name);
    if (it == g_.values.end() || diverging.count(name)) continue;
    if (!type.has_tensor_type() || !type.tensor_type().has_shape()) continue;
    const auto& sp = type.tensor_type().shape();
    const Shape& ours = it->second.shape;
    bool mismatch = sp.dim_size() != static_cast<int>(ours.size());
    for (int d = 0; !mismatch && d < sp.dim_size(); ++d) {
      mismatch = sp.dim(d).has_dim_value() && sp.dim(d).dim_value() != ours[static_cast<size_t>(d)];
    }
    if (mismatch) {
      fail("tensor '{}': nnjoule infers shape {}, onnx shape inference infers {}", name,
           shape_str(ours), onnx_shape_str(sp));
    }
  }
}

void Importer::write_notes() {
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
      msg +=
          fmt::format("; kept {} to name graph outputs", plural(kept_identities_, "Identity node"));
    }
    notes_.push_back(msg);
  }
  if (!kept_unknown_.empty()) {
    notes_.push_back(fmt::format("kept ops nnjoule does not know, with onnx's inferred shapes: {}",
                                 op_list(kept_unknown_)));
  }
  if (unused_weights_) {
    notes_.push_back(fmt::format("dropped {} that no node reads",
                                 plural(unused_weights_, "unused initializer")));
  }
  g_.notes = std::move(notes_);
}

}  // namespace detail

namespace {

template <typename Parse>
Graph import_model(const std::string& source_name, const ImportOptions& options, uint64_t size,
                   Parse parse_into) {
  try {
    return detail::Importer(options).run(size, parse_into);
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
