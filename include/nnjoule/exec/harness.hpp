#pragma once
// The latency harness every later stage measures with: warm-up runs, N timed runs on the
// monotonic clock, median / p10 / p90 / CV; per-step and per-kernel breakdowns of a whole-model
// run; standalone runs of each kernel as a model of its own. See docs/execution.md.
#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

#include "nnjoule/common/provenance.hpp"
#include "nnjoule/common/stats.hpp"
#include "nnjoule/exec/engine.hpp"
#include "nnjoule/kernels/kernel.hpp"

namespace nnjoule::exec {

// Where every latency the harness reports comes from.
Provenance wall_clock();  // measured (wall clock, steady_clock)

struct HarnessOptions {
  int warmup = 10;
  int runs = 50;
  // Time each step too (one monotonic clock read between steps, ~20 ns each).
  bool per_step = false;
};

struct LatencyResult {
  Provenance provenance = wall_clock();
  int threads = 1;
  std::vector<int> cpus;
  int warmup = 0;
  std::vector<double> samples_ms;  // one per timed run
  stats::Summary latency_ms;
  std::vector<std::vector<double>> step_ms;  // [step][run], when per_step
};

// Runs warm-up then timed runs on whatever inputs the model holds (set them first).
LatencyResult measure_latency(CompiledModel& m, const HarnessOptions& options);

// One random tensor per model input (uniform [-1, 1), seed + index).
std::vector<Tensor> random_inputs(const CompiledModel& m, uint64_t seed);
// One raw float32 NCHW file per input, in input order; names the file and both byte counts
// when a size differs.
std::vector<Tensor> read_inputs(const CompiledModel& m,
                                const std::vector<std::filesystem::path>& files);
void set_inputs(CompiledModel& m, const std::vector<Tensor>& inputs);

// A whole-model run broken down by kernel: each step's time goes to the kernel holding the
// step's anchor node; I/O layout conversions form a row of their own.
struct KernelTiming {
  std::string name;  // kernel name, or "io:layout"
  std::string type;  // catalogue type
  std::vector<size_t> steps;
  std::vector<double> samples_ms;  // per run: the sum of its steps
  stats::Summary ms;
  // Why a kernel has no step: "fused into <kernel>", "no computation (a view)", "folded".
  std::string note;
};
std::vector<KernelTiming> per_kernel(const CompiledModel& m, const LatencyResult& r,
                                     const std::vector<kernels::Kernel>& ks);

// The nodes of one kernel as a model of its own: the kernel's runtime inputs become graph
// inputs, its outputs graph outputs, its constants come along.
graph::Graph kernel_graph(const graph::Graph& g, const kernels::Kernel& k);

struct StandaloneTiming {
  std::string name, type;
  bool ran = false;  // false for kernels with no computation of their own
  // Median over runs of the kernel's compute steps (the model's own NCHW <-> NHWC
  // conversions at its edges excluded: inside a model they do not happen).
  double compute_ms = 0;
  stats::Summary total_ms;  // whole standalone runs, conversions included
};
std::vector<StandaloneTiming> measure_standalone(const graph::Graph& g,
                                                 const std::vector<kernels::Kernel>& ks,
                                                 const CompileOptions& compile_options,
                                                 const HarnessOptions& options, uint64_t seed);

}  // namespace nnjoule::exec
