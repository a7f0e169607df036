#include "nnjoule/kernels/detect.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <set>

#include "nnjoule/common/error.hpp"
#include "nnjoule/graph/ops.hpp"
#include "nnjoule/graph/quant.hpp"

namespace nnjoule::kernels {

using graph::Graph;
using graph::Node;
using graph::Shape;

namespace {

bool is_scalar_const(const Graph& g, const std::string& t, double value) {
  if (!g.is_constant(t)) return false;
  const auto& c = g.constant(t);
  if (c.size() != 1 || !c.materialized()) return false;
  const double v = c.dtype == graph::DType::kFloat32 ? c.f32[0] : static_cast<double>(c.i64[0]);
  return std::fabs(v - value) < 1e-5 * std::max(1.0, std::fabs(value));
}

// The squeeze of an SE block must keep the dimensions so the gate broadcasts.
bool is_gap(const Graph& g, const Node& n) {
  return graph::is_spatial_mean(g, n) &&
         (n.op_type == "GlobalAveragePool" || n.attr_int("keepdims", 1) != 0);
}

bool is_quantized(graph::DType t) {
  return t == graph::DType::kInt8 || t == graph::DType::kUInt8;
}

struct Unit {
  std::vector<size_t> nodes;
  std::string cls;
  size_t head = 0;  // the defining node (attached Q/DQ nodes come and go around it)
  size_t last = 0;  // the last node before Q/DQ were attached: units complete there
};

class Detector {
 public:
  Detector(const Graph& g, const FusionRules& rules)
      : g_(g),
        rules_(rules),
        producer_(g.producers()),
        consumers_(g.consumers()),
        unit_of_(g.nodes.size(), -1),
        host_(g.nodes.size(), -1) {}

  std::vector<Kernel> run() {
    attach_quant();
    if (rules_.patterns) {
      for (size_t i = 0; i < g_.nodes.size(); ++i) match_se(i);
      for (size_t i = 0; i < g_.nodes.size(); ++i) match_hswish(i);
      for (size_t i = 0; i < g_.nodes.size(); ++i) match_swish(i);
      for (size_t i = 0; i < g_.nodes.size(); ++i) match_channel_shuffle(i);
    }
    for (size_t i = 0; i < g_.nodes.size(); ++i) {
      if (unit_of_[i] < 0 && host_[i] < 0) add_unit({i}, node_class(i));
    }
    // Attached QuantizeLinear / DequantizeLinear nodes join their host's unit (its head stays).
    for (size_t i = 0; i < g_.nodes.size(); ++i) {
      if (host_[i] < 0) continue;
      const long u = unit_of_[static_cast<size_t>(host_[i])];
      auto& nodes = units_[static_cast<size_t>(u)].nodes;
      nodes.insert(std::upper_bound(nodes.begin(), nodes.end(), i), i);
      unit_of_[i] = u;
    }
    return fuse();
  }

 private:
  const Node& node(size_t i) const { return g_.nodes[i]; }

  const std::vector<long>& users(const std::string& t) const {
    static const std::vector<long> none;
    auto it = consumers_.find(t);
    return it == consumers_.end() ? none : it->second;
  }

  // The only consumer of `t`, or -1 when it has several, none, or is a graph output.
  long sole_user(const std::string& t) const {
    const auto& u = users(t);
    return u.size() == 1 ? u[0] : -1;
  }

  long producer(const std::string& t) const {
    auto it = producer_.find(t);
    return it == producer_.end() ? -1 : static_cast<long>(it->second);
  }

  bool free(long i) const { return i >= 0 && unit_of_[static_cast<size_t>(i)] < 0; }

  bool is_op(long i) const {
    return i >= 0 && !graph::is_quant_op(node(static_cast<size_t>(i)).op_type);
  }

  void add_unit(std::vector<size_t> nodes, std::string cls) {
    std::sort(nodes.begin(), nodes.end());
    for (size_t n : nodes) unit_of_[n] = static_cast<long>(units_.size());
    const size_t head = nodes.front(), last = nodes.back();
    units_.push_back(Unit{std::move(nodes), std::move(cls), head, last});
  }

