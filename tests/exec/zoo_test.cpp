// Whole zoo models and random single-kernel models on the engine against the reference.
#include <gtest/gtest.h>

#include <algorithm>
#include <map>

#include "nnjoule/common/error.hpp"
#include "nnjoule/common/rng.hpp"
#include "nnjoule/zoo/kernel_models.hpp"
#include "nnjoule/zoo/zoo.hpp"
#include "support.hpp"

using namespace nnjoule;
using nnjoule::exec::testing::engine_error;
using nnjoule::exec::testing::kTolerance;

class ExecZooFamily : public ::testing::TestWithParam<std::string> {};

TEST_P(ExecZooFamily, BaseAndVariantAgreeWithReference) {
  const auto& info = zoo::family(GetParam());
  const int64_t res = std::max<int64_t>(info.min_resolution, 32);
  zoo::ModelSpec base{.family = info.name, .resolution = res, .seed = 3};
  EXPECT_LE(engine_error(zoo::build_model(base), 1), kTolerance) << info.name << " at " << res;
  zoo::ModelSpec variant{.family = info.name, .resolution = res, .variant = 0, .seed = 5};
  EXPECT_LE(engine_error(zoo::build_model(variant), 2), kTolerance)
      << zoo::model_name(variant) << " at " << res;
}

INSTANTIATE_TEST_SUITE_P(AllFamilies, ExecZooFamily, ::testing::ValuesIn(zoo::family_names()),
                         [](const auto& p) { return p.param; });

TEST(ExecKernels, RandomConfigsOfEveryKernelType) {
  Rng rng(2024);
  std::map<std::string, int> tested;
  for (const auto& type : zoo::kernel_model_types()) {
    int ok = 0;
    for (int attempt = 0; attempt < 200 && ok < 4; ++attempt) {
      const auto config = exec::testing::random_kernel_config(rng, type);
      graph::Graph g;
      try {
        g = zoo::build_kernel_model(type.name, config, static_cast<uint64_t>(attempt));
      } catch (const Error&) {
        continue;  // an invalid combination (stride above HW, groups not dividing, ...)
      }
      ++ok;
      EXPECT_LE(engine_error(g, 1 + ok % 2), kTolerance) << type.name << " " << config.str();
    }
    tested[type.name] = ok;
    EXPECT_GE(ok, 4) << "could not draw valid configs for " << type.name;
  }
  EXPECT_EQ(tested.size(), zoo::kernel_model_types().size());
}
