// Lowering of elementwise binary and unary ops and softmax, with broadcasting.
#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <map>
#include <optional>
#include <set>

#include "lowering.hpp"
#include "nnjoule/common/error.hpp"
#include "nnjoule/graph/ops.hpp"
#include "ops.hpp"

namespace nnjoule::exec::detail {

// ---- elementwise ----

int Compiler::expand_rank(int v, size_t rank) {
  const Value x = m_.values[v];
  const size_t k = rank - x.shape.size();
  if (k == 0) return v;
  Shape s(k, 1);
  s.insert(s.end(), x.shape.begin(), x.shape.end());
  Perm p = identity_perm(k);
  for (int d : x.perm) p.push_back(d + static_cast<int>(k));
  return alias(v, s, p);
}

int Compiler::make_binary(size_t node, const std::string& op, int va, int vb,
                          const std::string& out, const Shape& os, Clamp c,
                          std::vector<size_t> nodes) {
  const size_t r = os.size();
  va = expand_rank(va, r);
  vb = expand_rank(vb, r);
  // The output takes the layout of the operand that has its full shape, so only a broadcast
  // operand may need converting.
  Perm p = identity_perm(r);
  for (int v : {va, vb}) {
    const Value& x = m_.values[v];
    if (x.constant < 0 && x.shape == os) {
      p = x.perm;
      break;
    }
  }
  va = ensure(va, p);
  vb = ensure(vb, p);
  const int y = new_value(out, os, p);
  // Physical shapes, with size-1 axes dropped and neighbours of equal broadcast merged.
  const Shape ps = physical_shape(os, p);
  const Shape pa0 = physical_shape(m_.values[va].shape, p);
  const Shape pb0 = physical_shape(m_.values[vb].shape, p);
  Shape pa, pb;
  for (size_t j = 0; j < r; ++j) {
    if (ps[j] == 1) continue;
    const bool fa = pa0[j] != 1, fb = pb0[j] != 1;
    if (!pa.empty() && (pa.back() != 1) == fa && (pb.back() != 1) == fb) {
      pa.back() *= pa0[j];
      pb.back() *= pb0[j];
    } else {
      pa.push_back(pa0[j]);
      pb.push_back(pb0[j]);
    }
  }
  if (pa.empty()) pa = pb = {1};
  const Node& n = g_.nodes[node];
  if (pa.size() > XNN_MAX_TENSOR_DIMS) {
    node_fail(n, fmt::format("broadcast over {} axes exceeds XNNPACK's {}", pa.size(),
                             XNN_MAX_TENSOR_DIMS));
  }
  std::string kind = op == "Add" ? "add" : op == "Sub" ? "sub" : op == "Mul" ? "mul" : "div";
  const char* impl = op == "Add"   ? "xnnpack:add_nd_f32"
                     : op == "Sub" ? "xnnpack:subtract_nd_f32"
                     : op == "Mul" ? "xnnpack:multiply_nd_f32"
                                   : "xnnpack:divide_nd_f32";
  nodes.insert(nodes.begin(), node);
  StepImpl st = step_for(
      node, kind, impl + fused_label(std::vector<std::string>(nodes.size() - 1, "clamp")), nodes);
  st.reads = {va, vb};
  st.writes = {y};
  auto xop = std::make_shared<XnnOp>();
  const std::string name = n.name;
  st.create = [=](uint32_t f) {
    xnn_status s;
    if (op == "Add")
      s = xnn_create_add_nd_f32(c.lo, c.hi, f, &xop->op);
    else if (op == "Sub")
      s = xnn_create_subtract_nd_f32(c.lo, c.hi, f, &xop->op);
    else if (op == "Mul")
      s = xnn_create_multiply_nd_f32(c.lo, c.hi, f, &xop->op);
    else
      s = xnn_create_divide_nd_f32(c.lo, c.hi, f, &xop->op);
    xnn_check(s, name, "create binary operator");
  };
  st.bind = [=](const BindContext& b) {
    const auto sa = to_sizes(pa), sb = to_sizes(pb);
    xnn_status s;
    const float *x1 = b.ptr(va), *x2 = b.ptr(vb);
    float* o = b.ptr(y);
    if (op == "Add") {
      s = xnn_setup_add_nd_f32(xop->op, sa.size(), sa.data(), sb.size(), sb.data(), x1, x2, o,
                               b.pool);
    } else if (op == "Sub") {
      s = xnn_setup_subtract_nd_f32(xop->op, sa.size(), sa.data(), sb.size(), sb.data(), x1, x2, o,
                                    b.pool);
    } else if (op == "Mul") {
      s = xnn_setup_multiply_nd_f32(xop->op, sa.size(), sa.data(), sb.size(), sb.data(), x1, x2, o,
                                    b.pool);
    } else {
      s = xnn_setup_divide_nd_f32(xop->op, sa.size(), sa.data(), sb.size(), sb.data(), x1, x2, o,
                                  b.pool);
    }
    xnn_check(s, name, "setup binary operator");
    return xnn_runner(xop, b.pool, name);
  };
  add_step(std::move(st));
  return y;
}

void Compiler::lower_binary(size_t i) {
  const Node& n = g_.nodes[i];
  Clamp c;
  std::vector<size_t> nodes;
  const std::string out = absorb_clamps(n.outputs[0], c, nodes);
  const int y = make_binary(i, n.op_type, value_of(n.inputs[0]), value_of(n.inputs[1]), out,
                            g_.shape(n.outputs[0]), c, nodes);
  val_[out] = y;
}

void Compiler::lower_unary(size_t i) {
  const Node& n = g_.nodes[i];
  const std::string& op = n.op_type;
  const int in = value_of(n.inputs[0]);
  const Value x = m_.values[in];
  if (op == "Identity") {
    val_[n.outputs[0]] = alias(in, x.shape, x.perm);
    return;
  }
  std::vector<size_t> nodes = {i};
  std::string out = n.outputs[0];
  std::string kind_op = op;
  // x * HardSigmoid(x) with PyTorch's constants is h-swish (how torch exports Hardswish
  // before opset 14): one XNNPACK operator.
  if (op == "HardSigmoid" && std::fabs(n.attr_float("alpha", 0.2f) - 1.f / 6.f) < 1e-6f &&
      n.attr_float("beta", 0.5f) == 0.5f) {
    const long j = sole_consumer(out);
    if (j >= 0 && g_.nodes[j].op_type == "Mul") {
      const Node& mul = g_.nodes[j];
      const std::string& other = mul.inputs[0] == out ? mul.inputs[1] : mul.inputs[0];
      if (other == n.inputs[0] && g_.shape(mul.outputs[0]) == x.shape) {
        done_[j] = true;
        nodes.push_back(static_cast<size_t>(j));
        out = mul.outputs[0];
        kind_op = "HardSwish";
        ++counts_["h-swish patterns recognised"];
      }
    }
  }
  Clamp c;
  if (op == "Relu" || op == "Clip") {
    if (!absorb_clamp(n, c)) node_fail(n, "empty clip range");
    out = absorb_clamps(out, c, nodes);
    if (!c.bounded()) {
      val_[out] = alias(in, x.shape, x.perm);
      return;
    }
  }
  const int y = new_value(out, x.shape, x.perm);
  val_[out] = y;
  const size_t count = static_cast<size_t>(x.numel());
  const std::string name = n.name;
  if (kind_op == "Tanh" || kind_op == "HardSigmoid") {
    UnaryKernel k;
    k.kind = op == "Tanh" ? UnaryKind::kTanh : UnaryKind::kHardSigmoid;
    k.alpha = n.attr_float("alpha", 0.2f);
    k.beta = n.attr_float("beta", 0.5f);
    k.count = static_cast<int64_t>(count);
    StepImpl st = step_for(i, op == "Tanh" ? "tanh" : "hsigmoid", "nnjoule:elementwise", nodes);
    st.reads = {in};
    st.writes = {y};
    st.bind = [k, in, y](const BindContext& b) -> std::function<void()> {
      const float* src = b.ptr(in);
      float* dst = b.ptr(y);
      const Parallel par = b.par;
      return [k, src, dst, par] { k.run(src, dst, par); };
    };
    add_step(std::move(st));
    return;
  }
  std::string kind = kind_op == "Sigmoid"     ? "sigmoid"
                     : kind_op == "HardSwish" ? "hswish"
                     : kind_op == "LeakyRelu" ? "leakyrelu"
                                              : "clamp";
  if (kind_op != "Sigmoid" && kind_op != "HardSwish" && kind_op != "LeakyRelu" &&
      kind_op != "Relu" && kind_op != "Clip") {
    node_fail(n, "op not supported by the execution engine");
  }
  const float slope = n.attr_float("alpha", 0.01f);
  StepImpl st = step_for(i, kind, "xnnpack:" + kind + "_nc_f32", nodes);
  st.reads = {in};
  st.writes = {y};
  auto xop = std::make_shared<XnnOp>();
  st.create = [=](uint32_t f) {
    xnn_status s;
    if (kind_op == "Sigmoid")
      s = xnn_create_sigmoid_nc_f32(count, count, count, f, &xop->op);
    else if (kind_op == "HardSwish")
      s = xnn_create_hardswish_nc_f32(count, count, count, f, &xop->op);
    else if (kind_op == "LeakyRelu") {
      s = xnn_create_leaky_relu_nc_f32(count, count, count, slope, f, &xop->op);
    } else {
      s = xnn_create_clamp_nc_f32(count, count, count, c.lo, c.hi, f, &xop->op);
    }
    xnn_check(s, name, "create elementwise operator");
  };
  st.bind = [=](const BindContext& b) {
    xnn_status s;
    const float* src = b.ptr(in);
    float* dst = b.ptr(y);
    if (kind_op == "Sigmoid")
      s = xnn_setup_sigmoid_nc_f32(xop->op, 1, src, dst, b.pool);
    else if (kind_op == "HardSwish")
      s = xnn_setup_hardswish_nc_f32(xop->op, 1, src, dst, b.pool);
    else if (kind_op == "LeakyRelu")
      s = xnn_setup_leaky_relu_nc_f32(xop->op, 1, src, dst, b.pool);
    else
      s = xnn_setup_clamp_nc_f32(xop->op, 1, src, dst, b.pool);
    xnn_check(s, name, "setup elementwise operator");
    return xnn_runner(xop, b.pool, name);
  };
  add_step(std::move(st));
}

void Compiler::lower_softmax(size_t i) {
  const Node& n = g_.nodes[i];
  const Shape& xs = g_.shape(n.inputs[0]);
  int64_t axis = n.attr_int("axis", -1);
  if (axis < 0) axis += static_cast<int64_t>(xs.size());
  int in = value_of(n.inputs[0]);
  Perm p = m_.values[in].perm;
  if (p.back() != axis) {
    p.clear();
    for (size_t d = 0; d < xs.size(); ++d)
      if (static_cast<int64_t>(d) != axis) p.push_back(static_cast<int>(d));
    p.push_back(static_cast<int>(axis));
  }
  in = ensure(in, p);
  const int y = new_value(n.outputs[0], xs, p);
  val_[n.outputs[0]] = y;
  const size_t len = static_cast<size_t>(xs[axis]);
  const size_t batch = static_cast<size_t>(graph::numel(xs)) / len;
  const std::string name = n.name;
  StepImpl st = step_for(i, "softmax", "xnnpack:softmax_nc_f32", {i});
  st.reads = {in};
  st.writes = {y};
  auto op = std::make_shared<XnnOp>();
  st.create = [=](uint32_t f) {
    xnn_check(xnn_create_softmax_nc_f32(len, len, len, f, &op->op), name, "create softmax");
  };
  st.bind = [=](const BindContext& b) {
    xnn_check(xnn_setup_softmax_nc_f32(op->op, batch, b.ptr(in), b.ptr(y), b.pool), name,
              "setup softmax");
    return xnn_runner(op, b.pool, name);
  };
  add_step(std::move(st));
}

}  // namespace nnjoule::exec::detail

