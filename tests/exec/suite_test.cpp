// The application suite's reference models run on the engine; the cheaper ones are checked
// against the reference executor too.
#include <gtest/gtest.h>

#include <cmath>
#include <set>

#include "nnjoule/zoo/suite_models.hpp"
#include "support.hpp"

using namespace nnjoule;
using nnjoule::exec::testing::engine_error;
using nnjoule::exec::testing::kTolerance;

class ExecSuiteModel : public ::testing::TestWithParam<std::string> {};

TEST_P(ExecSuiteModel, Runs) {
  const std::string name = GetParam();
  const auto g = zoo::build_suite_model(name, 1);
  // The reference needs minutes on the two largest (ESRGAN ~90 GFLOPs, SSD at 640).
  const std::set<std::string> engine_only = {"esrgan-50", "ssd-mobilenetv2-640"};
  if (name == "mobilebert-384") {
    // With random weights and no normalisation its activations grow layer by layer (1e5 by
    // node 100, inf/NaN at the output, engine and reference alike) and the softmaxes amplify
    // rounding; the first 90 nodes (two layers, attention included) stay well-conditioned.
    graph::Graph prefix = g;
    prefix.nodes.resize(90);
    prefix.outputs = {prefix.nodes.back().outputs[0]};
    EXPECT_LE(engine_error(prefix, 2), kTolerance)
        << name << " first " << prefix.nodes.size() << " nodes";
    return;
  }
  if (!engine_only.count(name)) {
    EXPECT_LE(engine_error(g, 2), kTolerance) << name;
    return;
  }
  auto m = exec::compile(g);
  const auto out = exec::run_model(m, exec::testing::random_inputs(g, 3));
  ASSERT_EQ(out.size(), g.outputs.size());
  for (const auto& t : out) {
    EXPECT_EQ(t.shape, g.shape(g.outputs[&t - out.data()]));
    for (float v : t.data) ASSERT_TRUE(std::isfinite(v)) << name;
  }
}

namespace {
std::vector<std::string> suite_names() {
  std::vector<std::string> v;
  for (const auto& s : zoo::suite_models()) v.push_back(s.name);
  return v;
}
}  // namespace

INSTANTIATE_TEST_SUITE_P(AllSuiteModels, ExecSuiteModel, ::testing::ValuesIn(suite_names()),
                         [](const auto& p) {
                           std::string s = p.param;
                           for (auto& ch : s)
                             if (!std::isalnum(static_cast<unsigned char>(ch))) ch = '_';
                           return s;
                         });
