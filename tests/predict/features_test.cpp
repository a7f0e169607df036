#include <gtest/gtest.h>

#include <cmath>

#include "nnjoule/common/error.hpp"
#include "nnjoule/graph/graph.hpp"
#include "nnjoule/kernels/detect.hpp"
#include "nnjoule/predict/features.hpp"
#include "nnjoule/zoo/kernel_models.hpp"

namespace nnjoule::predict {
namespace {

using kernels::KernelConfig;

TEST(Features, ConvMatchesNnMeterFormulas) {
  const KernelConfig c{{"HW", 56}, {"CIN", 64}, {"COUT", 128}, {"KERNEL_SIZE", 3}, {"STRIDES", 1}};
  const auto f = features("conv-bn-relu", c, FeatureSet::kNnMeter);
  ASSERT_EQ(f.size(), 7u);
  EXPECT_EQ(feature_names("conv-bn-relu", FeatureSet::kNnMeter),
            (std::vector<std::string>{"HW", "CIN", "COUT", "KERNEL_SIZE", "STRIDES", "FLOPS_2M",
                                      "PARAMS_M"}));
  // nn-Meter: params = COUT * (K*K*CIN + 1); FLOPs = 2 * (HW/S)^2 * params.
  const double params = 128.0 * (9 * 64 + 1);
  EXPECT_FLOAT_EQ(f[5], static_cast<float>(2 * 56.0 * 56.0 * params / 2e6));
  EXPECT_FLOAT_EQ(f[6], static_cast<float>(params / 1e6));
  EXPECT_EQ(f[0], 56);
  EXPECT_EQ(f[2], 128);
}

TEST(Features, FullSetAddsBytesOutputAndIntensity) {
  const KernelConfig c{{"HW", 28}, {"CIN", 32}, {"COUT", 64}, {"KERNEL_SIZE", 3}, {"STRIDES", 2}};
  const auto names = feature_names("conv-bn-relu", FeatureSet::kFull);
  ASSERT_EQ(names.size(), 10u);
  EXPECT_EQ(names[7], "BYTES_M");
  EXPECT_EQ(names[8], "OUT_M");
  EXPECT_EQ(names[9], "INTENSITY");
  const auto f = features("conv-bn-relu", c, FeatureSet::kFull);
  const KernelSizes z = kernel_sizes("conv-bn-relu", c);
  EXPECT_DOUBLE_EQ(z.output_elems, 14.0 * 14 * 64);  // "same" padding: ceil(28 / 2)
  EXPECT_DOUBLE_EQ(z.input_elems, 28.0 * 28 * 32);
  EXPECT_DOUBLE_EQ(z.params, 64.0 * (9 * 32 + 1));
  EXPECT_DOUBLE_EQ(z.bytes, 4 * (z.input_elems + z.output_elems + z.params));
  EXPECT_FLOAT_EQ(f[7], static_cast<float>(z.bytes / 1e6));
  EXPECT_FLOAT_EQ(f[8], static_cast<float>(z.output_elems / 1e6));
  EXPECT_FLOAT_EQ(f[9], static_cast<float>(z.flops / z.bytes));
}

// full+model adds the weights of the model around the kernel: alone, its own; inside a model,
// the model's. Nothing else changes.
TEST(Features, FullModelSetAddsTheModelsWeights) {
  const KernelConfig c{{"HW", 28}, {"CIN", 32}, {"COUT", 64}, {"KERNEL_SIZE", 3}, {"STRIDES", 2}};
  const auto names = feature_names("conv-bn-relu", FeatureSet::kFullModel);
  ASSERT_EQ(names.size(), 11u);
  EXPECT_EQ(names[10], "MODEL_W_MB");
  const auto full = features("conv-bn-relu", c, FeatureSet::kFull, model_context(11.7e6));
  ASSERT_EQ(full.size(), 10u);  // full ignores the context
  const auto alone = features("conv-bn-relu", c, FeatureSet::kFullModel);
  EXPECT_FLOAT_EQ(alone[10], static_cast<float>(4 * kernel_sizes("conv-bn-relu", c).params / 1e6));
  const auto in_model = features("conv-bn-relu", c, FeatureSet::kFullModel, model_context(11.7e6));
  EXPECT_FLOAT_EQ(in_model[10], 46.8f);
  EXPECT_EQ(std::vector<float>(in_model.begin(), in_model.begin() + 10), full);
  EXPECT_EQ(feature_names("concat", FeatureSet::kFullModel).back(), "MODEL_W_MB");
  EXPECT_EQ(parse_feature_set("full+model"), FeatureSet::kFullModel);
  EXPECT_EQ(parse_feature_set("auto"), FeatureSet::kAuto);
  try {
    feature_names("conv-bn-relu", FeatureSet::kAuto);
    FAIL() << "auto has no features of its own";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("'auto'"), std::string::npos) << e.what();
  }
  try {
    features("conv-bn-relu", c, FeatureSet::kFullModel, KernelContext{.model_weight_mb = -1});
    FAIL() << "negative model weights accepted";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("model weights -1 MB"), std::string::npos) << e.what();
  }
}

