#include <gtest/gtest.h>

#include <cmath>

#include "nnjoule/common/error.hpp"
#include "nnjoule/common/rng.hpp"
#include "nnjoule/predict/regressor.hpp"
#include "nnjoule/predict/train.hpp"

namespace nnjoule::predict {
namespace {

// y = 3 a + b^2 on a grid: a step function trees learn closely.
void toy(Matrix& x, std::vector<double>& y, size_t n, uint64_t seed) {
  Rng rng(seed);
  x = Matrix(0, 2);
  y.clear();
  for (size_t i = 0; i < n; ++i) {
    const float a = static_cast<float>(rng.uniform_int(1, 10));
    const float b = static_cast<float>(rng.uniform_int(1, 10));
    const float row[] = {a, b};
    x.append_row(row);
    y.push_back(3.0 * a + b * b);
  }
}

TEST(Regressor, BoostedAndForestLearnAToyFunction) {
  Matrix x;
  std::vector<double> y;
  toy(x, y, 400, 1);
  for (Mode mode : {Mode::kBoosted, Mode::kForest}) {
    SCOPED_TRACE(mode_name(mode));
    RegressorParams p = default_params("conv-bn-relu", mode, x.rows, 2);
    p.colsample = 1.0;
    const Regressor r = fit(x, y, p, true);
    EXPECT_EQ(r.num_features(), 2u);
    const auto pred = predict_values(r, x, true);
    const Accuracy a = accuracy(pred, y);
    EXPECT_LT(a.rmspe, 5.0);
    EXPECT_GT(a.within10, 0.95);
  }
}

TEST(Regressor, JsonRoundTripPredictsTheSame) {
  Matrix x;
  std::vector<double> y;
  toy(x, y, 200, 2);
  const Regressor r = fit(x, y, default_params("fc", Mode::kBoosted, x.rows, 2), true);
  const std::string json = r.to_json();
  const Regressor back = Regressor::from_json(json, "model.json");
  EXPECT_EQ(back.predict(x), r.predict(x));
  EXPECT_EQ(back.to_json(), json);
  EXPECT_EQ(back.num_trees(), r.num_trees());
}

// The flat-array evaluation gives XGBoost's own predictions, boosted and forest, on rows it
// was not trained on (thresholds between and beyond the training values).
TEST(Regressor, PredictsWhatXgboostPredicts) {
  Matrix x;
  std::vector<double> y;
  toy(x, y, 300, 6);
  Rng rng(9);
  Matrix probe(0, 2);
  for (int i = 0; i < 200; ++i) {
    const float row[] = {static_cast<float>(rng.uniform(-2, 14)),
                         static_cast<float>(rng.uniform(-2, 14))};
    probe.append_row(row);
  }
  for (Mode mode : {Mode::kBoosted, Mode::kForest}) {
    SCOPED_TRACE(mode_name(mode));
    RegressorParams p = default_params("conv-bn-relu", mode, x.rows, 2);
    p.colsample = 1.0;
    const Regressor r = fit(x, y, p, false);
    const auto ours = r.predict(probe);
    const auto theirs = xgboost_predict(r.to_json(), probe);
    ASSERT_EQ(ours.size(), theirs.size());
    for (size_t i = 0; i < ours.size(); ++i) {
      EXPECT_NEAR(ours[i], theirs[i], 1e-4 * std::max(1.0, std::fabs(theirs[i]))) << i;
    }
  }
}

TEST(Regressor, TrainingIsDeterministic) {
  Matrix x;
  std::vector<double> y;
  toy(x, y, 200, 3);
  RegressorParams p = default_params("conv-bn-relu", Mode::kBoosted, x.rows, 2);
  p.seed = 11;
  EXPECT_EQ(fit(x, y, p, true).to_json(), fit(x, y, p, true).to_json());
}

TEST(Regressor, CorruptModelsAndBadShapesAreErrors) {
  Matrix x;
  std::vector<double> y;
  toy(x, y, 50, 4);
  const Regressor r = fit(x, y, default_params("fc", Mode::kBoosted, x.rows, 2), true);
  const std::string json = r.to_json();
  try {
    Regressor::from_json(json.substr(0, json.size() / 2), "half.json");
    FAIL();
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("half.json"), std::string::npos);
    EXPECT_NE(std::string(e.what()).find("truncated"), std::string::npos) << e.what();
  }
  EXPECT_THROW(Regressor::from_json("", "empty.json"), Error);
  try {
    Regressor::from_json(R"({"not": "a model"})", "other.json");
    FAIL();
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("other.json: not an XGBoost JSON model"),
              std::string::npos)
        << e.what();
  }
  Matrix wrong(1, 3);
  EXPECT_THROW(r.predict(wrong), Error);
  const std::vector<float> labels(3, 1.0f);
  EXPECT_THROW(Regressor::train(Matrix(2, 2), labels, {}), Error);
  const std::vector<double> neg = {1, -1};
  EXPECT_THROW(fit(Matrix(2, 2), neg, {}, true), Error);
}

TEST(Regressor, ParamsRoundTripAndRangeChecks) {
  RegressorParams p = default_params("dwconv-bn-relu", Mode::kForest, 100, 7);
  EXPECT_EQ(p.n_estimators, 240);
  EXPECT_EQ(p.max_depth, 50);
  EXPECT_NEAR(p.colsample, 6.0 / 7.0, 1e-12);
  const RegressorParams back = RegressorParams::from_json(p.to_json(), "x");
  EXPECT_EQ(back.to_json(), p.to_json());
  auto j = p.to_json();
  j["subsample"] = 1.5;
  EXPECT_THROW(RegressorParams::from_json(j, "x"), Error);
}

TEST(Regressor, CrossValPredictUsesOnlyOtherFolds) {
  Matrix x;
  std::vector<double> y;
  toy(x, y, 100, 5);
  const auto folds = kfold_assignment(x.rows, 5, 1);
  const auto pred =
      cross_val_predict(x, y, folds, default_params("fc", Mode::kBoosted, 80, 2), true);
  ASSERT_EQ(pred.size(), y.size());
  for (double v : pred) EXPECT_TRUE(std::isfinite(v));
  EXPECT_LT(accuracy(pred, y).rmspe, 25.0);
}

}  // namespace
}  // namespace nnjoule::predict
