#pragma once
// Engine internals shared by the compiler, the runtime and the hand-written kernels.
#include <pthreadpool.h>
#include <sched.h>
#include <xnnpack.h>

#include <climits>
#include <cstdint>
#include <functional>
#include <limits>
#include <memory>
#include <string>
#include <vector>

#include "nnjoule/exec/engine.hpp"

namespace nnjoule::exec::detail {

using graph::Shape;
// Physical axis j of a stored tensor holds logical (NCHW-order) axis perm[j].
using Perm = std::vector<int>;

Perm identity_perm(size_t rank);
Perm nhwc_perm();  // {0, 2, 3, 1}
bool is_identity(const Perm& p);
Shape physical_shape(const Shape& logical, const Perm& p);
// Element stride of each logical axis in the physical layout.
std::vector<int64_t> logical_strides(const Shape& logical, const Perm& p);
// True when both layouts put the elements in the same memory order (they differ only in
// where size-1 axes sit), so a conversion is a free relabelling.
bool same_bytes(const Shape& logical, const Perm& a, const Perm& b);
// Row-major physical data from row-major logical data.
std::vector<float> to_physical(const std::vector<float>& logical, const Shape& shape,
                               const Perm& p);

// What our own kernels run on: the pool and the pthreadpool flags of every call
// (PTHREADPOOL_FLAG_DISABLE_DENORMALS always, as XNNPACK's operators do; YIELD_WORKERS when
// the pool has more threads than CPUs). A null pool runs on the calling thread.
struct Parallel {
  pthreadpool_t pool = nullptr;
  uint32_t flags = PTHREADPOOL_FLAG_DISABLE_DENORMALS;
};

constexpr int64_t kFill = std::numeric_limits<int64_t>::min();

// A gather-style copy: output element at physical multi-index (i_0..i_r-1) reads the source at
// base + sum_j offset_j(i_j), or takes `fill` when any offset is kFill. Transposes, layout
// conversions, slices, pads, nearest resizes and gathers are all such copies.
struct IndexMap {
  struct Axis {
    int64_t extent = 1;
    bool affine = true;  // offset(i) = start + i * step, else table[i]
    int64_t start = 0, step = 0;
    std::vector<int64_t> table;
    int64_t offset(int64_t i) const { return affine ? start + i * step : table[i]; }
  };
  std::vector<Axis> axes;
  int64_t base = 0;
  float fill = 0;

