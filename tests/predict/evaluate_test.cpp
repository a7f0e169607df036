#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include <cmath>

#include "nnjoule/common/error.hpp"
#include "nnjoule/graph/builder.hpp"
#include "nnjoule/kernels/detect.hpp"
#include "nnjoule/predict/evaluate.hpp"
#include "predict/predict_support.hpp"

namespace nnjoule::predict {
namespace {

TrainOptions fast() {
  TrainOptions o;
  o.jobs = 1;
  RegressorParams p;
  p.n_estimators = 80;
  p.max_depth = 4;
  p.learning_rate = 0.2;
  for (const char* t : {"conv-bn-relu", "maxpool", "global-avgpool", "fc", "reshape"})
    o.overrides[t] = p;
  return o;
}

TEST(KernelCv, ScoresEveryTypeWithSharedFolds) {
  const KernelDataset ds = testing::synthetic_dataset(100, 30);
  KernelCvOptions o;
  o.train = fast();
  o.folds = 5;
  const KernelCvResult r = kernel_cross_validation(ds, o);
  ASSERT_EQ(r.rows.size(), 6u);  // 2 types x 3 targets
  for (const auto& row : r.rows) {
    EXPECT_GT(row.accuracy.n, 0u);
    // Power is constant and energy a smooth function of the config: a good fit.
    EXPECT_LT(row.accuracy.rmspe, 30.0) << row.type << " " << target_name(row.target);
  }
  for (size_t i = 0; i < ds.samples.size(); ++i) {
    EXPECT_GE(r.fold[i], 0);
    EXPECT_TRUE(r.predicted[i].energy_mj.has_value());
  }
  EXPECT_EQ(r.overall.at(Target::kEnergy).n, 130u);
  const auto j = export_folds(ds, r);
  EXPECT_EQ(j["types"]["conv-bn-relu"]["rows"].size(), 100u);
  EXPECT_EQ(j["types"]["maxpool"]["features_nn_meter"].size(), 5u);
  EXPECT_NE(render_table(r).find("all kernels"), std::string::npos);
  // Deterministic.
  const KernelCvResult again = kernel_cross_validation(ds, o);
  EXPECT_EQ(to_json(again), to_json(r));
}

TEST(KernelCv, SmallTypesAreSkippedAndListed) {
  const KernelDataset ds = testing::synthetic_dataset(40, 3);
  KernelCvOptions o;
  o.train = fast();
  const KernelCvResult r = kernel_cross_validation(ds, o);
  ASSERT_EQ(r.skipped.size(), 1u);
  EXPECT_NE(r.skipped[0].find("maxpool: 3 rows"), std::string::npos) << r.skipped[0];
}

// Models of two families whose "measured" totals are an exact linear function of FLOPs and
// bytes: the FLOPs+bytes baseline must be exact, and everything must be reported per family.
TEST(ModelEval, KnownAnswerBaselinesAndFamilies) {
  std::vector<ModelSample> models;
  double in_model_ms = 0;  // every model's kernels, timed inside the model
  size_t in_model_kernels = 0;
  KernelDataset kds = testing::synthetic_dataset(80, 20);
  for (int fam = 0; fam < 2; ++fam) {
    for (int v = 0; v < 6; ++v) {
      graph::GraphBuilder b("m", static_cast<uint64_t>(v), false);
      std::string x = b.input("input", {1, 3, 32 + 8 * v, 32 + 8 * v});
      x = b.relu(b.bn(b.conv(x, 16 + 8 * v, 3, 2)));
      if (fam == 1) x = b.relu(b.bn(b.conv(x, 32 + 4 * v, 3, 1)));
      x = b.maxpool(x, 3, 2, 1);
      x = b.flatten(b.global_avgpool(x));
      x = b.fc(x, 10);
      const graph::Graph g = b.finish({x});
      ModelSample m;
      m.family = fam == 0 ? "tiny" : "deeper";
      m.name = m.family + "-" + std::to_string(v);
      m.kernels = kernels::detect_kernels(g);
      double flops = 0, bytes = 0;
      for (size_t ki = 0; ki < m.kernels.size(); ++ki) {
        const auto& k = m.kernels[ki];
        flops += k.flops;
        bytes += static_cast<double>(k.bytes);
        KernelSample s;  // per-kernel rows taken from the model
        s.id = m.name + "/" + k.name;
        s.type = k.type;
        s.config = k.config;
        s.targets = testing::synthetic_targets(k.type, k.config);
        s.model = m.name;
        s.family = m.family;
        s.kernel_index = static_cast<long>(ki);
        if (s.targets.latency_ms) {
          in_model_ms += *s.targets.latency_ms;
          ++in_model_kernels;
        }
        kds.samples.push_back(s);
      }
      m.measured.energy_mj = 3e-8 * flops + 1e-8 * bytes + 0.5;
      m.measured.latency_ms = *m.measured.energy_mj / 2;
      m.measured.power_mw = 2000;
      m.energy_origin = {Origin::kEstimated, "test"};
      models.push_back(std::move(m));
    }
  }
  for (Split split : {Split::kRandom, Split::kKFold, Split::kLeaveOneFamilyOut}) {
    SCOPED_TRACE(split_name(split));
    ModelEvalOptions o;
    o.split = split;
    o.train = fast();
    o.train.min_samples = 3;
    const ModelEvalResult r = evaluate_models(kds, models, o);
    std::map<std::string, const MethodResult*> by;
    for (const auto& m : r.methods) by[m.method] = &m;
    ASSERT_TRUE(by.count("nnjoule"));
    ASSERT_TRUE(by.count("flops-linear"));
    ASSERT_TRUE(by.count("flops-bytes-linear"));
    // DeepEn2023's / nn-Meter's method on the same kernels, in the same table.
    ASSERT_TRUE(by.count("nn-meter-rf"));
    EXPECT_EQ(by["nn-meter-rf"]->overall.at(Target::kEnergy).n,
              by["nnjoule"]->overall.at(Target::kEnergy).n);
    if (split == Split::kRandom) {
      EXPECT_LT(by["flops-bytes-linear"]->overall.at(Target::kEnergy).rmspe, 1e-6);
      EXPECT_EQ(by["nnjoule"]->overall.at(Target::kEnergy).n, 4u);  // 30% of 12
    } else if (split == Split::kKFold) {
      EXPECT_LT(by["flops-bytes-linear"]->overall.at(Target::kEnergy).rmspe, 1e-6);
      EXPECT_EQ(by["nnjoule"]->overall.at(Target::kEnergy).n, 12u);  // each model once
      // Every held-out kernel lands in the per-type decomposition once.
      size_t kernels = 0;
      double measured = 0, shares = 0;
      for (size_t i = 0; i < r.by_type.size(); ++i) {
        const auto& c = r.by_type[i];
        kernels += c.kernels;
        measured += c.measured_ms;
        shares += c.share_of_error;
        EXPECT_GE(c.abs_error_ms + 1e-12, std::fabs(c.predicted_ms - c.measured_ms)) << c.type;
        if (i > 0) {
          EXPECT_LE(c.abs_error_ms, r.by_type[i - 1].abs_error_ms);
        }
      }
      EXPECT_EQ(kernels, in_model_kernels);
      EXPECT_NEAR(measured, in_model_ms, 1e-9 * in_model_ms);
      EXPECT_NEAR(shares, 1.0, 1e-9);
      EXPECT_EQ(to_json(r)["by_kernel_type"].size(), r.by_type.size());
      EXPECT_NE(render_table(r).find("where nnjoule's latency error comes from"),
                std::string::npos);
      std::map<std::string, int> seen;
      for (const auto& row : r.models) seen[row.model]++;
      EXPECT_EQ(seen.size(), 12u);
      for (const auto& [name, n] : seen) EXPECT_EQ(n, 1) << name;
    } else {
      EXPECT_EQ(by["nnjoule"]->overall.at(Target::kEnergy).n, 12u);
      EXPECT_EQ(by["nnjoule"]->by_family.size(), 2u);
    }
    EXPECT_EQ(r.energy_origin, "estimated (test)");
    const auto j = to_json(r);
    EXPECT_TRUE(j["methods"].contains("nnjoule"));
    EXPECT_NE(render_table(r).find("flops-bytes-linear"), std::string::npos);
  }
  ModelEvalOptions one;
  one.split = Split::kLeaveOneFamilyOut;
  std::vector<ModelSample> single(models.begin(), models.begin() + 3);
  EXPECT_THROW(evaluate_models(kds, single, one), Error);
}

}  // namespace
}  // namespace nnjoule::predict
