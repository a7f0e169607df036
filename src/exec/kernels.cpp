// Hand-written pieces of the engine: layout arithmetic, the gather-style copy, the few compute
// kernels XNNPACK's 2022 operator API lacks, the thread pool and the arena planner.
#include <pthread.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <cstring>
#include <fstream>
#include <mutex>
#include <numeric>
#include <thread>

#if defined(__x86_64__) || defined(__i386__)
#include <cpuid.h>
#include <xmmintrin.h>
#endif

#include <fmt/format.h>

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
struct IndexMapRun {
  const IndexMap* m;
  const float* src;
  float* dst;
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
void index_map_tile(void* ctx, size_t outer, size_t start, size_t count) {
  const auto& c = *static_cast<const IndexMapRun*>(ctx);
  const auto& m = *c.m;
  const auto& rows = m.axes[m.axes.size() - 2];
  const auto& cols = m.axes.back();
  const int64_t base = outer_offset(m, c.outer_axes, static_cast<int64_t>(outer));
  const int64_t n = cols.extent;
  float* out =
      c.dst + (static_cast<int64_t>(outer) * rows.extent + static_cast<int64_t>(start)) * n;
  if (base != kFill && n < 16 && rows.affine && cols.affine) {
    // Narrow rows (NCHW -> NHWC with 3 channels): walk the contiguous source axis inside.
    const float* src = c.src + base + rows.start + static_cast<int64_t>(start) * rows.step;
    for (int64_t j = 0; j < n; ++j) {
      const float* s = src + cols.start + j * cols.step;
      for (size_t i = 0; i < count; ++i)
        out[static_cast<int64_t>(i) * n + j] = s[static_cast<int64_t>(i) * rows.step];
    }
    return;
  }
  for (size_t i = start; i < start + count; ++i, out += n) {
    const int64_t r = rows.offset(static_cast<int64_t>(i));
    if (base == kFill || r == kFill) {
      std::fill(out, out + n, m.fill);
      continue;
    }
    const float* src = c.src + base + r;
    if (cols.affine && cols.step == 1) {
      std::memcpy(out, src + cols.start, static_cast<size_t>(n) * sizeof(float));
    } else if (cols.affine) {
      const int64_t step = cols.step;
      src += cols.start;
      for (int64_t j = 0; j < n; ++j) out[j] = src[j * step];
    } else {
      for (int64_t j = 0; j < n; ++j) out[j] = cols.table[j] == kFill ? m.fill : src[cols.table[j]];
    }
  }
}
}  // namespace

void IndexMap::run(const float* src, float* dst, Parallel par) const {
  const size_t r = axes.size();
  if (r < 2) fail("index map run before simplify()");
  IndexMapRun c{this, src, dst, r - 2};
  int64_t outer = 1;
  for (size_t j = 0; j + 2 < r; ++j) outer *= axes[j].extent;
  // About 16K elements per task keeps the dispatch cost small against the copying.
  const auto tile = static_cast<size_t>(std::max<int64_t>(1, 16384 / axes.back().extent));
  pthreadpool_parallelize_2d_tile_1d(par.pool, index_map_tile, &c, static_cast<size_t>(outer),
                                     static_cast<size_t>(axes[r - 2].extent), tile, par.flags);
}

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

// ---- threads ----

namespace {
struct PinContext {
  std::vector<int> cpus;
  size_t n = 0;
  std::atomic<size_t> arrived{0};
  std::atomic<int> failures{0};
};

// Every task waits until all have started, so each of the n tasks runs on a different thread.
void pin_task(void* ctx, size_t i) {
  auto& c = *static_cast<PinContext*>(ctx);
  c.arrived.fetch_add(1);
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(5);
  while (c.arrived.load() < c.n) {
    if (std::chrono::steady_clock::now() > deadline) {
      c.failures.fetch_add(1);
      break;
    }
    std::this_thread::yield();
  }
  cpu_set_t set;
  CPU_ZERO(&set);
  CPU_SET(c.cpus[i % c.cpus.size()], &set);
  if (pthread_setaffinity_np(pthread_self(), sizeof(set), &set) != 0) c.failures.fetch_add(1);
}
}  // namespace

