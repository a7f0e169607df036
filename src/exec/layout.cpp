// Layout arithmetic (permutations of logical NCHW axes) and the gather-style copy (IndexMap)
// that moves a tensor between layouts.
#include <algorithm>
#include <cmath>
#include <cstring>
#include <numeric>

#include "internal.hpp"
#include "nnjoule/common/error.hpp"

namespace nnjoule::exec::detail {

Perm identity_perm(size_t rank) {
  Perm p(rank);
  std::iota(p.begin(), p.end(), 0);
  return p;
}

Perm nhwc_perm() {
  return {0, 2, 3, 1};
}

bool is_identity(const Perm& p) {
  for (size_t i = 0; i < p.size(); ++i)
    if (p[i] != static_cast<int>(i)) return false;
  return true;
}

Shape physical_shape(const Shape& logical, const Perm& p) {
  Shape s(p.size());
  for (size_t j = 0; j < p.size(); ++j) s[j] = logical[p[j]];
  return s;
}

std::vector<int64_t> logical_strides(const Shape& logical, const Perm& p) {
  std::vector<int64_t> st(logical.size(), 1);
  int64_t acc = 1;
  for (int64_t j = static_cast<int64_t>(p.size()) - 1; j >= 0; --j) {
    st[p[j]] = acc;
    acc *= logical[p[j]];
  }
  return st;
}

bool same_bytes(const Shape& logical, const Perm& a, const Perm& b) {
  std::vector<int> na, nb;
  for (int d : a)
    if (logical[d] != 1) na.push_back(d);
  for (int d : b)
    if (logical[d] != 1) nb.push_back(d);
  return na == nb;
}

std::vector<float> to_physical(const std::vector<float>& logical, const Shape& shape,
                               const Perm& p) {
  if (same_bytes(shape, identity_perm(shape.size()), p)) return logical;
  IndexMap m;
  const auto st = logical_strides(shape, identity_perm(shape.size()));
  for (int d : p) {
    std::vector<int64_t> t(static_cast<size_t>(shape[d]));
    for (int64_t i = 0; i < shape[d]; ++i) t[i] = i * st[d];
    m.add_axis(std::move(t));
  }
  m.simplify();
  std::vector<float> out(logical.size());
  m.run(logical.data(), out.data(), Parallel{});
  return out;
}

// ---- IndexMap ----

void IndexMap::add_axis(std::vector<int64_t> offsets) {
  Axis a;
  a.extent = static_cast<int64_t>(offsets.size());
  a.start = offsets.empty() ? 0 : offsets[0];
  a.step = offsets.size() > 1 ? offsets[1] - offsets[0] : 0;
  for (size_t i = 0; i < offsets.size() && a.affine; ++i) {
    if (offsets[i] == kFill || offsets[i] != a.start + static_cast<int64_t>(i) * a.step) {
      a.affine = false;
    }
  }
  if (!a.affine) a.table = std::move(offsets);
  axes.push_back(std::move(a));
}

void IndexMap::simplify() {
  std::vector<Axis> kept;
  for (auto& a : axes) {
    if (a.extent == 1 && a.offset(0) != kFill) {
      base += a.offset(0);
      continue;
    }
    if (!kept.empty()) {
      Axis& o = kept.back();
      if (o.affine && a.affine && o.step == a.extent * a.step) {
        // offset(o * n + i) = o.start + a.start + (o * n + i) * a.step
        o.start += a.start;
        o.step = a.step;
        o.extent *= a.extent;
        continue;
      }
    }
    kept.push_back(std::move(a));
  }
  // run() tiles the last two axes.
  while (kept.size() < 2) kept.insert(kept.begin(), Axis{});
  axes = std::move(kept);
}

namespace {
template <typename T>
struct IndexMapRun {
  const IndexMap* m;
  const T* src;
  T* dst;
  T fill;
  size_t outer_axes;  // axes walked by division; the last two form the tile
};

// Source offset of the outer multi-index `flat` (axes [0, outer_axes)), or kFill.
int64_t outer_offset(const IndexMap& m, size_t outer_axes, int64_t flat) {
  int64_t off = m.base;
  bool fill = false;
  for (size_t j = outer_axes; j-- > 0;) {
    const int64_t t = m.axes[j].offset(flat % m.axes[j].extent);
    flat /= m.axes[j].extent;
    if (t == kFill)
      fill = true;
    else
      off += t;
  }
  return fill ? kFill : off;
}

// Rows [start, start + count) of axis r-2 for one outer index, each row one run of axis r-1.
template <typename T>
void index_map_tile(void* ctx, size_t outer, size_t start, size_t count) {
  const auto& c = *static_cast<const IndexMapRun<T>*>(ctx);
  const auto& m = *c.m;
  const auto& rows = m.axes[m.axes.size() - 2];
  const auto& cols = m.axes.back();
  const int64_t base = outer_offset(m, c.outer_axes, static_cast<int64_t>(outer));
  const int64_t n = cols.extent;
  T* out = c.dst + (static_cast<int64_t>(outer) * rows.extent + static_cast<int64_t>(start)) * n;
  if (base != kFill && n < 16 && rows.affine && cols.affine) {
    // Narrow rows (NCHW -> NHWC with 3 channels): walk the contiguous source axis inside.
    const T* src = c.src + base + rows.start + static_cast<int64_t>(start) * rows.step;
    for (int64_t j = 0; j < n; ++j) {
      const T* s = src + cols.start + j * cols.step;
      for (size_t i = 0; i < count; ++i)
        out[static_cast<int64_t>(i) * n + j] = s[static_cast<int64_t>(i) * rows.step];
    }
    return;
  }
  for (size_t i = start; i < start + count; ++i, out += n) {
    const int64_t r = rows.offset(static_cast<int64_t>(i));
    if (base == kFill || r == kFill) {
      std::fill(out, out + n, c.fill);
      continue;
    }
    const T* src = c.src + base + r;
    if (cols.affine && cols.step == 1) {
      std::memcpy(out, src + cols.start, static_cast<size_t>(n) * sizeof(T));
    } else if (cols.affine) {
      const int64_t step = cols.step;
      src += cols.start;
      for (int64_t j = 0; j < n; ++j) out[j] = src[j * step];
    } else {
      for (int64_t j = 0; j < n; ++j) out[j] = cols.table[j] == kFill ? c.fill : src[cols.table[j]];
    }
  }
}
template <typename T>
void run_map(const IndexMap& m, const T* src, T* dst, T fill, Parallel par) {
  const size_t r = m.axes.size();
  if (r < 2) fail("index map run before simplify()");
  IndexMapRun<T> c{&m, src, dst, fill, r - 2};
  int64_t outer = 1;
  for (size_t j = 0; j + 2 < r; ++j) outer *= m.axes[j].extent;
  // About 16K elements per task keeps the dispatch cost small against the copying.
  const auto tile = static_cast<size_t>(std::max<int64_t>(1, 16384 / m.axes.back().extent));
  pthreadpool_parallelize_2d_tile_1d(par.pool, index_map_tile<T>, &c, static_cast<size_t>(outer),
                                     static_cast<size_t>(m.axes[r - 2].extent), tile, par.flags);
}
}  // namespace

void IndexMap::run(const float* src, float* dst, Parallel par) const {
  run_map(*this, src, dst, fill, par);
}

void IndexMap::run(const int8_t* src, int8_t* dst, Parallel par) const {
  run_map(*this, src, dst, static_cast<int8_t>(fill), par);
}

}  // namespace nnjoule::exec::detail
