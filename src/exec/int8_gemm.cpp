// nnjoule's int8 GEMM for 1x1 convolutions and fully connected layers on x86-64 CPUs with
// AVX512-VNNI. Debian's XNNPACK (2022) multiplies int8 with vpmaddwd (two 16-bit products per
// lane); vpdpbusd does four 8-bit ones. It multiplies unsigned by signed bytes, so the int8
// activations are shifted to uint8 (x + 128) and 128 * sum(w) comes off the bias.
#include <pthreadpool.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <vector>

#include "internal.hpp"
#include "nnjoule/common/error.hpp"

#if defined(__x86_64__)
// GCC 12's AVX-512 headers start conversions from _mm512_undefined_*(), which it then warns
// about (GCC bug 105593).
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#include <immintrin.h>
#pragma GCC diagnostic pop
#endif

namespace nnjoule::exec::detail {

bool Int8GemmKernel::available() {
#if defined(__x86_64__)
  static const bool ok = __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
                         __builtin_cpu_supports("avx512vnni");
  return ok;
#else
  return false;
#endif
}

void Int8GemmKernel::pack(const int8_t* w, const int32_t* b, const float* kscale, float xscale,
                          int32_t xzero, float yscale, int32_t yz, int8_t min, int8_t max) {
  Kp = (K + 3) / 4 * 4;
  const int64_t blocks = (N + 15) / 16;
  packed.assign(static_cast<size_t>(blocks * Kp * 16), 0);
  bias.assign(static_cast<size_t>(blocks * 16), 0);
  scale.assign(static_cast<size_t>(blocks * 16), 0.f);
  for (int64_t n = 0; n < N; ++n) {
    int64_t sum = 0;
    for (int64_t k = 0; k < K; ++k) {
      const int8_t v = w[n * K + k];
      sum += v;
      // [block][k / 4][channel in block][k % 4]: one 64-byte row per 4 k of 16 channels.
      packed[static_cast<size_t>(((n / 16) * (Kp / 4) + k / 4) * 64 + (n % 16) * 4 + k % 4)] = v;
    }
    // sum((x - zx) w) = sum((x + 128) w) - (128 + zx) sum(w)
    bias[n] = b[n] - (128 + xzero) * static_cast<int32_t>(sum);
    scale[n] = static_cast<float>(static_cast<double>(xscale) * kscale[n] / yscale);
  }
  yzero = yz;
  lo = min;
  hi = max;
}

#if defined(__x86_64__)
namespace {

struct GemmCall {
  const Int8GemmKernel* k;
  const int8_t* x;
  int8_t* y;
};

constexpr int64_t kRows = 8;

// R rows of x (row stride lda) times every weight block.
template <int R>
__attribute__((target("avx512f,avx512bw,avx512vnni"))) inline void tile(const Int8GemmKernel& k,
                                                                        const int8_t* x,
                                                                        int64_t lda, int8_t* y) {
  const int64_t blocks = (k.N + 15) / 16;
  const __m512i flip = _mm512_set1_epi32(static_cast<int32_t>(0x80808080u));
  const __m512i zero = _mm512_set1_epi32(k.yzero);
  const __m512i lo = _mm512_set1_epi32(k.lo), hi = _mm512_set1_epi32(k.hi);
  for (int64_t b = 0; b < blocks; ++b) {
    __m512i acc[R];
    const __m512i bias = _mm512_loadu_si512(k.bias.data() + b * 16);
    for (int r = 0; r < R; ++r) acc[r] = bias;
    const int8_t* w = k.packed.data() + b * k.Kp * 16;
    for (int64_t k4 = 0; k4 < k.Kp; k4 += 4, w += 64) {
      const __m512i wv = _mm512_loadu_si512(w);
      for (int r = 0; r < R; ++r) {
        int32_t a;
        // Up to 3 bytes past a row's K: the next row's, or XNN_EXTRA_BYTES of padding; their
        // weights are 0.
        std::memcpy(&a, x + r * lda + k4, 4);
        acc[r] = _mm512_dpbusd_epi32(acc[r], _mm512_xor_si512(_mm512_set1_epi32(a), flip), wv);
      }
    }
    const __m512 s = _mm512_loadu_ps(k.scale.data() + b * 16);
    const int64_t n0 = b * 16;
    const __mmask16 m =
        k.N - n0 >= 16 ? __mmask16(0xffff) : static_cast<__mmask16>((1u << (k.N - n0)) - 1);
    for (int r = 0; r < R; ++r) {
      // Round to nearest even (the default MXCSR mode), as XNNPACK's fp32 requantization.
      __m512i q = _mm512_cvtps_epi32(_mm512_mul_ps(_mm512_cvtepi32_ps(acc[r]), s));
      q = _mm512_min_epi32(_mm512_max_epi32(_mm512_add_epi32(q, zero), lo), hi);
      _mm512_mask_cvtepi32_storeu_epi8(y + r * k.N + n0, m, q);
    }
  }
}

// memcpy for the short spans of small-channel convolutions (the 3-channel stem: 9 bytes), where
// a call per span costs more than the copy.
inline void copy_span(int8_t* dst, const int8_t* src, size_t n) {
  if (n >= 8 && n <= 16) {
    std::memcpy(dst, src, 8);
    std::memcpy(dst + n - 8, src + n - 8, 8);
  } else if (n >= 4 && n < 8) {
    std::memcpy(dst, src, 4);
    std::memcpy(dst + n - 4, src + n - 4, 4);
  } else {
    std::memcpy(dst, src, n);
  }
}

// Rows [start, start + count) of the patch matrix of a KxK convolution, lda = Kp. The output
// position advances by one per row (no divisions), and a window inside the image copies each of
// its KH rows at once when the taps of a row are adjacent (dilation 1): KW * C bytes of NHWC.
void gather(const Int8GemmKernel& k, const int8_t* x, size_t start, size_t count, int8_t* out) {
  const auto& p = k.patches;
  const auto m0 = static_cast<int64_t>(start);
  int64_t n = m0 / (p.OH * p.OW), oy = m0 / p.OW % p.OH, ox = m0 % p.OW;
  const int64_t last_y = (p.KH - 1) * p.DH, last_x = (p.KW - 1) * p.DW;
  const auto C = static_cast<size_t>(p.C);
  for (size_t i = 0; i < count; ++i) {
    int8_t* row = out + static_cast<int64_t>(i) * k.Kp;
    const int64_t iy0 = oy * p.SH - p.PT, ix0 = ox * p.SW - p.PL;
    const int8_t* image = x + n * p.H * p.W * p.C;
    if (p.DW == 1 && iy0 >= 0 && ix0 >= 0 && iy0 + last_y < p.H && ix0 + last_x < p.W) {
      const size_t span = static_cast<size_t>(p.KW) * C;
      for (int64_t ky = 0; ky < p.KH; ++ky, row += span)
        copy_span(row, image + ((iy0 + ky * p.DH) * p.W + ix0) * p.C, span);
    } else {
      for (int64_t ky = 0; ky < p.KH; ++ky) {
        const int64_t iy = iy0 + ky * p.DH;
        for (int64_t kx = 0; kx < p.KW; ++kx, row += C) {
          const int64_t ix = ix0 + kx * p.DW;
          if (iy < 0 || iy >= p.H || ix < 0 || ix >= p.W) {
            std::memset(row, p.fill, C);
          } else {
            copy_span(row, image + (iy * p.W + ix) * p.C, C);
          }
        }
      }
    }
    if (++ox == p.OW) {
      ox = 0;
      if (++oy == p.OH) oy = 0, ++n;
    }
  }
}

void rows(void* ctx, size_t start, size_t count) {
  const auto& c = *static_cast<const GemmCall*>(ctx);
  const auto& k = *c.k;
  const int8_t* x = c.x + static_cast<int64_t>(start) * k.K;
  int64_t lda = k.K;
  if (k.patches.on) {
    thread_local std::vector<int8_t> scratch;
    scratch.resize(count * static_cast<size_t>(k.Kp));
    gather(k, c.x, start, count, scratch.data());
    x = scratch.data();
    lda = k.Kp;
  }
  for (size_t r = 0; r < count; r += kRows) {
    const auto left = static_cast<int64_t>(std::min<size_t>(kRows, count - r));
    const int8_t* xr = x + static_cast<int64_t>(r) * lda;
    int8_t* y = c.y + static_cast<int64_t>(start + r) * k.N;
    switch (left) {
      case 8:
        tile<8>(k, xr, lda, y);
        break;
      case 7:
        tile<7>(k, xr, lda, y);
        break;
      case 6:
        tile<6>(k, xr, lda, y);
        break;
      case 5:
        tile<5>(k, xr, lda, y);
        break;
      case 4:
        tile<4>(k, xr, lda, y);
        break;
      case 3:
        tile<3>(k, xr, lda, y);
        break;
      case 2:
        tile<2>(k, xr, lda, y);
        break;
      default:
        tile<1>(k, xr, lda, y);
        break;
    }
  }
}

}  // namespace
#endif

void Int8GemmKernel::run(const int8_t* x, int8_t* y, Parallel par) const {
#if defined(__x86_64__)
  GemmCall c{this, x, y};
  // Tasks of several row tiles: every task streams all the weights once.
  pthreadpool_parallelize_1d_tile_1d(par.pool, rows, &c, static_cast<size_t>(M),
                                     static_cast<size_t>(kRows * 4), par.flags);
#else
  (void)x, (void)y, (void)par;
  fail("int8 GEMM: AVX512-VNNI kernels exist on x86-64 only");
#endif
}

}  // namespace nnjoule::exec::detail
