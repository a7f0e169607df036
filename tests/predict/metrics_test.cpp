#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <set>

#include "nnjoule/common/error.hpp"
#include "nnjoule/predict/metrics.hpp"

namespace nnjoule::predict {
namespace {

TEST(Metrics, KnownAnswer) {
  const std::vector<double> actual = {100, 100, 100, 100};
  const std::vector<double> pred = {110, 95, 100, 130};  // errors 10%, 5%, 0%, 30%
  const Accuracy a = accuracy(pred, actual);
  EXPECT_EQ(a.n, 4u);
  EXPECT_NEAR(a.rmse, std::sqrt((100.0 + 25 + 0 + 900) / 4), 1e-12);
  EXPECT_NEAR(a.rmspe, 100 * std::sqrt((0.01 + 0.0025 + 0 + 0.09) / 4), 1e-9);
  EXPECT_NEAR(a.mape, 100 * (0.10 + 0.05 + 0 + 0.30) / 4, 1e-9);
  EXPECT_DOUBLE_EQ(a.within5, 0.5);  // 5% counts as within 5%
  EXPECT_DOUBLE_EQ(a.within10, 0.75);
  EXPECT_DOUBLE_EQ(a.within15, 0.75);
}

TEST(Metrics, PerfectPredictions) {
  const std::vector<double> y = {0.5, 2, 7};
  const Accuracy a = accuracy(y, y);
  EXPECT_EQ(a.rmse, 0);
  EXPECT_EQ(a.rmspe, 0);
  EXPECT_EQ(a.within5, 1);
}

TEST(Metrics, RejectsBadInput) {
  const std::vector<double> one = {1}, two = {1, 2}, zero = {0}, nan = {std::nan("")};
  EXPECT_THROW(accuracy(one, two), Error);
  EXPECT_THROW(accuracy(one, zero), Error);
  EXPECT_THROW(accuracy(nan, one), Error);
}

TEST(Metrics, KfoldIsBalancedDeterministicAndComplete) {
  const auto f = kfold_assignment(23, 5, 42);
  ASSERT_EQ(f.size(), 23u);
  std::vector<int> sizes(5, 0);
  for (int v : f) {
    ASSERT_GE(v, 0);
    ASSERT_LT(v, 5);
    ++sizes[static_cast<size_t>(v)];
  }
  EXPECT_LE(
      *std::max_element(sizes.begin(), sizes.end()) - *std::min_element(sizes.begin(), sizes.end()),
      1);
  EXPECT_EQ(f, kfold_assignment(23, 5, 42));
  EXPECT_NE(f, kfold_assignment(23, 5, 43));
  EXPECT_THROW(kfold_assignment(10, 1, 0), Error);
}

}  // namespace
}  // namespace nnjoule::predict
