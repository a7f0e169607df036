#include <gtest/gtest.h>

#include <cmath>
#include <vector>

#include "nnjoule/common/error.hpp"
#include "nnjoule/predict/bundle.hpp"
#include "nnjoule/predict/train.hpp"
#include "predict/predict_support.hpp"

namespace nnjoule::predict {
namespace {

TEST(WorkBase, RecoversAnExactLinearCost) {
  std::vector<double> f, b, y;
  for (int i = 1; i <= 20; ++i) {
    f.push_back(3.0 * i);
    b.push_back(1.0 + (i % 7));
    y.push_back(0.02 * f.back() + 0.05 * b.back() + 0.001);
  }
  const auto base = fit_work_base(f, b, y);
  ASSERT_TRUE(base.has_value());
  EXPECT_NEAR(base->per_mflop, 0.02, 1e-9);
  EXPECT_NEAR(base->per_mb, 0.05, 1e-9);
  EXPECT_NEAR(base->constant, 0.001, 1e-9);
  EXPECT_NEAR(base->eval(100, 2), 2.101, 1e-9);
  EXPECT_GT(base->floor, 0);
  EXPECT_GE(base->eval(0, 0), base->floor);  // clamped below by the smallest training base
}

TEST(WorkBase, DropsTermsThatWouldComeOutNegative) {
  // Cost falls with bytes here: the only positive fits leave bytes out.
  std::vector<double> f{1, 2, 3, 4, 5, 6}, b{6, 5, 4, 3, 2, 1}, y;
  for (size_t i = 0; i < f.size(); ++i) y.push_back(2 * f[i] - 0.1 * b[i] + 1);
  const auto base = fit_work_base(f, b, y);
  ASSERT_TRUE(base.has_value());
  EXPECT_EQ(base->per_mb, 0);
  EXPECT_GT(base->per_mflop, 0);
  EXPECT_FALSE(
      fit_work_base(std::vector<double>{1, 2}, std::vector<double>{1, 2}, std::vector<double>{1, 2})
          .has_value());  // too few rows
}

TEST(WorkBase, JsonRoundTripAndRangeChecks) {
  WorkBase w{0.5, 0.25, 0.125, 0.1};
  const WorkBase back = WorkBase::from_json(w.to_json(), "test");
  EXPECT_EQ(back.per_mflop, w.per_mflop);
  EXPECT_EQ(back.per_mb, w.per_mb);
  EXPECT_EQ(back.constant, w.constant);
  EXPECT_EQ(back.floor, w.floor);
  auto j = w.to_json();
  j["per_mb"] = -1;
  EXPECT_THROW(WorkBase::from_json(j, "test"), Error);
  j = w.to_json();
  j.erase("floor");
  EXPECT_THROW(WorkBase::from_json(j, "test"), Error);
}

// Trees alone predict a constant past the largest kernel they saw; with the work base a
// kernel four times the largest training kernel is still predicted in proportion.
TEST(WorkBase, PredictionsScaleBeyondTheTrainingRange) {
  const auto ds = testing::synthetic_dataset();  // HW up to 56
  const kernels::KernelConfig big{
      {"HW", 112}, {"CIN", 128}, {"COUT", 128}, {"KERNEL_SIZE", 3}, {"STRIDES", 1}};
  const KernelInput in[] = {{"big", "conv-bn-relu", big, {}, {}}};
  const double truth = *testing::synthetic_targets("conv-bn-relu", big).latency_ms;
  auto predict_with = [&](bool work_base) {
    TrainOptions o;
    o.cv_folds = 0;
    o.jobs = 1;
    o.work_base = work_base;
    const Predictor p = Predictor::train(ds, o, kernels::FusionRules::xnnpack_default(), "unit");
    const auto& regs = p.regressors();
    for (const auto& r : regs) {
      if (r.type == "conv-bn-relu" && r.target == Target::kLatency) {
        EXPECT_EQ(r.base.has_value(), work_base);
      }
      if (r.target == Target::kPower) {
        EXPECT_FALSE(r.base.has_value());  // power does not scale with work
      }
    }
    return *p.predict_kernels(in)[0].predicted.latency_ms;
  };
  EXPECT_NEAR(predict_with(true), truth, 0.05 * truth);
  EXPECT_LT(predict_with(false), 0.5 * truth);
}

}  // namespace
}  // namespace nnjoule::predict

namespace nnjoule::predict {
namespace {

TEST(ClampClass, TypesThatRunAsOneOperator) {
  EXPECT_EQ(clamp_class("conv-bn-relu6"), "conv");
  EXPECT_EQ(clamp_class("conv"), "conv");
  EXPECT_EQ(clamp_class("dwconv-bn"), "dwconv");
  EXPECT_EQ(clamp_class("convtrans-bn-relu"), "convtrans");
  EXPECT_EQ(clamp_class("add-relu"), "add");
  EXPECT_EQ(clamp_class("fc-relu"), "fc");
  // h-swish is an operator of its own; standalone batch-norm is not a convolution.
  EXPECT_EQ(clamp_class("conv-bn-hswish"), "conv-bn-hswish");
  EXPECT_EQ(clamp_class("bn-relu"), "bn-relu");
  EXPECT_EQ(clamp_class("maxpool"), "maxpool");
}

TEST(ClampClass, PooledTrainingRowsComeFromTheWholeClass) {
  KernelDataset ds = testing::synthetic_dataset(30, 10);
  for (size_t i = 0; i < 10; ++i) ds.samples[i].type = "conv-bn";  // 10 of the 30 convs
  const TypeData alone = type_data(ds, "conv-bn", Target::kLatency, FeatureSet::kFull);
  const TypeData pooled = type_data(ds, "conv-bn", Target::kLatency, FeatureSet::kFull, true);
  EXPECT_EQ(alone.x.rows, 10u);
  EXPECT_EQ(pooled.x.rows, 30u);
  EXPECT_EQ(pooled.feature_names, alone.feature_names);
  TrainOptions o;
  o.jobs = 1;
  o.cv_folds = 0;
  o.targets = {Target::kLatency};
  o.pool_clamp_classes = true;
  for (const auto& r : train_regressors(ds, o)) {
    const size_t want = r.type == "maxpool" ? 10u : 30u;
    EXPECT_EQ(r.rows, want) << r.type;
  }
}

}  // namespace
}  // namespace nnjoule::predict
