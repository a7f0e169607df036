// Lowering of fully connected layers (Gemm) and matrix products (MatMul).
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

// ---- fully connected and matrix products ----

void Compiler::add_fc_step(size_t i, const std::vector<size_t>& nodes, int in, int y, int64_t batch,
                           int64_t K, int64_t N, std::vector<float> kernel, std::vector<float> bias,
                           Clamp c, const std::string& label) {
  const std::string name = g_.nodes[i].name;
  m_.constant_bytes += static_cast<int64_t>((kernel.size() + bias.size()) * sizeof(float));
  StepImpl st = step_for(i, "fc", "xnnpack:fully_connected_nc_f32" + label, nodes);
  st.reads = {in};
  st.writes = {y};
  auto op = std::make_shared<XnnOp>();
  st.create = [=, kernel = std::move(kernel), bias = std::move(bias)](uint32_t f) {
    xnn_check(xnn_create_fully_connected_nc_f32(K, N, K, N, kernel.data(), bias.data(), c.lo, c.hi,
                                                f, &op->op),
              name, "create fully connected");
  };
  st.bind = [=](const BindContext& b) {
    xnn_check(xnn_setup_fully_connected_nc_f32(op->op, batch, b.ptr(in), b.ptr(y), b.pool), name,
              "setup fully connected");
    return xnn_runner(op, b.pool, name);
  };
  add_step(std::move(st));
}

void Compiler::lower_gemm(size_t i) {
  const Node& n = g_.nodes[i];
  const Shape& as = g_.shape(n.inputs[0]);
  const Shape& bs = g_.shape(n.inputs[1]);
  const Shape& os = g_.shape(n.outputs[0]);
  const bool ta = n.attr_int("transA", 0) != 0, tb = n.attr_int("transB", 0) != 0;
  const double alpha = n.attr_float("alpha", 1.f), beta = n.attr_float("beta", 1.f);
  if (!g_.is_constant(n.inputs[1])) {
    node_fail(n, "Gemm with a runtime B operand is not supported by the engine (MatMul is)");
  }
  const auto& b = weights(n, 1, "B");
  const int64_t M = os[0], N = os[1], K = ta ? as[0] : as[1];
  std::vector<float> kernel(static_cast<size_t>(N * K));
  const bool has_c = n.inputs.size() > 2 && !n.inputs[2].empty();
  std::optional<std::vector<double>> cvec;
  if (has_c) cvec = per_channel(n.inputs[2], os, 1, N);
  const bool c_add = has_c && !cvec;  // a runtime or full-matrix C: a separate add
  Epilogue e{std::vector<double>(N, 1.0), std::vector<double>(N, 0.0)};
  if (cvec)
    for (int64_t k = 0; k < N; ++k) e.shift[k] = beta * (*cvec)[k];
  std::vector<size_t> nodes = {i};
  const std::string out = c_add ? n.outputs[0] : absorb(n.outputs[0], 1, N, e, nodes);
  for (int64_t o = 0; o < N; ++o)
    for (int64_t k = 0; k < K; ++k) {
      const float v = tb ? b[o * bs[1] + k] : b[k * bs[1] + o];
      kernel[o * K + k] = static_cast<float>(alpha * v * e.scale[o]);
    }
  std::vector<float> bias(e.shift.begin(), e.shift.end());
  int a = value_of(n.inputs[0]);
  if (ta) a = alias(ensure(a, {0, 1}), {as[1], as[0]}, {1, 0});
  a = ensure(a, {0, 1});
  const int y = new_value(c_add ? out + "@ab" : out, os, {0, 1});
  add_fc_step(i, nodes, a, y, M, K, N, std::move(kernel), std::move(bias), e.clamp,
              fused_label(e.fused));
  if (!c_add) {
    val_[out] = y;
    return;
  }
  int cv = value_of(n.inputs[2]);
  if (beta != 1.0) {
    const Value c = m_.values[cv];
    if (c.constant < 0) node_fail(n, "a runtime C with beta != 1 is not supported by the engine");
    std::vector<float> scaled(static_cast<size_t>(c.numel()));
    for (size_t k = 0; k < scaled.size(); ++k) {
      scaled[k] = static_cast<float>(beta * m_.constants[c.constant][k]);
    }
    cv = constant_value(c.name + "@beta", c.shape, c.perm, std::move(scaled));
  }
  Clamp c;
  std::vector<size_t> add_nodes;
  const std::string final_out = absorb_clamps(out, c, add_nodes);
  val_[final_out] = make_binary(i, "Add", y, cv, final_out, os, c, add_nodes);
}