// ---- reference implementations ----

namespace nnjoule::exec::ref {
namespace {

Tensor binary(const Node& n, const Tensor& a, const Tensor& b, const Shape& out) {
  Tensor y(out);
  const std::string& op = n.op_type;
  for (int64_t i = 0; i < y.size(); ++i) {
    const auto idx = unravel(i, out);
    const double x1 = a.data[broadcast_offset(a.shape, idx)];
    const double x2 = b.data[broadcast_offset(b.shape, idx)];
    double v = 0;
    if (op == "Add")
      v = x1 + x2;
    else if (op == "Sub")
      v = x1 - x2;
    else if (op == "Mul")
      v = x1 * x2;
    else
      v = x1 / x2;
    y.data[i] = static_cast<float>(v);
  }
  return y;
}

float unary(const Node& n, float xf) {
  const double x = xf;
  const std::string& op = n.op_type;
  if (op == "Relu") return static_cast<float>(std::max(x, 0.0));
  if (op == "Sigmoid") return static_cast<float>(1.0 / (1.0 + std::exp(-x)));
  if (op == "Tanh") return static_cast<float>(std::tanh(x));
  if (op == "HardSwish") return static_cast<float>(x * std::clamp(x + 3.0, 0.0, 6.0) / 6.0);
  if (op == "HardSigmoid") {
    const double alpha = n.attr_float("alpha", 0.2f), beta = n.attr_float("beta", 0.5f);
    return static_cast<float>(std::clamp(alpha * x + beta, 0.0, 1.0));
  }
  if (op == "LeakyRelu") return static_cast<float>(x >= 0 ? x : x * n.attr_float("alpha", 0.01f));
  if (op == "Clip") {
    double v = x;
    if (n.has_attr("min")) v = std::max(v, static_cast<double>(n.attr_float("min", 0)));
    if (n.has_attr("max")) v = std::min(v, static_cast<double>(n.attr_float("max", 0)));
    return static_cast<float>(v);
  }
  return xf;  // Identity
}

Tensor softmax(const Node& n, const Tensor& x, const Shape& out) {
  const int64_t a = norm_axis(n, n.attr_int("axis", -1), x.shape.size());
  const auto st = strides_of(x.shape);
  const int64_t len = x.shape[a], stride = st[a];
  Tensor y(out);
  for (int64_t i = 0; i < x.size(); ++i) {
    if ((i / stride) % len != 0) continue;  // i is the first element of its row
    double mx = -std::numeric_limits<double>::infinity();
    for (int64_t j = 0; j < len; ++j)
      mx = std::max(mx, static_cast<double>(x.data[i + j * stride]));
    double sum = 0;
    for (int64_t j = 0; j < len; ++j) sum += std::exp(x.data[i + j * stride] - mx);
    for (int64_t j = 0; j < len; ++j) {
      y.data[i + j * stride] = static_cast<float>(std::exp(x.data[i + j * stride] - mx) / sum);
    }
  }
  return y;
}

Tensor activation(const RefCall& c) {
  const Tensor& x = c.x();
  Tensor y(c.out);
  for (int64_t i = 0; i < y.size(); ++i) y.data[i] = unary(c.n, x.data[i]);
  return y;
}

}  // namespace
}  // namespace nnjoule::exec::ref

