#include <gtest/gtest.h>

#include <algorithm>
#include <map>
#include <set>

#include "nnjoule/common/error.hpp"
#include "nnjoule/zoo/variation.hpp"
#include "nnjoule/zoo/zoo.hpp"

using namespace nnjoule;
using graph::Graph;

namespace {

Graph variant(const std::string& family, uint64_t seed, int64_t k, bool weights = false,
              int64_t resolution = 0) {
  return zoo::build_model({.family = family,
                           .resolution = resolution,
                           .variant = k,
                           .seed = seed,
                           .materialize_weights = weights});
}

std::vector<std::string> op_sequence(const Graph& g) {
  std::vector<std::string> ops;
  for (const auto& n : g.nodes) ops.push_back(n.op_type);
  return ops;
}

std::vector<int64_t> conv_widths(const Graph& g) {
  std::vector<int64_t> w;
  for (const auto& n : g.nodes)
    if (n.op_type == "Conv") w.push_back(g.shape(n.outputs[0])[1]);
  return w;
}

}  // namespace

TEST(Variation, ScaleRoundsHalfUpAndKeepsOneChannel) {
  EXPECT_EQ(zoo::Variation::scale(64, 10), 64);
  EXPECT_EQ(zoo::Variation::scale(64, 2), 13);    // 12.8
  EXPECT_EQ(zoo::Variation::scale(64, 18), 115);  // 115.2
  EXPECT_EQ(zoo::Variation::scale(5, 3), 2);      // 1.5 rounds up
  EXPECT_EQ(zoo::Variation::scale(1, 2), 1);      // never 0
  EXPECT_EQ(zoo::Variation::scale(3, 2), 1);
}

TEST(Variation, IdentityChangesNothing) {
  zoo::Variation v;
  EXPECT_FALSE(v.active());
  EXPECT_EQ(v.channels(96), 96);
  EXPECT_EQ(v.kernel_size(7), 7);
  EXPECT_EQ(v.channels_multiple(116, 2), 116);
  EXPECT_EQ(v.factor_tenths(), 10);
}

TEST(Variation, DrawsCoverTheFactorRangeAndTheKernelSet) {
  zoo::Variation v("mobilenetv2", {3, 5, 7}, 1, 0);
  std::set<int64_t> factors, kernels;
  for (int i = 0; i < 2000; ++i) {
    const int64_t f = v.factor_tenths();
    EXPECT_GE(f, 2);
    EXPECT_LE(f, 18);
    factors.insert(f);
    kernels.insert(v.kernel_size(3));
    EXPECT_EQ(v.kernel_size(1), 1);
    const int64_t c = v.channels(100);
    EXPECT_GE(c, 20);
    EXPECT_LE(c, 180);
    EXPECT_EQ(c % 10, 0);
    EXPECT_EQ(v.channels_multiple(116, 2) % 2, 0);
  }
  EXPECT_EQ(factors.size(), 17u);
  EXPECT_EQ(kernels, (std::set<int64_t>{3, 5, 7}));
}

TEST(Variation, DeterministicFromFamilySeedAndIndex) {
  auto draws = [](std::string_view fam, uint64_t seed, int64_t k) {
    zoo::Variation v(fam, {3, 5, 7}, seed, k);
    std::vector<int64_t> d;
    for (int i = 0; i < 32; ++i) d.push_back(v.channels(64) * 10 + v.kernel_size(3));
    return d;
  };
  EXPECT_EQ(draws("resnet18", 5, 2), draws("resnet18", 5, 2));
  EXPECT_NE(draws("resnet18", 5, 2), draws("resnet18", 5, 3));
  EXPECT_NE(draws("resnet18", 5, 2), draws("resnet18", 6, 2));
  EXPECT_NE(draws("resnet18", 5, 2), draws("resnet34", 5, 2));
}

TEST(Variants, SameSeedGivesTheIdenticalGraphAndWeights) {
  for (const char* f : {"mobilenetv2", "shufflenetv2", "squeezenet"}) {
    const Graph a = variant(f, 42, 3, true);
    const Graph b = variant(f, 42, 3, true);
    EXPECT_EQ(a.name, std::string(f) + "-v42-3");
    ASSERT_EQ(a.nodes.size(), b.nodes.size());
    for (size_t i = 0; i < a.nodes.size(); ++i) {
      EXPECT_EQ(a.nodes[i].name, b.nodes[i].name);
      EXPECT_EQ(a.nodes[i].inputs, b.nodes[i].inputs);
      EXPECT_EQ(a.nodes[i].attrs, b.nodes[i].attrs);
    }
    for (const auto& [name, t] : a.initializers) {
      ASSERT_TRUE(b.initializers.count(name));
      EXPECT_EQ(t->shape, b.initializers.at(name)->shape);
      EXPECT_EQ(t->f32, b.initializers.at(name)->f32) << name;
    }
  }
}