void Compiler::lower_matmul(size_t i) {
  const Node& n = g_.nodes[i];
  const Shape& as = g_.shape(n.inputs[0]);
  const Shape& bs = g_.shape(n.inputs[1]);
  const Shape& os = g_.shape(n.outputs[0]);
  const bool b_const = g_.is_constant(n.inputs[1]);
  if (b_const && bs.size() <= 2 && !g_.is_constant(n.inputs[0])) {
    // A runtime activation times a weight matrix: one fully connected operator.
    const auto& b = weights(n, 1, "B");
    const int64_t K = bs[0], N = bs.size() == 2 ? bs[1] : 1;
    const int64_t batch = graph::numel(as) / K;
    Epilogue e{std::vector<double>(N, 1.0), std::vector<double>(N, 0.0)};
    std::vector<size_t> nodes = {i};
    std::string out = n.outputs[0];
    if (bs.size() == 2 && !os.empty()) {
      out = absorb(out, static_cast<int>(os.size()) - 1, N, e, nodes);
    }
    std::vector<float> kernel(static_cast<size_t>(N * K));
    for (int64_t o = 0; o < N; ++o)
      for (int64_t k = 0; k < K; ++k)
        kernel[o * K + k] = static_cast<float>(b[k * N + o] * e.scale[o]);
    std::vector<float> bias(e.shift.begin(), e.shift.end());
    const int a = ensure(value_of(n.inputs[0]), identity_perm(as.size()));
    const Shape& final_shape = g_.shape(out);
    const int y = new_value(out, final_shape, identity_perm(final_shape.size()));
    val_[out] = y;
    add_fc_step(i, nodes, a, y, batch, K, N, std::move(kernel), std::move(bias), e.clamp,
                fused_label(e.fused));
    return;
  }
  // A batched product: one fully connected operator per output batch, B as its [K, N]
  // weights. A constant B is packed once here; a runtime B is packed on every run, which is
  // what any runtime must do with weights it has not seen (still ~10x a plain loop).
  Shape a2 = as, b2 = bs;
  if (a2.size() == 1) a2.insert(a2.begin(), 1);
  if (b2.size() == 1) b2.push_back(1);
  const int64_t M = a2[a2.size() - 2], K = a2.back(), N = b2.back();
  Shape ab(a2.begin(), a2.end() - 2), bb(b2.begin(), b2.end() - 2);
  const size_t r = std::max(ab.size(), bb.size());
  ab.insert(ab.begin(), r - ab.size(), 1);
  bb.insert(bb.begin(), r - bb.size(), 1);
  Shape ob(r);
  for (size_t d = 0; d < r; ++d) ob[d] = std::max(ab[d], bb[d]);
  std::vector<int64_t> a_off, b_off;  // per output batch, in elements
  for (int64_t flat = 0; flat < graph::numel(ob); ++flat) {
    int64_t rem = flat, ao = 0, bo = 0, am = 1, bm = 1;
    for (int64_t d = static_cast<int64_t>(r) - 1; d >= 0; --d) {
      const int64_t idx = rem % ob[d];
      rem /= ob[d];
      if (ab[d] != 1) ao += idx * am;
      if (bb[d] != 1) bo += idx * bm;
      am *= ab[d];
      bm *= bb[d];
    }
    a_off.push_back(ao * M * K);
    b_off.push_back(bo * K * N);
  }
  const int a = ensure(value_of(n.inputs[0]), identity_perm(as.size()));
  const int b = ensure(value_of(n.inputs[1]), identity_perm(bs.size()));
  const int y = new_value(n.outputs[0], os, identity_perm(os.size()));
  val_[n.outputs[0]] = y;
  const bool constant_b = m_.values[b].constant >= 0;
  StepImpl st = step_for(i, "matmul",
                         constant_b ? "xnnpack:fully_connected_nc_f32 per batch"
                                    : "xnnpack:fully_connected_nc_f32 per batch, B packed per run",
                         {i});
  st.reads = {a, b};
  st.writes = {y};
  const std::string name = n.name;
  const size_t batches = a_off.size();
  std::vector<std::shared_ptr<XnnOp>> ops;
  for (size_t k = 0; k < batches; ++k) ops.push_back(std::make_shared<XnnOp>());
  const size_t uM = static_cast<size_t>(M), uK = static_cast<size_t>(K),
               uN = static_cast<size_t>(N);
  if (constant_b) {
    const float* bdata = constant_data(b);
    st.create = [=](uint32_t f) {
      for (size_t k = 0; k < batches; ++k) {
        xnn_check(
            xnn_create_fully_connected_nc_f32(uK, uN, uK, uN, bdata + b_off[k], nullptr, -kInf,
                                              kInf, XNN_FLAG_TRANSPOSE_WEIGHTS | f, &ops[k]->op),
            name, "create fully connected");
      }
    };
    st.bind = [=](const BindContext& c) -> std::function<void()> {
      std::vector<std::function<void()>> runs;
      for (size_t k = 0; k < batches; ++k) {
        xnn_check(
            xnn_setup_fully_connected_nc_f32(ops[k]->op, uM, c.ptr(a) + a_off[k],
                                             c.ptr(y) + static_cast<int64_t>(k) * M * N, c.pool),
            name, "setup fully connected");
        runs.push_back(xnn_runner(ops[k], c.pool, name));
      }
      return [runs] {
        for (const auto& run : runs) run();
      };
    };
  } else {
    st.bind = [=](const BindContext& c) -> std::function<void()> {
      const float* pa = c.ptr(a);
      const float* pb = c.ptr(b);
      float* py = c.ptr(y);
      pthreadpool_t pool = c.pool;
      const uint32_t f = XNN_FLAG_TRANSPOSE_WEIGHTS | c.xnn_flags;
      return [=] {
        for (size_t k = 0; k < batches; ++k) {
          XnnOp op;
          xnn_check(xnn_create_fully_connected_nc_f32(uK, uN, uK, uN, pb + b_off[k], nullptr, -kInf,
                                                      kInf, f, &op.op),
                    name, "create fully connected");
          xnn_check(xnn_setup_fully_connected_nc_f32(op.op, uM, pa + a_off[k],
                                                     py + static_cast<int64_t>(k) * M * N, pool),
                    name, "setup fully connected");
          xnn_check(xnn_run_operator(op.op, pool), name, "run fully connected");
        }
      };
    };
  }
  add_step(std::move(st));
}

}  // namespace nnjoule::exec::detail