  // The op table classifies a node by its own inputs; in a QDQ model a MatMul's weight is the
  // DequantizeLinear of a constant, still a fully connected layer.
  std::string node_class(size_t i) const {
    const Node& n = node(i);
    std::string cls = graph::node_kernel_class(g_, n);
    if (cls == "matmul" && n.inputs.size() == 2) {
      const long d = producer(n.inputs[1]);
      if (d >= 0 && node(static_cast<size_t>(d)).op_type == "DequantizeLinear" &&
          g_.is_constant(node(static_cast<size_t>(d)).inputs[0]) &&
          g_.shape(n.inputs[1]).size() == 2) {
        cls = "fc";
      }
    }
    return cls;
  }

  // QDQ models: the engine runs DequantizeLinear -> op -> QuantizeLinear as one int8 operator,
  // so Q/DQ nodes are no kernels of their own. A DequantizeLinear (of weights or of an
  // activation) belongs to the op reading it (the first, when several ops share it); a
  // QuantizeLinear to the op producing its input. Q/DQ that no op can take (the first Q on a
  // graph input, the last DQ on a graph output) stay standalone quantize / dequantize kernels.
  void attach_quant() {
    for (size_t i = 0; i < g_.nodes.size(); ++i) {
      const Node& n = node(i);
      if (n.op_type == "DequantizeLinear") {
        const auto& u = users(n.outputs[0]);
        if (!u.empty() && std::all_of(u.begin(), u.end(), [&](long c) { return is_op(c); }))
          host_[i] = *std::min_element(u.begin(), u.end());
      } else if (n.op_type == "QuantizeLinear") {
        const long p = producer(n.inputs[0]);
        if (is_op(p) && sole_user(n.inputs[0]) == static_cast<long>(i)) host_[i] = p;
      }
    }
  }

  // The runtime (non-constant) inputs of a node.
  std::vector<std::string> runtime_inputs(const Node& n) const {
    std::vector<std::string> r;
    for (const auto& in : n.inputs)
      if (!in.empty() && !g_.is_constant(in)) r.push_back(in);
    return r;
  }

  // SE: Mul(x, gate) where gate is computed from GlobalAveragePool(x) through a small chain of
  // convs / fcs / activations that nothing else reads.
  void match_se(size_t m) {
    const Node& mul = node(m);
    if (mul.op_type != "Mul" || !free(static_cast<long>(m))) return;
    auto ins = runtime_inputs(mul);
    if (ins.size() != 2) return;
    for (int order = 0; order < 2; ++order) {
      const std::string& x = ins[order];
      const std::string& gate = ins[1 - order];
      std::set<size_t> body;
      if (se_body(x, gate, m, body)) {
        std::vector<size_t> nodes(body.begin(), body.end());
        nodes.push_back(m);
        add_unit(nodes, "se");
        return;
      }
    }
  }

  bool se_body(const std::string& x, const std::string& gate, size_t mul, std::set<size_t>& body) {
    static const std::set<std::string> allowed = {
        "Conv", "Gemm", "MatMul", "Relu", "Clip",    "HardSigmoid", "Sigmoid",   "HardSwish",
        "Add",  "Sub",  "Mul",    "Div",  "Reshape", "Flatten",     "LeakyRelu", "Tanh"};
    std::vector<std::string> todo = {gate};
    bool found_pool = false, has_weights = false;
    while (!todo.empty()) {
      const std::string t = todo.back();
      todo.pop_back();
      const long p = producer(t);
      if (p < 0 || !free(p)) return false;
      if (body.count(static_cast<size_t>(p))) continue;
      const Node& n = node(static_cast<size_t>(p));
      body.insert(static_cast<size_t>(p));
      if (body.size() > 16) return false;
      if (is_gap(g_, n)) {
        if (n.inputs[0] != x) return false;
        found_pool = true;
        continue;
      }
      if (!allowed.count(n.op_type)) return false;
      if (n.op_type == "Conv" || n.op_type == "Gemm" || n.op_type == "MatMul") has_weights = true;
      for (const auto& in : runtime_inputs(n)) {
        if (in == x) return false;
        todo.push_back(in);
      }
    }
    if (!found_pool || !has_weights) return false;
    // Nothing outside the block may read its intermediate tensors.
    for (size_t b : body) {
      for (const auto& o : node(b).outputs) {
        for (long u : users(o)) {
          if (u < 0) return false;
          if (!body.count(static_cast<size_t>(u)) && static_cast<size_t>(u) != mul) return false;
        }
      }
    }
    return true;
  }

