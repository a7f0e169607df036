#include <gtest/gtest.h>

#include <cmath>
#include <nlohmann/json.hpp>

#include "nnjoule/common/error.hpp"
#include "nnjoule/graph/builder.hpp"
#include "nnjoule/kernels/detect.hpp"
#include "nnjoule/predict/bundle.hpp"
#include "predict/predict_support.hpp"

namespace nnjoule::predict {
namespace {

const Predictor& trained() {
  static const Predictor p = [] {
    TrainOptions o;
    o.cv_folds = 0;
    o.jobs = 1;
    RegressorParams rp;
    rp.n_estimators = 80;
    rp.max_depth = 4;
    rp.learning_rate = 0.2;
    o.overrides["conv-bn-relu"] = rp;
    o.overrides["maxpool"] = rp;
    return Predictor::train(testing::synthetic_dataset(), o,
                            kernels::FusionRules::xnnpack_default(), "unit");
  }();
  return p;
}

// conv-bn-relu (regressor), conv-bn-relu6 (related type), maxpool (regressor),
// global-avgpool and fc (device rates), flatten (rate per MB: no FLOPs).
graph::Graph small_model() {
  graph::GraphBuilder b("small", 3, false);
  std::string x = b.input("input", {1, 16, 28, 28});
  x = b.relu(b.bn(b.conv(x, 32, 3, 1)));
  x = b.relu6(b.bn(b.conv(x, 32, 3, 2)));
  x = b.maxpool(x, 3, 2, 1);
  x = b.global_avgpool(x);
  x = b.flatten(x);
  x = b.fc(x, 10);
  return b.finish({x});
}

TEST(Predict, TotalsAreTheSumOfKernelContributions) {
  const graph::Graph g = small_model();
  const ModelPrediction mp = trained().predict(g);
  ASSERT_EQ(mp.kernels.size(), kernels::detect_kernels(g).size());
  ASSERT_TRUE(mp.total.energy_mj && mp.total.latency_ms && mp.total.power_mw);
  double e = 0, l = 0, es = 0, ls = 0;
  for (const auto& k : mp.kernels) {
    ASSERT_TRUE(k.predicted.energy_mj.has_value()) << k.name;
    ASSERT_TRUE(k.predicted.latency_ms.has_value()) << k.name;
    ASSERT_TRUE(k.predicted.power_mw.has_value()) << k.name;
    EXPECT_GT(*k.predicted.energy_mj, 0) << k.name;  // never a silent zero
    EXPECT_GT(*k.predicted.latency_ms, 0) << k.name;
    e += *k.predicted.energy_mj;
    l += *k.predicted.latency_ms;
    es += k.energy_share;
    ls += k.latency_share;
  }
  EXPECT_NEAR(*mp.total.energy_mj, e, 1e-12 * e);
  EXPECT_NEAR(*mp.total.latency_ms, l, 1e-12 * l);
  EXPECT_NEAR(*mp.total.power_mw, e / l * 1000, 1e-9 * e / l * 1000);
  EXPECT_NEAR(es, 1.0, 1e-12);
  EXPECT_NEAR(ls, 1.0, 1e-12);
  EXPECT_FALSE(mp.lower_bound);
  EXPECT_EQ(mp.provenance.label(), "predicted (unit)");
  const auto j = mp.to_json();
  EXPECT_EQ(j["provenance"], "predicted (unit)");
  EXPECT_EQ(j["kernels"].size(), mp.kernels.size());
  EXPECT_NE(mp.render().find("predicted (unit)"), std::string::npos);
}

TEST(Predict, RegressorPredictionsAreAccurateOnKnownFunction) {
  // The synthetic targets are an exact function of the config: the regressor should be close.
  const kernels::KernelConfig c{
      {"HW", 28}, {"CIN", 64}, {"COUT", 64}, {"KERNEL_SIZE", 3}, {"STRIDES", 1}};
  const KernelInput in[] = {{"k", "conv-bn-relu", c, {}, {}}};
  const auto p = trained().predict_kernels(in);
  const Targets truth = testing::synthetic_targets("conv-bn-relu", c);
  EXPECT_NEAR(*p[0].predicted.energy_mj, *truth.energy_mj, 0.15 * *truth.energy_mj);
  EXPECT_EQ(p[0].method.at(Target::kEnergy), "regressor");
  EXPECT_FALSE(p[0].fallback);
}

TEST(Predict, FallbacksAreLabelled) {
  const ModelPrediction mp = trained().predict(small_model());
  std::map<std::string, const KernelPrediction*> by_type;
  for (const auto& k : mp.kernels) by_type[k.type] = &k;
  ASSERT_TRUE(by_type.count("conv-bn-relu6"));
  const auto* relu6 = by_type.at("conv-bn-relu6");
  EXPECT_TRUE(relu6->fallback);
  EXPECT_EQ(relu6->method.at(Target::kEnergy), "fallback: regressor of related type conv-bn-relu");
  ASSERT_TRUE(by_type.count("global-avgpool"));
  const auto* gap = by_type.at("global-avgpool");
  EXPECT_TRUE(gap->fallback);
  EXPECT_NE(gap->method.at(Target::kEnergy).find("fallback: median energy per MFLOP"),
            std::string::npos)
      << gap->method.at(Target::kEnergy);
  EXPECT_NE(gap->method.at(Target::kPower).find("fallback: median power"), std::string::npos);
  ASSERT_TRUE(by_type.count("fc"));
  EXPECT_TRUE(by_type.at("fc")->fallback);
  EXPECT_FALSE(by_type.at("conv-bn-relu")->fallback);
  EXPECT_FALSE(by_type.at("maxpool")->fallback);
  // Every fallback type is listed with how it was predicted.
  EXPECT_TRUE(mp.fallback_types.count("conv-bn-relu6"));
  EXPECT_TRUE(mp.fallback_types.count("global-avgpool"));
  EXPECT_TRUE(mp.fallback_types.count("fc"));
  EXPECT_FALSE(mp.fallback_types.count("conv-bn-relu"));
  EXPECT_NE(mp.render().find("fallback*"), std::string::npos);
  // The related-type fallback predicts what the related regressor predicts for that config.
  const KernelInput in[] = {{"a", "conv-bn-relu", relu6->config, {}, {}}};
  EXPECT_EQ(trained().predict_kernels(in)[0].predicted.energy_mj, relu6->predicted.energy_mj);
  // The rate fallback is the device's median rate times the kernel's FLOPs.
  const auto& rates = trained().fallback_rates().at("all");
  const KernelSizes z = kernel_sizes("global-avgpool", gap->config);
  EXPECT_NEAR(*gap->predicted.energy_mj, *rates.energy_mj_per_mflop * z.flops / 1e6, 1e-15);
  EXPECT_DOUBLE_EQ(*gap->predicted.power_mw, *rates.power_mw);
}

TEST(Predict, UnknownOpsAreExcludedAndMakeALowerBound) {
  const graph::Graph g = small_model();
  auto ks = kernels::detect_kernels(g);
  kernels::Kernel unknown;
  unknown.type = "unknown:FancyOp";
  unknown.name = "fancy_1";
  ks.push_back(unknown);
  const ModelPrediction mp = trained().predict(ks, "small+fancy");
  EXPECT_EQ(mp.kernels.size(), ks.size() - 1);
  EXPECT_TRUE(mp.lower_bound);
  ASSERT_EQ(mp.unknown_ops.size(), 1u);
  EXPECT_EQ(mp.unknown_ops[0].first, "FancyOp");
  EXPECT_EQ(mp.unknown_ops[0].second, "fancy_1");
  ASSERT_FALSE(mp.warnings.empty());
  EXPECT_NE(mp.warnings.back().find("lower bound"), std::string::npos);
  EXPECT_NE(mp.warnings.back().find("FancyOp"), std::string::npos);
  EXPECT_NE(mp.render().find("lower bound"), std::string::npos);
  EXPECT_TRUE(mp.to_json()["lower_bound"].get<bool>());
}

TEST(Predict, KernelsWithoutUsableConfigAreErrorsNamingTheKernel) {
  const KernelInput in[] = {{"row7", "conv-bn-relu", {{"HW", 28}, {"CIN", 3}}, {}, {}}};
  try {
    trained().predict_kernels(in);
    FAIL();
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("row7"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("COUT"), std::string::npos) << e.what();
  }
}

TEST(Predict, TargetsWithoutDataAreAbsentNotZero) {
  KernelDataset ds = testing::synthetic_dataset(60, 0);
  for (auto& s : ds.samples) {
    s.targets.energy_mj.reset();
    s.targets.power_mw.reset();
  }
  TrainOptions o;
  o.cv_folds = 0;
  o.jobs = 1;
  const Predictor p =
      Predictor::train(ds, o, kernels::FusionRules::xnnpack_default(), "latency-only");
  const ModelPrediction mp = p.predict(small_model());
  EXPECT_FALSE(mp.total.energy_mj.has_value());
  EXPECT_FALSE(mp.total.power_mw.has_value());
  EXPECT_TRUE(mp.total.latency_ms.has_value());
  EXPECT_TRUE(mp.to_json()["total"]["energy_mj"].is_null());
  EXPECT_NE(mp.render().find("n/a"), std::string::npos);
  EXPECT_NE(mp.kernels[0].method.at(Target::kEnergy).find("no energy_mj data"), std::string::npos);
}

// A 1-input Concat (what PyTorch exports for torch.cat of one tensor) and a 6-input Concat
// (DenseNet's dense blocks), between convolutions.
graph::Graph concat_model() {
  graph::GraphBuilder b("concats", 5, false);
  const std::string x = b.input("input", {1, 16, 14, 14});
  const std::string a = b.relu(b.bn(b.conv(x, 16, 3, 1)));
  const std::string one = b.concat({a});
  std::vector<std::string> branches = {one};
  for (int i = 0; i < 5; ++i) branches.push_back(b.relu(b.bn(b.conv(one, 8, 1, 1))));
  const std::string six = b.concat(branches);
  return b.finish({b.relu(b.bn(b.conv(six, 16, 1, 1)))});
}

const Predictor& trained_with_concat() {
  static const Predictor p = [] {
    KernelDataset ds = testing::synthetic_dataset(80, 0);
    for (auto& s : testing::concat_samples(60)) ds.samples.push_back(std::move(s));
    TrainOptions o;
    o.cv_folds = 0;
    o.jobs = 1;
    RegressorParams rp;
    rp.n_estimators = 60;
    rp.max_depth = 3;
    rp.learning_rate = 0.2;
    o.overrides["conv-bn-relu"] = rp;
    o.overrides["concat"] = rp;
    return Predictor::train(ds, o, kernels::FusionRules::xnnpack_default(), "concat-unit");
  }();
  return p;
}

TEST(Predict, ConcatOfOneAndOfSixInputs) {
  const graph::Graph g = concat_model();
  const ModelPrediction mp = trained_with_concat().predict(g);
  std::vector<const KernelPrediction*> concats;
  for (const auto& k : mp.kernels)
    if (k.type == "concat") concats.push_back(&k);
  ASSERT_EQ(concats.size(), 2u);
  EXPECT_EQ(concats[0]->config.get("NS"), 1);
  EXPECT_EQ(concats[1]->config.get("NS"), 6);
  for (const auto* k : concats) {
    EXPECT_EQ(k->method.at(Target::kEnergy), "regressor") << k->name;
    ASSERT_TRUE(k->predicted.energy_mj.has_value()) << k->name;
    EXPECT_GT(*k->predicted.energy_mj, 0) << k->name;
    // Close to the known function of the work: the features describe any input count.
    const Targets truth = testing::synthetic_targets("concat", k->config);
    EXPECT_NEAR(*k->predicted.energy_mj, *truth.energy_mj, 0.3 * *truth.energy_mj) << k->name;
  }
  ASSERT_TRUE(mp.total.energy_mj.has_value());
  // The 1x1 convolutions to 8 channels are below the training range (16..128): flagged, and
  // nothing else is warned about.
  for (const auto& w : mp.warnings) EXPECT_NE(w.find("extrapolated"), std::string::npos) << w;
}

TEST(Predict, ErrorsNameTheModelAndTheKernel) {
  kernels::Kernel k;
  k.type = "conv-bn-relu";
  k.name = "node_17";
  k.config = {{"HW", 28}, {"CIN", 3}};  // no COUT
  try {
    trained().predict({k}, "mynet");
    FAIL();
  } catch (const Error& e) {
    const std::string m = e.what();
    EXPECT_NE(m.find("mynet"), std::string::npos) << m;
    EXPECT_NE(m.find("node_17"), std::string::npos) << m;
    EXPECT_NE(m.find("COUT"), std::string::npos) << m;
    EXPECT_EQ(m.find('\n'), std::string::npos) << m;
  }
}

TEST(Predict, KernelsOutsideTheTrainingRangeAreFlaggedExtrapolated) {
  // The training convolutions span HW 7..56 and channels 16..128.
  const KernelInput in[] = {
      {"inside",
       "conv-bn-relu",
       {{"HW", 28}, {"CIN", 32}, {"COUT", 64}, {"KERNEL_SIZE", 3}, {"STRIDES", 1}},
       {},
       {}},
      {"far",
       "conv-bn-relu",
       {{"HW", 100000}, {"CIN", 32}, {"COUT", 64}, {"KERNEL_SIZE", 3}, {"STRIDES", 1}},
       {},
       {}},
      // A related type's regressor: that regressor's training range applies.
      {"far6",
       "conv-bn-relu6",
       {{"HW", 28}, {"CIN", 32}, {"COUT", 4096}, {"KERNEL_SIZE", 3}, {"STRIDES", 1}},
       {},
       {}}};
  const auto out = trained().predict_kernels(in);
  const auto j = kernel_predictions_json(trained(), out);
  ASSERT_EQ(j["kernels"].size(), 3u);
  EXPECT_FALSE(j["kernels"][0].value("extrapolated", true));
  EXPECT_TRUE(j["kernels"][1].value("extrapolated", false));
  EXPECT_TRUE(j["kernels"][2].value("extrapolated", false));
  EXPECT_EQ(j.value("extrapolated_kernels", -1), 2);
  ASSERT_TRUE(j["kernels"][1].contains("out_of_range"));
  bool hw = false;
  for (const auto& f : j["kernels"][1]["out_of_range"]) {
    if (f["feature"] != "HW") continue;
    hw = true;
    EXPECT_EQ(f["value"].get<double>(), 100000);
    EXPECT_EQ(f["max"].get<double>(), 56);
    EXPECT_EQ(f["min"].get<double>(), 7);
  }
  EXPECT_TRUE(hw) << j["kernels"][1].dump();
  const std::string text = render_kernel_predictions(trained(), out);
  EXPECT_NE(text.find("extrapolated"), std::string::npos) << text;
  EXPECT_NE(text.find("HW=100000"), std::string::npos) << text;
  // Summed model predictions say how many kernels were extrapolated.
  graph::GraphBuilder b("wide", 3, false);
  std::string x = b.input("input", {1, 16, 300, 300});
  x = b.relu(b.bn(b.conv(x, 32, 3, 1)));
  x = b.relu(b.bn(b.conv(x, 32, 3, 2)));
  const ModelPrediction mp = trained().predict(b.finish({x}));
  const auto mj = mp.to_json();
  EXPECT_EQ(mj.value("extrapolated_kernels", -1), 2) << mj.dump();
  EXPECT_TRUE(mj["kernels"][0].value("extrapolated", false));
  const std::string mt = mp.render();
  EXPECT_NE(mt.find("2 of 2 kernels extrapolated"), std::string::npos) << mt;
  // Inside the range nothing is flagged.
  const ModelPrediction inside = trained().predict(small_model());
  EXPECT_EQ(inside.to_json().value("extrapolated_kernels", -1), 0);
  EXPECT_EQ(inside.render().find("extrapolated"), std::string::npos) << inside.render();
}

}  // namespace
}  // namespace nnjoule::predict
