// The CPU clock and cluster a kernel ran at as features: one dataset measured at several
// pinned clocks predicts each of them, a dataset at one clock keeps the features it had, rows
// without a recorded clock stay unknown, and the store's device state gives the clock.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <map>

#include <fmt/format.h>

#include "nnjoule/common/error.hpp"
#include "nnjoule/common/stats.hpp"
#include "nnjoule/kernels/fusion.hpp"
#include "nnjoule/predict/bundle.hpp"
#include "nnjoule/predict/store_adapter.hpp"
#include "predict/predict_support.hpp"
#include "support/test_support.hpp"

namespace nnjoule::predict {
namespace {

using nnjoule::testing::error_of;
using nnjoule::testing::TempDir;
using ::testing::HasSubstr;

// A kernel's latency on a core at `mhz`: the arithmetic scales as 1/f (4 FLOPs a cycle), the
// memory traffic does not (8 GB/s), plus a fixed 5 us.
double latency_at(const KernelSample& s, double mhz) {
  const KernelSizes z = kernel_sizes(s.type, s.config);
  return z.flops / (4 * mhz * 1e6) * 1e3 + z.bytes / 8e9 * 1e3 + 0.005;
}

// The conv rows of the synthetic dataset, each measured at every clock in `mhz`.
KernelDataset at_clocks(const std::vector<double>& mhz, uint64_t seed,
                        std::optional<double> capacity = 911) {
  const KernelDataset base = testing::synthetic_dataset(150, 0, seed);
  KernelDataset ds;
  ds.device = base.device;
  ds.source = "synthetic, pinned clocks";
  for (double f : mhz)
    for (KernelSample s : base.samples) {
      s.id += "@" + std::to_string(static_cast<int>(f));
      s.context.cpu_mhz = f;
      s.context.cpu_capacity = capacity;
      s.targets = {};
      s.targets.latency_ms = latency_at(s, f);
      ds.samples.push_back(std::move(s));
    }
  return ds;
}

TrainOptions latency_only(FeatureSet set) {
  TrainOptions o;
  o.targets = {Target::kLatency};
  o.feature_set = set;
  o.cv_folds = 0;
  o.jobs = 1;
  return o;
}

// Median relative latency error of `p` on unseen configs at `mhz`.
double error_at(const Predictor& p, double mhz) {
  const KernelDataset test = at_clocks({mhz}, 99);
  std::vector<KernelInput> in;
  for (const auto& s : test.samples) in.push_back({s.id, s.type, s.config, {}, {}, s.context});
  const auto out = p.predict_kernels(in);
  std::vector<double> err;
  for (size_t i = 0; i < out.size(); ++i)
    err.push_back(
        std::fabs(*out[i].predicted.latency_ms / *test.samples[i].targets.latency_ms - 1));
  return stats::median(err);
}

const std::vector<double> kClocks = {1000, 1800, 2400};

TEST(ClockFeatures, SeveralClocksArePredictedEachWithTheClockFeatures) {
  const KernelDataset ds = at_clocks(kClocks, 7);
  EXPECT_EQ(ds.resolve(FeatureSet::kAuto), FeatureSet::kFullClock);
  const auto rules = kernels::FusionRules::xnnpack_default();
  const Predictor with = Predictor::train(ds, latency_only(FeatureSet::kAuto), rules, "clocks");
  EXPECT_EQ(with.info().feature_set, FeatureSet::kFullClock);
  ASSERT_FALSE(with.regressors().empty());
  EXPECT_THAT(with.regressors()[0].feature_names, ::testing::Contains("CPU_MHZ"));
  // The same rows without the clock: one prediction for all three clocks.
  const Predictor without = Predictor::train(ds, latency_only(FeatureSet::kFull), rules, "none");
  for (double f : kClocks) {
    const double e_with = error_at(with, f), e_without = error_at(without, f);
    SCOPED_TRACE(
        fmt::format("{} MHz: {:.3f} with the clock, {:.3f} without", f, e_with, e_without));
    EXPECT_LT(e_with, 0.10);
    if (f != 1800) {
      EXPECT_GT(e_without, 0.25);  // the ends are far from the average clock
    }
  }
}

TEST(ClockFeatures, AClockBundleNeedsTheClockToPredictAndKeepsItThroughSave) {
  const KernelDataset ds = at_clocks({1000, 2400}, 7);
  const auto rules = kernels::FusionRules::xnnpack_default();
  const Predictor p = Predictor::train(ds, latency_only(FeatureSet::kAuto), rules, "clocks");
  KernelInput k{"k0", ds.samples[0].type, ds.samples[0].config, {}, {}, {}};
  EXPECT_EQ(error_of([&] { p.predict_kernels(std::span<const KernelInput>(&k, 1)); }),
            "kernel 'k0': predictor 'clocks' was trained on kernels at several CPU clocks and "
            "clusters (feature set full+clock): give the clock and the cluster to predict at "
            "(nnjoule predict --cpu-mhz MHZ --cluster NAME or --cpu-capacity N)");
  k.context.cpu_mhz = 1000;
  k.context.cpu_capacity = 911;
  const double at_1000 =
      *p.predict_kernels(std::span<const KernelInput>(&k, 1))[0].predicted.latency_ms;
  k.context.cpu_mhz = 2400;
  const double at_2400 =
      *p.predict_kernels(std::span<const KernelInput>(&k, 1))[0].predicted.latency_ms;
  EXPECT_GT(at_1000, 1.8 * at_2400);

  // A whole model: the clock comes with the call.
  kernels::Kernel kk;
  kk.name = "k0";
  kk.type = k.type;
  kk.config = k.config;
  EXPECT_THAT(error_of([&] { p.predict({kk}, "m"); }), HasSubstr("give the clock"));
  const auto mp = p.predict({kk}, "m", nullptr, k.context);
  EXPECT_NEAR(*mp.total.latency_ms, at_2400, 1e-9);
  EXPECT_THAT(mp.render(), HasSubstr("at a CPU clock of 2400 MHz, capacity 911 (given)"));

  TempDir tmp;
  p.save(tmp / "bundle");
  const Predictor back = Predictor::load(tmp / "bundle");
  EXPECT_EQ(back.info().feature_set, FeatureSet::kFullClock);
  EXPECT_NEAR(*back.predict_kernels(std::span<const KernelInput>(&k, 1))[0].predicted.latency_ms,
              at_2400, 1e-9 * at_2400);
}

TEST(ClockFeatures, OneClockOrNoClockKeepsTheFeaturesWithoutIt) {
  // One clock: the feature would be a constant that every prediction then has to be given.
  EXPECT_EQ(at_clocks({1800}, 7).resolve(FeatureSet::kAuto), FeatureSet::kFull);
  const KernelDataset none = testing::synthetic_dataset();  // DeepEn2023-like: no clock at all
  EXPECT_EQ(none.resolve(FeatureSet::kAuto), FeatureSet::kFull);
  const Predictor p = Predictor::train(none, latency_only(FeatureSet::kAuto),
                                       kernels::FusionRules::xnnpack_default(), "one");
  for (const auto& r : p.regressors())
    EXPECT_THAT(r.feature_names, ::testing::Not(::testing::Contains("CPU_MHZ")));
  // And a clock bundle of a machine without cpu_capacity asks for the clock alone.
  const Predictor clock_only =
      Predictor::train(at_clocks({1000, 2400}, 7, std::nullopt), latency_only(FeatureSet::kAuto),
                       kernels::FusionRules::xnnpack_default(), "pi");
  KernelInput k{"k0", none.samples[0].type, none.samples[0].config, {}, {}, {}};
  EXPECT_THAT(error_of([&] { clock_only.predict_kernels(std::span<const KernelInput>(&k, 1)); }),
              HasSubstr("give the clock to predict at (nnjoule predict --cpu-mhz MHZ)"));
  k.context.cpu_mhz = 1000;
  EXPECT_FALSE(clock_only.predict_kernels(std::span<const KernelInput>(&k, 1))[0].extrapolated);
}

TEST(ClockFeatures, AnUnknownClockIsMissingNotZero) {
  const kernels::KernelConfig c{
      {"HW", 28}, {"CIN", 32}, {"COUT", 32}, {"KERNEL_SIZE", 3}, {"STRIDES", 1}};
  const auto names = feature_names("conv-bn-relu", FeatureSet::kFullModelClock);
  ASSERT_GE(names.size(), 3u);
  EXPECT_EQ(names[names.size() - 3], "MODEL_W_MB");
  EXPECT_EQ(names[names.size() - 2], "CPU_MHZ");
  EXPECT_EQ(names.back(), "CPU_CAPACITY");
  const auto unknown = features("conv-bn-relu", c, FeatureSet::kFullClock);
  EXPECT_TRUE(std::isnan(unknown[unknown.size() - 2]));
  EXPECT_TRUE(std::isnan(unknown.back()));
  KernelContext at;
  at.cpu_mhz = 2016;
  at.cpu_capacity = 911;
  const auto known = features("conv-bn-relu", c, FeatureSet::kFullClock, at);
  EXPECT_FLOAT_EQ(known[known.size() - 2], 2016);
  EXPECT_FLOAT_EQ(known.back(), 911);
  at.cpu_mhz = -1;
  EXPECT_EQ(error_of([&] { features("conv-bn-relu", c, FeatureSet::kFullClock, at); }),
            "kernel conv-bn-relu: CPU clock (MHz) -1");
  EXPECT_EQ(parse_feature_set("full+model+clock"), FeatureSet::kFullModelClock);
  EXPECT_EQ(feature_set_name(FeatureSet::kFullClock), "full+clock");
}

// A collected row's device state: the big cluster of a Pixel-4-like phone pinned, its clock
// over the kept windows, and a row of an older version without clusters.
TEST(ClockFeatures, TheStoreGivesEachRowTheClockAndCapacityOfItsCpus) {
  TempDir tmp;
  {
    store::Store s(tmp / "db.sqlite");
    const auto run = testing::begin_kernel_run(s, "phone");
    const nlohmann::json clusters = nlohmann::json::parse(R"([
      {"name": "little", "cpus": [0, 1, 2, 3], "capacity": 404, "cur_mhz": 1209.6},
      {"name": "big", "cpus": [4, 5, 6], "capacity": 911, "cur_mhz": 1996.8},
      {"name": "prime", "cpus": [7], "capacity": 1024, "cur_mhz": 2841.6}])");
    const std::vector<nlohmann::json> states = {
        {{"clusters", clusters},
         {"affinity", {4, 5, 6}},
         {"window_clocks", {{{"cluster", "big"}, {"min_mhz", 2016.0}, {"max_mhz", 2016.0}}}},
         {"pinned_clocks", {{{"cluster", "big"}, {"mhz", 2016.0}}}}},
        {{"clusters", clusters}, {"affinity", {4, 7}}},  // unpinned clocks: as they began
        {{"affinity", {0}}}};                            // before cluster discovery
    for (int i = 0; i < 3; ++i) {
      store::KernelRow r;
      r.run_id = run.run_id;
      r.device_id = run.device_id;
      r.kernel_type = "conv-bn-relu";
      r.config = kernels::KernelConfig{
          {"HW", 14 + i}, {"CIN", 8}, {"COUT", 16}, {"KERNEL_SIZE", 3}, {"STRIDES", 1}};
      r.threads = 1;
      r.key = store::kernel_key(r.kernel_type, *r.config, {{"threads", 1}});
      r.m.latency_ms = 0.1;
      r.m.provenance = run.provenance;
      r.m.device_state = states[static_cast<size_t>(i)];
      s.add_kernel(r);
    }
    s.end_run(run.run_id, "complete");
  }
  const store::Store db(tmp / "db.sqlite", {.read_only = true});
  const auto ds = read_kernel_dataset(db, select_device(db, std::nullopt));
  ASSERT_EQ(ds.samples.size(), 3u);
  std::map<int64_t, KernelContext> by_hw;
  for (const auto& s : ds.samples) by_hw[s.config.get("HW")] = s.context;
  EXPECT_DOUBLE_EQ(*by_hw[14].cpu_mhz, 2016);
  EXPECT_DOUBLE_EQ(*by_hw[14].cpu_capacity, 911);
  EXPECT_DOUBLE_EQ(*by_hw[15].cpu_mhz, (1996.8 + 2841.6) / 2);
  EXPECT_DOUBLE_EQ(*by_hw[15].cpu_capacity, (911 + 1024) / 2.0);
  EXPECT_FALSE(by_hw[16].cpu_mhz.has_value());
  EXPECT_FALSE(by_hw[16].cpu_capacity.has_value());
  EXPECT_EQ(ds.resolve(FeatureSet::kAuto), FeatureSet::kFullClock);
}

}  // namespace
}  // namespace nnjoule::predict