  // Follows `t` to its sole consumer if that consumer is a free node of type `op`.
  long next_of(const std::string& t, const char* op) const {
    const long u = sole_user(t);
    if (u < 0 || !free(u) || node(static_cast<size_t>(u)).op_type != op) return -1;
    return u;
  }

  // The other operand of a binary node, given one of them.
  static std::string other_input(const Node& n, const std::string& one) {
    return n.inputs[0] == one ? n.inputs[1] : n.inputs[0];
  }

  // x * hsigmoid(x) in the forms exporters write: HardSigmoid + Mul, or
  // Add(x, 3) -> Clip(0, 6) -> Mul(x, .) -> Div(6) and the Div-before-Mul order.
  void match_hswish(size_t i) {
    const Node& n = node(i);
    if (!free(static_cast<long>(i))) return;
    if (n.op_type == "HardSigmoid") {
      const std::string& x = n.inputs[0];
      const long m = next_of(n.outputs[0], "Mul");
      if (m >= 0 && other_input(node(static_cast<size_t>(m)), n.outputs[0]) == x) {
        add_unit({i, static_cast<size_t>(m)}, "hswish");
      }
      return;
    }
    if (n.op_type != "Add") return;
    std::string x;
    if (is_scalar_const(g_, n.inputs[1], 3.0))
      x = n.inputs[0];
    else if (is_scalar_const(g_, n.inputs[0], 3.0))
      x = n.inputs[1];
    else
      return;
    const long c = next_of(n.outputs[0], "Clip");
    if (c < 0) return;
    const Node& clip = node(static_cast<size_t>(c));
    if (clip.attr_float("min", -1) != 0.f || clip.attr_float("max", -1) != 6.f) return;
    auto scale_node = [&](const std::string& t) -> long {
      long d = next_of(t, "Div");
      if (d >= 0 && is_scalar_const(g_, node(static_cast<size_t>(d)).inputs[1], 6.0)) return d;
      d = next_of(t, "Mul");
      if (d >= 0 && is_scalar_const(g_, other_input(node(static_cast<size_t>(d)), t), 1.0 / 6.0)) {
        return d;
      }
      return -1;
    };
    const std::string& ct = clip.outputs[0];
    // Mul(x, clip) then scale.
    long m = next_of(ct, "Mul");
    if (m >= 0 && other_input(node(static_cast<size_t>(m)), ct) == x) {
      const long s = scale_node(node(static_cast<size_t>(m)).outputs[0]);
      if (s >= 0) {
        add_unit({i, static_cast<size_t>(c), static_cast<size_t>(m), static_cast<size_t>(s)},
                 "hswish");
        return;
      }
    }
    // Scale then Mul(x, .); a scale without the Mul is a decomposed h-sigmoid.
    const long s = scale_node(ct);
    if (s < 0) return;
    const std::string& st = node(static_cast<size_t>(s)).outputs[0];
    m = next_of(st, "Mul");
    if (m >= 0 && other_input(node(static_cast<size_t>(m)), st) == x) {
      add_unit({i, static_cast<size_t>(c), static_cast<size_t>(s), static_cast<size_t>(m)},
               "hswish");
    } else {
      add_unit({i, static_cast<size_t>(c), static_cast<size_t>(s)}, "hsigmoid");
    }
  }

  void match_swish(size_t i) {
    const Node& n = node(i);
    if (n.op_type != "Sigmoid" || !free(static_cast<long>(i))) return;
    const long m = next_of(n.outputs[0], "Mul");
    if (m >= 0 && other_input(node(static_cast<size_t>(m)), n.outputs[0]) == n.inputs[0]) {
      add_unit({i, static_cast<size_t>(m)}, "swish");
    }
  }

