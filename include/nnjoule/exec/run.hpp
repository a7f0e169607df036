#pragma once
// One model run as `nnjoule run` and Python's nnjoule.run do it: compile, set inputs, time the
// runs (optionally per kernel and with every kernel standalone), keep the outputs.
#include <nlohmann/json.hpp>

#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

#include "nnjoule/exec/engine.hpp"
#include "nnjoule/exec/harness.hpp"
#include "nnjoule/graph/graph.hpp"

namespace nnjoule::exec {

struct RunOptions {
  CompileOptions compile;
  HarnessOptions harness;   // per_step is set when per_kernel or standalone asks for it
  bool per_kernel = false;  // break the latency down by kernel
  bool standalone = false;  // also run every kernel as a model of its own
  uint64_t seed = 1;        // random inputs, when neither of the next two is given
  std::vector<Tensor> inputs;
  std::vector<std::filesystem::path> input_files;  // raw float32 NCHW, one per input
};

struct ModelRun {
  std::string graph;  // the graph's name
  int threads = 1;
  std::vector<int> cpus;
  int runs = 0, warmup = 0;
  size_t steps = 0;
  int64_t arena_bytes = 0, activation_bytes = 0, constant_bytes = 0;
  std::vector<std::string> notes;
  LatencyResult latency;
  std::vector<KernelTiming> kernels;         // with per_kernel or standalone
  std::vector<StandaloneTiming> standalone;  // with standalone
  std::vector<TensorInfo> output_info;
  std::vector<Tensor> outputs;  // after the last timed run

  double standalone_sum_ms() const;  // compute time of the kernels that ran standalone
};

// Throws Error naming the model and what is wrong (input count or sizes, compile errors).
ModelRun run_model(const graph::Graph& g, const RunOptions& options);

// The record `nnjoule run --json` prints (docs/cli.md), `model` being the file's path.
nlohmann::json to_json(const ModelRun& r, const std::string& model);

}  // namespace nnjoule::exec
