#include <gtest/gtest.h>

#include <cmath>

#include "nnjoule/collect/adaptive.hpp"
#include "support/test_support.hpp"

namespace nnjoule::collect {

using namespace predict;
namespace {

using nnjoule::testing::TempDir;

// Measures nothing: latency and energy are a bumpy function of the kernel's counts, so some
// kernels are predicted badly and the loop has something to refine.
class FakeRunner : public collect::Runner {
 public:
  store::Device device() override {
    store::Device d;
    d.name = "fake-host";
    d.runtime = "XNNPACK";
    return d;
  }
  nlohmann::json key_settings() override { return {{"threads", 1}, {"runner", "fake"}}; }
  nlohmann::json run_settings() override { return key_settings(); }
  Provenance provenance() override { return {Origin::kEstimated, "fake meter"}; }
  int threads() override { return 1; }
  collect::RunResult measure(const graph::Graph&, const std::vector<kernels::Kernel>& ks,
                             bool) override {
    ++calls;
    const auto& k = ks.at(0);
    const double c = static_cast<double>(k.config.get_or("CIN", 1));
    collect::RunResult r;
    r.m.latency_ms =
        (k.flops / 2e9 + static_cast<double>(k.bytes) / 8e9) * (1.0 + 0.6 * std::sin(c / 3.0)) +
        0.001;
    r.m.power_mw = 3000;
    r.m.energy_mj = *r.m.latency_ms * 3.0;
    r.m.provenance = provenance();
    return r;
  }
  int calls = 0;
};

TEST(Adaptive, RefinesTheWorstKernelsAndResumes) {
  TempDir tmp;
  store::Store db(tmp / "db.sqlite");
  FakeRunner runner;
  AdaptiveOptions o;
  o.kernel_types = {"conv-bn-relu", "maxpool"};
  o.prior_count = 40;
  o.prior_floor = 10;
  o.prior_variants = 0;
  o.rounds = 1;
  o.worst_per_type = 3;
  o.samples_per_kernel = 3;
  o.cv_folds = 3;
  o.train.jobs = 1;
  RegressorParams small;
  small.n_estimators = 60;
  small.max_depth = 3;
  small.learning_rate = 0.2;
  o.train.overrides = {{"conv-bn-relu", small}, {"maxpool", small}};
  const std::atomic<bool> stop{false};
  AdaptiveReport report;
  const Predictor p = build_predictor(db, runner, o, kernels::FusionRules::xnnpack_default(),
                                      "fake", stop, {}, report);
  ASSERT_EQ(report.rounds.size(), 2u);
  const auto& first = report.rounds[0];
  EXPECT_GT(first.refined, 0);
  EXPECT_GT(first.new_samples, 0);
  EXPECT_LE(first.refined, 2 * o.worst_per_type);
  ASSERT_EQ(report.collections.size(), 2u);
  EXPECT_EQ(report.collections[0].measured, static_cast<int64_t>(first.rows));
  EXPECT_EQ(report.collections[1].measured, first.new_samples);
  EXPECT_EQ(report.rounds[1].rows, first.rows + static_cast<size_t>(first.new_samples));
  EXPECT_EQ(runner.calls, static_cast<int>(report.rounds[1].rows));
  EXPECT_EQ(report.energy_origin, "estimated (fake meter)");
  EXPECT_EQ(p.info().training.rows, report.rounds[1].rows);
  EXPECT_NE(p.find("conv-bn-relu", Target::kLatency), nullptr);
  EXPECT_NE(report.to_text().find("adaptive kernel sampling"), std::string::npos);

  // A second run finds everything stored: the prior and the same refinements are not measured
  // again (same seed, same data, same folds).
  AdaptiveReport again;
  FakeRunner runner2;
  build_predictor(db, runner2, o, kernels::FusionRules::xnnpack_default(), "fake", stop, {}, again);
  EXPECT_EQ(again.collections[0].measured, 0);
  EXPECT_EQ(again.collections[0].skipped, report.collections[0].measured);
}

}  // namespace
}  // namespace nnjoule::collect