  // Reshape [N,C,H,W] -> [N,g,C/g,H,W], Transpose(0,2,1,3,4), Reshape back.
  void match_channel_shuffle(size_t i) {
    const Node& r1 = node(i);
    if (r1.op_type != "Reshape" || !free(static_cast<long>(i))) return;
    const Shape& in = g_.shape(r1.inputs[0]);
    const Shape& mid = g_.shape(r1.outputs[0]);
    if (in.size() != 4 || mid.size() != 5 || mid[0] != in[0] || mid[1] * mid[2] != in[1] ||
        mid[3] != in[2] || mid[4] != in[3]) {
      return;
    }
    const long t = next_of(r1.outputs[0], "Transpose");
    if (t < 0 ||
        node(static_cast<size_t>(t)).attr_ints("perm") != std::vector<int64_t>{0, 2, 1, 3, 4}) {
      return;
    }
    const long r2 = next_of(node(static_cast<size_t>(t)).outputs[0], "Reshape");
    if (r2 < 0 || g_.shape(node(static_cast<size_t>(r2)).outputs[0]) != in) return;
    add_unit({i, static_cast<size_t>(t), static_cast<size_t>(r2)}, "channelshuffle");
  }

  // The tensors a unit hands to the rest of the graph. A DequantizeLinear the unit shares with
  // ops of other units hands them nothing of the unit's own: they read its int8 input.
  std::vector<std::string> unit_outputs(const Unit& u) const {
    std::set<size_t> inside(u.nodes.begin(), u.nodes.end());
    std::vector<std::string> out;
    for (size_t n : u.nodes) {
      if (n != u.head && node(n).op_type == "DequantizeLinear") continue;
      for (const auto& o : node(n).outputs) {
        if (o.empty()) continue;
        for (long c : users(o)) {
          if (c < 0 || !inside.count(static_cast<size_t>(c))) {
            out.push_back(o);
            break;
          }
        }
      }
    }
    return out;
  }

  std::vector<Kernel> fuse() {
    // Units complete at their last node; that order is topological for units.
    std::vector<size_t> order(units_.size());
    for (size_t i = 0; i < order.size(); ++i) order[i] = i;
    std::sort(order.begin(), order.end(),
              [&](size_t a, size_t b) { return units_[a].last < units_[b].last; });
    struct Build {
      std::vector<size_t> units;
      std::vector<std::string> ops;
      size_t last = 0;
    };
    std::vector<Build> builds;
    std::vector<long> kernel_of_unit(units_.size(), -1);
    for (size_t u : order) {
      const Unit& unit = units_[u];
      long target = -1;
      if (!unit.cls.starts_with("unknown:")) {
        // An op reading its input through its own DequantizeLinear reads an int8 tensor that
        // was materialized: no fusion across a Q -> DQ boundary.
        const Node& head = node(unit.head);
        for (const auto& in : runtime_inputs(head)) {
          const long p = producer(in);
          if (p < 0) continue;
          const long pu = unit_of_[static_cast<size_t>(p)];
          if (pu == static_cast<long>(u)) continue;
          const long k = kernel_of_unit[static_cast<size_t>(pu)];
          if (k < 0) continue;
          if (builds[static_cast<size_t>(k)].units.back() != static_cast<size_t>(pu)) continue;
          auto outs = unit_outputs(units_[static_cast<size_t>(pu)]);
          if (outs.size() != 1 || outs[0] != in) continue;
          const long sole = sole_user(in);
          if (sole < 0 || unit_of_[static_cast<size_t>(sole)] != static_cast<long>(u)) continue;
          if (rules_.fuses(builds[static_cast<size_t>(k)].ops, unit.cls)) {
            target = k;
            break;
          }
        }
      }
      if (target < 0) {
        target = static_cast<long>(builds.size());
        builds.emplace_back();
      }
      builds[static_cast<size_t>(target)].units.push_back(u);
      builds[static_cast<size_t>(target)].last = unit.last;
      builds[static_cast<size_t>(target)].ops.push_back(unit.cls);
      kernel_of_unit[u] = target;
    }
    std::sort(builds.begin(), builds.end(),
              [](const Build& a, const Build& b) { return a.last < b.last; });
    std::vector<Kernel> kernels;
    kernels.reserve(builds.size());
    for (const auto& b : builds) {
      Kernel k;
      k.ops = b.ops;
      for (size_t u : b.units)
        k.nodes.insert(k.nodes.end(), units_[u].nodes.begin(), units_[u].nodes.end());
      std::sort(k.nodes.begin(), k.nodes.end());
      std::string type;
      for (const auto& o : b.ops) type += (type.empty() ? "" : "-") + o;
      k.type = type;
      k.name = node(units_[b.units.front()].head).name;
      describe_kernel(g_, k);
      kernels.push_back(std::move(k));
    }
    return kernels;
  }

