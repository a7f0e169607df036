// The reference executor: one plain loop nest per op over row-major NCHW tensors. Sums run in
// double so that the engine's float32 results are compared against something more exact.
#include "nnjoule/exec/reference.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <map>
#include <set>

#include "nnjoule/common/error.hpp"
#include "nnjoule/graph/ops.hpp"

namespace nnjoule::exec {
namespace {

using graph::Graph;
using graph::Node;
using graph::Shape;

[[noreturn]] void node_fail(const Node& n, const std::string& what) {
  fail("node '{}' ({}): {}", n.name, n.op_type, what);
}

std::vector<int64_t> strides_of(const Shape& s) {
  std::vector<int64_t> st(s.size(), 1);
  for (int64_t i = static_cast<int64_t>(s.size()) - 2; i >= 0; --i) st[i] = st[i + 1] * s[i + 1];
  return st;
}

// Multi-index of flat position `flat` in shape `s`.
std::vector<int64_t> unravel(int64_t flat, const Shape& s) {
  std::vector<int64_t> idx(s.size());
  for (int64_t i = static_cast<int64_t>(s.size()) - 1; i >= 0; --i) {
    idx[i] = flat % s[i];
    flat /= s[i];
  }
  return idx;
}

int64_t norm_axis(const Node& n, int64_t axis, size_t rank) {
  const auto r = static_cast<int64_t>(rank);
  if (axis < -r || axis >= r) node_fail(n, fmt::format("axis {} out of range", axis));
  return axis < 0 ? axis + r : axis;
}

// Offset into a tensor of shape `s` broadcast to `out` (right-aligned) at multi-index `idx`.
int64_t broadcast_offset(const Shape& s, const std::vector<int64_t>& idx) {
  const size_t off = idx.size() - s.size();
  int64_t o = 0;
  for (size_t i = 0; i < s.size(); ++i) o = o * s[i] + (s[i] == 1 ? 0 : idx[off + i]);
  return o;
}

const std::vector<int64_t>& const_ints(const Graph& g, const Node& n, size_t i) {
  if (i >= n.inputs.size() || !g.is_constant(n.inputs[i])) {
    node_fail(n, fmt::format("input {} must be a constant", i));
  }
  const auto& t = g.constant(n.inputs[i]);
  if (t.dtype == graph::DType::kFloat32) node_fail(n, fmt::format("input {} must be integer", i));
  return t.i64;
}

Tensor conv(const Node& n, const Tensor& x, const Tensor& w, const Tensor* b, const Shape& out) {
  const int64_t group = n.attr_int("group", 1);
  const auto s = n.attr_ints("strides", {1, 1});
  const auto p = n.attr_ints("pads", {0, 0, 0, 0});
  const auto d = n.attr_ints("dilations", {1, 1});
  const int64_t N = x.shape[0], C = x.shape[1], H = x.shape[2], W = x.shape[3];
  const int64_t K = out[1], OH = out[2], OW = out[3], KH = w.shape[2], KW = w.shape[3];
  const int64_t gic = C / group, goc = K / group;
  Tensor y(out);
  // One output plane at a time: every (input channel, kernel tap) adds its shifted, weighted
  // input plane (the same sum as the textbook loop, in a cache-friendly order).
  std::vector<double> acc(static_cast<size_t>(OH * OW));
  for (int64_t nn = 0; nn < N; ++nn)
    for (int64_t k = 0; k < K; ++k) {
      const int64_t gi = k / goc;
      std::fill(acc.begin(), acc.end(), b ? b->data[k] : 0.0);
      for (int64_t c = 0; c < gic; ++c)
        for (int64_t kh = 0; kh < KH; ++kh)
          for (int64_t kw = 0; kw < KW; ++kw) {
            const double wv = w.data[((k * gic + c) * KH + kh) * KW + kw];
            for (int64_t oh = 0; oh < OH; ++oh) {
              const int64_t ih = oh * s[0] - p[0] + kh * d[0];
              if (ih < 0 || ih >= H) continue;
              const float* row = &x.data[((nn * C + gi * gic + c) * H + ih) * W];
              double* a = &acc[oh * OW];
              for (int64_t ow = 0; ow < OW; ++ow) {
                const int64_t iw = ow * s[1] - p[1] + kw * d[1];
                if (iw >= 0 && iw < W) a[ow] += row[iw] * wv;
              }
            }
          }
      for (int64_t i = 0; i < OH * OW; ++i) {
        y.data[(nn * K + k) * OH * OW + i] = static_cast<float>(acc[i]);
      }
    }
  return y;
}

Tensor conv_transpose(const Node& n, const Tensor& x, const Tensor& w, const Tensor* b,
                      const Shape& out) {
  const int64_t group = n.attr_int("group", 1);
  const auto s = n.attr_ints("strides", {1, 1});
  const auto p = n.attr_ints("pads", {0, 0, 0, 0});
  const auto d = n.attr_ints("dilations", {1, 1});
  const int64_t N = x.shape[0], C = x.shape[1], H = x.shape[2], W = x.shape[3];
  const int64_t K = out[1], OH = out[2], OW = out[3], KH = w.shape[2], KW = w.shape[3];
  const int64_t gic = C / group, goc = K / group;
  std::vector<double> acc(static_cast<size_t>(graph::numel(out)), 0.0);
  for (int64_t nn = 0; nn < N; ++nn)
    for (int64_t c = 0; c < C; ++c) {
      const int64_t gi = c / gic;
      for (int64_t ih = 0; ih < H; ++ih)
        for (int64_t iw = 0; iw < W; ++iw) {
          const double xv = x.data[((nn * C + c) * H + ih) * W + iw];
          for (int64_t o = 0; o < goc; ++o)
            for (int64_t kh = 0; kh < KH; ++kh) {
              const int64_t oh = ih * s[0] + kh * d[0] - p[0];
              if (oh < 0 || oh >= OH) continue;
              for (int64_t kw = 0; kw < KW; ++kw) {
                const int64_t ow = iw * s[1] + kw * d[1] - p[1];
                if (ow < 0 || ow >= OW) continue;
                const int64_t k = gi * goc + o;
                acc[((nn * K + k) * OH + oh) * OW + ow] +=
                    xv * w.data[((c * goc + o) * KH + kh) * KW + kw];
              }
            }
        }
    }
  Tensor y(out);
  const int64_t plane = OH * OW;
  for (int64_t i = 0; i < y.size(); ++i) {
    const int64_t k = (i / plane) % K;
    y.data[i] = static_cast<float>(acc[i] + (b ? b->data[k] : 0.0));
  }
  return y;
}

Tensor pool(const Node& n, const Tensor& x, const Shape& out, bool is_max) {
  const auto k = n.require_ints("kernel_shape");
  const auto s = n.attr_ints("strides", {1, 1});
  const auto p = n.attr_ints("pads", {0, 0, 0, 0});
  const auto d = n.attr_ints("dilations", {1, 1});
  const bool include_pad = n.attr_int("count_include_pad", 0) != 0;
  const int64_t N = x.shape[0], C = x.shape[1], H = x.shape[2], W = x.shape[3];
  const int64_t OH = out[2], OW = out[3];
  Tensor y(out);
  for (int64_t nc = 0; nc < N * C; ++nc)
    for (int64_t oh = 0; oh < OH; ++oh)
      for (int64_t ow = 0; ow < OW; ++ow) {
        const int64_t h0 = oh * s[0] - p[0], w0 = ow * s[1] - p[1];
        double acc = is_max ? -std::numeric_limits<double>::infinity() : 0.0;
        int64_t count = 0;
        for (int64_t kh = 0; kh < k[0]; ++kh)
          for (int64_t kw = 0; kw < k[1]; ++kw) {
            const int64_t ih = h0 + kh * (is_max ? d[0] : 1);
            const int64_t iw = w0 + kw * (is_max ? d[1] : 1);
            if (ih < 0 || ih >= H || iw < 0 || iw >= W) continue;
            const double v = x.data[(nc * H + ih) * W + iw];
            acc = is_max ? std::max(acc, v) : acc + v;
            ++count;
          }
        if (!is_max) {
          if (include_pad) {
            // PyTorch's divisor: the window clipped to the padded input (padding counts, the
            // overhang of a ceil-mode window does not).
            const int64_t h1 = std::min(h0 + k[0], H + p[2]);
            const int64_t w1 = std::min(w0 + k[1], W + p[3]);
            count = (h1 - h0) * (w1 - w0);
          }
          acc = count > 0 ? acc / static_cast<double>(count) : 0.0;
        }
        y.data[(nc * OH + oh) * OW + ow] = static_cast<float>(acc);
      }
  return y;
}

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

Tensor batch_norm(const Node& n, const std::vector<const Tensor*>& in, const Shape& out) {
  const double eps = n.attr_float("epsilon", 1e-5f);
  const Tensor& x = *in[0];
  const int64_t C = x.shape[1];
  int64_t inner = 1;
  for (size_t i = 2; i < x.shape.size(); ++i) inner *= x.shape[i];
  Tensor y(out);
  for (int64_t i = 0; i < y.size(); ++i) {
    const int64_t c = (i / inner) % C;
    const double scale = in[1]->data[c] / std::sqrt(static_cast<double>(in[4]->data[c]) + eps);
    y.data[i] = static_cast<float>((x.data[i] - static_cast<double>(in[3]->data[c])) * scale +
                                   in[2]->data[c]);
  }
  return y;
}

// Copies x into an output whose element at multi-index o reads x at src(o) (or `fill` when
// src returns false).
template <typename F>
Tensor gather_copy(const Tensor& x, const Shape& out, F src, float fill = 0) {
  Tensor y(out);
  const auto xs = strides_of(x.shape);
  std::vector<int64_t> in_idx(x.shape.size());
  for (int64_t i = 0; i < y.size(); ++i) {
    const auto o = unravel(i, out);
    if (!src(o, in_idx)) {
      y.data[i] = fill;
      continue;
    }
    int64_t off = 0;
    for (size_t d = 0; d < in_idx.size(); ++d) off += in_idx[d] * xs[d];
    y.data[i] = x.data[off];
  }
  return y;
}

Tensor slice(const Node& n, const Tensor& x, const Shape& out) {
  const auto starts = n.require_ints("starts");
  auto axes = n.attr_ints("axes");
  auto steps = n.attr_ints("steps");
  if (axes.empty())
    for (size_t i = 0; i < starts.size(); ++i) axes.push_back(static_cast<int64_t>(i));
  if (steps.empty()) steps.assign(starts.size(), 1);
  std::vector<int64_t> first(x.shape.size(), 0), step(x.shape.size(), 1);
  for (size_t i = 0; i < starts.size(); ++i) {
    const int64_t a = norm_axis(n, axes[i], x.shape.size());
    const int64_t dim = x.shape[a];
    int64_t st = starts[i] < 0 ? starts[i] + dim : starts[i];
    st = steps[i] > 0 ? std::clamp<int64_t>(st, 0, dim) : std::clamp<int64_t>(st, 0, dim - 1);
    first[a] = st;
    step[a] = steps[i];
  }
  return gather_copy(x, out, [&](const std::vector<int64_t>& o, std::vector<int64_t>& in) {
    for (size_t d = 0; d < o.size(); ++d) in[d] = first[d] + o[d] * step[d];
    return true;
  });
}

Tensor pad(const Node& n, const Tensor& x, const Shape& out) {
  const auto pads = n.require_ints("pads");
  const std::string mode = n.attr_string("mode", "constant");
  const float value = n.attr_float("value", 0.f);
  if (mode != "constant" && mode != "reflect" && mode != "edge") {
    node_fail(n, fmt::format("unknown pad mode '{}'", mode));
  }
  const size_t r = x.shape.size();
  return gather_copy(
      x, out,
      [&](const std::vector<int64_t>& o, std::vector<int64_t>& in) {
        for (size_t d = 0; d < r; ++d) {
          int64_t i = o[d] - pads[d];
          const int64_t len = x.shape[d];
          if (i < 0 || i >= len) {
            if (mode == "constant") return false;
            if (mode == "edge")
              i = std::clamp<int64_t>(i, 0, len - 1);
            else {
              if (len == 1) i = 0;
              // Reflection without repeating the edge; ONNX limits pads to len - 1.
              while (i < 0 || i >= len) i = i < 0 ? -i : 2 * (len - 1) - i;
            }
          }
          in[d] = i;
        }
        return true;
      },
      value);
}

Tensor transpose(const Node& n, const Tensor& x, const Shape& out) {
  auto perm = n.attr_ints("perm");
  if (perm.empty())
    for (int64_t i = static_cast<int64_t>(x.shape.size()) - 1; i >= 0; --i) perm.push_back(i);
  return gather_copy(x, out, [&](const std::vector<int64_t>& o, std::vector<int64_t>& in) {
    for (size_t d = 0; d < o.size(); ++d) in[norm_axis(n, perm[d], o.size())] = o[d];
    return true;
  });
}

std::vector<Tensor> split(const Node& n, const Tensor& x, const Graph& g) {
  const int64_t a = norm_axis(n, n.attr_int("axis", 0), x.shape.size());
  std::vector<Tensor> outs;
  int64_t start = 0;
  for (const auto& name : n.outputs) {
    const Shape& os = g.shape(name);
    outs.push_back(gather_copy(x, os, [&](const std::vector<int64_t>& o, std::vector<int64_t>& in) {
      in = o;
      in[a] += start;
      return true;
    }));
    start += os[a];
  }
  return outs;
}

Tensor concat(const Node& n, const std::vector<const Tensor*>& in, const Shape& out) {
  const int64_t a = norm_axis(n, n.require_int("axis"), out.size());
  Tensor y(out);
  const auto ys = strides_of(out);
  int64_t start = 0;
  for (const Tensor* t : in) {
    for (int64_t i = 0; i < t->size(); ++i) {
      auto idx = unravel(i, t->shape);
      idx[a] += start;
      int64_t off = 0;
      for (size_t d = 0; d < idx.size(); ++d) off += idx[d] * ys[d];
      y.data[off] = t->data[i];
    }
    start += t->shape[a];
  }
  return y;
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

Tensor reduce_mean(const Node& n, const Tensor& x, const Shape& out, bool global_pool) {
  std::set<int64_t> axes;
  if (global_pool) {
    for (size_t i = 2; i < x.shape.size(); ++i) axes.insert(static_cast<int64_t>(i));
  } else {
    for (int64_t a : n.attr_ints("axes")) axes.insert(norm_axis(n, a, x.shape.size()));
    if (axes.empty())
      for (size_t i = 0; i < x.shape.size(); ++i) axes.insert(static_cast<int64_t>(i));
  }
  // Accumulate into the keepdims shape, whose data equals the output's either way.
  Shape kept = x.shape;
  int64_t count = 1;
  for (int64_t a : axes) count *= kept[a], kept[a] = 1;
  std::vector<double> acc(static_cast<size_t>(graph::numel(kept)), 0.0);
  for (int64_t i = 0; i < x.size(); ++i) {
    auto idx = unravel(i, x.shape);
    for (int64_t a : axes) idx[a] = 0;
    int64_t off = 0;
    for (size_t d = 0; d < idx.size(); ++d) off = off * kept[d] + idx[d];
    acc[off] += x.data[i];
  }
  Tensor y(out);
  for (size_t i = 0; i < acc.size(); ++i) y.data[i] = static_cast<float>(acc[i] / count);
  return y;
}

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

// Source coordinate of output position x along one axis, as ONNX Resize defines it.
double resize_coord(const std::string& mode, int64_t x, double scale, int64_t in_len,
                    int64_t out_len) {
  if (mode == "half_pixel") return (x + 0.5) / scale - 0.5;
  if (mode == "pytorch_half_pixel") return out_len > 1 ? (x + 0.5) / scale - 0.5 : 0.0;
  if (mode == "align_corners") {
    return out_len == 1 ? 0.0 : static_cast<double>(x) * (in_len - 1) / (out_len - 1);
  }
  if (mode == "asymmetric") return x / scale;
  if (mode == "tf_half_pixel_for_nn") return (x + 0.5) / scale;
  fail("unknown coordinate_transformation_mode '{}'", mode);
}

Tensor resize(const Node& n, const Tensor& x, const Shape& out) {
  const std::string mode = n.attr_string("mode", "nearest");
  const std::string coord = n.attr_string("coordinate_transformation_mode", "half_pixel");
  const std::string nearest = n.attr_string("nearest_mode", "round_prefer_floor");
  const auto& scales = std::get<std::vector<float>>(n.attrs.at("scales"));
  if (mode != "nearest" && mode != "linear") node_fail(n, fmt::format("unknown mode '{}'", mode));
  Tensor cur = x;
  // Both modes are separable: resample one axis at a time.
  for (size_t a = 0; a < x.shape.size(); ++a) {
    if (cur.shape[a] == out[a] && scales[a] == 1.f) continue;
    Shape next_shape = cur.shape;
    next_shape[a] = out[a];
    Tensor next(next_shape);
    const int64_t len = cur.shape[a];
    const auto st = strides_of(cur.shape);
    for (int64_t i = 0; i < next.size(); ++i) {
      auto idx = unravel(i, next_shape);
      const double c = resize_coord(coord, idx[a], scales[a], len, out[a]);
      int64_t base = 0;
      for (size_t d = 0; d < idx.size(); ++d) base += (d == a ? 0 : idx[d]) * st[d];
      if (mode == "nearest") {
        double r = 0;
        if (nearest == "floor")
          r = std::floor(c);
        else if (nearest == "ceil")
          r = std::ceil(c);
        else if (nearest == "round_prefer_ceil")
          r = std::floor(c + 0.5);
        else if (nearest == "round_prefer_floor")
          r = std::ceil(c - 0.5);
        else
          node_fail(n, fmt::format("unknown nearest_mode '{}'", nearest));
        const int64_t j = std::clamp<int64_t>(static_cast<int64_t>(r), 0, len - 1);
        next.data[i] = cur.data[base + j * st[a]];
      } else {
        const double cc = std::clamp(c, 0.0, static_cast<double>(len - 1));
        const auto j0 = static_cast<int64_t>(std::floor(cc));
        const int64_t j1 = std::min(j0 + 1, len - 1);
        const double w = cc - static_cast<double>(j0);
        next.data[i] = static_cast<float>(cur.data[base + j0 * st[a]] * (1 - w) +
                                          cur.data[base + j1 * st[a]] * w);
      }
    }
    cur = std::move(next);
  }
  return cur;
}

Tensor gather(const Graph& g, const Node& n, const Tensor& x, const Shape& out) {
  const int64_t a = norm_axis(n, n.attr_int("axis", 0), x.shape.size());
  if (n.inputs.size() < 2 || !g.is_constant(n.inputs[1])) {
    node_fail(n, "indices must be a constant");
  }
  std::vector<int64_t> idx = const_ints(g, n, 1);
  for (auto& i : idx) {
    if (i < -x.shape[a] || i >= x.shape[a]) {
      node_fail(n, fmt::format("index {} out of range for axis of length {}", i, x.shape[a]));
    }
    if (i < 0) i += x.shape[a];
  }
  // View the output as the input with the axis replaced by the flattened indices.
  Shape flat = x.shape;
  flat[a] = static_cast<int64_t>(idx.size());
  Tensor y = gather_copy(x, flat, [&](const std::vector<int64_t>& o, std::vector<int64_t>& in) {
    in = o;
    in[a] = idx[o[a]];
    return true;
  });
  y.shape = out;
  return y;
}

}  // namespace

std::vector<Tensor> reference_node(const Graph& g, const Node& n, const TensorLookup& get) {
  const std::string& op = n.op_type;
  std::vector<const Tensor*> in;
  for (size_t i = 0; i < n.inputs.size(); ++i) {
    const std::string& name = n.inputs[i];
    const bool int_arg = (op == "Reshape" || op == "Gather") && i == 1;
    in.push_back(name.empty() || int_arg ? nullptr : &get(name));
  }
  if (in.empty() || !in[0]) node_fail(n, "missing input 0");
  const Shape out = n.outputs.empty() ? Shape{} : g.shape(n.outputs[0]);
  const Tensor& x = *in[0];
  auto input = [&](size_t i) -> const Tensor& {
    if (i >= in.size() || !in[i]) node_fail(n, fmt::format("missing input {}", i));
    return *in[i];
  };
  const Tensor* bias = in.size() > 2 ? in[2] : nullptr;

  if (op == "Conv") return {conv(n, x, input(1), bias, out)};
  if (op == "ConvTranspose") return {conv_transpose(n, x, input(1), bias, out)};
  if (op == "BatchNormalization") {
    for (size_t i = 1; i < 5; ++i) input(i);
    return {batch_norm(n, in, out)};
  }
  if (graph::is_activation(op)) {
    Tensor y(out);
    for (int64_t i = 0; i < y.size(); ++i) y.data[i] = unary(n, x.data[i]);
    return {y};
  }
  if (graph::is_elementwise_binary(op)) return {binary(n, x, input(1), out)};
  if (op == "Concat") {
    for (size_t i = 0; i < in.size(); ++i) input(i);
    return {concat(n, in, out)};
  }
  if (op == "Split") return split(n, x, g);
  if (op == "Slice") return {slice(n, x, out)};
  if (op == "Reshape" || op == "Flatten") return {Tensor(out, x.data)};
  if (op == "Transpose") return {transpose(n, x, out)};
  if (op == "MaxPool" || op == "AveragePool") return {pool(n, x, out, op == "MaxPool")};
  if (op == "GlobalAveragePool") return {reduce_mean(n, x, out, true)};
  if (op == "ReduceMean") return {reduce_mean(n, x, out, false)};
  if (op == "Gemm") return {gemm(n, in, out)};
  if (op == "MatMul") return {matmul(x, input(1), out)};
  if (op == "Softmax") return {softmax(n, x, out)};
  if (op == "Pad") return {pad(n, x, out)};
  if (op == "Resize") return {resize(n, x, out)};
  if (op == "Gather") return {gather(g, n, x, out)};
  node_fail(n, "op not supported by the reference executor");
}

std::vector<Tensor> run_reference(const Graph& g, const std::vector<Tensor>& inputs) {
  if (inputs.size() != g.inputs.size()) {
    fail("graph '{}' has {} inputs, {} given", g.name, g.inputs.size(), inputs.size());
  }
  std::map<std::string, Tensor> values;
  for (size_t i = 0; i < inputs.size(); ++i) {
    const Shape& want = g.shape(g.inputs[i]);
    if (inputs[i].shape != want || inputs[i].size() != graph::numel(want)) {
      fail("input '{}' expects shape {}, got {}", g.inputs[i], graph::shape_str(want),
           graph::shape_str(inputs[i].shape));
    }
    values[g.inputs[i]] = inputs[i];
  }
  std::map<std::string, Tensor> constants;
  // Last node reading each tensor, so intermediates are freed as soon as possible.
  std::map<std::string, size_t> last_use;
  for (size_t i = 0; i < g.nodes.size(); ++i)
    for (const auto& t : g.nodes[i].inputs) last_use[t] = i;
  const std::set<std::string> outputs(g.outputs.begin(), g.outputs.end());

  TensorLookup get = [&](const std::string& name) -> const Tensor& {
    if (auto it = values.find(name); it != values.end()) return it->second;
    if (auto it = constants.find(name); it != constants.end()) return it->second;
    if (g.is_constant(name)) {
      const auto& c = g.constant(name);
      if (c.dtype != graph::DType::kFloat32 || !c.materialized()) {
        fail("tensor '{}' is not a materialized float32 constant", name);
      }
      return constants[name] = Tensor(c.shape, c.f32);
    }
    fail("tensor '{}' has no value", name);
  };
  for (size_t i = 0; i < g.nodes.size(); ++i) {
    const Node& n = g.nodes[i];
    auto outs = reference_node(g, n, get);
    for (size_t o = 0; o < n.outputs.size() && o < outs.size(); ++o) {
      if (!n.outputs[o].empty()) values[n.outputs[o]] = std::move(outs[o]);
    }
    for (const auto& t : n.inputs) {
      if (last_use[t] == i && !outputs.count(t)) values.erase(t);
    }
  }
  std::vector<Tensor> result;
  for (const auto& o : g.outputs) result.push_back(get(o));
  return result;
}

}  // namespace nnjoule::exec
