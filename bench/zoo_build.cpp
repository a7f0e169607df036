// How fast the zoo builds models: base models with weights (what `zoo export` does) and
// shape-only variants (what kernel-prior sampling does). bench/zoo_build_compare.py runs this
// beside torchvision's constructors for the same models and prints the ratios.
#include <benchmark/benchmark.h>

#include "nnjoule/zoo/zoo.hpp"

namespace {

const char* const kModels[] = {"resnet50", "mobilenetv2", "densenet121", "shufflenetv2"};

void BM_BuildWithWeights(benchmark::State& state) {
  const std::string family = kModels[state.range(0)];
  state.SetLabel(family);
  for (auto _ : state) {
    auto g = nnjoule::zoo::build_model({.family = family, .seed = 1});
    benchmark::DoNotOptimize(g);
  }
}
BENCHMARK(BM_BuildWithWeights)->DenseRange(0, 3)->Unit(benchmark::kMillisecond);

void BM_BuildShapeOnlyVariant(benchmark::State& state) {
  const std::string family = kModels[state.range(0)];
  state.SetLabel(family);
  int64_t k = 0;
  for (auto _ : state) {
    auto g = nnjoule::zoo::build_model(
        {.family = family, .variant = k++, .seed = 1, .materialize_weights = false});
    benchmark::DoNotOptimize(g);
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_BuildShapeOnlyVariant)->DenseRange(0, 3)->Unit(benchmark::kMillisecond);

}  // namespace

BENCHMARK_MAIN();
