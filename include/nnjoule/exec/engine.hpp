#pragma once
// The execution engine: compiles a Graph into a sequence of XNNPACK operators (operator API,
// NHWC inside) with the fusions a TFLite CPU runtime makes, plans one activation arena by
// liveness, and runs it on 1..N threads. See docs/execution.md.
#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "nnjoule/exec/tensor.hpp"
#include "nnjoule/graph/graph.hpp"

namespace nnjoule::exec {

struct CompileOptions {
  int threads = 1;                 // pthreadpool size, the calling thread included
  std::vector<int> cpus;           // empty: no affinity; else the CPUs the threads are pinned to
  int64_t memory_limit_bytes = 0;  // 0: MemAvailable from /proc/meminfo
};

// One unit of work the engine runs: an XNNPACK operator (with its fused neighbours), a copy
// kernel, or a layout conversion it inserted.
struct Step {
  std::string name;           // the anchor node's name, or "input:<tensor>" / "output:<tensor>"
  std::string op;             // what runs: "conv", "dwconv", "fc", "add", "layout", "copy", ...
  std::string impl;           // "xnnpack:convolution2d_nhwc_f32", "nnjoule:index-copy", ...
  std::vector<size_t> nodes;  // graph nodes this step computes (fused ones included)
  long anchor = -1;           // the node whose kernel the step's time belongs to; -1 for I/O
  bool io = false;            // an NCHW <-> NHWC conversion at a graph input or output
};

struct TensorInfo {
  std::string name;
  graph::Shape shape;  // NCHW, as in the graph
};

class CompiledModel {
 public:
  CompiledModel(CompiledModel&&) noexcept;
  CompiledModel& operator=(CompiledModel&&) noexcept;
  ~CompiledModel();

  const std::string& name() const;
  const std::vector<Step>& steps() const;
  const std::vector<TensorInfo>& inputs() const;
  const std::vector<TensorInfo>& outputs() const;
  int threads() const;
  const std::vector<int>& cpus() const;
  int64_t arena_bytes() const;             // planned activation memory
  int64_t activation_bytes() const;        // what the activations would take without reuse
  int64_t constant_bytes() const;          // weights and constants kept (before XNNPACK packing)
  std::vector<std::string> notes() const;  // what the compiler chose (fusions, fallbacks)

  // Copies one input in (NCHW), converting it to the layout the model reads it in (NHWC for
  // images); throws Error naming the input when the size differs.
  void set_input(size_t index, std::span<const float> data);
  // Runs the model's compute; inputs and outputs stay in the engine's layout.
  void run();
  // Runs once and stores each step's wall time (monotonic clock) in ms; size = steps().size().
  void run_timed(std::span<double> step_ms);
  // One output in NCHW (converted from NHWC on reading when needed); valid until the next run
  // or the next output() call.
  std::span<const float> output(size_t index) const;
  Tensor output_tensor(size_t index) const;

  struct Impl;

 private:
  explicit CompiledModel(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
  friend CompiledModel compile(const graph::Graph& g, const CompileOptions& options);
};

// Throws Error naming the node for an op the engine cannot run, the input for non-float
// inputs, and the planned sizes when the activations do not fit the memory limit.
CompiledModel compile(const graph::Graph& g, const CompileOptions& options = {});

// Runs `inputs` (Graph::inputs order) through a compiled model and returns its outputs.
std::vector<Tensor> run_model(CompiledModel& m, const std::vector<Tensor>& inputs);

// Runs `g` once per feed (one float vector per input, NCHW, Graph::inputs order) on one compiled
// model with one thread; returns each feed's outputs in Graph::outputs order. What the zoo's
// quantizer is given to calibrate and to check a model (zoo::ModelRunner).
std::vector<std::vector<std::vector<float>>> run_feeds(
    const graph::Graph& g, const std::vector<std::vector<std::vector<float>>>& feeds);

// The most threads a compiled model may have: 4 x the CPUs online (more only queue behind each
// other, and a pool of hundreds makes every operator wait on the scheduler).
int max_threads();
// Every op the engine runs (its op table: reference implementation and lowering), sorted.
std::vector<std::string> engine_ops();
// Throws Error naming the limit unless 1 <= threads <= max_threads().
void check_threads(int threads);

// "0,1,4-7" -> {0,1,4,5,6,7}; throws Error on malformed lists.
std::vector<int> parse_cpu_list(const std::string& text);

}  // namespace nnjoule::exec
