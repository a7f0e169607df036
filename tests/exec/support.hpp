#pragma once
// Shared by the exec tests: run a graph on the engine and on the reference, compare.
#include <gtest/gtest.h>

#include <algorithm>
#include <cstring>
#include <string>
#include <vector>

#include "nnjoule/common/rng.hpp"
#include "nnjoule/exec/engine.hpp"
#include "nnjoule/exec/reference.hpp"
#include "nnjoule/graph/graph.hpp"
#include "nnjoule/zoo/kernel_models.hpp"

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

// Outputs of the model as they stand now (NCHW copies).
inline std::vector<Tensor> outputs_of(const CompiledModel& m) {
  std::vector<Tensor> out;
  for (size_t k = 0; k < m.outputs().size(); ++k) out.push_back(m.output_tensor(k));
  return out;
}

inline bool bit_identical(const std::vector<Tensor>& a, const std::vector<Tensor>& b) {
  if (a.size() != b.size()) return false;
  for (size_t k = 0; k < a.size(); ++k) {
    if (a[k].shape != b[k].shape ||
        std::memcmp(a[k].data.data(), b[k].data.data(), a[k].data.size() * sizeof(float)) != 0)
      return false;
  }
  return true;
}

struct RepeatedRuns {
  double worst_error = 0;   // largest relative error against the reference, any checked run
  int first_divergent = 0;  // first run whose outputs differ in any bit from run 1; 0: none
  int first_wrong = 0;      // first checked run beyond the tolerance; 0: none
};

// What users do: set the inputs once, then run many times (plain and timed runs alternating,
// as the harness does). Every run in `check` is compared with the reference; every run must
// give the same bits as the first.
inline RepeatedRuns repeated_runs(CompiledModel& m, const std::vector<Tensor>& in,
                                  const std::vector<Tensor>& ref, int runs,
                                  const std::vector<int>& check, double tolerance) {
  RepeatedRuns r;
  for (size_t i = 0; i < in.size(); ++i) m.set_input(i, in[i].data);
  std::vector<double> step_ms(m.steps().size());
  std::vector<Tensor> first;
  for (int run = 1; run <= runs; ++run) {
    if (run % 2 == 0)
      m.run_timed(step_ms);
    else
      m.run();
    const auto out = outputs_of(m);
    if (run == 1) first = out;
    if (r.first_divergent == 0 && !bit_identical(out, first)) r.first_divergent = run;
    if (std::find(check.begin(), check.end(), run) == check.end()) continue;
    for (size_t k = 0; k < out.size(); ++k) {
      const double e = relative_error(out[k], ref[k]);
      r.worst_error = std::max(r.worst_error, e);
      if (e > tolerance && r.first_wrong == 0) r.first_wrong = run;
    }
  }
  return r;
}

// Largest relative error over the outputs, engine against reference, over three runs on
// inputs set once; fails the test when the runs differ in any bit.
inline double engine_error(const graph::Graph& g, int threads = 1, uint64_t seed = 7) {
  const auto in = random_inputs(g, seed);
  const auto ref = run_reference(g, in);
  CompileOptions o;
  o.threads = threads;
  auto m = compile(g, o);
  const auto r = repeated_runs(m, in, ref, 3, {1, 2, 3}, kTolerance);
  EXPECT_EQ(r.first_divergent, 0) << g.name << ": run " << r.first_divergent
                                  << " differs from run 1 on the same input";
  return r.worst_error;
}

// A random value for one kernel config key; invalid combinations are rejected by the zoo and
// redrawn by the caller.
inline int64_t draw_config_value(Rng& rng, const std::string& key) {
  if (key == "HW") return rng.uniform_int(2, 20);
  if (key == "CIN" || key == "COUT")
    return rng.uniform_int(1, 12) * (rng.uniform_int(0, 1) ? 4 : 1);
  if (key == "KERNEL_SIZE") return std::vector<int64_t>{1, 2, 3, 5, 7}[rng.uniform_int(0, 4)];
  if (key == "STRIDES" || key == "POOL_STRIDES") return rng.uniform_int(1, 2);
  if (key == "GROUPS") return std::vector<int64_t>{1, 2, 4}[rng.uniform_int(0, 2)];
  if (key.rfind("CIN", 0) == 0) return rng.uniform_int(1, 24);
  if (key == "NS") return rng.uniform_int(2, 4);
  if (key == "SCALE") return rng.uniform_int(1, 3);
  if (key == "M" || key == "K" || key == "N") return rng.uniform_int(1, 40);
  if (key == "BATCH") return rng.uniform_int(1, 4);
  if (key == "CMID") return rng.uniform_int(1, 16);
  ADD_FAILURE() << "no sampler for config key " << key;
  return 1;
}

// The calling thread's floating-point control state (MXCSR on x86-64, FPCR on aarch64).
inline uint64_t fp_state() {
#if defined(__x86_64__)
  return __builtin_ia32_stmxcsr();
#elif defined(__aarch64__)
  uint64_t v = 0;
  asm volatile("mrs %0, fpcr" : "=r"(v));
  return v;
#else
  return 0;
#endif
}

// A random config for one kernel model type: required keys always, optional ones at random;
// a concat gets 1 to 6 inputs CIN1..CINn. Invalid combinations are rejected by the zoo.
inline kernels::KernelConfig random_kernel_config(Rng& rng, const zoo::KernelModelType& type) {
  kernels::KernelConfig config;
  if (type.name == "concat") {
    config.set("HW", draw_config_value(rng, "HW"));
    const int64_t n = rng.uniform_int(1, 6);
    for (int64_t i = 1; i <= n; ++i)
      config.set("CIN" + std::to_string(i), draw_config_value(rng, "CIN1"));
    if (rng.uniform_int(0, 1)) config.set("NS", n);
    return config;
  }
  for (const auto& key : type.required) config.set(key, draw_config_value(rng, key));
  for (const auto& key : type.optional)
    if (rng.uniform_int(0, 1)) config.set(key, draw_config_value(rng, key));
  return config;
}

// Steps that compute (not the NCHW <-> NHWC conversions at the graph's edges).
inline size_t compute_steps(const CompiledModel& m) {
  size_t n = 0;
  for (const auto& s : m.steps()) n += s.io ? 0 : 1;
  return n;
}

}  // namespace nnjoule::exec::testing