// ---- reference implementations ----

namespace nnjoule::exec::ref {
namespace {

// Matrix product of the last two axes with numpy broadcasting of the leading ones.
Tensor matmul(const Tensor& a0, const Tensor& b0, const Shape& out) {
  Shape as = a0.shape, bs = b0.shape;
  if (as.size() == 1) as.insert(as.begin(), 1);
  if (bs.size() == 1) bs.push_back(1);
  const int64_t M = as[as.size() - 2], K = as.back(), N = bs.back();
  Shape abatch(as.begin(), as.end() - 2), bbatch(bs.begin(), bs.end() - 2);
  const size_t r = std::max(abatch.size(), bbatch.size());
  abatch.insert(abatch.begin(), r - abatch.size(), 1);
  bbatch.insert(bbatch.begin(), r - bbatch.size(), 1);
  Shape obatch(r);
  for (size_t i = 0; i < r; ++i) obatch[i] = std::max(abatch[i], bbatch[i]);
  Tensor y(out);
  const int64_t batches = graph::numel(obatch);
  for (int64_t bi = 0; bi < batches; ++bi) {
    const auto idx = unravel(bi, obatch);
    const int64_t ao = broadcast_offset(abatch, idx) * M * K;
    const int64_t bo = broadcast_offset(bbatch, idx) * K * N;
    for (int64_t i = 0; i < M; ++i)
      for (int64_t j = 0; j < N; ++j) {
        double acc = 0;
        for (int64_t k = 0; k < K; ++k) {
          acc += static_cast<double>(a0.data[ao + i * K + k]) * b0.data[bo + k * N + j];
        }
        y.data[(bi * M + i) * N + j] = static_cast<float>(acc);
      }
  }
  return y;
}

Tensor gemm(const Node& n, const std::vector<const Tensor*>& in, const Shape& out) {
  const Tensor& a = *in[0];
  const Tensor& b = *in[1];
  const bool ta = n.attr_int("transA", 0) != 0, tb = n.attr_int("transB", 0) != 0;
  const double alpha = n.attr_float("alpha", 1.f), beta = n.attr_float("beta", 1.f);
  const int64_t M = out[0], N = out[1], K = ta ? a.shape[0] : a.shape[1];
  Tensor y(out);
  for (int64_t i = 0; i < M; ++i)
    for (int64_t j = 0; j < N; ++j) {
      double acc = 0;
      for (int64_t k = 0; k < K; ++k) {
        const double av = ta ? a.data[k * M + i] : a.data[i * K + k];
        const double bv = tb ? b.data[j * K + k] : b.data[k * N + j];
        acc += av * bv;
      }
      acc *= alpha;
      if (in.size() > 2 && in[2]) acc += beta * in[2]->data[broadcast_offset(in[2]->shape, {i, j})];
      y.data[i * N + j] = static_cast<float>(acc);
    }
  return y;
}

}  // namespace
}  // namespace nnjoule::exec::ref

namespace nnjoule::exec {

std::vector<ExecOp> linear_ops() {
  using detail::Compiler;
  return {
      {"Gemm",
       [](const RefCall& c) -> std::vector<Tensor> { return {ref::gemm(c.n, c.in, c.out)}; },
       [](Compiler& k, size_t i) { k.lower_gemm(i); }},
      {"MatMul",
       [](const RefCall& c) -> std::vector<Tensor> {
         return {ref::matmul(c.x(), c.input(1), c.out)};
       },
       [](Compiler& k, size_t i) { k.lower_matmul(i); }},
  };
}

}  // namespace nnjoule::exec