TEST(Features, FamiliesFollowNnMeter) {
  EXPECT_EQ(feature_family("conv-bn-relu6"), FeatureFamily::kConv);
  EXPECT_EQ(feature_family("convtrans-bn-relu"), FeatureFamily::kConv);
  EXPECT_EQ(feature_family("dwconv-bn-relu"), FeatureFamily::kDwconv);
  EXPECT_EQ(feature_family("fc-relu"), FeatureFamily::kFc);
  EXPECT_EQ(feature_family("avgpool"), FeatureFamily::kPool);
  EXPECT_EQ(feature_family("add-relu"), FeatureFamily::kAdd);
  EXPECT_EQ(feature_family("addrelu"), FeatureFamily::kOther);  // not canonical
  EXPECT_EQ(feature_family("concat"), FeatureFamily::kConcat);
  EXPECT_EQ(feature_family("global-avgpool"), FeatureFamily::kOther);
  EXPECT_EQ(feature_names("fc", FeatureSet::kNnMeter),
            (std::vector<std::string>{"CIN", "COUT", "FLOPS_2M", "PARAMS_M"}));
  EXPECT_EQ(feature_names("maxpool", FeatureSet::kNnMeter),
            (std::vector<std::string>{"HW", "CIN", "COUT", "KERNEL_SIZE", "POOL_STRIDES"}));
  EXPECT_EQ(feature_names("add", FeatureSet::kNnMeter),
            (std::vector<std::string>{"HW", "CIN1", "CIN2"}));
  EXPECT_EQ(feature_names("se", FeatureSet::kNnMeter), (std::vector<std::string>{"HW", "CIN"}));
  // Every feature vector has as many values as names.
  const KernelConfig pool{{"HW", 14}, {"CIN", 8}, {"KERNEL_SIZE", 3}, {"POOL_STRIDES", 2}};
  EXPECT_EQ(features("maxpool", pool, FeatureSet::kFull).size(),
            feature_names("maxpool", FeatureSet::kFull).size());
  const auto add = features("add", {{"HW", 7}, {"CIN", 10}}, FeatureSet::kNnMeter);
  EXPECT_EQ(add, (std::vector<float>{7, 10, 10}));
}

TEST(Features, ConcatFoldsInputsPastTheFourth) {
  const KernelConfig c{{"HW", 7},   {"CIN1", 8}, {"CIN2", 16}, {"CIN3", 4},
                       {"CIN4", 2}, {"CIN5", 3}, {"NS", 5}};
  const auto f = features("concat", c, FeatureSet::kNnMeter);
  EXPECT_EQ(f, (std::vector<float>{7, 8, 16, 4, 5}));
  // DeepEn2023 writes unused inputs as zeros.
  const KernelConfig z{{"HW", 7}, {"CIN1", 8}, {"CIN2", 16}, {"CIN3", 0}, {"CIN4", 0}};
  EXPECT_EQ(features("concat", z, FeatureSet::kNnMeter), (std::vector<float>{7, 8, 16, 0, 0}));
}

TEST(Features, BadConfigsNameTypeAndKey) {
  try {
    features("conv-bn-relu", {{"HW", 56}, {"CIN", 64}, {"COUT", 64}, {"STRIDES", 1}},
             FeatureSet::kFull);
    FAIL() << "expected an error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("conv-bn-relu"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("KERNEL_SIZE"), std::string::npos) << e.what();
  }
  try {
    features("dwconv-bn-relu", {{"HW", 56}, {"CIN", 64}, {"KERNEL_SIZE", 3}, {"STRIDES", 0}},
             FeatureSet::kFull);
    FAIL() << "expected an error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("STRIDES=0"), std::string::npos) << e.what();
  }
  // A concat needs at least one input with channels.
  EXPECT_THROW(features("concat", {{"HW", 7}}, FeatureSet::kFull), Error);
  EXPECT_THROW(features("concat", {{"HW", 7}, {"CIN1", 0}, {"CIN2", 0}}, FeatureSet::kFull), Error);
}

