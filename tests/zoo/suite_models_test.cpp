#include "nnjoule/zoo/suite_models.hpp"

#include <gtest/gtest.h>

#include <set>

#include "nnjoule/common/error.hpp"
#include "nnjoule/graph/shape_inference.hpp"

namespace nnjoule::zoo {
namespace {

std::set<std::string> ops(const graph::Graph& g) {
  std::set<std::string> s;
  for (const auto& n : g.nodes) s.insert(n.op_type);
  return s;
}

TEST(SuiteModels, ShapesOfEveryModel) {
  struct Expect {
    std::string name;
    graph::Shape in;
    std::vector<graph::Shape> out;
  };
  const std::vector<Expect> expect = {
      {"ssd-mobilenetv2-300", {1, 3, 300, 300}, {{1, 1917, 4}, {1, 1917, 91}}},
      {"ssd-mobilenetv2-640", {1, 3, 640, 640}, {{1, 8028, 4}, {1, 8028, 91}}},
      {"efficientnet-lite0", {1, 3, 224, 224}, {{1, 1000}}},
      {"mobilenetv1", {1, 3, 224, 224}, {{1, 1000}}},
      {"esrgan-50", {1, 3, 50, 50}, {{1, 3, 200, 200}}},
      {"deeplabv3-mobilenetv2-257", {1, 3, 257, 257}, {{1, 21, 257, 257}}},
      {"mobilebert-384", {1, 384, 128}, {{1, 384, 2}}},
      {"conv-actions", {1, 1, 98, 40}, {{1, 12}}},
  };
  ASSERT_EQ(suite_models().size(), expect.size());
  for (const auto& e : expect) {
    const auto g = build_suite_model(e.name, 1, false);
    ASSERT_EQ(g.inputs.size(), 1u) << e.name;
    EXPECT_EQ(g.shape(g.inputs[0]), e.in) << e.name;
    ASSERT_EQ(g.outputs.size(), e.out.size()) << e.name;
    for (size_t i = 0; i < e.out.size(); ++i) EXPECT_EQ(g.shape(g.outputs[i]), e.out[i]) << e.name;
  }
}

TEST(SuiteModels, ArchitecturesUseTheirCharacteristicOps) {
  EXPECT_TRUE(ops(build_suite_model("esrgan-50", 1, false)).count("LeakyRelu"));
  EXPECT_TRUE(ops(build_suite_model("esrgan-50", 1, false)).count("Resize"));
  const auto bert = ops(build_suite_model("mobilebert-384", 1, false));
  for (const char* op : {"Gather", "MatMul", "Softmax", "Transpose", "Mul", "Add"})
    EXPECT_TRUE(bert.count(op)) << op;
  const auto deeplab = build_suite_model("deeplabv3-mobilenetv2-257", 1, false);
  bool dilated = false;
  for (const auto& n : deeplab.nodes)
    if (n.op_type == "Conv" && n.attr_ints("dilations").at(0) == 12) dilated = true;
  EXPECT_TRUE(dilated);
  // MobileNetV1 has 4.23M parameters (BN folded into 4.21M conv+fc weights plus BN).
  const auto v1 = build_suite_model("mobilenetv1", 1, false);
  EXPECT_GT(v1.parameter_count(), 4'200'000);
  EXPECT_LT(v1.parameter_count(), 4'300'000);
}

TEST(SuiteModels, SsdLayoutMatchesTheHeads) {
  for (const char* name : {"ssd-mobilenetv2-300", "ssd-mobilenetv2-640"}) {
    const auto layout = ssd_layout(name);
    int64_t n = 0;
    for (size_t i = 0; i < layout.feature_maps.size(); ++i)
      n += layout.feature_maps[i] * layout.feature_maps[i] * layout.anchors_per_location[i];
    const auto g = build_suite_model(name, 1, false);
    EXPECT_EQ(g.shape(g.outputs[0])[1], n) << name;
  }
  EXPECT_THROW(ssd_layout("mobilenetv1"), Error);
  EXPECT_THROW(build_suite_model("nope"), Error);
}

}  // namespace
}  // namespace nnjoule::zoo