TEST(Variants, DifferentSeedsOrIndicesGiveDifferentChannels) {
  for (const auto& f : zoo::families()) {
    const auto base =
        conv_widths(zoo::build_model({.family = f.name, .materialize_weights = false}));
    const auto a = conv_widths(variant(f.name, 1, 0));
    EXPECT_NE(a, conv_widths(variant(f.name, 2, 0))) << f.name;
    EXPECT_NE(a, conv_widths(variant(f.name, 1, 1))) << f.name;
    EXPECT_NE(a, base) << f.name;
  }
}

TEST(Variants, KeepTheBaseStructureAndDrawKernelsFromTheFamilySet) {
  for (const auto& f : zoo::families()) {
    const auto base =
        op_sequence(zoo::build_model({.family = f.name, .materialize_weights = false}));
    std::set<int64_t> allowed(f.kernel_sizes.begin(), f.kernel_sizes.end());
    allowed.insert(1);
    for (int64_t k = 0; k < 5; ++k) {
      const Graph g = variant(f.name, 9, k);
      EXPECT_EQ(op_sequence(g), base) << g.name;
      EXPECT_EQ(g.shape("output"), (graph::Shape{1, 1000})) << g.name;
      for (const auto& n : g.nodes) {
        if (n.op_type != "Conv") continue;
        EXPECT_TRUE(allowed.count(n.attr_ints("kernel_shape").at(0))) << g.name << " " << n.name;
      }
    }
  }
}

TEST(Variants, ResidualAddsAndSplitsStayConsistent) {
  // ShuffleNetV2 splits its stage width in halves, ResNet adds tie stage widths: a thousand
  // draws of each must build (the builder throws on mismatched shapes).
  for (int64_t k = 0; k < 100; ++k) {
    EXPECT_NO_THROW(variant("shufflenetv2", 77, k));
    EXPECT_NO_THROW(variant("resnet18", 77, k));
    EXPECT_NO_THROW(variant("mobilenetv3large", 77, k));
  }
}

TEST(Variants, AThousandVariantsAcrossFamiliesBuildInShapeOnlyMode) {
  const auto& fams = zoo::families();
  std::map<std::string, int> built;
  std::set<int64_t> resolutions;
  for (int i = 0; i < 1000; ++i) {
    const auto& f = fams[static_cast<size_t>(i) % fams.size()];
    zoo::ModelSpec spec{.family = f.name,
                        .variant = i,
                        .seed = 2023,
                        .materialize_weights = false,
                        .sample_resolution = true};
    const int64_t r = zoo::resolved_resolution(spec);
    EXPECT_TRUE(std::count(f.resolutions.begin(), f.resolutions.end(), r)) << r;
    resolutions.insert(r);
    const Graph g = zoo::build_model(spec);
    EXPECT_EQ(g.shape("input"), (graph::Shape{1, 3, r, r}));
    EXPECT_GT(zoo::trainable_parameters(g), 0);
    built[f.name]++;
  }
  EXPECT_EQ(built.size(), fams.size());
  EXPECT_EQ(resolutions, (std::set<int64_t>{128, 160, 192, 224}));
}

TEST(Variants, ResolutionSamplingIsDeterministicAndChecked) {
  zoo::ModelSpec spec{.family = "mnasnet", .variant = 4, .seed = 1, .sample_resolution = true};
  EXPECT_EQ(zoo::resolved_resolution(spec), zoo::resolved_resolution(spec));
  EXPECT_THROW(zoo::resolved_resolution({.family = "mnasnet", .sample_resolution = true}), Error);
  EXPECT_THROW(
      zoo::resolved_resolution(
          {.family = "mnasnet", .resolution = 160, .variant = 1, .sample_resolution = true}),
      Error);
  EXPECT_EQ(zoo::resolved_resolution({.family = "mnasnet"}), 224);
  EXPECT_EQ(zoo::resolved_resolution({.family = "mnasnet", .resolution = 96}), 96);
}