// Concat has 1..N inputs (PyTorch exports a Concat of one input; DenseNet concatenates up to
// 25): its features do not depend on a fixed input count.
TEST(Features, ConcatOfAnyInputCount) {
  EXPECT_EQ(
      feature_names("concat", FeatureSet::kFull),
      (std::vector<std::string>{"HW", "NS", "CIN_SUM", "CIN_MAX", "CIN_MIN", "BYTES_M", "OUT_M"}));
  const KernelConfig one{{"HW", 7}, {"CIN1", 8}, {"NS", 1}};
  auto f = features("concat", one, FeatureSet::kFull);
  ASSERT_EQ(f.size(), 7u);
  EXPECT_EQ(std::vector<float>(f.begin(), f.begin() + 5), (std::vector<float>{7, 1, 8, 8, 8}));
  EXPECT_FLOAT_EQ(f[5], static_cast<float>(4 * 2 * 7 * 7 * 8 / 1e6));  // read + written
  EXPECT_EQ(features("concat", one, FeatureSet::kNnMeter), (std::vector<float>{7, 8, 0, 0, 0}));
  KernelConfig six{{"HW", 14}};
  for (int i = 1; i <= 6; ++i) six.set("CIN" + std::to_string(i), 4 * i);
  six.set("NS", 6);
  f = features("concat", six, FeatureSet::kFull);
  EXPECT_EQ(std::vector<float>(f.begin(), f.begin() + 5), (std::vector<float>{14, 6, 84, 24, 4}));
  EXPECT_DOUBLE_EQ(kernel_sizes("concat", six).output_elems, 14.0 * 14 * 84);
  // DeepEn2023's and nn-Meter's spelling (absent inputs written as 0) gives the same features
  // as the config nnjoule detects for the same concat.
  const KernelConfig deepen{{"HW", 14}, {"CIN1", 144}, {"CIN2", 135}, {"CIN3", 0}, {"CIN4", 0}};
  const KernelConfig detected{{"HW", 14}, {"CIN1", 144}, {"CIN2", 135}, {"NS", 2}};
  for (FeatureSet set : {FeatureSet::kFull, FeatureSet::kNnMeter}) {
    EXPECT_EQ(features("concat", deepen, set), features("concat", detected, set));
  }
  // An NS that contradicts the inputs listed is named.
  try {
    features("concat", {{"HW", 7}, {"CIN1", 8}, {"CIN2", 8}, {"NS", 3}}, FeatureSet::kFull);
    FAIL() << "expected an error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("NS=3"), std::string::npos) << e.what();
  }
}

// The sizes the predictor derives from a config agree with the shapes of the kernel nnjoule
// detects in the single-kernel model of that config: features match between kernels measured
// on their own and kernels found inside a model.
TEST(Features, SizesMatchDetectedSingleKernelModels) {
  struct Case {
    std::string type;
    KernelConfig config;
  };
  const std::vector<Case> cases = {
      {"conv-bn-relu", {{"HW", 28}, {"CIN", 16}, {"COUT", 32}, {"KERNEL_SIZE", 3}, {"STRIDES", 2}}},
      {"conv-bn-relu6", {{"HW", 15}, {"CIN", 8}, {"COUT", 8}, {"KERNEL_SIZE", 5}, {"STRIDES", 2}}},
      {"dwconv-bn-relu", {{"HW", 14}, {"CIN", 24}, {"KERNEL_SIZE", 3}, {"STRIDES", 1}}},
      {"fc", {{"CIN", 128}, {"COUT", 10}}},
      {"maxpool", {{"HW", 16}, {"CIN", 8}, {"KERNEL_SIZE", 2}, {"POOL_STRIDES", 2}}},
      {"global-avgpool", {{"HW", 7}, {"CIN", 32}}},
      {"add-relu", {{"HW", 14}, {"CIN", 16}}},
      {"bn-relu", {{"HW", 14}, {"CIN", 16}}},
      {"concat", {{"HW", 7}, {"CIN1", 8}, {"CIN2", 4}, {"CIN3", 2}}},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(c.type);
    const graph::Graph g = zoo::build_kernel_model(c.type, c.config, 1, false);
    const auto ks = kernels::detect_kernels(g);
    ASSERT_EQ(ks.size(), 1u);
    ASSERT_EQ(ks[0].type, c.type);
    const KernelSizes z = kernel_sizes(ks[0].type, ks[0].config);
    double in = 0, out = 0;
    for (const auto& s : ks[0].input_shapes) in += static_cast<double>(graph::numel(s));
    for (const auto& s : ks[0].output_shapes) out += static_cast<double>(graph::numel(s));
    EXPECT_DOUBLE_EQ(z.input_elems, in);
    EXPECT_DOUBLE_EQ(z.output_elems, out);
    // Same features whether from the config written by hand or the detected kernel's config.
    EXPECT_EQ(features(c.type, c.config, FeatureSet::kFull),
              features(ks[0].type, ks[0].config, FeatureSet::kFull));
    // A model of one kernel is that kernel alone: its weights are the model's.
    EXPECT_EQ(features(c.type, c.config, FeatureSet::kFullModel),
              features(ks[0].type, ks[0].config, FeatureSet::kFullModel,
                       model_context(counted_weights(ks[0].type, ks[0].config,
                                                     static_cast<double>(ks[0].params)))));
  }
}

}  // namespace
}  // namespace nnjoule::predict
