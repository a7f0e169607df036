// Hand-written pieces of the engine: layout arithmetic, the gather-style copy, the few compute
// kernels XNNPACK's 2022 operator API lacks, the thread pool and the arena planner.
#include <pthread.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <cstring>
#include <mutex>
#include <numeric>
#include <thread>

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
    m.dims.push_back(shape[d]);
    std::vector<int64_t> t(static_cast<size_t>(shape[d]));
    for (int64_t i = 0; i < shape[d]; ++i) t[i] = i * st[d];
    m.table.push_back(std::move(t));
  }
  m.simplify();
  std::vector<float> out(logical.size());
  m.run(logical.data(), out.data(), nullptr);
  return out;
}

// ---- IndexMap ----

namespace {
bool affine(const std::vector<int64_t>& t, int64_t& step) {
  for (int64_t v : t)
    if (v == kFill) return false;
  step = t.size() > 1 ? t[1] - t[0] : 0;
  for (size_t i = 1; i < t.size(); ++i)
    if (t[i] - t[i - 1] != step) return false;
  return true;
}
}  // namespace

void IndexMap::simplify() {
  std::vector<int64_t> d2;
  std::vector<std::vector<int64_t>> t2;
  for (size_t j = 0; j < dims.size(); ++j) {
    if (dims[j] == 1 && table[j][0] != kFill) {
      base += table[j][0];
      continue;
    }
    d2.push_back(dims[j]);
    t2.push_back(std::move(table[j]));
  }
  dims.clear();
  table.clear();
  for (size_t j = 0; j < d2.size(); ++j) {
    if (!dims.empty()) {
      int64_t so = 0, si = 0;
      auto& outer = table.back();
      if (affine(outer, so) && affine(t2[j], si) && so == d2[j] * si) {
        // Merge: offset(o * n + i) = outer[0] + inner[0] + (o * n + i) * si.
        const int64_t first = outer[0] + t2[j][0];
        const int64_t n = dims.back() * d2[j];
        std::vector<int64_t> merged(static_cast<size_t>(n));
        for (int64_t k = 0; k < n; ++k) merged[k] = first + k * si;
        dims.back() = n;
        outer = std::move(merged);
        continue;
      }
    }
    dims.push_back(d2[j]);
    table.push_back(std::move(t2[j]));
  }
  if (dims.empty()) {
    dims = {1};
    table = {{0}};
  }
}

namespace {
struct IndexMapRun {
  const IndexMap* m;
  const float* src;
  float* dst;
  int64_t row_len;
  bool contiguous;  // last axis affine with step 1 and no fill
};

void index_map_rows(void* ctx, size_t start, size_t count) {
  const auto& c = *static_cast<const IndexMapRun*>(ctx);
  const auto& m = *c.m;
  const size_t r = m.dims.size();
  const auto& last = m.table[r - 1];
  for (size_t row = start; row < start + count; ++row) {
    float* out = c.dst + static_cast<int64_t>(row) * c.row_len;
    int64_t off = m.base;
    bool fill = false;
    size_t rem = row;
    for (size_t j = r - 1; j-- > 0;) {
      const auto len = static_cast<size_t>(m.dims[j]);
      const int64_t t = m.table[j][rem % len];
      rem /= len;
      if (t == kFill)
        fill = true;
      else
        off += t;
    }
    if (fill) {
      std::fill(out, out + c.row_len, m.fill);
    } else if (c.contiguous) {
      std::memcpy(out, c.src + off + last[0], static_cast<size_t>(c.row_len) * sizeof(float));
    } else {
      for (int64_t i = 0; i < c.row_len; ++i) {
        out[i] = last[i] == kFill ? m.fill : c.src[off + last[i]];
      }
    }
  }
}
}  // namespace

void IndexMap::run(const float* src, float* dst, pthreadpool_t pool) const {
  IndexMapRun c{this, src, dst, dims.back(), false};
  int64_t step = 0;
  c.contiguous = affine(table.back(), step) && (step == 1 || dims.back() == 1);
  int64_t rows = 1;
  for (size_t j = 0; j + 1 < dims.size(); ++j) rows *= dims[j];
  // About 16K elements per task keeps the dispatch cost small against the copying.
  const size_t tile =
      static_cast<size_t>(std::max<int64_t>(1, 16384 / std::max<int64_t>(1, c.row_len)));
  pthreadpool_parallelize_1d_tile_1d(pool, index_map_rows, &c, static_cast<size_t>(rows), tile, 0);
}

// ---- MatMul ----

namespace {
struct MatMulRun {
  const MatMulKernel* k;
  const float *a, *b;
  float* y;
};

int64_t batch_offset(const Shape& s, const Shape& out, int64_t flat) {
  int64_t off = 0, mul = 1;
  for (int64_t i = static_cast<int64_t>(out.size()) - 1; i >= 0; --i) {
    const int64_t idx = flat % out[i];
    flat /= out[i];
    if (s[i] != 1) off += idx * mul;
    mul *= s[i];
  }
  return off;
}

void matmul_rows(void* ctx, size_t row) {
  const auto& c = *static_cast<const MatMulRun*>(ctx);
  const auto& k = *c.k;
  const int64_t bi = static_cast<int64_t>(row) / k.M, i = static_cast<int64_t>(row) % k.M;
  const float* a = c.a + batch_offset(k.a_batch, k.out_batch, bi) * k.M * k.K + i * k.K;
  const float* b = c.b + batch_offset(k.b_batch, k.out_batch, bi) * k.K * k.N;
  float* y = c.y + static_cast<int64_t>(row) * k.N;
  std::fill(y, y + k.N, 0.f);
  for (int64_t kk = 0; kk < k.K; ++kk) {
    const float av = a[kk];
    const float* br = b + kk * k.N;
    for (int64_t j = 0; j < k.N; ++j) y[j] += av * br[j];
  }
}
}  // namespace

void MatMulKernel::run(const float* a, const float* b, float* y, pthreadpool_t pool) const {
  MatMulRun c{this, a, b, y};
  const auto rows = static_cast<size_t>(graph::numel(out_batch) * M);
  pthreadpool_parallelize_1d(pool, matmul_rows, &c, rows, 0);
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

void ChannelAffineKernel::run(const float* x, float* y, pthreadpool_t pool) const {
  AffineRun c{this, x, y};
  pthreadpool_parallelize_1d(pool, affine_rows, &c, static_cast<size_t>(outer * channels), 0);
}

void UnaryKernel::run(const float* x, float* y, pthreadpool_t pool) const {
  UnaryRun c{this, x, y};
  pthreadpool_parallelize_1d_tile_1d(pool, unary_tiles, &c, static_cast<size_t>(count), 4096, 0);
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

ThreadPool::~ThreadPool() {
  if (pool_) pthreadpool_destroy(pool_);
  if (restore_) pthread_setaffinity_np(caller_, sizeof(saved_), &saved_);
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
