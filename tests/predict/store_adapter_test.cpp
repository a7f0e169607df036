#include <gtest/gtest.h>

#include "nnjoule/common/error.hpp"
#include "nnjoule/kernels/detect.hpp"
#include "nnjoule/predict/bundle.hpp"
#include "nnjoule/predict/repeatability.hpp"
#include "nnjoule/predict/store_adapter.hpp"
#include "nnjoule/zoo/zoo.hpp"
#include "predict/predict_support.hpp"
#include "support/test_support.hpp"

namespace nnjoule::predict {
namespace {

using nnjoule::testing::TempDir;

// One device with 6 kernel rows (one with wrong values, one with a wide CI, one at another
// thread count) and one zoo model
// measured with per-kernel latencies (one missing unless all_timed); without kernel_rows, only
// the model.
void fill(const std::filesystem::path& file, bool kernel_rows = true, bool all_timed = false) {
  store::Store s(file);
  const auto run = testing::begin_kernel_run(s, "bench-host");
  const int64_t dev = run.device_id, run_id = run.run_id;
  for (int i = 0; i < (kernel_rows ? 6 : 0); ++i) {
    store::KernelRow r;
    r.run_id = run_id;
    r.device_id = dev;
    r.kernel_type = "conv-bn-relu";
    r.config = kernels::KernelConfig{
        {"HW", 14 + i}, {"CIN", 8}, {"COUT", 16}, {"KERNEL_SIZE", 3}, {"STRIDES", 1}};
    r.threads = i == 5 ? 4 : 1;
    r.key = store::kernel_key(r.kernel_type, *r.config, {{"threads", r.threads}});
    r.m.latency_ms = 0.1 * (i + 1);
    r.m.energy_mj = 0.2 * (i + 1);
    r.m.power_mw = 2000;
    r.m.provenance = run.provenance;
    if (i == 4) r.m.flags = {"implausible_power"};
    if (i == 3) r.m.flags = {"ci_not_met"};  // a noisier measurement, still used
    s.add_kernel(r);
  }
  zoo::ModelSpec spec{.family = "resnet18", .resolution = 64, .materialize_weights = false};
  const graph::Graph g = zoo::build_model(spec);
  store::Model m;
  m.hash = "resnet18-64";
  m.hash_kind = "onnx";
  m.name = "resnet18-64";
  m.family = "resnet18";
  m.resolution = 64;
  const auto ks = kernels::detect_kernels(g);
  store::ModelRow mr;
  for (const auto& k : ks) {
    m.kernels.push_back({k.type, k.name, k.config, k.flops, k.params, k.bytes});
    mr.kernel_latency_ms.push_back(0.01);
  }
  if (!all_timed) mr.kernel_latency_ms[1].reset();  // a kernel without a timing
  mr.run_id = run_id;
  mr.device_id = dev;
  mr.key = "resnet18-64@1";
  mr.threads = 1;
  mr.m.latency_ms = 5;
  mr.m.energy_mj = 9;
  mr.m.provenance = run.provenance;
  s.add_model_measurement(m, mr);
  s.end_run(run_id, "complete");
}

TEST(StoreAdapter, ReadsKernelsModelKernelsAndModels) {
  TempDir tmp;
  fill(tmp / "db.sqlite");
  const store::Store db(tmp / "db.sqlite", {.read_only = true});
  const store::Device dev = select_device(db, std::nullopt);
  EXPECT_EQ(dev.name, "bench-host");
  EXPECT_EQ(select_device(db, std::string("BENCH")).id, dev.id);
  EXPECT_THROW(select_device(db, std::string("phone")), Error);

  const KernelDataset ds = read_kernel_dataset(db, dev);
  EXPECT_EQ(ds.device.threads, 1);
  EXPECT_EQ(ds.device.runtime, "XNNPACK");
  EXPECT_EQ(ds.device.meter, "estimated (cpu-time model)");
  size_t standalone = 0, in_model = 0;
  for (const auto& s : ds.samples) {
    if (s.model.empty()) {
      ++standalone;
      EXPECT_TRUE(s.targets.energy_mj.has_value());
      EXPECT_EQ(s.energy_origin.label(), "estimated (cpu-time model)");
      EXPECT_EQ(s.latency_origin.label(), "measured (clock)");
    } else {
      ++in_model;
      EXPECT_EQ(s.family, "resnet18");
      EXPECT_FALSE(s.targets.energy_mj.has_value());
      EXPECT_DOUBLE_EQ(*s.targets.latency_ms, 0.01);
    }
  }
  EXPECT_EQ(standalone, 4u);  // flagged row and the 4-thread row left out
  EXPECT_EQ(ds.flagged_left_out, (std::map<std::string, int64_t>{{"implausible_power", 1}}));
  const auto g =
      zoo::build_model({.family = "resnet18", .resolution = 64, .materialize_weights = false});
  EXPECT_EQ(in_model, kernels::detect_kernels(g).size() - 1);
  // Kernels timed inside the model carry the model's weights (as the predictor counts them);
  // kernels measured alone carry none, and `auto` features add the context only then.
  double weights = 0;
  for (const auto& k : kernels::detect_kernels(g))
    weights += counted_weights(k.type, k.config, static_cast<double>(k.params));
  EXPECT_GT(weights, 1e6);  // ResNet-18's 11.7M weights, BN folded
  for (const auto& s : ds.samples) {
    EXPECT_DOUBLE_EQ(s.context.model_weight_mb, s.model.empty() ? 0.0 : 4 * weights / 1e6) << s.id;
  }
  EXPECT_EQ(ds.resolve(FeatureSet::kAuto), FeatureSet::kFullModel);
  EXPECT_EQ(ds.resolve(FeatureSet::kFull), FeatureSet::kFull);
  StoreReadOptions flagged;
  flagged.include_flagged = true;
  flagged.model_kernels = false;
  EXPECT_EQ(read_kernel_dataset(db, dev, flagged).samples.size(), 5u);
  EXPECT_EQ(read_kernel_dataset(db, dev, flagged).resolve(FeatureSet::kAuto), FeatureSet::kFull);

  const auto models = read_model_samples(db, dev, ds);
  ASSERT_EQ(models.size(), 1u);
  EXPECT_EQ(models[0].family, "resnet18");
  EXPECT_DOUBLE_EQ(*models[0].measured.energy_mj, 9);
  EXPECT_EQ(models[0].kernels.size(), kernels::detect_kernels(g).size());
  // The per-op baseline's kernels: every op its own kernel.
  EXPECT_GT(models[0].unfused.size(), models[0].kernels.size());
  for (const auto& k : models[0].unfused) EXPECT_EQ(k.ops.size(), 1u) << k.type;
}

// A bundle trained on kernels timed inside a model describes each kernel with the model around
// it (full+model), saves and loads so, and predicting that model gives its kernels the context
// they were trained with: none is out of range.
TEST(StoreAdapter, BundlesFromModelKernelsCarryTheModelContext) {
  TempDir tmp;
  fill(tmp / "db.sqlite", false, true);
  const store::Store db(tmp / "db.sqlite", {.read_only = true});
  const KernelDataset ds = read_kernel_dataset(db, select_device(db, std::nullopt));
  TrainOptions o;
  o.targets = {Target::kLatency};
  o.jobs = 1;
  const Predictor p = Predictor::train(ds, o, kernels::FusionRules::xnnpack_default(), "ctx");
  EXPECT_EQ(p.info().feature_set, FeatureSet::kFullModel);
  p.save(tmp / "ctx");
  const Predictor back = Predictor::load(tmp / "ctx");
  EXPECT_EQ(back.info().feature_set, FeatureSet::kFullModel);
  const auto g =
      zoo::build_model({.family = "resnet18", .resolution = 64, .materialize_weights = false});
  const ModelPrediction mp = back.predict(g);
  ASSERT_FALSE(mp.kernels.empty());
  for (const auto& k : mp.kernels) {
    for (const auto& r : k.out_of_range) EXPECT_NE(r.feature, "MODEL_W_MB") << k.name;
  }
  EXPECT_TRUE(mp.total.latency_ms.has_value());
}

// A model measured three times (collect models --repeat 3): its target is the median of each
// quantity, and the repeats give the repeatability ceiling.
TEST(StoreAdapter, RepeatedModelsGiveMediansAndRepeatability) {
  TempDir tmp;
  fill(tmp / "db.sqlite", true, true);
  {
    store::Store s(tmp / "db.sqlite");
    const auto m = s.models().at(0);
    auto rows = s.model_measurements();
    ASSERT_EQ(rows.size(), 1u);
    const std::vector<std::pair<double, double>> more = {{5.2, 9.2}, {6.0, 30}};
    for (size_t i = 0; i < more.size(); ++i) {
      store::ModelRow r = rows[0];
      r.key += "#" + std::to_string(i + 2);
      r.m.latency_ms = more[i].first;
      r.m.energy_mj = more[i].second;
      s.add_model_measurement(m, r);
    }
  }
  const store::Store db(tmp / "db.sqlite", {.read_only = true});
  const store::Device dev = select_device(db, std::nullopt);
  const auto models = read_model_samples(db, dev, read_kernel_dataset(db, dev));
  ASSERT_EQ(models.size(), 1u);
  ASSERT_EQ(models[0].repeats.size(), 3u);
  EXPECT_DOUBLE_EQ(*models[0].measured.latency_ms, 5.2);  // of 5, 5.2, 6
  EXPECT_DOUBLE_EQ(*models[0].measured.energy_mj, 9.2);   // of 9, 9.2, 30

  const auto r = evaluate_repeatability(models);
  EXPECT_EQ(r.repeated_models, 1u);
  ASSERT_EQ(r.targets, (std::vector<std::string>{"latency_ms", "energy_mj"}));
  EXPECT_EQ(r.overall[0].measurements, 3u);
  EXPECT_EQ(r.overall[0].within5, 2u);  // 5 (-3.8%), 5.2; not 6 (+15.4%)
  EXPECT_EQ(r.overall[0].within10, 2u);
  EXPECT_EQ(r.overall[1].within5, 3u - 1u);  // 9 (-2.2%), 9.2; not 30
  EXPECT_NEAR(r.rows[0][0].max_deviation, 6.0 / 5.2 - 1, 1e-12);
  EXPECT_NE(render_table(r).find("66.7%"), std::string::npos) << render_table(r);
  EXPECT_NE(ceiling_line(r).find("latency_ms 66.7%"), std::string::npos) << ceiling_line(r);
  EXPECT_EQ(to_json(r)["latency_ms"]["within_10"].get<double>(), 2.0 / 3.0);

  // One measurement per model: nothing to say, and said so.
  std::vector<ModelSample> single = models;
  single[0].repeats.resize(1);
  const auto none = evaluate_repeatability(single);
  EXPECT_EQ(none.repeated_models, 0u);
  EXPECT_NE(render_table(none).find("none of the 1 models was measured more than once"),
            std::string::npos);
  EXPECT_EQ(ceiling_line(none), "");
}

// Three measurements of one model while the host's speed moved: the reference kernel timed with
// each (1.0, 1.2, 0.8 ms) puts them at the median host speed, which takes the spread away. Auto
// applies it only when every row has a reference; on leaves rows without one out.
TEST(StoreAdapter, HostSpeedScalesModelRowsToTheMedianReference) {
  TempDir tmp;
  fill(tmp / "db.sqlite", false, true);
  {
    store::Store s(tmp / "db.sqlite");
    const auto m = s.models().at(0);
    const store::ModelRow first = s.model_measurements().at(0);
    const std::vector<std::pair<double, double>> rows = {{5.0, 1.0}, {6.0, 1.2}, {4.0, 0.8}};
    for (size_t i = 0; i < rows.size(); ++i) {
      store::ModelRow r = first;
      r.key += "#" + std::to_string(i + 2);
      r.m.latency_ms = rows[i].first;
      r.m.energy_mj = 2 * rows[i].first;
      for (auto& k : r.kernel_latency_ms)
        if (k) *k = rows[i].first / static_cast<double>(r.kernel_latency_ms.size());
      r.m.device_state = {{"host_reference", {{"ms", rows[i].second}}}};
      s.add_model_measurement(m, r);
    }
  }
  const store::Store db(tmp / "db.sqlite", {.read_only = true});
  const store::Device dev = select_device(db, std::nullopt);
  StoreReadOptions on;
  on.host_speed = StoreReadOptions::HostSpeed::kOn;
  const KernelDataset ds = read_kernel_dataset(db, dev, on);
  const auto models = read_model_samples(db, dev, ds, on);
  ASSERT_EQ(models.size(), 1u);
  ASSERT_EQ(models[0].repeats.size(), 3u);  // the row without a reference left out
  for (const auto& r : models[0].repeats) {
    EXPECT_DOUBLE_EQ(*r.latency_ms, 5.0);
    EXPECT_DOUBLE_EQ(*r.energy_mj, 10.0);
  }
  EXPECT_EQ(models[0].latency_origin.label(), "measured (clock, at the median host speed)");
  EXPECT_EQ(models[0].energy_origin.label(),
            "estimated (cpu-time model, at the median host speed)");
  const size_t kernels = models[0].kernels.size();
  for (const auto& s : ds.samples) {
    EXPECT_NEAR(*s.targets.latency_ms, 5.0 / static_cast<double>(kernels), 1e-12) << s.id;
  }
  EXPECT_NE(host_speed_note(db, dev, on, 1).find("each of 3: factors 0.83-1.25"), std::string::npos)
      << host_speed_note(db, dev, on, 1);
  // auto: one row has no reference, so nothing is scaled and all four rows count.
  const auto plain = read_model_samples(db, dev, read_kernel_dataset(db, dev));
  ASSERT_EQ(plain[0].repeats.size(), 4u);
  EXPECT_EQ(host_speed_note(db, dev, {}, 1), "");
  EXPECT_EQ(plain[0].latency_origin.label(), "measured (clock)");
  // on, with no reference anywhere: a named error.
  TempDir bare;
  fill(bare / "db.sqlite", false, true);
  const store::Store none(bare / "db.sqlite", {.read_only = true});
  try {
    read_kernel_dataset(none, select_device(none, std::nullopt), on);
    FAIL() << "no reference, yet scaled";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("has a host reference"), std::string::npos) << e.what();
  }
}

// A dataset of measured models alone still trains: on the kernels timed inside them.
TEST(StoreAdapter, ModelBreakdownsAloneAreKernelRows) {
  TempDir tmp;
  fill(tmp / "db.sqlite", false);
  const store::Store db(tmp / "db.sqlite", {.read_only = true});
  const store::Device dev = select_device(db, std::nullopt);
  EXPECT_EQ(dev.name, "bench-host");
  const KernelDataset ds = read_kernel_dataset(db, dev);
  EXPECT_EQ(ds.device.threads, 1);
  ASSERT_FALSE(ds.samples.empty());
  for (const auto& s : ds.samples) EXPECT_EQ(s.model, "resnet18-64");
  StoreReadOptions standalone_only;
  standalone_only.model_kernels = false;
  EXPECT_THROW(read_kernel_dataset(db, dev, standalone_only), Error);
  for (const auto& s : ds.samples) EXPECT_FALSE(s.targets.energy_mj) << "a kernel has no timing";
}

// With every kernel timed, the model's energy is split by latency share, and labelled so.
TEST(StoreAdapter, ModelEnergyIsSplitByKernelLatency) {
  TempDir tmp;
  fill(tmp / "db.sqlite", false, true);
  const store::Store db(tmp / "db.sqlite", {.read_only = true});
  const KernelDataset ds = read_kernel_dataset(db, select_device(db, std::nullopt));
  ASSERT_FALSE(ds.samples.empty());
  double energy = 0;
  for (const auto& s : ds.samples) {
    ASSERT_TRUE(s.targets.energy_mj.has_value());
    energy += *s.targets.energy_mj;
    EXPECT_NEAR(*s.targets.power_mw, 9.0 / (0.01 * static_cast<double>(ds.samples.size())) * 1000,
                1e-6);
    EXPECT_EQ(s.energy_origin.label(), "estimated (cpu-time model energy split by kernel latency)");
  }
  EXPECT_NEAR(energy, 9.0, 1e-9);  // the model's measured energy, all of it
}

}  // namespace
}  // namespace nnjoule::predict
