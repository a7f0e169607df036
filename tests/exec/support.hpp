#pragma once
// Shared by the exec tests: run a graph on the engine and on the reference, compare.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "nnjoule/exec/engine.hpp"
#include "nnjoule/exec/reference.hpp"
#include "nnjoule/graph/graph.hpp"

namespace nnjoule::exec::testing {

// Tolerance on max|engine - reference| / max|reference| (see docs/execution.md).
inline constexpr double kTolerance = 1e-4;

inline std::vector<Tensor> random_inputs(const graph::Graph& g, uint64_t seed) {
  std::vector<Tensor> in;
  for (size_t i = 0; i < g.inputs.size(); ++i) {
    in.push_back(random_tensor(g.shape(g.inputs[i]), seed + i));
  }
  return in;
}

// Largest relative error over the outputs, engine against reference.
inline double engine_error(const graph::Graph& g, int threads = 1, uint64_t seed = 7) {
  const auto in = random_inputs(g, seed);
  const auto ref = run_reference(g, in);
  CompileOptions o;
  o.threads = threads;
  auto m = compile(g, o);
  double worst = 0;
  // Twice: the second run reuses the arena and must give the same answer.
  for (int rep = 0; rep < 2; ++rep) {
    const auto out = run_model(m, in);
    for (size_t k = 0; k < out.size(); ++k) {
      worst = std::max(worst, relative_error(out[k], ref[k]));
    }
  }
  return worst;
}

// Steps that compute (not the NCHW <-> NHWC conversions at the graph's edges).
inline size_t compute_steps(const CompiledModel& m) {
  size_t n = 0;
  for (const auto& s : m.steps()) n += s.io ? 0 : 1;
  return n;
}

}  // namespace nnjoule::exec::testing