  // Adds an output axis from its offset table (stored compactly when affine).
  void add_axis(std::vector<int64_t> offsets);
  // Drops size-1 axes and merges neighbours whose offsets stay affine (fewer, longer rows).
  void simplify();
  void run(const float* src, float* dst, Parallel par) const;
  // The same copy of int8 elements (quantized tensors); `fill` is the zero point there.
  void run(const int8_t* src, int8_t* dst, Parallel par) const;
};

// Mean over the physical axes flagged in `reduce`; the output is the input with those axes
// set to 1 (row-major).
struct ReduceKernel {
  Shape dims;
  std::vector<bool> reduce;
  void run(const float* x, float* y) const;
};

// y = clamp(x * scale[c] + shift[c]) with c the axis of length `channels` between `outer` and
// `inner` elements.
struct ChannelAffineKernel {
  int64_t outer = 1, channels = 1, inner = 1;
  std::vector<float> scale, shift;
  float lo = -std::numeric_limits<float>::infinity();
  float hi = std::numeric_limits<float>::infinity();
  void run(const float* x, float* y, Parallel par) const;
};

// Bilinear resize of an NHWC tensor with per-axis source tables (ONNX's coordinate rules).
struct BilinearKernel {
  int64_t N = 1, H = 1, W = 1, C = 1, OH = 1, OW = 1;
  std::vector<int64_t> y0, y1, x0, x1;  // source rows / columns of each output row / column
  std::vector<float> wy, wx;            // weight of y1 / x1
  void run(const float* x, float* y, Parallel par) const;
};

// Depthwise convolution of an NHWC tensor, output channel o reading input channel o / M:
// XNNPACK's 2022 operators have depthwise microkernels for at most 25 taps and fall back to
// one tiny GEMM per channel beyond that (a 7x7 depthwise ran 20-40x slower than a 5x5).
struct DepthwiseKernel {
  int64_t N = 1, H = 1, W = 1, C = 1, M = 1, OH = 1, OW = 1;
  int64_t KH = 1, KW = 1, SH = 1, SW = 1, DH = 1, DW = 1, PT = 0, PL = 0;
  std::vector<float> weights;  // [KH][KW][C * M]
  std::vector<float> bias;     // [C * M]
  float lo = -std::numeric_limits<float>::infinity();
  float hi = std::numeric_limits<float>::infinity();
  void run(const float* x, float* y, Parallel par) const;
};

// y[M][N] = requantize(sum_k (x[M][K] - x_zero) * w[N][K] + bias) of int8 NHWC 1x1
// convolutions and fully connected layers, on x86-64 CPUs with AVX512-VNNI (int8_gemm.cpp):
// Debian's XNNPACK (2022) has no VNNI kernels. available() is false elsewhere.
struct Int8GemmKernel {
  int64_t M = 0, K = 0, N = 0, Kp = 0;
  std::vector<int8_t> packed;  // [N / 16][Kp / 4][16][4], zero-padded
  std::vector<int32_t> bias;   // with (128 + x_zero) * sum(w) taken off
  std::vector<float> scale;    // x_scale * w_scale[n] / y_scale
  int32_t yzero = 0;
  int8_t lo = -128, hi = 127;
  // A KxK convolution (groups 1) as this GEMM over patches gathered per task (im2col into a
  // small per-thread buffer): K = KH * KW * C in XNNPACK's [kh][kw][c] order, M = N * OH * OW.
  struct Patches {
    bool on = false;
    int64_t H = 1, W = 1, C = 1, OH = 1, OW = 1, KH = 1, KW = 1, SH = 1, SW = 1, DH = 1, DW = 1,
            PT = 0, PL = 0;
    int8_t fill = 0;  // the input's zero point: padding is real 0
  } patches;
  static bool available();
  // w [N][K]; needs M, K, N set.
  void pack(const int8_t* w, const int32_t* b, const float* kscale, float xscale, int32_t xzero,
            float yscale, int32_t yzero, int8_t lo, int8_t hi);
  void run(const int8_t* x, int8_t* y, Parallel par) const;
};

enum class UnaryKind { kTanh, kHardSigmoid };
struct UnaryKernel {
  UnaryKind kind = UnaryKind::kTanh;
  float alpha = 0, beta = 0;
  int64_t count = 0;
  void run(const float* x, float* y, Parallel par) const;
};

// Owns the pthreadpool and the CPU pinning; restores the caller's affinity on destruction.
class ThreadPool {
 public:
  ThreadPool(int threads, const std::vector<int>& cpus);
  ~ThreadPool();
  ThreadPool(const ThreadPool&) = delete;
  ThreadPool& operator=(const ThreadPool&) = delete;
  pthreadpool_t get() const { return pool_; }  // nullptr runs on the calling thread only
  // More threads than CPUs to run them on: workers must sleep between operators, not spin,
  // or each operator waits a scheduler time slice for a descheduled worker.
  bool oversubscribed() const { return oversubscribed_; }
  Parallel parallel() const;
  // XNNPACK creation flags every operator of a model on this pool gets.
  uint32_t xnn_flags() const;
  // Puts spinning workers to sleep (after a run: idle power is not spent spinning).
  void yield_workers() const;

 private:
  pthreadpool_t pool_ = nullptr;
  bool oversubscribed_ = false;
  bool restore_ = false;
  pthread_t caller_{};
  cpu_set_t saved_{};
};

// Flushes denormals to zero on the calling thread while it lives (FTZ and DAZ on x86-64, FZ on
// aarch64), restoring the caller's floating-point state after. Workers get the same through
// PTHREADPOOL_FLAG_DISABLE_DENORMALS.
class DenormalsOff {
 public:
  DenormalsOff();
  ~DenormalsOff();
  DenormalsOff(const DenormalsOff&) = delete;
  DenormalsOff& operator=(const DenormalsOff&) = delete;

