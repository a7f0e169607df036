// The few compute kernels XNNPACK's 2022 operator API lacks: mean over any axes, bilinear
// resize, depthwise convolution beyond 25 taps, per-channel affine, elementwise unary.
#include <algorithm>
#include <cmath>
#include <cstring>
#include <numeric>

#include "internal.hpp"
#include "nnjoule/common/error.hpp"

namespace nnjoule::exec::detail {

// ---- ReduceMean ----

void ReduceKernel::run(const float* x, float* y) const {
  Shape out = dims;
  int64_t count = 1;
  for (size_t j = 0; j < dims.size(); ++j)
    if (reduce[j]) count *= dims[j], out[j] = 1;
  const int64_t n_out = graph::numel(out), n_in = graph::numel(dims);
  std::vector<double> acc(static_cast<size_t>(n_out), 0.0);
  std::vector<int64_t> idx(dims.size(), 0);
  for (int64_t i = 0; i < n_in; ++i) {
    int64_t o = 0;
    for (size_t j = 0; j < dims.size(); ++j) o = o * out[j] + (reduce[j] ? 0 : idx[j]);
    acc[o] += x[i];
    for (int64_t j = static_cast<int64_t>(dims.size()) - 1; j >= 0; --j) {
      if (++idx[j] < dims[j]) break;
      idx[j] = 0;
    }
  }
  for (int64_t o = 0; o < n_out; ++o) y[o] = static_cast<float>(acc[o] / count);
}

// ---- bilinear resize ----

namespace {
struct BilinearRun {
  const BilinearKernel* k;
  const float* x;
  float* y;
};
void bilinear_rows(void* ctx, size_t row) {
  const auto& c = *static_cast<const BilinearRun*>(ctx);
  const auto& k = *c.k;
  const int64_t n = static_cast<int64_t>(row) / k.OH, oy = static_cast<int64_t>(row) % k.OH;
  const float* top = c.x + (n * k.H + k.y0[oy]) * k.W * k.C;
  const float* bot = c.x + (n * k.H + k.y1[oy]) * k.W * k.C;
  const float wy = k.wy[oy];
  float* out = c.y + static_cast<int64_t>(row) * k.OW * k.C;
  for (int64_t ox = 0; ox < k.OW; ++ox) {
    const float wx = k.wx[ox];
    const float *tl = top + k.x0[ox] * k.C, *tr = top + k.x1[ox] * k.C;
    const float *bl = bot + k.x0[ox] * k.C, *br = bot + k.x1[ox] * k.C;
    for (int64_t ch = 0; ch < k.C; ++ch) {
      const float t = tl[ch] + (tr[ch] - tl[ch]) * wx;
      const float b = bl[ch] + (br[ch] - bl[ch]) * wx;
      out[ox * k.C + ch] = t + (b - t) * wy;
    }
  }
}
}  // namespace

void BilinearKernel::run(const float* x, float* y, Parallel par) const {
  BilinearRun c{this, x, y};
  pthreadpool_parallelize_1d(par.pool, bilinear_rows, &c, static_cast<size_t>(N * OH), par.flags);
}

// ---- depthwise convolution ----

namespace {
struct DepthwiseRun {
  const DepthwiseKernel* k;
  const float* x;
  float* y;
};

// One output row. Per output pixel, a tile of 16 channels accumulates all its taps in
// registers before it is stored; channels are contiguous in NHWC, so the tile is one or two
// vector loads per tap.
#if defined(__x86_64__) && defined(__GNUC__)
__attribute__((target_clones("arch=x86-64-v3", "default")))
#endif
void depthwise_row(const DepthwiseKernel& k, const float* x, float* y, int64_t row) {
  constexpr int64_t kTile = 16;
  const int64_t n = row / k.OH, oy = row % k.OH;
  const int64_t OC = k.C * k.M;
  // Valid kernel rows for this output row (inputs outside the image are zero padding).
  const int64_t y0 = oy * k.SH - k.PT;
  int64_t ky_lo = 0, ky_hi = k.KH;
  while (ky_lo < k.KH && y0 + ky_lo * k.DH < 0) ++ky_lo;
  while (ky_hi > ky_lo && y0 + (ky_hi - 1) * k.DH >= k.H) --ky_hi;
  float* out = y + row * k.OW * OC;
  for (int64_t ox = 0; ox < k.OW; ++ox) {
    const int64_t x0 = ox * k.SW - k.PL;
    int64_t kx_lo = 0, kx_hi = k.KW;
    while (kx_lo < k.KW && x0 + kx_lo * k.DW < 0) ++kx_lo;
    while (kx_hi > kx_lo && x0 + (kx_hi - 1) * k.DW >= k.W) --kx_hi;
    float* dst = out + ox * OC;
    auto tap_input = [&](int64_t ky, int64_t kx) {
      return x + ((n * k.H + y0 + ky * k.DH) * k.W + x0 + kx * k.DW) * k.C;
    };
    auto tap_weights = [&](int64_t ky, int64_t kx) {
      return k.weights.data() + (ky * k.KW + kx) * OC;
    };
    int64_t c0 = 0;
    // Channels in tiles of 16, then 8 and 4 for the rest, so that a channel count just past a
    // multiple of 16 does not fall to the scalar loop.
    auto tiles = [&]<int64_t T>() {
      for (; c0 + T <= OC; c0 += T) {
        float acc[T];
        for (int64_t j = 0; j < T; ++j) acc[j] = k.bias[c0 + j];
        for (int64_t ky = ky_lo; ky < ky_hi; ++ky) {
          for (int64_t kx = kx_lo; kx < kx_hi; ++kx) {
            const float* src = tap_input(ky, kx) + c0;
            const float* w = tap_weights(ky, kx) + c0;
            for (int64_t j = 0; j < T; ++j) acc[j] += src[j] * w[j];
          }
        }
        for (int64_t j = 0; j < T; ++j) dst[c0 + j] = std::clamp(acc[j], k.lo, k.hi);
      }
    };
    if (k.M == 1) {
      tiles.template operator()<kTile>();
      tiles.template operator()<8>();
      tiles.template operator()<4>();
    }
    // The channels left over (and every channel with a multiplier): one at a time.
    for (int64_t c = c0; c < OC; ++c) {
      float acc = k.bias[c];
      for (int64_t ky = ky_lo; ky < ky_hi; ++ky) {
        for (int64_t kx = kx_lo; kx < kx_hi; ++kx) {
          acc += tap_input(ky, kx)[c / k.M] * tap_weights(ky, kx)[c];
        }
      }
      dst[c] = std::clamp(acc, k.lo, k.hi);
    }
  }
}

void depthwise_rows(void* ctx, size_t row) {
  const auto& c = *static_cast<const DepthwiseRun*>(ctx);
  depthwise_row(*c.k, c.x, c.y, static_cast<int64_t>(row));
}
}  // namespace

void DepthwiseKernel::run(const float* x, float* y, Parallel par) const {
  DepthwiseRun c{this, x, y};
  pthreadpool_parallelize_1d(par.pool, depthwise_rows, &c, static_cast<size_t>(N * OH), par.flags);
}

// ---- per-channel affine and unary ----

namespace {
struct AffineRun {
  const ChannelAffineKernel* k;
  const float* x;
  float* y;
};
void affine_rows(void* ctx, size_t row) {
  const auto& c = *static_cast<const AffineRun*>(ctx);
  const auto& k = *c.k;
  const int64_t ch = static_cast<int64_t>(row) % k.channels;
  const float s = k.scale[ch], t = k.shift[ch];
  const float* x = c.x + static_cast<int64_t>(row) * k.inner;
  float* y = c.y + static_cast<int64_t>(row) * k.inner;
  for (int64_t i = 0; i < k.inner; ++i) y[i] = std::clamp(x[i] * s + t, k.lo, k.hi);
}

struct UnaryRun {
  const UnaryKernel* k;
  const float* x;
  float* y;
};
void unary_tiles(void* ctx, size_t start, size_t count) {
  const auto& c = *static_cast<const UnaryRun*>(ctx);
  const auto& k = *c.k;
  for (size_t i = start; i < start + count; ++i) {
    const float v = c.x[i];
    c.y[i] = k.kind == UnaryKind::kTanh ? std::tanh(v) : std::clamp(k.alpha * v + k.beta, 0.f, 1.f);
  }
}
}  // namespace

void ChannelAffineKernel::run(const float* x, float* y, Parallel par) const {
  AffineRun c{this, x, y};
  pthreadpool_parallelize_1d(par.pool, affine_rows, &c, static_cast<size_t>(outer * channels),
                             par.flags);
}

void UnaryKernel::run(const float* x, float* y, Parallel par) const {
  UnaryRun c{this, x, y};
  pthreadpool_parallelize_1d_tile_1d(par.pool, unary_tiles, &c, static_cast<size_t>(count), 4096,
                                     par.flags);
}

}  // namespace nnjoule::exec::detail