ThreadPool::ThreadPool(int threads, const std::vector<int>& cpus) {
  if (threads < 1) fail("threads must be at least 1, got {}", threads);
  if (!cpus.empty()) {
    cpu_set_t allowed;
    CPU_ZERO(&allowed);
    if (sched_getaffinity(0, sizeof(allowed), &allowed) != 0) fail("cannot read the CPU affinity");
    cpu_set_t set;
    CPU_ZERO(&set);
    for (int c : cpus) {
      if (c < 0 || c >= CPU_SETSIZE || !CPU_ISSET(c, &allowed)) {
        fail("cpu {} is not available to this process ({} CPUs allowed)", c, CPU_COUNT(&allowed));
      }
      CPU_SET(c, &set);
    }
    caller_ = pthread_self();
    if (pthread_getaffinity_np(caller_, sizeof(saved_), &saved_) != 0) {
      fail("cannot read the calling thread's CPU affinity");
    }
    // Workers inherit the caller's mask when created: restrict it to the set first.
    if (pthread_setaffinity_np(caller_, sizeof(set), &set) != 0) fail("cannot set CPU affinity");
    restore_ = true;
  }
  int usable = static_cast<int>(cpus.size());
  if (cpus.empty()) {
    cpu_set_t allowed;
    CPU_ZERO(&allowed);
    usable = sched_getaffinity(0, sizeof(allowed), &allowed) == 0 ? CPU_COUNT(&allowed) : threads;
  }
  oversubscribed_ = threads > usable;
  if (threads > 1) {
    pool_ = pthreadpool_create(static_cast<size_t>(threads));
    if (!pool_) fail("cannot create a pool of {} threads", threads);
  }
  if (!cpus.empty()) {
    PinContext ctx;
    ctx.cpus = cpus;
    ctx.n = static_cast<size_t>(threads);
    pthreadpool_parallelize_1d(pool_, pin_task, &ctx, ctx.n, 0);
    if (ctx.failures.load() != 0) fail("could not pin each of the {} threads to one CPU", threads);
  }
}

Parallel ThreadPool::parallel() const {
  Parallel p;
  p.pool = pool_;
  if (oversubscribed_) p.flags |= PTHREADPOOL_FLAG_YIELD_WORKERS;
  return p;
}

uint32_t ThreadPool::xnn_flags() const {
  return oversubscribed_ ? XNN_FLAG_YIELD_WORKERS : 0;
}

namespace {
void no_task(void*, size_t) {}
}  // namespace

void ThreadPool::yield_workers() const {
  if (pool_) {
    pthreadpool_parallelize_1d(pool_, no_task, nullptr, pthreadpool_get_threads_count(pool_),
                               PTHREADPOOL_FLAG_YIELD_WORKERS);
  }
}

ThreadPool::~ThreadPool() {
  if (pool_) pthreadpool_destroy(pool_);
  if (restore_) pthread_setaffinity_np(caller_, sizeof(saved_), &saved_);
}

#if defined(__x86_64__) || defined(__i386__)
DenormalsOff::DenormalsOff() : saved_(_mm_getcsr()) {
  _mm_setcsr(static_cast<unsigned>(saved_) | 0x8040u);  // FTZ (bit 15) and DAZ (bit 6)
}
DenormalsOff::~DenormalsOff() {
  _mm_setcsr(static_cast<unsigned>(saved_));
}
#elif defined(__aarch64__)
DenormalsOff::DenormalsOff() {
  asm volatile("mrs %0, fpcr" : "=r"(saved_));
  const uint64_t fz = saved_ | (uint64_t{1} << 24);  // FZ: flush inputs and results
  asm volatile("msr fpcr, %0" : : "r"(fz));
}
DenormalsOff::~DenormalsOff() {
  asm volatile("msr fpcr, %0" : : "r"(saved_));
}
#else
DenormalsOff::DenormalsOff() = default;
DenormalsOff::~DenormalsOff() = default;
#endif