  const Graph& g_;
  const FusionRules& rules_;
  std::map<std::string, size_t> producer_;
  std::map<std::string, std::vector<long>> consumers_;
  std::vector<long> unit_of_;
  std::vector<long> host_;  // a Q/DQ node's host op, -1 for every other node and standalone Q/DQ
  std::vector<Unit> units_;
};

bool is_elementwise_kernel(const std::string& cls) {
  return cls == "add" || cls == "sub" || cls == "mul" || cls == "div";
}

// HW / CIN (and WIDTH when not square) of an activation tensor of any rank.
void set_spatial(KernelConfig& c, const Shape& s) {
  if (s.size() == 4) {
    c.set("HW", s[2]);
    c.set("CIN", s[1]);
    if (s[3] != s[2]) c.set("WIDTH", s[3]);
  } else if (s.size() == 3) {
    c.set("HW", s[1]);
    c.set("CIN", s[2]);
  } else if (s.size() == 2) {
    c.set("HW", 1);
    c.set("CIN", s[1]);
  } else {
    c.set("HW", 1);
    c.set("CIN", graph::numel(s));
  }
}

}  // namespace

void describe_kernel(const Graph& g, Kernel& k) {
  std::set<size_t> inside(k.nodes.begin(), k.nodes.end());
  std::set<std::string> produced;
  for (size_t i : k.nodes)
    for (const auto& o : g.nodes[i].outputs) produced.insert(o);
  const auto consumers = g.consumers();
  const auto producers = g.producers();
  // In a QDQ kernel the Q/DQ nodes are the op's int8 input and output conversions: they add
  // no FLOPs, and the kernel is described by its first op. A kernel of Q/DQ only (quantize,
  // dequantize) is described by its own nodes.
  const auto quant = [&](size_t i) { return graph::is_quant_op(g.nodes[i].op_type); };
  const auto main_it = std::find_if_not(k.nodes.begin(), k.nodes.end(), quant);
  const bool has_op = main_it != k.nodes.end();
  // The DequantizeLinear producing `t`, -1 for any other producer.
  const auto dq_of = [&](const std::string& t) -> long {
    auto it = producers.find(t);
    if (it == producers.end() || g.nodes[it->second].op_type != "DequantizeLinear") return -1;
    return static_cast<long>(it->second);
  };
  std::set<std::string> seen_in, seen_w;
  k.inputs.clear();
  k.outputs.clear();
  k.params = 0;
  int64_t weight_bytes = 0;
  k.flops = 0;
  const auto add_constant = [&](const std::string& t, bool counted) {
    if (!seen_w.insert(t).second) return;
    const auto& c = g.constant(t);
    if (counted) k.params += c.size();
    weight_bytes += c.size() * static_cast<int64_t>(graph::dtype_size(c.dtype));
  };
  for (size_t i : k.nodes) {
    const Node& n = g.nodes[i];
    const bool q = quant(i);
    if (!q || !has_op) k.flops += graph::node_flops(g, n);
    for (size_t j = 0; j < n.inputs.size(); ++j) {
      std::string in = n.inputs[j];
      if (in.empty() || produced.count(in)) continue;
      bool dq_data = q && n.op_type == "DequantizeLinear" && j == 0;
      // A DequantizeLinear shared with an op of another kernel: this op reads its int8 input.
      if (const long d = has_op ? dq_of(in) : -1; d >= 0) {
        in = g.nodes[static_cast<size_t>(d)].inputs[0];
        dq_data = true;
      }
      if (g.is_constant(in)) {
        // Parameters: float weights of the ops, and the int8/int32 data their DQs read (not
        // the scales and zero points).
        const bool counted = dq_data || (!q && g.constant(in).dtype == graph::DType::kFloat32);
        add_constant(in, counted);
      } else if (seen_in.insert(in).second) {
        k.inputs.push_back(in);
      }
    }
    // A shared DequantizeLinear's output is no output of the kernel holding it: the other
    // readers read its int8 input (above).
    if (has_op && n.op_type == "DequantizeLinear") continue;
    for (const auto& o : n.outputs) {
      if (o.empty()) continue;
      auto it = consumers.find(o);
      if (it == consumers.end()) continue;
      for (long c : it->second) {
        if (c < 0 || !inside.count(static_cast<size_t>(c))) {
          k.outputs.push_back(o);
          break;
        }
      }
    }
  }
  k.input_shapes.clear();
  k.output_shapes.clear();
  int64_t act_bytes = 0;
  // Activations at 4 bytes an element, 1 for int8 / uint8 (what a QDQ kernel reads and writes).
  const auto act_size = [&](const std::string& t) -> int64_t {
    return is_quantized(g.value(t).dtype) ? 1 : 4;
  };
  for (const auto& t : k.inputs) {
    k.input_shapes.push_back(g.shape(t));
    act_bytes += graph::numel(g.shape(t)) * act_size(t);
  }
  for (const auto& t : k.outputs) {
    k.output_shapes.push_back(g.shape(t));
    act_bytes += graph::numel(g.shape(t)) * act_size(t);
  }
  k.bytes = act_bytes + weight_bytes;

  // int8: the first op reads an activation through DequantizeLinear of a runtime int8/uint8
  // tensor and every output of the kernel leaves through QuantizeLinear.
  k.dtype = kFp32;
  if (has_op && !k.outputs.empty()) {
    const Node& op = g.nodes[*main_it];
    const bool reads_int8 = std::any_of(op.inputs.begin(), op.inputs.end(), [&](const auto& t) {
      const long d = t.empty() ? -1 : dq_of(t);
      if (d < 0) return false;
      const std::string& x = g.nodes[static_cast<size_t>(d)].inputs[0];
      return !g.is_constant(x) && is_quantized(g.value(x).dtype);
    });
    const bool writes_int8 = std::all_of(k.outputs.begin(), k.outputs.end(), [&](const auto& t) {
      auto it = producers.find(t);
      return it != producers.end() && g.nodes[it->second].op_type == "QuantizeLinear";
    });
    if (reads_int8 && writes_int8) k.dtype = kInt8;
  }

  // Config in nn-Meter's names, from the kernel's first (defining) node.
  KernelConfig& c = k.config;
  c = KernelConfig{};
  const Node& head = g.nodes[has_op ? *main_it : k.nodes.front()];
  const std::string& cls = k.ops.front();
  const Shape in =
      head.inputs.empty() || head.inputs[0].empty() ? Shape{} : g.shape(head.inputs[0]);
  const Shape out = k.output_shapes.empty() ? Shape{} : k.output_shapes.front();
  if (cls == "conv" || cls == "dwconv" || cls == "convtrans") {
    const Shape& hout = g.shape(head.outputs[0]);
    const auto ks =
        head.attr_ints("kernel_shape", {g.shape(head.inputs[1])[2], g.shape(head.inputs[1])[3]});
    const auto st = head.attr_ints("strides", {1, 1});
    c.set("HW", in[2]);
    c.set("CIN", in[1]);
    if (cls != "dwconv" || hout[1] != in[1]) c.set("COUT", hout[1]);
    c.set("KERNEL_SIZE", ks[0]);
    c.set("STRIDES", st[0]);
    if (in[3] != in[2]) c.set("WIDTH", in[3]);
    if (ks[1] != ks[0]) c.set("KERNEL_W", ks[1]);
    if (cls == "conv" && head.attr_int("group", 1) > 1) c.set("GROUPS", head.attr_int("group", 1));
    const auto dil = head.attr_ints("dilations", {1, 1});
    if (dil[0] > 1) c.set("DILATION", dil[0]);
  } else if (cls == "fc") {
    const Shape& a = in;
    const Shape& hout = g.shape(head.outputs[0]);
    const int64_t cin = head.op_type == "Gemm" && head.attr_int("transA", 0) ? a[0] : a.back();
    c.set("CIN", cin);
    c.set("COUT", hout.back());
    const int64_t rows = graph::numel(hout) / hout.back();
    if (rows > 1) c.set("ROWS", rows);
  } else if (cls == "matmul") {
    const Shape& b = g.shape(head.inputs[1]);
    const Shape& hout = g.shape(head.outputs[0]);
    c.set("M", in.size() >= 2 ? in[in.size() - 2] : 1);
    c.set("K", in.back());
    c.set("N", b.back());
    const int64_t batch =
        graph::numel(hout) / ((in.size() >= 2 ? in[in.size() - 2] : 1) * b.back());
    if (batch > 1) c.set("BATCH", batch);
  } else if (cls == "maxpool" || cls == "avgpool") {
    set_spatial(c, in);
    c.set("KERNEL_SIZE", head.attr_ints("kernel_shape").at(0));
    c.set("POOL_STRIDES", head.attr_ints("strides", {1, 1}).at(0));
  } else if (cls == "concat") {
    set_spatial(c, out);
    // 1..N inputs (a Concat of one input is what PyTorch exports for torch.cat([x])).
    KernelConfig cc;
    cc.set("HW", c.get("HW"));
    if (c.has("WIDTH")) cc.set("WIDTH", c.get("WIDTH"));
    int idx = 1;
    for (const auto& t : head.inputs) {
      const Shape& s = g.shape(t);
      cc.set(fmt::format("CIN{}", idx++), s.size() == 4 ? s[1] : s.back());
    }
    cc.set("NS", static_cast<int64_t>(head.inputs.size()));
    c = cc;
  } else if (cls == "split") {
    set_spatial(c, in);
    c.set("NS", static_cast<int64_t>(head.outputs.size()));
  } else if (cls == "channelshuffle") {
    set_spatial(c, in);
    c.set("GROUPS", g.shape(head.outputs[0])[1]);
  } else if (cls == "se") {
    // The block's input is the tensor both the pool and the final multiply read.
    const Node& last = g.nodes[k.nodes.back()];
    const Shape& x = g.shape(k.inputs.size() == 1 ? k.inputs[0] : last.inputs[0]);
    set_spatial(c, x);
    for (size_t i : k.nodes) {
      const Node& n = g.nodes[i];
      if (n.op_type == "Conv" || n.op_type == "Gemm" || n.op_type == "MatMul") {
        c.set("CMID", g.shape(n.outputs[0]).size() == 4 ? g.shape(n.outputs[0])[1]
                                                        : g.shape(n.outputs[0]).back());
        break;
      }
    }
  } else if (cls == "resize") {
    set_spatial(c, in);
    c.set("SCALE", static_cast<int64_t>(std::lround(static_cast<double>(out.at(2)) /
                                                    static_cast<double>(in.at(2)))));
  } else if (is_elementwise_kernel(cls)) {
    set_spatial(c, out.empty() ? in : out);
  } else {
    set_spatial(c, in.empty() ? out : in);
  }
}

std::vector<Kernel> detect_kernels(const Graph& g, const FusionRules& rules) {
  return Detector(g, rules).run();
}

KernelTotals summarize(const Graph& g, const std::vector<Kernel>& kernels) {
  KernelTotals t;
  for (const auto& k : kernels) {
    t.flops += k.flops;
    t.params += k.params;
    t.bytes += k.bytes;
    t.count_by_type[k.type]++;
    t.count_by_dtype[k.dtype]++;
    if (k.unknown())
      for (size_t i : k.nodes) t.unknown_ops.emplace_back(g.nodes[i].op_type, g.nodes[i].name);
  }
  return t;
}

}  // namespace nnjoule::kernels