 private:
  uint64_t saved_ = 0;
};

void ensure_xnnpack_initialized();

// The L2 (per-core) cache size in bytes: sysfs where the kernel describes caches, else CPUID
// on x86-64, else 256 KiB (a phone big core's L2).
int64_t l2_cache_bytes();
// XNNPACK's f32 GEMM tiles: at most 7 output rows (AVX-512, NEON 6x8 / 4x8) by a multiple of
// 16 (or 8) channels; channel splits are multiples of 16 so every part fills whole tiles.
constexpr int64_t kRowTile = 7;
constexpr int64_t kChannelTile = 16;
const char* xnn_status_name(xnn_status s);

// An XNNPACK operator owned by the step that runs it.
struct XnnOp {
  xnn_operator_t op = nullptr;
  XnnOp() = default;
  XnnOp(const XnnOp&) = delete;
  XnnOp& operator=(const XnnOp&) = delete;
  ~XnnOp() {
    if (op) xnn_delete_operator(op);
  }
};

struct Value {
  std::string name;
  Shape shape;  // logical
  Perm perm;
  int buffer = -1;    // runtime buffer (shared by aliases), or -1
  int constant = -1;  // index into Impl::constants, or -1
  bool graph_input = false;
  // int8 values hold a QuantizeLinear's output: real = (q - qzero) * qscale. uint8 tensors are
  // stored as int8 with the zero point moved by -128 (the same reals), so every int8 kernel is
  // XNNPACK's signed one.
  bool int8 = false;
  float qscale = 1.f;
  int32_t qzero = 0;
  int64_t numel() const { return graph::numel(shape); }
};

struct Buffer {
  int64_t bytes = 0;
  int first = INT_MAX;  // first step touching it
  int last = -1;        // last step touching it
  int64_t offset = -1;
};

struct BindContext {
  std::function<float*(int)> ptr;
  pthreadpool_t pool = nullptr;  // for XNNPACK operators
  Parallel par;                  // for our own kernels
  uint32_t xnn_flags = 0;        // for XNNPACK operators created at run time
};

struct StepImpl {
  Step info;
  std::shared_ptr<IndexMap> io_map;  // set on NCHW <-> NHWC conversions at the graph's edges
  std::vector<int> reads, writes;    // value ids
  // Creates operators with the XNNPACK flags given (ThreadPool::xnn_flags); runs after the
  // memory check.
  std::function<void(uint32_t)> create;
  std::function<std::function<void()>(const BindContext&)> bind;  // setup; returns the runner
  std::function<void()> run;
};

// Greedy-by-size placement of buffers with disjoint lifetimes into one arena; returns its size.
int64_t plan_arena(std::vector<Buffer>& buffers, int64_t alignment);

}  // namespace nnjoule::exec::detail

namespace nnjoule::exec {

struct CompiledModel::Impl {
  std::string name;
  std::vector<TensorInfo> inputs, outputs;
  std::vector<int> input_values, output_values;
  // A graph input whose only use is a layout conversion is written converted by set_input;
  // an output that needs one is converted when read (run() stays the model's compute).
  std::vector<std::shared_ptr<detail::IndexMap>> input_maps, output_maps;
  mutable std::vector<std::vector<float>> output_staging;
  std::vector<detail::Value> values;
  std::vector<detail::Buffer> buffers;
  std::vector<std::vector<float>> constants;  // physical layout, padded for XNNPACK reads
  std::vector<detail::StepImpl> steps;
  std::vector<Step> step_info;
  int threads = 1;
  std::vector<int> cpus;
  std::unique_ptr<detail::ThreadPool> pool;
  std::unique_ptr<float, void (*)(void*)> arena{nullptr, nullptr};
  int64_t arena_bytes = 0, activation_bytes = 0, constant_bytes = 0;
  std::vector<std::string> notes;

  float* ptr(int value);
};

}  // namespace nnjoule::exec
