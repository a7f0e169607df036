// Conformance: a compiled model computes on the input it was given on every run. Inputs are
// set once and the model runs 10 times (as `nnjoule run`, the harness and every collection
// do); runs 1, 3 and 10 are checked against the reference executor and every run must give
// the bits of the first, on 1, 2 and 4 threads. A new input set later must take effect.
#include <gtest/gtest.h>

#include <algorithm>
#include <thread>

#include "nnjoule/common/error.hpp"
#include "nnjoule/exec/harness.hpp"
#include "nnjoule/zoo/kernel_models.hpp"
#include "nnjoule/zoo/zoo.hpp"
#include "support.hpp"

using namespace nnjoule;
using exec::testing::kTolerance;

namespace {

constexpr int kRuns = 10;
const std::vector<int> kChecked = {1, 3, 10};
const std::vector<int> kThreads = {1, 2, 4};

// Runs g on each thread count with inputs set once, then with a second input.
void expect_conformant(const graph::Graph& g, const std::string& label,
                       const std::vector<int>& thread_counts) {
  const auto in = exec::testing::random_inputs(g, 11);
  const auto ref = exec::run_reference(g, in);
  const auto in2 = exec::testing::random_inputs(g, 1011);
  const auto ref2 = exec::run_reference(g, in2);
  for (int threads : thread_counts) {
    exec::CompileOptions o;
    o.threads = threads;
    auto m = exec::compile(g, o);
    const auto r = exec::testing::repeated_runs(m, in, ref, kRuns, kChecked, kTolerance);
    EXPECT_EQ(r.first_wrong, 0) << label << ", " << threads << " thread(s): run " << r.first_wrong
                                << " disagrees with the reference (error " << r.worst_error << ")";
    EXPECT_EQ(r.first_divergent, 0) << label << ", " << threads << " thread(s): run "
                                    << r.first_divergent << " differs from run 1";
    // The same compiled model given a new input computes on it.
    const auto r2 = exec::testing::repeated_runs(m, in2, ref2, 3, {1, 3}, kTolerance);
    EXPECT_EQ(r2.first_wrong, 0) << label << ", " << threads
                                 << " thread(s): a second input set on the compiled model, run "
                                 << r2.first_wrong << " (error " << r2.worst_error << ")";
    EXPECT_EQ(r2.first_divergent, 0) << label << ", " << threads << " thread(s), second input";
  }
}

}  // namespace

class ExecConformanceFamily : public ::testing::TestWithParam<std::string> {};

TEST_P(ExecConformanceFamily, EveryRunOnEveryThreadCountAgreesBitForBit) {
  const auto& info = zoo::family(GetParam());
  const int64_t res = std::max<int64_t>(info.min_resolution, 32);
  const auto g = zoo::build_model({.family = info.name, .resolution = res, .seed = 13});
  expect_conformant(g, info.name, kThreads);
}

INSTANTIATE_TEST_SUITE_P(AllFamilies, ExecConformanceFamily,
                         ::testing::ValuesIn(zoo::family_names()),
                         [](const auto& p) { return p.param; });

TEST(ExecConformance, RandomKernelConfigsOfEveryType) {
  Rng rng(777);
  for (const auto& type : zoo::kernel_model_types()) {
    int ok = 0;
    for (int attempt = 0; attempt < 200 && ok < 2; ++attempt) {
      const auto config = exec::testing::random_kernel_config(rng, type);
      graph::Graph g;
      try {
        g = zoo::build_kernel_model(type.name, config, static_cast<uint64_t>(attempt));
      } catch (const Error&) {
        continue;  // an invalid combination, redrawn
      }
      ++ok;
      expect_conformant(g, type.name + " " + config.str(), kThreads);
    }
    EXPECT_EQ(ok, 2) << "could not draw valid configs for " << type.name;
  }
}

// Several compiled models running at once on their own threads (each with its own pool) give
// the bits each gives alone.
TEST(ExecConformance, ModelsRunningConcurrentlyGiveTheirOwnResults) {
  const std::vector<std::string> families = {"resnet18", "mobilenetv2", "squeezenet"};
  std::vector<graph::Graph> graphs;
  std::vector<std::vector<exec::Tensor>> inputs, alone;
  for (const auto& f : families) {
    const int64_t res = std::max<int64_t>(zoo::family(f).min_resolution, 32);
    graphs.push_back(zoo::build_model({.family = f, .resolution = res, .seed = 17}));
    inputs.push_back(exec::testing::random_inputs(graphs.back(), 5));
    exec::CompileOptions o;
    o.threads = 2;
    auto m = exec::compile(graphs.back(), o);
    alone.push_back(exec::run_model(m, inputs.back()));
  }
  std::vector<int> divergent(families.size(), 0);
  std::vector<std::thread> workers;
  for (size_t i = 0; i < families.size(); ++i) {
    workers.emplace_back([&, i] {
      exec::CompileOptions o;
      o.threads = 2;
      auto m = exec::compile(graphs[i], o);
      exec::set_inputs(m, inputs[i]);
      for (int run = 1; run <= kRuns; ++run) {
        m.run();
        if (!divergent[i] && !exec::testing::bit_identical(exec::testing::outputs_of(m), alone[i]))
          divergent[i] = run;
      }
    });
  }
  for (auto& w : workers) w.join();
  for (size_t i = 0; i < families.size(); ++i)
    EXPECT_EQ(divergent[i], 0) << families[i] << ": run " << divergent[i]
                               << " differs from the model run alone";
}
