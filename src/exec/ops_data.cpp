// Lowering of data movement: concat/split, slice, pad, transpose, reshape (and channel
// shuffles), gather, resize.
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

namespace nnjoule::exec {
namespace {

// ONNX Resize's two formulas, used by the lowering's index tables and the reference loops
// alike (they are the spec, not an implementation to check).
// Source coordinate of output position o along one axis.
double resize_coord(const graph::Node& n, const std::string& mode, int64_t o, double scale,
                    int64_t in_len, int64_t out_len) {
  if (mode == "half_pixel") return (o + 0.5) / scale - 0.5;
  if (mode == "pytorch_half_pixel") return out_len > 1 ? (o + 0.5) / scale - 0.5 : 0.0;
  if (mode == "align_corners") {
    return out_len == 1 ? 0.0 : static_cast<double>(o) * (in_len - 1) / (out_len - 1);
  }
  if (mode == "asymmetric") return o / scale;
  if (mode == "tf_half_pixel_for_nn") return (o + 0.5) / scale;
  node_fail(n, fmt::format("coordinate_transformation_mode '{}' is not supported", mode));
}

// The input index nearest mode reads for source coordinate c, clamped to the axis.
int64_t resize_nearest(const graph::Node& n, const std::string& rounding, double c, int64_t len) {
  double r = 0;
  if (rounding == "floor")
    r = std::floor(c);
  else if (rounding == "ceil")
    r = std::ceil(c);
  else if (rounding == "round_prefer_ceil")
    r = std::floor(c + 0.5);
  else if (rounding == "round_prefer_floor")
    r = std::ceil(c - 0.5);
  else
    node_fail(n, fmt::format("nearest_mode '{}' is not supported", rounding));
  return std::clamp<int64_t>(static_cast<int64_t>(r), 0, len - 1);
}

}  // namespace
}  // namespace nnjoule::exec

