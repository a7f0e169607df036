// Issue 17: predictors train per (kernel type, dtype). An int8 kernel is predicted by an int8
// regressor (or int8 rates), never by the fp32 one; without int8 data it is reported as such.
#include <gtest/gtest.h>

#include <algorithm>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <set>

#include "nnjoule/common/error.hpp"
#include "nnjoule/common/io.hpp"
#include "nnjoule/kernels/detect.hpp"
#include "nnjoule/predict/bundle.hpp"
#include "nnjoule/predict/store_adapter.hpp"
#include "predict/predict_support.hpp"
#include "support/qdq_graphs.hpp"
#include "support/test_support.hpp"

namespace nnjoule::predict {
namespace {

namespace fs = std::filesystem;
using nnjoule::testing::QdqMaker;
using nnjoule::testing::read_text;
using nnjoule::testing::TempDir;
using nnjoule::testing::write_text;

constexpr double kInt8Factor = 0.25;  // int8 rows cost a quarter of their fp32 twins here

// The synthetic fp32 rows (conv-bn-relu, maxpool) and, with `int8_types`, int8 rows of the same
// configs at a quarter of the cost.
KernelDataset mixed_dataset(const std::vector<std::string>& int8_types) {
  KernelDataset ds = testing::synthetic_dataset();
  const size_t n = ds.samples.size();
  for (size_t i = 0; i < n; ++i) {
    KernelSample s = ds.samples[i];
    if (std::find(int8_types.begin(), int8_types.end(), s.type) == int8_types.end()) continue;
    s.id += "-int8";
    s.type = kernels::kernel_key(s.type, kernels::kInt8);
    s.targets.energy_mj = *s.targets.energy_mj * kInt8Factor;
    s.targets.latency_ms = *s.targets.latency_ms * kInt8Factor;
    ds.samples.push_back(std::move(s));
  }
  return ds;
}

TrainOptions fast_options() {
  TrainOptions o;
  o.cv_folds = 0;
  o.jobs = 1;
  o.work_base = true;
  return o;
}

Predictor train(const KernelDataset& ds) {
  return Predictor::train(ds, fast_options(), kernels::FusionRules::xnnpack_default(), "dtype");
}

// x -> Q -> DQ -> Conv -> BN -> Relu -> Q -> DQ -> MaxPool -> out: an int8 conv-bn-relu and an
// fp32 maxpool (it writes float) in one model.
graph::Graph mixed_model() {
  QdqMaker m("mixed");
  const auto x = m.input({1, 32, 28, 28});
  const auto c = m.node("Conv", {m.qdq(x, 0.02f, 0), m.weights({64, 32, 3, 3}, 0)},
                        {{"pads", std::vector<int64_t>{1, 1, 1, 1}}});
  std::vector<float> ones(64, 1.f), zeros(64, 0.f);
  const auto bn = m.node("BatchNormalization", {c, m.floats({64}, ones), m.floats({64}, zeros),
                                                m.floats({64}, zeros), m.floats({64}, ones)});
  const auto r = m.qdq(m.node("Relu", {bn}), 0.05f, -128);
  const auto p = m.node("MaxPool", {r},
                        {{"kernel_shape", std::vector<int64_t>{3, 3}},
                         {"strides", std::vector<int64_t>{2, 2}},
                         {"pads", std::vector<int64_t>{1, 1, 1, 1}}});
  return m.finish({p});
}

const KernelPrediction& kernel_of(const ModelPrediction& mp, const std::string& key) {
  for (const auto& k : mp.kernels)
    if (k.type == key) return k;
  ADD_FAILURE() << "no kernel " << key;
  static const KernelPrediction none;
  return none;
}

TEST(DtypePredict, KeysSeparateInt8AndFp32) {
  EXPECT_EQ(kernels::kernel_key("conv-relu", "fp32"), "conv-relu");
  EXPECT_EQ(kernels::kernel_key("conv-relu", "int8"), "conv-relu@int8");
  EXPECT_EQ(kernels::key_type("conv-relu@int8"), "conv-relu");
  EXPECT_EQ(kernels::key_dtype("conv-relu@int8"), "int8");
  EXPECT_EQ(kernels::key_dtype("conv-relu"), "fp32");
  // The conversions at a quantized model's edges are predicted with int8 data.
  EXPECT_EQ(kernels::kernel_key("quantize", "fp32"), "quantize@int8");
  EXPECT_EQ(kernels::kernel_key("dequantize", "fp32"), "dequantize@int8");
  // Same features as the fp32 twin; clamp classes never mix data types.
  EXPECT_EQ(feature_names("fc@int8", FeatureSet::kFull), feature_names("fc", FeatureSet::kFull));
  EXPECT_EQ(clamp_class("conv-bn-relu@int8"), "conv@int8");
  EXPECT_EQ(clamp_class("conv-bn-relu"), "conv");
}

TEST(DtypePredict, TrainsOneRegressorPerTypeAndDtypeAndPredictsAMixedModelWithEach) {
  const Predictor p = train(mixed_dataset({"conv-bn-relu", "maxpool"}));
  std::set<std::string> keys;
  for (const auto& r : p.regressors()) keys.insert(r.type);
  EXPECT_EQ(keys, (std::set<std::string>{"conv-bn-relu", "conv-bn-relu@int8", "maxpool",
                                         "maxpool@int8"}));

  const graph::Graph g = mixed_model();
  const auto ks = kernels::detect_kernels(g);
  const ModelPrediction mp = p.predict(g);
  const KernelPrediction& conv = kernel_of(mp, "conv-bn-relu@int8");
  const KernelPrediction& pool = kernel_of(mp, "maxpool");
  EXPECT_EQ(conv.method.at(Target::kEnergy), "regressor");
  EXPECT_EQ(pool.method.at(Target::kEnergy), "regressor");
  EXPECT_FALSE(conv.fallback);

  // The int8 conv got the int8 regressor: about a quarter of what the fp32 one says for it.
  const KernelInput fp32_twin{"twin", "conv-bn-relu", conv.config, {}, {}, {}};
  const double fp32_mj = *p.predict_kernels({&fp32_twin, 1})[0].predicted.energy_mj;
  ASSERT_TRUE(conv.predicted.energy_mj);
  const double ratio = *conv.predicted.energy_mj / fp32_mj;
  EXPECT_GT(ratio, kInt8Factor * 0.7) << ratio;
  EXPECT_LT(ratio, kInt8Factor * 1.3) << ratio;
}

TEST(DtypePredict, Int8KernelWithoutInt8DataIsReportedNotPredictedAsFp32) {
  const Predictor p = train(mixed_dataset({}));  // fp32 rows only
  const ModelPrediction mp = p.predict(mixed_model());
  const KernelPrediction& conv = kernel_of(mp, "conv-bn-relu@int8");
  EXPECT_FALSE(conv.predicted.energy_mj.has_value());
  EXPECT_FALSE(conv.predicted.latency_ms.has_value());
  EXPECT_EQ(conv.method.at(Target::kEnergy).rfind("none: the bundle has no int8 energy_mj data", 0),
            0u)
      << conv.method.at(Target::kEnergy);
  // No total: a sum without the conv would be a silent 0 for it.
  EXPECT_FALSE(mp.total.energy_mj.has_value());
  ASSERT_FALSE(mp.warnings.empty());
  // Nor for the quantize at its float input: it is predicted with int8 data only.
  EXPECT_NE(mp.warnings.front().find("no energy_mj prediction for 2 kernel(s)"), std::string::npos)
      << mp.warnings.front();
  EXPECT_EQ(kernel_of(mp, "quantize@int8")
                .method.at(Target::kEnergy)
                .rfind("none: the bundle has no int8 energy_mj data", 0),
            0u);
  // The table says "none*" for it and its footnote says why.
  const std::string table = mp.render();
  EXPECT_NE(table.find("none*"), std::string::npos) << table;
  EXPECT_NE(
      table.find("* conv-bn-relu@int8: energy_mj: none: the bundle has no int8 energy_mj data"),
      std::string::npos)
      << table;
  // The fp32 maxpool beside it is still predicted by its regressor.
  EXPECT_EQ(kernel_of(mp, "maxpool").method.at(Target::kEnergy), "regressor");
}

TEST(DtypePredict, Int8TypeWithoutItsRegressorTakesInt8FallbacksOnly) {
  // int8 rows for conv only: an int8 maxpool falls back to the median rate of int8 kernels,
  // said so, never to the fp32 maxpool regressor.
  const Predictor p = train(mixed_dataset({"conv-bn-relu"}));
  const KernelInput pool{
      "p",
      "maxpool@int8",
      kernels::KernelConfig{{"HW", 28}, {"CIN", 64}, {"KERNEL_SIZE", 3}, {"POOL_STRIDES", 2}},
      {},
      {},
      {}};
  const auto k = p.predict_kernels({&pool, 1})[0];
  EXPECT_TRUE(k.fallback);
  EXPECT_NE(k.method.at(Target::kEnergy).find("of all int8 kernels"), std::string::npos)
      << k.method.at(Target::kEnergy);
}

TEST(DtypePredict, BundleRecordsDtypeAndOldBundlesLoadAsFp32) {
  TempDir tmp;
  const fs::path dir = tmp / "b";
  train(mixed_dataset({"conv-bn-relu"})).save(dir);
  EXPECT_TRUE(fs::exists(dir / "conv-bn-relu@int8.energy_mj.json"));
  auto j = nlohmann::json::parse(read_text(dir / "predictor.json"));
  EXPECT_EQ(j["kernel_types"]["conv-bn-relu@int8"]["dtype"], "int8");
  EXPECT_EQ(j["kernel_types"]["conv-bn-relu"]["dtype"], "fp32");
  EXPECT_TRUE(j["fallback_rates"].contains("all@int8"));
  const Predictor back = Predictor::load(dir);
  EXPECT_NE(back.find("conv-bn-relu@int8", Target::kEnergy), nullptr);

  // A bundle written before dtypes: no "dtype" fields, no int8 keys. It loads, as fp32.
  const fs::path old = tmp / "old";
  train(mixed_dataset({})).save(old);
  auto o = nlohmann::json::parse(read_text(old / "predictor.json"));
  for (auto& [type, entry] : o["kernel_types"].items()) entry.erase("dtype");
  const std::string text = o.dump(2);
  write_text(old / "predictor.json", text);
  auto m = nlohmann::json::parse(read_text(old / "manifest.json"));
  m["files"]["predictor.json"]["sha256"] = sha256_hex(text);
  m["files"]["predictor.json"]["bytes"] = text.size();
  write_text(old / "manifest.json", m.dump(2));
  const Predictor loaded = Predictor::load(old);
  EXPECT_NE(loaded.find("conv-bn-relu", Target::kEnergy), nullptr);
  EXPECT_EQ(
      loaded.method("conv-bn-relu@int8", Target::kEnergy).rfind("none: the bundle has no int8", 0),
      0u);

  // A dtype that contradicts the key is refused, naming the field.
  auto bad = j;
  bad["kernel_types"]["conv-bn-relu@int8"]["dtype"] = "fp32";
  const std::string bad_text = bad.dump(2);
  write_text(dir / "predictor.json", bad_text);
  auto bm = nlohmann::json::parse(read_text(dir / "manifest.json"));
  bm["files"]["predictor.json"]["sha256"] = sha256_hex(bad_text);
  bm["files"]["predictor.json"]["bytes"] = bad_text.size();
  write_text(dir / "manifest.json", bm.dump(2));
  std::string err;
  try {
    Predictor::load(dir);
  } catch (const Error& e) {
    err = e.what();
  }
  EXPECT_NE(err.find("dtype"), std::string::npos) << err;
}

TEST(DtypePredict, StoreRowsCarryTheirDtypeIntoTheDataset) {
  TempDir tmp;
  const auto file = tmp / "d.db";
  {
    store::Store s(file);
    const auto run = testing::begin_kernel_run(s, "bench-host");
    for (const char* dtype : {"fp32", "int8"}) {
      store::KernelRow r;
      r.run_id = run.run_id;
      r.device_id = run.device_id;
      r.kernel_type = "conv-bn-relu";
      r.dtype = dtype;
      r.config = kernels::KernelConfig{
          {"HW", 14}, {"CIN", 8}, {"COUT", 16}, {"KERNEL_SIZE", 3}, {"STRIDES", 1}};
      r.threads = 1;
      r.key = store::kernel_key(r.kernel_type, *r.config, {{"threads", 1}, {"dtype", dtype}});
      r.m.latency_ms = 0.1;
      r.m.energy_mj = 0.2;
      r.m.provenance = run.provenance;
      s.add_kernel(r);
    }
  }
  store::Store s(file, store::Store::Options{.read_only = true});
  const auto ds = read_kernel_dataset(s, select_device(s, std::nullopt));
  EXPECT_EQ(ds.types(), (std::vector<std::string>{"conv-bn-relu", "conv-bn-relu@int8"}));
}

TEST(DtypePredict, KernelCsvTakesADtypeColumn) {
  const auto rows =
      parse_kernel_csv("type,dtype,HW,CIN\nrelu,int8,14,8\nrelu,,14,8\nrelu,fp32,14,8\n", "k.csv");
  ASSERT_EQ(rows.size(), 3u);
  EXPECT_EQ(rows[0].type, "relu@int8");
  EXPECT_EQ(rows[1].type, "relu");
  EXPECT_EQ(rows[2].type, "relu");
  EXPECT_FALSE(rows[0].config.has("dtype"));
  std::string err;
  try {
    parse_kernel_csv("type,dtype,HW,CIN\nrelu,int4,14,8\n", "k.csv");
  } catch (const Error& e) {
    err = e.what();
  }
  EXPECT_EQ(err, "k.csv:2: column dtype = 'int4' (expected fp32 or int8)");
}

}  // namespace
}  // namespace nnjoule::predict
