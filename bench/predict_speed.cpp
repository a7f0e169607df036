// How fast predictors train and predict. bench/predict_eval.py runs this and prints the ratios:
// predicting a loaded ResNet-50 against detecting its kernels (what any prediction does first),
// and boosted training of every kernel type from 10,000 rows against nn-Meter-style random
// forests on the same rows. The rows are synthetic (targets a fixed function of the config
// plus noise): training time depends on the table's shape, not on where it came from.
#include <benchmark/benchmark.h>

#include <cmath>

#include "nnjoule/common/rng.hpp"
#include "nnjoule/kernels/detect.hpp"
#include "nnjoule/predict/bundle.hpp"
#include "nnjoule/zoo/zoo.hpp"

namespace {

using namespace nnjoule;
using predict::KernelDataset;

// 10,000 rows over the DeepEn2023 kernel types in the release's proportions.
KernelDataset synthetic_rows(size_t n) {
  struct Share {
    const char* type;
    double share;
  };
  const Share shares[] = {{"conv-bn-relu", 0.40},
                          {"dwconv-bn-relu", 0.15},
                          {"bn-relu", 0.08},
                          {"concat", 0.08},
                          {"fc", 0.03},
                          {"maxpool", 0.03},
                          {"avgpool", 0.03},
                          {"add-relu", 0.03},
                          {"add", 0.03},
                          {"global-avgpool", 0.02},
                          {"hswish", 0.02},
                          {"relu", 0.02},
                          {"se", 0.02},
                          {"split", 0.02},
                          {"channelshuffle", 0.02},
                          {"bn", 0.02}};
  KernelDataset ds;
  ds.device = {"synthetic", "xnnpack", 1, "synthetic"};
  ds.source = "synthetic";
  Rng rng(1);
  const int64_t hws[] = {7, 14, 28, 56, 112, 224};
  auto ch = [&] { return rng.uniform_int(1, 64) * 8; };
  for (const auto& s : shares) {
    const size_t count = static_cast<size_t>(s.share * static_cast<double>(n));
    const std::string type = s.type;
    for (size_t i = 0; i < count; ++i) {
      kernels::KernelConfig c;
      const int64_t hw = hws[rng.uniform_int(0, 5)];
      const auto fam = predict::feature_family(type);
      if (fam == predict::FeatureFamily::kConv) {
        c = {{"HW", hw},
             {"CIN", ch()},
             {"COUT", ch()},
             {"KERNEL_SIZE", 1 + 2 * rng.uniform_int(0, 3)},
             {"STRIDES", rng.uniform_int(1, 2)}};
      } else if (fam == predict::FeatureFamily::kDwconv) {
        c = {{"HW", hw},
             {"CIN", ch()},
             {"KERNEL_SIZE", 3 + 2 * rng.uniform_int(0, 2)},
             {"STRIDES", rng.uniform_int(1, 2)}};
      } else if (fam == predict::FeatureFamily::kFc) {
        c = {{"CIN", ch() * 4}, {"COUT", ch() * 4}};
      } else if (fam == predict::FeatureFamily::kPool) {
        c = {{"HW", hw},
             {"CIN", ch()},
             {"KERNEL_SIZE", rng.uniform_int(2, 3)},
             {"POOL_STRIDES", rng.uniform_int(1, 2)}};
      } else if (fam == predict::FeatureFamily::kConcat) {
        c = {{"HW", hw}, {"CIN1", ch()}, {"CIN2", ch()}, {"CIN3", rng.uniform_int(0, 1) * ch()}};
      } else {
        c = {{"HW", hw}, {"CIN", ch()}};
      }
      const auto z = predict::kernel_sizes(type, c);
      predict::KernelSample k;
      k.id = type + std::to_string(i);
      k.type = type;
      k.config = c;
      const double noise = std::exp(0.05 * rng.normal());
      k.targets.latency_ms = (z.flops / 2e10 + z.bytes / 4e9) * 1e3 * noise + 0.002;
      k.targets.power_mw = 1500 + 800 * std::tanh(z.flops / (z.bytes + 1) / 20);
      k.targets.energy_mj = *k.targets.latency_ms * *k.targets.power_mw / 1000;
      ds.samples.push_back(std::move(k));
    }
  }
  return ds;
}

const KernelDataset& rows() {
  static const KernelDataset* ds = new KernelDataset(synthetic_rows(10000));
  return *ds;
}

const predict::Predictor& bundle() {
  static const predict::Predictor* p = [] {
    predict::TrainOptions o;
    o.cv_folds = 0;
    return new predict::Predictor(predict::Predictor::train(
        rows(), o, kernels::FusionRules::xnnpack_default(), "synthetic-10k"));
  }();
  return *p;
}

const graph::Graph& resnet50() {
  static const graph::Graph* g =
      new graph::Graph(zoo::build_model({.family = "resnet50", .materialize_weights = false}));
  return *g;
}

void BM_DetectKernels(benchmark::State& state) {
  for (auto _ : state) benchmark::DoNotOptimize(kernels::detect_kernels(resnet50()));
  state.SetLabel("resnet50 (baseline)");
}
BENCHMARK(BM_DetectKernels)->Unit(benchmark::kMicrosecond);

void BM_PredictLoadedModel(benchmark::State& state) {
  const auto ks = kernels::detect_kernels(resnet50());
  const auto& p = bundle();
  p.predict(ks, "warm");  // first use parses nothing here (trained in memory), warms caches
  for (auto _ : state) benchmark::DoNotOptimize(p.predict(ks, "resnet50"));
  state.SetLabel("resnet50, " + std::to_string(ks.size()) + " kernels");
}
BENCHMARK(BM_PredictLoadedModel)->Unit(benchmark::kMicrosecond);

void train(benchmark::State& state, predict::Mode mode) {
  predict::TrainOptions o;
  o.cv_folds = 0;
  o.jobs = 2;
  o.mode = mode;
  for (auto _ : state) {
    auto p = predict::Predictor::train(rows(), o, kernels::FusionRules::xnnpack_default(), "t");
    state.counters["regressors"] = static_cast<double>(p.regressors().size());
  }
  state.counters["rows"] = static_cast<double>(rows().samples.size());
}

void BM_TrainBoosted10k(benchmark::State& state) {
  train(state, predict::Mode::kBoosted);
}
BENCHMARK(BM_TrainBoosted10k)->Unit(benchmark::kSecond)->Iterations(1);

void BM_TrainForest10k(benchmark::State& state) {
  train(state, predict::Mode::kForest);
}
BENCHMARK(BM_TrainForest10k)->Unit(benchmark::kSecond)->Iterations(1);

}  // namespace

BENCHMARK_MAIN();