namespace nnjoule::exec::detail {

// ---- data movement ----

void Compiler::lower_index_copy(size_t i, const std::string& kind, const Value& x, int in,
                                const std::string& out, const Shape& os, const Perm& out_perm,
                                const std::vector<DimMap>& maps, float fill) {
  IndexMap map = build_map(x, os, out_perm, maps, fill);
  const int y = new_value(out, os, out_perm);
  val_[out] = y;
  StepImpl st = step_for(i, kind, "nnjoule:index-copy", {i});
  st.reads = {in};
  st.writes = {y};
  st.bind = [map, in, y](const BindContext& b) -> std::function<void()> {
    const float* src = b.ptr(in);
    float* dst = b.ptr(y);
    const Parallel par = b.par;
    return [map, src, dst, par] { map.run(src, dst, par); };
  };
  add_step(std::move(st));
}

// Concat and split along any axis are strided row copies: `rows` rows of `cols` contiguous
// floats from one tensor into a column range of another (XNNPACK's copy operator).
void Compiler::lower_concat_split(size_t i, bool concat) {
  const Node& n = g_.nodes[i];
  const Shape& big = g_.shape(concat ? n.outputs[0] : n.inputs[0]);
  int64_t axis = concat ? n.require_int("axis") : n.attr_int("axis", 0);
  if (axis < 0) axis += static_cast<int64_t>(big.size());
  // Use the layout of the first runtime tensor involved.
  Perm p = identity_perm(big.size());
  std::vector<int> parts;
  int whole = -1;
  if (concat) {
    for (const auto& t : n.inputs) parts.push_back(value_of(t));
    for (int v : parts)
      if (m_.values[v].constant < 0) {
        p = m_.values[v].perm;
        break;
      }
    for (auto& v : parts) v = ensure(v, p);
    whole = new_value(n.outputs[0], big, p);
    val_[n.outputs[0]] = whole;
  } else {
    whole = value_of(n.inputs[0]);
    p = m_.values[whole].perm;
    for (const auto& t : n.outputs) {
      const int v = new_value(t, g_.shape(t), p);
      val_[t] = v;
      parts.push_back(v);
    }
  }
  const Shape phys = physical_shape(big, p);
  size_t pa = 0;
  while (p[pa] != axis) ++pa;
  int64_t rows = 1, inner = 1;
  for (size_t j = 0; j < pa; ++j) rows *= phys[j];
  for (size_t j = pa + 1; j < phys.size(); ++j) inner *= phys[j];
  const int64_t total = phys[pa] * inner;
  std::vector<int64_t> cols, offsets;
  int64_t off = 0;
  for (int v : parts) {
    cols.push_back(m_.values[v].shape[axis] * inner);
    offsets.push_back(off);
    off += cols.back();
  }
  const std::string name = n.name;
  StepImpl st = step_for(i, concat ? "concat" : "split", "xnnpack:copy_nc_x32", {i});
  if (concat) {
    st.reads = parts;
    st.writes = {whole};
  } else {
    st.reads = {whole};
    st.writes = parts;
  }
  std::vector<std::shared_ptr<XnnOp>> ops;
  for (size_t k = 0; k < parts.size(); ++k) ops.push_back(std::make_shared<XnnOp>());
  st.create = [=](uint32_t f) {
    for (size_t k = 0; k < ops.size(); ++k) {
      const auto c = static_cast<size_t>(cols[k]);
      xnn_check(xnn_create_copy_nc_x32(c, concat ? c : total, concat ? total : c, f, &ops[k]->op),
                name, "create copy");
    }
  };
  st.bind = [=](const BindContext& b) -> std::function<void()> {
    std::vector<std::function<void()>> runs;
    for (size_t k = 0; k < ops.size(); ++k) {
      const float* src = concat ? b.ptr(parts[k]) : b.ptr(whole) + offsets[k];
      float* dst = concat ? b.ptr(whole) + offsets[k] : b.ptr(parts[k]);
      xnn_check(xnn_setup_copy_nc_x32(ops[k]->op, rows, src, dst, b.pool), name, "setup copy");
      runs.push_back(xnn_runner(ops[k], b.pool, name));
    }
    return [runs] {
      for (const auto& r : runs) r();
    };
  };
  add_step(std::move(st));
}

void Compiler::lower_slice(size_t i) {
  const Node& n = g_.nodes[i];
  const int in = value_of(n.inputs[0]);
  const Value x = m_.values[in];
  const Shape& os = g_.shape(n.outputs[0]);
  const auto starts = n.require_ints("starts");
  auto axes = n.attr_ints("axes");
  auto steps = n.attr_ints("steps");
  if (axes.empty())
    for (size_t k = 0; k < starts.size(); ++k) axes.push_back(static_cast<int64_t>(k));
  if (steps.empty()) steps.assign(starts.size(), 1);
  std::vector<DimMap> maps;
  for (size_t d = 0; d < x.shape.size(); ++d) maps.push_back(ident(static_cast<int>(d), os[d]));
  for (size_t k = 0; k < starts.size(); ++k) {
    const int64_t a = axes[k] < 0 ? axes[k] + static_cast<int64_t>(x.shape.size()) : axes[k];
    const int64_t dim = x.shape[a];
    int64_t st = starts[k] < 0 ? starts[k] + dim : starts[k];
    st = steps[k] > 0 ? std::clamp<int64_t>(st, 0, dim) : std::clamp<int64_t>(st, 0, dim - 1);
    for (int64_t o = 0; o < os[a]; ++o) maps[a].idx[o] = st + o * steps[k];
  }
  lower_index_copy(i, "slice", x, in, n.outputs[0], os, x.perm, maps, 0.f);
}

void Compiler::lower_pad(size_t i) {
  const Node& n = g_.nodes[i];
  const int in = value_of(n.inputs[0]);
  const Value x = m_.values[in];
  const Shape& os = g_.shape(n.outputs[0]);
  const auto pads = n.require_ints("pads");
  const std::string mode = n.attr_string("mode", "constant");
  const float value = n.attr_float("value", 0.f);
  const size_t r = x.shape.size();
  if (mode != "constant" && mode != "reflect" && mode != "edge") {
    node_fail(n, fmt::format("pad mode '{}' is not supported", mode));
  }
  const bool nonneg = std::all_of(pads.begin(), pads.end(), [](int64_t v) { return v >= 0; });
  if (mode == "constant" && nonneg && r <= XNN_MAX_TENSOR_DIMS) {
    const Shape phys = physical_shape(x.shape, x.perm);
    Shape pre, post;
    for (int d : x.perm) {
      pre.push_back(pads[d]);
      post.push_back(pads[d + r]);
    }
    const int y = new_value(n.outputs[0], os, x.perm);
    val_[n.outputs[0]] = y;
    StepImpl st = step_for(i, "pad", "xnnpack:constant_pad_nd_x32", {i});
    st.reads = {in};
    st.writes = {y};
    auto op = std::make_shared<XnnOp>();
    const std::string name = n.name;
    st.create = [=](uint32_t f) {
      xnn_check(xnn_create_constant_pad_nd_x32(&value, f, &op->op), name, "create pad");
    };
    st.bind = [=](const BindContext& b) {
      const auto s = to_sizes(phys), a = to_sizes(pre), z = to_sizes(post);
      xnn_check(xnn_setup_constant_pad_nd_x32(op->op, s.size(), s.data(), a.data(), z.data(),
                                              b.ptr(in), b.ptr(y), b.pool),
                name, "setup pad");
      return xnn_runner(op, b.pool, name);
    };
    add_step(std::move(st));
    return;
  }
  std::vector<DimMap> maps;
  for (size_t d = 0; d < r; ++d) {
    DimMap m{static_cast<int>(d), {}};
    const int64_t len = x.shape[d];
    for (int64_t o = 0; o < os[d]; ++o) {
      int64_t k = o - pads[d];
      if (k < 0 || k >= len) {
        if (mode == "constant")
          k = kFill;
        else if (mode == "edge")
          k = std::clamp<int64_t>(k, 0, len - 1);
        else if (len == 1)
          k = 0;
        else
          while (k < 0 || k >= len) k = k < 0 ? -k : 2 * (len - 1) - k;
      }
      m.idx.push_back(k);
    }
    maps.push_back(std::move(m));
  }
  lower_index_copy(i, "pad", x, in, n.outputs[0], os, x.perm, maps, value);
}

void Compiler::lower_transpose(size_t i) {
  const Node& n = g_.nodes[i];
  const int in = value_of(n.inputs[0]);
  const Value x = m_.values[in];
  auto t = n.attr_ints("perm");
  if (t.empty())
    for (int64_t d = static_cast<int64_t>(x.shape.size()) - 1; d >= 0; --d) t.push_back(d);
  Perm tp;
  for (int64_t d : t)
    tp.push_back(static_cast<int>(d < 0 ? d + static_cast<int64_t>(t.size()) : d));
  // A transpose only relabels axes: the output keeps the input's bytes in a new layout.
  const Perm tinv = inverse(tp);
  Perm q;
  for (int d : x.perm) q.push_back(tinv[d]);
  val_[n.outputs[0]] = alias(in, g_.shape(n.outputs[0]), q);
}

void Compiler::lower_reshape(size_t i) {
  const Node& n = g_.nodes[i];
  const Shape& os = g_.shape(n.outputs[0]);
  const int in = ensure(value_of(n.inputs[0]), identity_perm(g_.shape(n.inputs[0]).size()));
  val_[n.outputs[0]] = alias(in, os, identity_perm(os.size()));
}

// Reshape [N,g,C/g,H,W] -> Transpose(0,2,1,3,4) -> Reshape [N,C,H,W]: one channel shuffle.
bool Compiler::try_channel_shuffle(size_t i) {
  const Node& r1 = g_.nodes[i];
  const Shape& xs = g_.shape(r1.inputs[0]);
  const Shape& s5 = g_.shape(r1.outputs[0]);
  if (xs.size() != 4 || s5.size() != 5 || s5[0] != xs[0] || s5[1] * s5[2] != xs[1] ||
      s5[3] != xs[2] || s5[4] != xs[3]) {
    return false;
  }
  const long j = sole_consumer(r1.outputs[0]);
  if (j < 0 || g_.nodes[j].op_type != "Transpose" ||
      g_.nodes[j].attr_ints("perm") != std::vector<int64_t>{0, 2, 1, 3, 4}) {
    return false;
  }
  const long k = sole_consumer(g_.nodes[j].outputs[0]);
  if (k < 0 || g_.nodes[k].op_type != "Reshape" || g_.shape(g_.nodes[k].outputs[0]) != xs) {
    return false;
  }
  done_[j] = done_[k] = true;
  const std::string out = g_.nodes[k].outputs[0];
  const size_t groups = static_cast<size_t>(s5[1]), gc = static_cast<size_t>(s5[2]);
  const size_t C = static_cast<size_t>(xs[1]);
  const size_t batch = static_cast<size_t>(xs[0] * xs[2] * xs[3]);
  const int in = ensure(value_of(r1.inputs[0]), nhwc_perm());
  const int y = new_value(out, xs, nhwc_perm());
  val_[out] = y;
  StepImpl st = step_for(i, "channelshuffle", "xnnpack:channel_shuffle_nc_x32",
                         {i, static_cast<size_t>(j), static_cast<size_t>(k)});
  st.reads = {in};
  st.writes = {y};
  auto op = std::make_shared<XnnOp>();
  const std::string name = r1.name;
  st.create = [=](uint32_t f) {
    xnn_check(xnn_create_channel_shuffle_nc_x32(groups, gc, C, C, f, &op->op), name,
              "create channel shuffle");
  };
  st.bind = [=](const BindContext& b) {
    xnn_check(xnn_setup_channel_shuffle_nc_x32(op->op, batch, b.ptr(in), b.ptr(y), b.pool), name,
              "setup channel shuffle");
    return xnn_runner(op, b.pool, name);
  };
  add_step(std::move(st));
  ++counts_["channel shuffles recognised"];
  return true;
}

void Compiler::lower_gather(size_t i) {
  const Node& n = g_.nodes[i];
  const int in = value_of(n.inputs[0]);
  const Value x = m_.values[in];
  if (n.inputs.size() < 2 || !g_.is_constant(n.inputs[1])) {
    node_fail(n, "Gather with runtime indices is not supported by the engine");
  }
  const auto& ic = g_.constant(n.inputs[1]);
  if (ic.dtype == graph::DType::kFloat32) node_fail(n, "indices must be integers");
  int64_t axis = n.attr_int("axis", 0);
  if (axis < 0) axis += static_cast<int64_t>(x.shape.size());
  // Gather into the input shape with the axis replaced by the flattened indices, then view.
  Shape flat = x.shape;
  flat[axis] = static_cast<int64_t>(ic.i64.size());
  std::vector<DimMap> maps;
  for (size_t d = 0; d < x.shape.size(); ++d) maps.push_back(ident(static_cast<int>(d), flat[d]));
  for (size_t k = 0; k < ic.i64.size(); ++k) {
    int64_t v = ic.i64[k];
    if (v < -x.shape[axis] || v >= x.shape[axis]) {
      node_fail(n, fmt::format("index {} out of range for an axis of length {}", v, x.shape[axis]));
    }
    maps[axis].idx[k] = v < 0 ? v + x.shape[axis] : v;
  }
  const std::string out = n.outputs[0];
  lower_index_copy(i, "gather", x, in, out + "@flat", flat, identity_perm(flat.size()), maps, 0.f);
  const int flat_v = val_[out + "@flat"];
  val_.erase(out + "@flat");
  const Shape& os = g_.shape(out);
  val_[out] = alias(flat_v, os, identity_perm(os.size()));
}

void Compiler::lower_resize(size_t i) {
  const Node& n = g_.nodes[i];
  const int in = value_of(n.inputs[0]);
  const Value x = m_.values[in];
  const Shape& os = g_.shape(n.outputs[0]);
  const std::string mode = n.attr_string("mode", "nearest");
  const std::string coord = n.attr_string("coordinate_transformation_mode", "half_pixel");
  const std::string nearest = n.attr_string("nearest_mode", "round_prefer_floor");
  const auto& scales = std::get<std::vector<float>>(n.attrs.at("scales"));
  auto source = [&](int64_t o, size_t d) {
    return resize_coord(n, coord, o, scales[d], x.shape[d], os[d]);
  };
  if (mode == "nearest") {
    std::vector<DimMap> maps;
    for (size_t d = 0; d < x.shape.size(); ++d) {
      DimMap m{static_cast<int>(d), {}};
      for (int64_t o = 0; o < os[d]; ++o) {
        m.idx.push_back(resize_nearest(n, nearest, source(o, d), x.shape[d]));
      }
      maps.push_back(std::move(m));
    }
    lower_index_copy(i, "resize", x, in, n.outputs[0], os, x.perm, maps, 0.f);
    return;
  }
  if (mode != "linear") node_fail(n, fmt::format("resize mode '{}' is not supported", mode));
  if (x.shape.size() != 4 || os[0] != x.shape[0] || os[1] != x.shape[1]) {
    node_fail(n, "linear resize is supported on the H and W axes of a 4-D tensor");
  }
  // XNNPACK's bilinear resize derives its scale from the sizes; where ONNX's scale differs
  // (257 / 33 is not a float), or the coordinate mode is one XNNPACK lacks, a plain kernel
  // applies ONNX's rule exactly.
  const bool sizes_match =
      static_cast<double>(os[2]) == x.shape[2] * static_cast<double>(scales[2]) &&
      static_cast<double>(os[3]) == x.shape[3] * static_cast<double>(scales[3]);
  const bool xnn_mode = coord == "half_pixel" || coord == "align_corners" ||
                        coord == "asymmetric" ||
                        (coord == "pytorch_half_pixel" && os[2] > 1 && os[3] > 1);
  if (!sizes_match || !xnn_mode) {
    BilinearKernel k;
    k.N = x.shape[0], k.C = x.shape[1], k.H = x.shape[2], k.W = x.shape[3];
    k.OH = os[2], k.OW = os[3];
    auto table = [&](size_t d, std::vector<int64_t>& i0, std::vector<int64_t>& i1,
                     std::vector<float>& w) {
      const int64_t len = x.shape[d];
      for (int64_t o = 0; o < os[d]; ++o) {
        const double c = std::clamp(source(o, d), 0.0, static_cast<double>(len - 1));
        const auto f = static_cast<int64_t>(std::floor(c));
        i0.push_back(f);
        i1.push_back(std::min(f + 1, len - 1));
        w.push_back(static_cast<float>(c - static_cast<double>(f)));
      }
    };
    table(2, k.y0, k.y1, k.wy);
    table(3, k.x0, k.x1, k.wx);
    const int v = ensure(in, nhwc_perm());
    const int y = new_value(n.outputs[0], os, nhwc_perm());
    val_[n.outputs[0]] = y;
    StepImpl st = step_for(i, "resize", "nnjoule:bilinear", {i});
    st.reads = {v};
    st.writes = {y};
    st.bind = [k, v, y](const BindContext& b) -> std::function<void()> {
      const float* src = b.ptr(v);
      float* dst = b.ptr(y);
      const Parallel par = b.par;
      return [k, src, dst, par] { k.run(src, dst, par); };
    };
    add_step(std::move(st));
    return;
  }
  uint32_t flags = 0;
  if (coord == "align_corners")
    flags = XNN_FLAG_ALIGN_CORNERS;
  else if (coord == "asymmetric")
    flags = XNN_FLAG_TENSORFLOW_LEGACY_MODE;
  const int v = ensure(in, nhwc_perm());
  const int y = new_value(n.outputs[0], os, nhwc_perm());
  val_[n.outputs[0]] = y;
  const size_t N = x.shape[0], C = x.shape[1], H = x.shape[2], W = x.shape[3];
  const size_t OH = os[2], OW = os[3];
  StepImpl st = step_for(i, "resize", "xnnpack:resize_bilinear2d_nhwc_f32", {i});
  st.reads = {v};
  st.writes = {y};
  auto op = std::make_shared<XnnOp>();
  const std::string name = n.name;
  st.create = [=](uint32_t f) {
    xnn_check(xnn_create_resize_bilinear2d_nhwc_f32(C, C, C, flags | f, &op->op), name,
              "create resize");
  };
  st.bind = [=](const BindContext& b) {
    xnn_check(
        xnn_setup_resize_bilinear2d_nhwc_f32(op->op, N, H, W, OH, OW, b.ptr(v), b.ptr(y), b.pool),
        name, "setup resize");
    return xnn_runner(op, b.pool, name);
  };
  add_step(std::move(st));
}

}  // namespace nnjoule::exec::detail

