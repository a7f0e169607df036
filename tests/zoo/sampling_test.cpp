#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <set>

#include "nnjoule/common/error.hpp"
#include "nnjoule/kernels/detect.hpp"
#include "nnjoule/zoo/kernel_models.hpp"
#include "nnjoule/zoo/sampling.hpp"

using namespace nnjoule;
using namespace nnjoule::zoo;
using ::testing::HasSubstr;

namespace {

const ConfigPrior& small_prior() {
  static const ConfigPrior p = build_prior(
      {.families = {"resnet18", "mobilenetv2", "shufflenetv2", "mobilenetv3small", "googlenet"},
       .variants = 2,
       .seed = 3});
  return p;
}

std::string detected_type(const std::string& type, const kernels::KernelConfig& c) {
  const auto ks = kernels::detect_kernels(build_kernel_model(type, c, 0, false));
  return ks.size() == 1 ? ks[0].type : "(" + std::to_string(ks.size()) + " kernels)";
}

}  // namespace

TEST(Sampling, PriorCollectsBuildableConfigsOfEveryModel) {
  const ConfigPrior& p = small_prior();
  EXPECT_EQ(p.models, 5 * 3);
  for (const char* t : {"conv-bn-relu", "dwconv-bn-relu6", "conv-bn", "add-relu", "maxpool",
                        "global-avgpool", "fc", "channelshuffle", "concat", "se", "hswish"}) {
    ASSERT_TRUE(p.configs.count(t)) << t;
    EXPECT_GT(p.occurrences.at(t), 0) << t;
  }
  // Every config kept is one the builder makes and detection recognises.
  for (const auto& [type, configs] : p.configs) {
    EXPECT_GE(p.occurrences.at(type), static_cast<int64_t>(configs.size()));
    for (size_t i = 0; i < configs.size(); i += 7) EXPECT_EQ(detected_type(type, configs[i]), type);
  }
  // Deterministic.
  const ConfigPrior again = build_prior(
      {.families = {"resnet18", "mobilenetv2", "shufflenetv2", "mobilenetv3small", "googlenet"},
       .variants = 2,
       .seed = 3});
  EXPECT_EQ(again.occurrences, p.occurrences);
  EXPECT_EQ(again.configs.at("conv-bn-relu").size(), p.configs.at("conv-bn-relu").size());
  EXPECT_THROW(build_prior({.families = {"resnet-nope"}}), Error);
}

TEST(Sampling, AllocationFollowsOccurrencesWithAFloor) {
  const ConfigPrior& p = small_prior();
  const auto a = allocate_samples(p, {}, 500, 5);
  int64_t sum = 0;
  for (const auto& [t, n] : a) {
    EXPECT_GE(n, 5) << t;
    sum += n;
  }
  EXPECT_EQ(sum, 500);
  EXPECT_EQ(a.size(), p.configs.size());
  // More frequent types get more samples.
  for (const auto& [t1, n1] : a) {
    for (const auto& [t2, n2] : a) {
      if (p.occurrences.at(t1) > p.occurrences.at(t2)) {
        EXPECT_GE(n1, n2) << t1 << " vs " << t2;
      }
    }
  }
  // The floor wins when the total is too small.
  const auto tiny = allocate_samples(p, {"fc", "conv-bn-relu"}, 3, 4);
  EXPECT_EQ(tiny.at("fc"), 4);
  EXPECT_EQ(tiny.at("conv-bn-relu"), 4);
  try {
    allocate_samples(p, {"convtrans"}, 10, 1);
    FAIL() << "no error";
  } catch (const Error& e) {
    EXPECT_THAT(e.what(), HasSubstr("'convtrans' occurs nowhere in the zoo"));
  }
}

TEST(Sampling, PriorSamplesAreDistinctValidAndSeeded) {
  const ConfigPrior& p = small_prior();
  const auto s = sample_prior(p, "conv-bn-relu", 40, 11);
  ASSERT_EQ(s.size(), 40u);
  std::set<std::string> seen;
  std::set<int64_t> observed_hw;
  for (const auto& c : p.configs.at("conv-bn-relu")) observed_hw.insert(c.get("HW"));
  int64_t observed = 0;
  for (const auto& k : s) {
    EXPECT_TRUE(seen.insert(k.config.str()).second) << k.config.str();
    EXPECT_EQ(detected_type(k.type, k.config), "conv-bn-relu");
    EXPECT_TRUE(observed_hw.count(k.config.get("HW")));  // only channels are re-drawn
    for (const auto& c : p.configs.at("conv-bn-relu")) {
      if (c == k.config) {
        ++observed;
        break;
      }
    }
  }
  EXPECT_GT(observed, 0);   // configs the zoo runs ...
  EXPECT_LT(observed, 40);  // ... and new ones around them
  const auto same = sample_prior(p, "conv-bn-relu", 40, 11);
  for (size_t i = 0; i < s.size(); ++i) EXPECT_EQ(same[i].config, s[i].config);
  const auto other = sample_prior(p, "conv-bn-relu", 40, 12);
  int64_t differ = 0;
  for (size_t i = 0; i < s.size(); ++i) differ += other[i].config != s[i].config;
  EXPECT_GT(differ, 0);
  // Grouped kernels stay valid: channel shuffle CIN divisible by GROUPS.
  for (const auto& k : sample_prior(p, "channelshuffle", 10, 1)) {
    EXPECT_EQ(k.config.get("CIN") % k.config.get_or("GROUPS", 2), 0);
  }
  const auto all = sample_collection(p, {"fc", "maxpool"}, 12, 2, 5);
  int64_t fc = 0;
  for (const auto& k : all) fc += k.type == "fc";
  EXPECT_EQ(all.size(), 12u);
  EXPECT_GE(fc, 2);
  EXPECT_LE(fc, 10);
}

TEST(Sampling, FineGrainedKeepsShapeAndRedrawsChannels) {
  const kernels::KernelConfig base{
      {"HW", 28}, {"CIN", 100}, {"COUT", 50}, {"KERNEL_SIZE", 3}, {"STRIDES", 2}};
  const auto s = sample_around("conv-bn-relu", base, 30, 4);
  ASSERT_EQ(s.size(), 30u);
  std::set<std::string> seen;
  for (const auto& k : s) {
    EXPECT_EQ(k.config.get("HW"), 28);
    EXPECT_EQ(k.config.get("KERNEL_SIZE"), 3);
    EXPECT_EQ(k.config.get("STRIDES"), 2);
    EXPECT_GE(k.config.get("CIN"), 40);
    EXPECT_LE(k.config.get("CIN"), 120);
    EXPECT_GE(k.config.get("COUT"), 20);
    EXPECT_LE(k.config.get("COUT"), 60);
    EXPECT_TRUE(seen.insert(k.config.str()).second);
  }
  EXPECT_EQ(sample_around("conv-bn-relu", base, 30, 4)[7].config, s[7].config);
  // Only CIN 2 and 3 lie in [0.4 x 3, 1.2 x 3]: fewer distinct samples than asked.
  EXPECT_EQ(sample_around("relu", {{"HW", 7}, {"CIN", 3}}, 10, 1).size(), 2u);
  EXPECT_THROW(sample_around("nope", base, 1, 1), Error);
  EXPECT_THROW(sample_around("maxpool", {{"HW", 7}, {"KERNEL_SIZE", 3}}, 1, 1), Error);
}