namespace nnjoule::exec {

std::vector<ExecOp> elementwise_ops() {
  using detail::Compiler;
  return {
      {"Add",
       [](const RefCall& c) -> std::vector<Tensor> {
         return {ref::binary(c.n, c.x(), c.input(1), c.out)};
       },
       [](Compiler& k, size_t i) { k.lower_binary(i); }},
      {"Sub",
       [](const RefCall& c) -> std::vector<Tensor> {
         return {ref::binary(c.n, c.x(), c.input(1), c.out)};
       },
       [](Compiler& k, size_t i) { k.lower_binary(i); }},
      {"Mul",
       [](const RefCall& c) -> std::vector<Tensor> {
         return {ref::binary(c.n, c.x(), c.input(1), c.out)};
       },
       [](Compiler& k, size_t i) { k.lower_binary(i); }},
      {"Div",
       [](const RefCall& c) -> std::vector<Tensor> {
         return {ref::binary(c.n, c.x(), c.input(1), c.out)};
       },
       [](Compiler& k, size_t i) { k.lower_binary(i); }},
      {"Relu", [](const RefCall& c) -> std::vector<Tensor> { return {ref::activation(c)}; },
       [](Compiler& k, size_t i) { k.lower_unary(i); }},
      {"Clip", [](const RefCall& c) -> std::vector<Tensor> { return {ref::activation(c)}; },
       [](Compiler& k, size_t i) { k.lower_unary(i); }},
      {"Sigmoid", [](const RefCall& c) -> std::vector<Tensor> { return {ref::activation(c)}; },
       [](Compiler& k, size_t i) { k.lower_unary(i); }},
      {"HardSwish", [](const RefCall& c) -> std::vector<Tensor> { return {ref::activation(c)}; },
       [](Compiler& k, size_t i) { k.lower_unary(i); }},
      {"HardSigmoid", [](const RefCall& c) -> std::vector<Tensor> { return {ref::activation(c)}; },
       [](Compiler& k, size_t i) { k.lower_unary(i); }},
      {"Tanh", [](const RefCall& c) -> std::vector<Tensor> { return {ref::activation(c)}; },
       [](Compiler& k, size_t i) { k.lower_unary(i); }},
      {"LeakyRelu", [](const RefCall& c) -> std::vector<Tensor> { return {ref::activation(c)}; },
       [](Compiler& k, size_t i) { k.lower_unary(i); }},
      {"Identity", [](const RefCall& c) -> std::vector<Tensor> { return {ref::activation(c)}; },
       [](Compiler& k, size_t i) { k.lower_unary(i); }},
      {"Softmax",
       [](const RefCall& c) -> std::vector<Tensor> { return {ref::softmax(c.n, c.x(), c.out)}; },
       [](Compiler& k, size_t i) { k.lower_softmax(i); }},
  };
}

}  // namespace nnjoule::exec