// ---- reference implementations ----

namespace nnjoule::exec::ref {
namespace {

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
      const double c = resize_coord(n, coord, idx[a], scales[a], len, out[a]);
      int64_t base = 0;
      for (size_t d = 0; d < idx.size(); ++d) base += (d == a ? 0 : idx[d]) * st[d];
      if (mode == "nearest") {
        const int64_t j = resize_nearest(n, nearest, c, len);
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
}  // namespace nnjoule::exec::ref

namespace nnjoule::exec {

std::vector<ExecOp> data_ops() {
  using detail::Compiler;
  return {
      {"Concat",
       [](const RefCall& c) -> std::vector<Tensor> {
         for (size_t j = 0; j < c.in.size(); ++j) c.input(j);
         return {ref::concat(c.n, c.in, c.out)};
       },
       [](Compiler& k, size_t i) { k.lower_concat_split(i, true); }},
      {"Split", [](const RefCall& c) -> std::vector<Tensor> { return ref::split(c.n, c.x(), c.g); },
       [](Compiler& k, size_t i) { k.lower_concat_split(i, false); }},
      {"Slice",
       [](const RefCall& c) -> std::vector<Tensor> { return {ref::slice(c.n, c.x(), c.out)}; },
       [](Compiler& k, size_t i) { k.lower_slice(i); }},
      {"Pad", [](const RefCall& c) -> std::vector<Tensor> { return {ref::pad(c.n, c.x(), c.out)}; },
       [](Compiler& k, size_t i) { k.lower_pad(i); }},
      {"Transpose",
       [](const RefCall& c) -> std::vector<Tensor> { return {ref::transpose(c.n, c.x(), c.out)}; },
       [](Compiler& k, size_t i) { k.lower_transpose(i); }},
      {"Reshape",
       [](const RefCall& c) -> std::vector<Tensor> { return {Tensor(c.out, c.x().data)}; },
       [](Compiler& k, size_t i) {
         if (!k.try_channel_shuffle(i)) k.lower_reshape(i);
       }},
      {"Flatten",
       [](const RefCall& c) -> std::vector<Tensor> { return {Tensor(c.out, c.x().data)}; },
       [](Compiler& k, size_t i) { k.lower_reshape(i); }},
      {"Gather",
       [](const RefCall& c) -> std::vector<Tensor> {
         return {ref::gather(c.g, c.n, c.x(), c.out)};
       },
       [](Compiler& k, size_t i) { k.lower_gather(i); }},
      {"Resize",
       [](const RefCall& c) -> std::vector<Tensor> { return {ref::resize(c.n, c.x(), c.out)}; },
       [](Compiler& k, size_t i) { k.lower_resize(i); }},
  };
}

}  // namespace nnjoule::exec
