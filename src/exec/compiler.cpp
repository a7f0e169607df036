// Lowers a Graph into engine steps. Every stored tensor carries a layout (a permutation of its
// logical NCHW axes); each op asks for the layout it needs and the compiler inserts a copy only
// where the bytes differ. Linear operators absorb the per-channel epilogue a TFLite CPU runtime
// fuses (batch-norm, bias add, hard-sigmoid, relu/relu6/clip clamps) into weights and clamps.
#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <map>
#include <optional>
#include <set>

#include "lowering.hpp"
#include "nnjoule/common/error.hpp"
#include "nnjoule/exec/reference.hpp"
#include "nnjoule/graph/ops.hpp"
#include "ops.hpp"

namespace nnjoule::exec::detail {

Compiler::Compiler(const Graph& g, CompiledModel::Impl& m) : g_(g), m_(m) {}

// ---- values ----

int Compiler::add_value(Value v) {
  m_.values.push_back(std::move(v));
  return static_cast<int>(m_.values.size()) - 1;
}

int Compiler::new_value(const std::string& name, const Shape& shape, const Perm& perm,
                        const Value* quant) {
  int64_t bytes = quant ? 1 : static_cast<int64_t>(sizeof(float));
  for (int64_t d : shape) {
    if (d <= 0 || __builtin_mul_overflow(bytes, d, &bytes)) {
      fail("tensor '{}' {} is too large to address", name, graph::shape_str(shape));
    }
  }
  // XNNPACK may read XNN_EXTRA_BYTES past the end of an input.
  bytes = (bytes + XNN_EXTRA_BYTES + kAlign - 1) / kAlign * kAlign;
  m_.buffers.push_back(Buffer{bytes});
  Value v{name, shape, perm};
  v.buffer = static_cast<int>(m_.buffers.size()) - 1;
  if (quant) {
    v.int8 = true;
    v.qscale = quant->qscale;
    v.qzero = quant->qzero;
  }
  return add_value(std::move(v));
}

int Compiler::alias(int src, const Shape& shape, const Perm& perm) {
  Value v = m_.values[src];
  v.shape = shape;
  v.perm = perm;
  return add_value(std::move(v));
}

int Compiler::constant_value(const std::string& name, const Shape& shape, const Perm& perm,
                             std::vector<float> physical) {
  m_.constant_bytes += static_cast<int64_t>(physical.size() * sizeof(float));
  physical.resize(physical.size() + XNN_EXTRA_BYTES / sizeof(float), 0.f);
  m_.constants.push_back(std::move(physical));
  Value v{name, shape, perm};
  v.constant = static_cast<int>(m_.constants.size()) - 1;
  return add_value(std::move(v));
}

int Compiler::value_of(const std::string& t) {
  if (auto it = val_.find(t); it != val_.end()) return it->second;
  if (auto it = deferred_.find(t); it != deferred_.end()) return dequantize(it->second);
  if (g_.is_constant(t)) {
    const auto& c = g_.constant(t);
    if (c.dtype != graph::DType::kFloat32) {
      fail("tensor '{}' is {}: the engine computes on float32 tensors only", t,
           graph::dtype_name(c.dtype));
    }
    if (!c.materialized()) fail("constant '{}' has no values (a shape-only graph)", t);
    const int v = constant_value(t, c.shape, identity_perm(c.shape.size()), c.f32);
    val_[t] = v;
    return v;
  }
  fail("tensor '{}' has no producer", t);
}

const float* Compiler::constant_data(int v) const {
  return m_.constants[m_.values[v].constant].data();
}

IndexMap Compiler::build_map(const Value& in, const Shape& out_shape, const Perm& out_perm,
                             const std::vector<DimMap>& maps, float fill) const {
  const auto st = logical_strides(in.shape, in.perm);
  IndexMap m;
  m.fill = fill;
  for (int d : out_perm) {
    const DimMap& dm = maps[d];
    if (static_cast<int64_t>(dm.idx.size()) != out_shape[d]) {
      fail("index map for '{}': axis {} has {} entries, expected {}", in.name, d, dm.idx.size(),
           out_shape[d]);
    }
    std::vector<int64_t> t(dm.idx.size());
    for (size_t i = 0; i < t.size(); ++i)
      t[i] = dm.idx[i] == kFill ? kFill : dm.idx[i] * st[dm.src];
    m.add_axis(std::move(t));
  }
  m.simplify();
  return m;
}

int Compiler::ensure(int v, const Perm& p, bool output_io) {
  const Value x = m_.values[v];
  if (x.perm == p) return v;
  if (same_bytes(x.shape, x.perm, p)) return alias(v, x.shape, p);
  if (auto it = converted_.find({v, p}); it != converted_.end()) return it->second;
  std::vector<DimMap> maps;
  for (size_t d = 0; d < x.shape.size(); ++d)
    maps.push_back(ident(static_cast<int>(d), x.shape[d]));
  IndexMap map = build_map(x, x.shape, p, maps, 0.f);
  int out;
  if (x.int8) {
    out = new_value(x.name + "@" + perm_str(p), x.shape, p, &x);
    StepImpl s;
    s.info.name = x.name;
    s.info.op = "layout";
    s.info.impl = fmt::format("nnjoule:index-copy int8 {}->{}", perm_str(x.perm), perm_str(p));
    s.info.anchor = anchor_;
    s.reads = {v};
    s.writes = {out};
    s.bind = [map, v, out](const BindContext& c) -> std::function<void()> {
      const auto* src = reinterpret_cast<const int8_t*>(c.ptr(v));
      auto* dst = reinterpret_cast<int8_t*>(c.ptr(out));
      const Parallel par = c.par;
      return [map, src, dst, par] { map.run(src, dst, par); };
    };
    add_step(std::move(s));
    ++counts_["layout conversions"];
  } else if (x.constant >= 0) {
    std::vector<float> data(static_cast<size_t>(x.numel()));
    map.run(constant_data(v), data.data(), Parallel{});
    out = constant_value(x.name, x.shape, p, std::move(data));
  } else {
    out = new_value(x.name + "@" + perm_str(p), x.shape, p);
    const bool io = x.graph_input || output_io;
    StepImpl s;
    s.info.name = x.graph_input ? "input:" + x.name : output_io ? "output:" + x.name : x.name;
    s.info.op = "layout";
    s.info.impl = fmt::format("nnjoule:index-copy {}->{}", perm_str(x.perm), perm_str(p));
    s.info.anchor = io ? -1 : anchor_;
    s.info.io = io;
    s.reads = {v};
    s.writes = {out};
    if (io) s.io_map = std::make_shared<IndexMap>(map);
    s.bind = [map, v, out](const BindContext& c) -> std::function<void()> {
      const float* src = c.ptr(v);
      float* dst = c.ptr(out);
      const Parallel par = c.par;
      return [map, src, dst, par] { map.run(src, dst, par); };
    };
    add_step(std::move(s));
    if (!io) ++counts_["layout conversions"];
  }
  converted_[{v, p}] = out;
  return out;
}

void Compiler::add_step(StepImpl s) {
  m_.steps.push_back(std::move(s));
}

StepImpl Compiler::step_for(size_t node, const std::string& op, const std::string& impl,
                            std::vector<size_t> nodes) const {
  StepImpl s;
  s.info.name = g_.nodes[node].name;
  s.info.op = op;
  s.info.impl = impl;
  s.info.nodes = std::move(nodes);
  s.info.anchor = static_cast<long>(node);
  return s;
}

// ---- fusion helpers ----

long Compiler::sole_consumer(const std::string& t) const {
  if (outputs_.count(t)) return -1;
  auto it = consumers_.find(t);
  if (it == consumers_.end() || it->second.size() != 1) return -1;
  const size_t j = it->second[0];
  return done_[j] ? -1 : static_cast<long>(j);
}

std::optional<std::vector<double>> Compiler::per_channel(const std::string& t, const Shape& out,
                                                         int axis, int64_t channels) const {
  if (!g_.is_constant(t)) return std::nullopt;
  const auto& c = g_.constant(t);
  if (c.dtype != graph::DType::kFloat32 || !c.materialized() || c.shape.size() > out.size()) {
    return std::nullopt;
  }
  const size_t off = out.size() - c.shape.size();
  for (size_t i = 0; i < c.shape.size(); ++i) {
    const bool on_axis = static_cast<int>(off + i) == axis;
    if (c.shape[i] != 1 && !(on_axis && c.shape[i] == channels)) return std::nullopt;
  }
  std::vector<double> v(static_cast<size_t>(channels));
  for (int64_t k = 0; k < channels; ++k) v[k] = c.f32.size() == 1 ? c.f32[0] : c.f32[k];
  return v;
}

bool Compiler::absorb_clamp(const Node& c, Clamp& clamp) const {
  Clamp n = clamp;
  if (c.op_type == "Relu") {
    n.lo = std::max(n.lo, 0.f);
  } else if (c.op_type == "Clip") {
    if (c.has_attr("min")) n.lo = std::max(n.lo, c.attr_float("min", 0));
    if (c.has_attr("max")) n.hi = std::min(n.hi, c.attr_float("max", 0));
  } else {
    return false;
  }
  if (!(n.lo < n.hi)) return false;
  clamp = n;
  return true;
}

std::string Compiler::absorb_clamps(std::string t, Clamp& clamp, std::vector<size_t>& nodes) {
  for (long j; (j = sole_consumer(t)) >= 0;) {
    const Node& c = g_.nodes[j];
    if (!absorb_clamp(c, clamp)) break;
    nodes.push_back(static_cast<size_t>(j));
    done_[j] = true;
    ++counts_["activations fused"];
    t = c.outputs[0];
  }
  return t;
}

std::string Compiler::absorb(std::string t, int axis, int64_t channels, Epilogue& e,
                             std::vector<size_t>& nodes) {
  for (long j; (j = sole_consumer(t)) >= 0;) {
    const Node& c = g_.nodes[j];
    const Shape& ts = g_.shape(t);
    const bool free = !e.clamp.bounded();
    if (c.op_type == "BatchNormalization" && free && axis == 1) {
      std::vector<std::optional<std::vector<double>>> p;
      for (size_t i = 1; i < 5; ++i) {
        p.push_back(i < c.inputs.size() ? per_channel(c.inputs[i], {channels}, 0, channels)
                                        : std::nullopt);
      }
      if (!p[0] || !p[1] || !p[2] || !p[3]) break;
      const double eps = c.attr_float("epsilon", 1e-5f);
      for (int64_t k = 0; k < channels; ++k) {
        const double s = (*p[0])[k] / std::sqrt((*p[3])[k] + eps);
        e.scale[k] *= s;
        e.shift[k] = e.shift[k] * s + ((*p[1])[k] - (*p[2])[k] * s);
      }
      e.fused.push_back("bn");
      ++counts_["batch-norms folded"];
    } else if (c.op_type == "Add" && free && g_.shape(c.outputs[0]) == ts) {
      const std::string& other = c.inputs[0] == t ? c.inputs[1] : c.inputs[0];
      auto v = per_channel(other, ts, axis, channels);
      if (!v) break;
      for (int64_t k = 0; k < channels; ++k) e.shift[k] += (*v)[k];
      e.fused.push_back("bias");
    } else if (c.op_type == "HardSigmoid" && free) {
      const double a = c.attr_float("alpha", 0.2f), b = c.attr_float("beta", 0.5f);
      for (int64_t k = 0; k < channels; ++k) {
        e.scale[k] *= a;
        e.shift[k] = e.shift[k] * a + b;
      }
      e.clamp = {0.f, 1.f};
      e.fused.push_back("hsigmoid");
      ++counts_["activations fused"];
    } else if (absorb_clamp(c, e.clamp)) {
      e.fused.push_back(c.op_type == "Relu" ? "relu" : "clip");
      ++counts_["activations fused"];
    } else {
      break;
    }
    nodes.push_back(static_cast<size_t>(j));
    done_[j] = true;
    t = c.outputs[0];
  }
  return t;
}

const std::vector<float>& Compiler::weights(const Node& n, size_t i, const char* what) const {
  if (i >= n.inputs.size() || n.inputs[i].empty()) node_fail(n, fmt::format("missing {}", what));
  const std::string& t = n.inputs[i];
  if (!g_.is_constant(t)) {
    node_fail(n, fmt::format("{} '{}' must be a constant for the engine", what, t));
  }
  const auto& c = g_.constant(t);
  if (c.dtype != graph::DType::kFloat32 || !c.materialized()) {
    node_fail(n, fmt::format("{} '{}' has no float32 values", what, t));
  }
  return c.f32;
}

// ---- driver ----

void Compiler::fold_constants() {
  std::map<std::string, Tensor> cache;
  for (size_t i = 0; i < g_.nodes.size(); ++i) {
    const Node& n = g_.nodes[i];
    bool all_const = !n.inputs.empty();
    for (const auto& t : n.inputs) {
      if (t.empty()) continue;
      if (!g_.is_constant(t) || !g_.constant(t).materialized()) all_const = false;
    }
    for (const auto& t : n.outputs)
      if (g_.value(t).dtype != graph::DType::kFloat32) all_const = false;
    if (!all_const) continue;
    auto get = [&](const std::string& t) -> const Tensor& {
      auto it = cache.find(t);
      if (it != cache.end()) return it->second;
      return cache[t] = constant_tensor(g_.constant(t), t);
    };
    auto outs = reference_node(g_, n, get);
    for (size_t o = 0; o < n.outputs.size(); ++o) {
      g_.initializers[n.outputs[o]] = std::make_shared<graph::TensorData>(
          graph::TensorData::floats(outs[o].shape, std::move(outs[o].data)));
    }
    done_[i] = true;
    ++counts_["nodes folded into constants"];
  }
}

void Compiler::lower(size_t i) {
  const Node& n = g_.nodes[i];
  const std::string& op = n.op_type;
  anchor_ = static_cast<long>(i);
  for (const auto& t : n.outputs) {
    if (t.empty() || op == "QuantizeLinear") continue;
    if (g_.value(t).dtype != graph::DType::kFloat32) {
      node_fail(n, fmt::format("output '{}' is {}: the engine computes on float32 tensors only", t,
                               graph::dtype_name(g_.value(t).dtype)));
    }
  }
  if (lower_int8(i)) return;
  const ExecOp* entry = find_exec_op(op);
  if (!entry) node_fail(n, "op not supported by the execution engine");
  entry->lower(*this, i);
}

// Conversions at the graph's edges leave run(): an input read only through one conversion is
// written converted by set_input, an output made by one is converted when read.
void Compiler::move_io_conversions() {
  std::vector<bool> drop(m_.steps.size(), false);
  auto buffer_of = [&](int v) { return m_.values[v].buffer; };
  for (size_t i = 0; i < m_.input_values.size(); ++i) {
    const int b = buffer_of(m_.input_values[i]);
    long conv = -1;
    bool other_use = false;
    for (size_t s = 0; s < m_.steps.size(); ++s) {
      for (int v : m_.steps[s].reads) {
        if (buffer_of(v) != b) continue;
        if (m_.steps[s].io_map && conv < 0)
          conv = static_cast<long>(s);
        else
          other_use = true;
      }
    }
    for (int v : m_.output_values) other_use |= buffer_of(v) == b;
    m_.input_maps.push_back(nullptr);
    if (conv < 0 || other_use) continue;
    drop[conv] = true;
    m_.input_maps.back() = m_.steps[conv].io_map;
    m_.input_values[i] = m_.steps[conv].writes[0];
  }
  for (size_t o = 0; o < m_.output_values.size(); ++o) {
    m_.output_maps.push_back(nullptr);
    const int v = m_.output_values[o];
    for (size_t s = 0; s < m_.steps.size(); ++s) {
      const auto& st = m_.steps[s];
      if (drop[s] || !st.io_map || st.writes[0] != v || st.info.name.rfind("output:", 0) != 0) {
        continue;
      }
      // Nothing else may read the converted tensor (another output naming the same tensor).
      bool shared = false;
      for (size_t p = 0; p < m_.output_values.size(); ++p)
        shared |= p != o && m_.output_values[p] == v;
      if (shared) break;
      drop[s] = true;
      m_.output_maps.back() = st.io_map;
      m_.output_values[o] = st.reads[0];
      break;
    }
  }
  std::vector<StepImpl> kept;
  for (size_t s = 0; s < m_.steps.size(); ++s)
    if (!drop[s]) kept.push_back(std::move(m_.steps[s]));
  m_.steps = std::move(kept);
}

void Compiler::run() {
  g_.validate();
  m_.name = g_.name;
  done_.assign(g_.nodes.size(), false);
  outputs_ = std::set<std::string>(g_.outputs.begin(), g_.outputs.end());
  for (const auto& t : g_.inputs) {
    const auto& vi = g_.value(t);
    if (vi.dtype != graph::DType::kFloat32) {
      fail("input '{}' is {}: the engine runs float32 inputs only", t, graph::dtype_name(vi.dtype));
    }
    const int v = new_value(t, vi.shape, identity_perm(vi.shape.size()));
    m_.values[v].graph_input = true;
    val_[t] = v;
    m_.input_values.push_back(v);
    m_.inputs.push_back({t, vi.shape});
  }
  fold_constants();
  producers_ = g_.producers();
  for (size_t i = 0; i < g_.nodes.size(); ++i)
    if (!done_[i])
      for (const auto& t : g_.nodes[i].inputs)
        if (!t.empty()) consumers_[t].push_back(i);
  for (size_t i = 0; i < g_.nodes.size(); ++i) {
    if (done_[i]) continue;
    done_[i] = true;
    lower(i);
  }
  anchor_ = -1;
  for (const auto& t : g_.outputs) {
    const Shape& s = g_.shape(t);
    if (m_.values[value_of(t)].int8) {
      fail(
          "output '{}' is {}: the engine's outputs are float32 (end the model with "
          "DequantizeLinear)",
          t, graph::dtype_name(g_.value(t).dtype));
    }
    int v = ensure(value_of(t), identity_perm(s.size()), true);
    if (m_.values[v].constant >= 0) {
      // A constant output (everything folded): copy it into a buffer each run.
      const int c = v;
      v = new_value(t, s, identity_perm(s.size()));
      StepImpl st;
      st.info = Step{"output:" + t, "copy", "memcpy", {}, -1, true};
      st.reads = {c};
      st.writes = {v};
      const size_t bytes = static_cast<size_t>(graph::numel(s)) * sizeof(float);
      st.bind = [c, v, bytes](const BindContext& b) -> std::function<void()> {
        const float* src = b.ptr(c);
        float* dst = b.ptr(v);
        return [src, dst, bytes] { std::memcpy(dst, src, bytes); };
      };
      add_step(std::move(st));
    }
    m_.output_values.push_back(v);
    m_.outputs.push_back({t, s});
  }
  move_io_conversions();
  for (const auto& [what, count] : counts_) m_.notes.push_back(fmt::format("{}: {}", what, count));
}

}  // namespace nnjoule::exec::detail