namespace {
int64_t l2_from_sysfs() {
  for (int i = 0; i < 8; ++i) {
    const std::string dir = fmt::format("/sys/devices/system/cpu/cpu0/cache/index{}/", i);
    std::ifstream level(dir + "level"), type(dir + "type"), size(dir + "size");
    int lv = 0;
    std::string t, sz;
    if (!(level >> lv) || !(type >> t) || !(size >> sz)) continue;
    if (lv != 2 || t == "Instruction") continue;
    int64_t v = 0;
    size_t used = 0;
    try {
      v = std::stoll(sz, &used);
    } catch (const std::exception&) {
      continue;
    }
    const std::string unit = sz.substr(used);
    if (unit == "K") v *= 1024;
    if (unit == "M") v *= 1024 * 1024;
    return v;
  }
  return 0;
}

int64_t l2_from_cpuid() {
#if defined(__x86_64__)
  unsigned a = 0, b = 0, c = 0, d = 0;
  // AMD (and Intel since Core 2): leaf 0x80000006 ECX[31:16] is the L2 size in KiB.
  if (__get_cpuid(0x80000000u, &a, &b, &c, &d) && a >= 0x80000006u &&
      __get_cpuid(0x80000006u, &a, &b, &c, &d)) {
    return static_cast<int64_t>(c >> 16) * 1024;
  }
#endif
  return 0;
}
}  // namespace

int64_t l2_cache_bytes() {
  static const int64_t bytes = [] {
    int64_t v = l2_from_sysfs();
    if (v <= 0) v = l2_from_cpuid();
    return v > 0 ? v : int64_t{256} * 1024;
  }();
  return bytes;
}

void ensure_xnnpack_initialized() {
  static std::once_flag once;
  static xnn_status status = xnn_status_success;
  std::call_once(once, [] { status = xnn_initialize(nullptr); });
  if (status != xnn_status_success) {
    fail("XNNPACK failed to initialize ({}): this CPU may lack the instructions it needs",
         xnn_status_name(status));
  }
}

const char* xnn_status_name(xnn_status s) {
  switch (s) {
    case xnn_status_success:
      return "success";
    case xnn_status_uninitialized:
      return "uninitialized";
    case xnn_status_invalid_parameter:
      return "invalid parameter";
    case xnn_status_invalid_state:
      return "invalid state";
    case xnn_status_unsupported_parameter:
      return "unsupported parameter";
    case xnn_status_unsupported_hardware:
      return "unsupported hardware";
    case xnn_status_out_of_memory:
      return "out of memory";
  }
  return "unknown status";
}

// ---- arena ----

int64_t plan_arena(std::vector<Buffer>& buffers, int64_t alignment) {
  std::vector<size_t> order(buffers.size());
  std::iota(order.begin(), order.end(), 0);
  std::stable_sort(order.begin(), order.end(),
                   [&](size_t a, size_t b) { return buffers[a].bytes > buffers[b].bytes; });
  std::vector<size_t> placed;
  int64_t total = 0;
  for (size_t i : order) {
    Buffer& b = buffers[i];
    // Buffers alive at the same time as b, by offset.
    std::vector<std::pair<int64_t, int64_t>> busy;
    for (size_t j : placed) {
      const Buffer& o = buffers[j];
      if (o.first <= b.last && b.first <= o.last) busy.emplace_back(o.offset, o.offset + o.bytes);
    }
    std::sort(busy.begin(), busy.end());
    // Best fit: the smallest gap that holds b, else the end.
    int64_t best = -1, best_gap = INT64_MAX, cursor = 0;
    for (const auto& [lo, hi] : busy) {
      if (lo - cursor >= b.bytes && lo - cursor < best_gap) best = cursor, best_gap = lo - cursor;
      cursor = std::max(cursor, (hi + alignment - 1) / alignment * alignment);
    }
    b.offset = best >= 0 ? best : cursor;
    total = std::max(total, b.offset + b.bytes);
    placed.push_back(i);
  }
  return total;
}

}  // namespace nnjoule::exec::detail
