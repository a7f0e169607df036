// Every zoo family against numbers verified outside nnjoule: parameter counts and conv/fc
// multiply-adds of torchvision's models (sum(p.numel() for p in m.parameters()) and forward hooks
// on Conv2d/Linear, torchvision 0.14 with aux_logits=False for GoogLeNet), the ProxylessNAS
// release's 4,080,512 parameters, and closed forms computed here from the papers' tables.
#include <gtest/gtest.h>

#include <map>
#include <set>

#include "nnjoule/common/error.hpp"
#include "nnjoule/kernels/detect.hpp"
#include "nnjoule/zoo/zoo.hpp"

using namespace nnjoule;
using graph::Graph;

namespace {

Graph shapes_only(const std::string& family, int64_t resolution = 0) {
  return zoo::build_model(
      {.family = family, .resolution = resolution, .materialize_weights = false});
}

// Conv/fc FLOPs read off the graph: 2 * Cout * Ho * Wo * Cin / g * k * k per conv,
// 2 * in * out per fc (biases not counted).
int64_t conv_fc_flops(const Graph& g) {
  int64_t f = 0;
  for (const auto& n : g.nodes) {
    if (n.op_type == "Conv") {
      const auto& w = g.shape(n.inputs[1]);
      f += 2 * graph::numel(g.shape(n.outputs[0])) * w[1] * w[2] * w[3];
    } else if (n.op_type == "Gemm") {
      const auto& w = g.shape(n.inputs[1]);
      f += 2 * w[0] * w[1];
    }
  }
  return f;
}

int count_ops(const Graph& g, const std::string& op) {
  int c = 0;
  for (const auto& n : g.nodes) c += n.op_type == op;
  return c;
}

int count_depthwise(const Graph& g) {
  int c = 0;
  for (const auto& n : g.nodes)
    if (n.op_type == "Conv" && n.attr_int("group", 1) > 1 &&
        n.attr_int("group", 1) == g.shape(n.inputs[0])[1])
      ++c;
  return c;
}

// ---- closed forms -------------------------------------------------------------------------
int64_t out(int64_t in, int64_t k, int64_t s, int64_t p) {
  return (in + 2 * p - k) / s + 1;
}

// torchvision's classifier after AdaptiveAvgPool2d(t): exact at t and multiples of t; below
// t the zoo flattens the map as it is (documented in docs/zoo.md).
int64_t head_inputs(int64_t c, int64_t f, int64_t t) {
  return c * (f < t ? f * f : t * t);
}

int64_t vgg_macs(const std::vector<int64_t>& cfg, int64_t r) {
  int64_t s = r, c = 3, m = 0;
  for (int64_t v : cfg) {
    if (v == 0) {
      s = out(s, 2, 2, 0);
    } else {
      m += 9 * c * v * s * s;
      c = v;
    }
  }
  return m + head_inputs(512, s, 7) * 4096 + 4096 * 4096 + 4096 * 1000;
}

int64_t alexnet_macs(int64_t r) {
  const int64_t s1 = out(r, 11, 4, 2), p1 = out(s1, 3, 2, 0), p2 = out(p1, 3, 2, 0);
  const int64_t p3 = out(p2, 3, 2, 0);
  return 3 * 64 * 121 * s1 * s1 + 64 * 192 * 25 * p1 * p1 +
         (192 * 384 + 384 * 256 + 256 * 256) * 9 * p2 * p2 + head_inputs(256, p3, 6) * 4096 +
         4096 * 4096 + 4096 * 1000;
}

int64_t resnet_macs(const std::vector<int>& blocks, bool bottleneck, int64_t r) {
  int64_t s = out(r, 7, 2, 3);
  int64_t m = 3 * 64 * 49 * s * s;
  s = out(s, 3, 2, 1);
  int64_t cin = 64;
  const int64_t e = bottleneck ? 4 : 1;
  for (size_t i = 0; i < blocks.size(); ++i) {
    const int64_t planes = 64 << i;
    for (int j = 0; j < blocks[i]; ++j) {
      const int64_t stride = j == 0 && i > 0 ? 2 : 1;
      const int64_t so = out(s, 3, stride, 1);
      if (bottleneck) {
        m += cin * planes * s * s + 9 * planes * planes * so * so + planes * planes * e * so * so;
      } else {
        m += 9 * cin * planes * so * so + 9 * planes * planes * so * so;
      }
      if (j == 0 && (stride != 1 || cin != planes * e)) m += cin * planes * e * so * so;
      cin = planes * e;
      s = so;
    }
  }
  return m + cin * 1000;
}

const std::vector<std::pair<int64_t, int64_t>> kV1 = {
    {64, 1},  {128, 2}, {128, 1}, {256, 2}, {256, 1},  {512, 2}, {512, 1},
    {512, 1}, {512, 1}, {512, 1}, {512, 1}, {1024, 2}, {1024, 1}};

int64_t mobilenetv1_macs(int64_t r) {
  int64_t s = out(r, 3, 2, 1), c = 32;
  int64_t m = 27 * 32 * s * s;
  for (const auto& [co, st] : kV1) {
    s = out(s, 3, st, 1);
    m += 9 * c * s * s + c * co * s * s;
    c = co;
  }
  return m + 1024 * 1000;
}

int64_t mobilenetv1_params() {
  int64_t p = 27 * 32 + 2 * 32, c = 32;
  for (const auto& [co, st] : kV1) {
    p += 9 * c + 2 * c + c * co + 2 * co;
    c = co;
  }
  return p + 1024 * 1000 + 1000;
}

int64_t mobilenetv2_macs(int64_t r) {
  const int64_t rows[][4] = {{1, 16, 1, 1}, {6, 24, 2, 2},  {6, 32, 3, 2}, {6, 64, 4, 2},
                             {6, 96, 3, 1}, {6, 160, 3, 2}, {6, 320, 1, 1}};
  int64_t s = out(r, 3, 2, 1), c = 32;
  int64_t m = 27 * 32 * s * s;
  for (const auto& row : rows) {
    for (int64_t i = 0; i < row[2]; ++i) {
      const int64_t hidden = c * row[0];
      if (row[0] != 1) m += c * hidden * s * s;
      s = out(s, 3, i == 0 ? row[3] : 1, 1);
      m += 9 * hidden * s * s + hidden * row[1] * s * s;
      c = row[1];
    }
  }
  return m + 320 * 1280 * s * s + 1280 * 1000;
}

const std::vector<int64_t> kVgg11 = {64, 0, 128, 0, 256, 256, 0, 512, 512, 0, 512, 512, 0};
const std::vector<int64_t> kVgg13 = {64, 64, 0, 128, 128, 0, 256, 256, 0, 512, 512, 0, 512, 512, 0};
const std::vector<int64_t> kVgg16 = {64, 64,  0,   128, 128, 0,   256, 256, 256,
                                     0,  512, 512, 512, 0,   512, 512, 512, 0};
const std::vector<int64_t> kVgg19 = {64,  64,  0,   128, 128, 0,   256, 256, 256, 256, 0,
                                     512, 512, 512, 512, 0,   512, 512, 512, 512, 0};

// ---- the table ------------------------------------------------------------------------------
struct Expected {
  std::string family;
  int64_t params;
  int64_t macs224, macs160, macs96;  // conv + fc multiply-adds, verified against torchvision
  int convs, depthwise;
  std::map<std::string, int> kernels;  // kernel counts with the built-in XNNPACK rules
};

const std::vector<Expected>& table() {
  static const std::vector<Expected> t = {
      // torchvision's adaptive pool makes AlexNet's/VGG's 160/96 numbers differ from the zoo's
      // (see head_inputs); 0 = checked by the closed form only.
      {"alexnet",
       61100840,
       714188480,
       0,
       0,
       5,
       0,
       {{"conv-relu", 5}, {"maxpool", 3}, {"reshape", 1}, {"fc-relu", 2}, {"fc", 1}}},
      {"vgg11",
       132863336,
       7609090048,
       0,
       0,
       8,
       0,
       {{"conv-relu", 8}, {"maxpool", 5}, {"reshape", 1}, {"fc-relu", 2}, {"fc", 1}}},
      {"vgg13",
       133047848,
       11308466176,
       0,
       0,
       10,
       0,
       {{"conv-relu", 10}, {"maxpool", 5}, {"reshape", 1}, {"fc-relu", 2}, {"fc", 1}}},
      {"vgg16",
       138357544,
       15470264320,
       0,
       0,
       13,
       0,
       {{"conv-relu", 13}, {"maxpool", 5}, {"reshape", 1}, {"fc-relu", 2}, {"fc", 1}}},
      {"vgg19",
       143667240,
       19632062464,
       0,
       0,
       16,
       0,
       {{"conv-relu", 16}, {"maxpool", 5}, {"reshape", 1}, {"fc-relu", 2}, {"fc", 1}}},
      // ResNet: stem + 2 (basic) or 3 (bottleneck) convs per block + downsamples; one add-relu
      // per block.
      {"resnet18",
       11689512,
       1814073344,
       925798400,
       333615104,
       20,
       0,
       {{"conv-bn-relu", 9},
        {"conv-bn", 11},
        {"add-relu", 8},
        {"maxpool", 1},
        {"global-avgpool", 1},
        {"reshape", 1},
        {"fc", 1}}},
      {"resnet34",
       21797672,
       3663761408,
       1869516800,
       673353728,
       36,
       0,
       {{"conv-bn-relu", 17},
        {"conv-bn", 19},
        {"add-relu", 16},
        {"maxpool", 1},
        {"global-avgpool", 1},
        {"reshape", 1},
        {"fc", 1}}},
      {"resnet50",
       25557032,
       4089184256,
       2087321600,
       752746496,
       53,
       0,
       {{"conv-bn-relu", 33},
        {"conv-bn", 20},
        {"add-relu", 16},
        {"maxpool", 1},
        {"global-avgpool", 1},
        {"reshape", 1},
        {"fc", 1}}},
      // 8 fire modules: squeeze + two expands each, concatenated.
      {"squeezenet",
       1248424,
       818924576,
       404268064,
       134511648,
       26,
       0,
       {{"conv-relu", 26}, {"maxpool", 3}, {"concat", 8}, {"global-avgpool", 1}, {"reshape", 1}}},
      // 9 inceptions of 6 convs + 3 stem convs; 4 stage pools + 9 branch pools.
      {"googlenet",
       6624904,
       1498376192,
       764979200,
       276047872,
       57,
       0,
       {{"conv-bn-relu", 57},
        {"maxpool", 13},
        {"concat", 9},
        {"global-avgpool", 1},
        {"reshape", 1},
        {"fc", 1}}},
      // 58 dense layers (BN-ReLU, 1x1 conv-BN-ReLU, 3x3 conv), 3 transitions, 58 concats.
      {"densenet121",
       7978856,
       2834161664,
       1446502400,
       521396224,
       120,
       0,
       {{"bn-relu", 62},
        {"conv-bn-relu", 59},
        {"conv", 61},
        {"concat", 58},
        {"maxpool", 1},
        {"avgpool", 3},
        {"global-avgpool", 1},
        {"reshape", 1},
        {"fc", 1}}},
      {"mobilenetv1",
       mobilenetv1_params(),
       mobilenetv1_macs(224),
       mobilenetv1_macs(160),
       mobilenetv1_macs(96),
       27,
       13,
       {{"conv-bn-relu", 14},
        {"dwconv-bn-relu", 13},
        {"global-avgpool", 1},
        {"reshape", 1},
        {"fc", 1}}},
      // 17 inverted residual blocks (16 with an expansion conv), 10 residual adds.
      {"mobilenetv2",
       3504872,
       300774272,
       154083200,
       56289152,
       52,
       17,
       {{"conv-bn-relu6", 18},
        {"dwconv-bn-relu6", 17},
        {"conv-bn", 17},
        {"add", 10},
        {"global-avgpool", 1},
        {"reshape", 1},
        {"fc", 1}}},
      // 11 blocks, 9 with SE, 6 residual adds; h-swish runs as its own kernel.
      {"mobilenetv3small",
       2542856,
       56510400,
       29846976,
       12071360,
       52,
       11,
       {{"conv-bn", 21},
        {"conv-bn-relu", 2},
        {"dwconv-bn-relu", 3},
        {"dwconv-bn", 8},
        {"hswish", 19},
        {"se", 9},
        {"add", 6},
        {"global-avgpool", 1},
        {"reshape", 1},
        {"fc", 2}}},
      // 15 blocks, 8 with SE, 10 residual adds.
      {"mobilenetv3large",
       5483032,
       216589760,
       112472000,
       43060160,
       62,
       15,
       {{"conv-bn", 26},
        {"conv-bn-relu", 5},
        {"dwconv-bn-relu", 6},
        {"dwconv-bn", 9},
        {"hswish", 21},
        {"se", 8},
        {"add", 10},
        {"global-avgpool", 1},
        {"reshape", 1},
        {"fc", 2}}},
      // 16 units (3 downsampling), each ending in concat + channel shuffle; 13 splits.
      {"shufflenetv2",
       2278604,
       144907992,
       74434200,
       27451672,
       56,
       19,
       {{"conv-bn-relu", 37},
        {"dwconv-bn", 19},
        {"split", 13},
        {"concat", 16},
        {"channelshuffle", 16},
        {"maxpool", 1},
        {"global-avgpool", 1},
        {"fc", 1}}},
      // Stem (conv, separable conv) + 16 inverted residuals, 10 residual adds.
      {"mnasnet",
       4383312,
       314415872,
       161043200,
       58794752,
       52,
       17,
       {{"conv-bn-relu", 18},
        {"dwconv-bn-relu", 17},
        {"conv-bn", 17},
        {"add", 10},
        {"global-avgpool", 1},
        {"fc", 1}}},
      // 20 mobile inverted blocks (2 searched away as zero ops), 13 shortcuts.
      {"proxylessnas",
       4080512,
       320427584,
       164110400,
       59898944,
       61,
       20,
       {{"conv-bn-relu6", 21},
        {"dwconv-bn-relu6", 20},
        {"conv-bn", 20},
        {"add", 13},
        {"global-avgpool", 1},
        {"reshape", 1},
        {"fc", 1}}},
  };
  return t;
}

class Family : public ::testing::TestWithParam<Expected> {};

}  // namespace

TEST(Zoo, TableCoversEveryFamily) {
  std::set<std::string> in_table;
  for (const auto& e : table()) in_table.insert(e.family);
  for (const auto& f : zoo::families()) EXPECT_TRUE(in_table.count(f.name)) << f.name;
  EXPECT_EQ(in_table.size(), zoo::families().size());
  const std::vector<std::string> required = {"alexnet",
                                             "vgg11",
                                             "vgg13",
                                             "vgg16",
                                             "vgg19",
                                             "resnet18",
                                             "resnet34",
                                             "resnet50",
                                             "squeezenet",
                                             "googlenet",
                                             "densenet121",
                                             "mobilenetv1",
                                             "mobilenetv2",
                                             "mobilenetv3small",
                                             "mobilenetv3large",
                                             "shufflenetv2",
                                             "mnasnet",
                                             "proxylessnas"};
  for (const auto& r : required) EXPECT_NO_THROW(zoo::family(r)) << r;
}

TEST_P(Family, ParametersMatchTheReference) {
  const auto& e = GetParam();
  const Graph g = shapes_only(e.family);
  EXPECT_EQ(zoo::trainable_parameters(g), e.params);
}

TEST_P(Family, ConvAndFcFlopsMatchTheReference) {
  const auto& e = GetParam();
  EXPECT_EQ(conv_fc_flops(shapes_only(e.family)), 2 * e.macs224);
  if (e.macs160) {
    EXPECT_EQ(conv_fc_flops(shapes_only(e.family, 160)), 2 * e.macs160);
  }
  if (e.macs96) {
    EXPECT_EQ(conv_fc_flops(shapes_only(e.family, 96)), 2 * e.macs96);
  }
}

TEST_P(Family, InputOutputAndStructure) {
  const auto& e = GetParam();
  const Graph g = shapes_only(e.family);
  EXPECT_EQ(g.name, e.family);
  ASSERT_EQ(g.inputs, std::vector<std::string>{"input"});
  EXPECT_EQ(g.shape("input"), (graph::Shape{1, 3, 224, 224}));
  ASSERT_EQ(g.outputs, std::vector<std::string>{"output"});
  EXPECT_EQ(g.shape("output"), (graph::Shape{1, 1000}));
  EXPECT_EQ(count_ops(g, "Conv"), e.convs);
  EXPECT_EQ(count_depthwise(g), e.depthwise);
  const Graph small = shapes_only(e.family, 96);
  EXPECT_EQ(small.shape("input"), (graph::Shape{1, 3, 96, 96}));
  EXPECT_EQ(small.shape("output"), (graph::Shape{1, 1000}));
  EXPECT_EQ(count_ops(small, "Conv"), e.convs);
}

TEST_P(Family, KernelDetectionFindsTheArchitecturesKernels) {
  const auto& e = GetParam();
  const Graph g = shapes_only(e.family);
  const auto ks = kernels::detect_kernels(g);
  const auto totals = kernels::summarize(g, ks);
  EXPECT_TRUE(totals.unknown_ops.empty());
  EXPECT_EQ(totals.count_by_type, e.kernels);
  // Kernel FLOPs of conv and fc kernels include their fused BN/activation and biases; the
  // graph's conv/fc FLOPs are a lower bound of them.
  double conv_fc = 0;
  for (const auto& k : ks)
    if (k.ops.front() == "conv" || k.ops.front() == "dwconv" || k.ops.front() == "fc")
      conv_fc += k.flops;
  EXPECT_GE(conv_fc, static_cast<double>(2 * e.macs224));
}

TEST_P(Family, MinimumResolutionBuildsAndBelowFailsWithTheFamilyName) {
  const auto& f = zoo::family(GetParam().family);
  EXPECT_NO_THROW(shapes_only(f.name, f.min_resolution));
  if (f.min_resolution > 1) {
    try {
      shapes_only(f.name, f.min_resolution - 1);
      FAIL() << "no error below the minimum";
    } catch (const Error& e) {
      EXPECT_NE(std::string(e.what()).find(f.name), std::string::npos) << e.what();
    }
  }
  for (int64_t r : f.resolutions) EXPECT_NO_THROW(shapes_only(f.name, r)) << r;
}

INSTANTIATE_TEST_SUITE_P(Zoo, Family, ::testing::ValuesIn(table()),
                         [](const auto& p) { return p.param.family; });

TEST(Zoo, ClosedFormsAgreeWithTorchvisionAt224) {
  // The closed forms are checked against the literal torchvision numbers where both exist,
  // then used at resolutions torchvision does not cover the same way.
  EXPECT_EQ(vgg_macs(kVgg11, 224), 7609090048);
  EXPECT_EQ(vgg_macs(kVgg19, 224), 19632062464);
  EXPECT_EQ(alexnet_macs(224), 714188480);
  EXPECT_EQ(resnet_macs({2, 2, 2, 2}, false, 224), 1814073344);
  EXPECT_EQ(resnet_macs({3, 4, 6, 3}, true, 224), 4089184256);
  EXPECT_EQ(resnet_macs({3, 4, 6, 3}, true, 160), 2087321600);
  EXPECT_EQ(mobilenetv2_macs(224), 300774272);
  EXPECT_EQ(mobilenetv2_macs(96), 56289152);
  // MobileNetV1 paper, Table 1 / 8: 569 million mult-adds, 4.2 million parameters.
  EXPECT_NEAR(static_cast<double>(mobilenetv1_macs(224)), 569e6, 1e6);
  EXPECT_NEAR(static_cast<double>(mobilenetv1_params()), 4.2e6, 0.05e6);
}

TEST(Zoo, ClosedFormFlopsAtOtherResolutions) {
  for (int64_t r : {32, 64, 96, 128, 160, 192, 224, 448}) {
    SCOPED_TRACE(r);
    EXPECT_EQ(conv_fc_flops(shapes_only("vgg11", r)), 2 * vgg_macs(kVgg11, r));
    EXPECT_EQ(conv_fc_flops(shapes_only("vgg13", r)), 2 * vgg_macs(kVgg13, r));
    EXPECT_EQ(conv_fc_flops(shapes_only("vgg16", r)), 2 * vgg_macs(kVgg16, r));
    EXPECT_EQ(conv_fc_flops(shapes_only("vgg19", r)), 2 * vgg_macs(kVgg19, r));
    EXPECT_EQ(conv_fc_flops(shapes_only("resnet18", r)), 2 * resnet_macs({2, 2, 2, 2}, false, r));
    EXPECT_EQ(conv_fc_flops(shapes_only("resnet34", r)), 2 * resnet_macs({3, 4, 6, 3}, false, r));
    EXPECT_EQ(conv_fc_flops(shapes_only("resnet50", r)), 2 * resnet_macs({3, 4, 6, 3}, true, r));
    EXPECT_EQ(conv_fc_flops(shapes_only("mobilenetv1", r)), 2 * mobilenetv1_macs(r));
    EXPECT_EQ(conv_fc_flops(shapes_only("mobilenetv2", r)), 2 * mobilenetv2_macs(r));
  }
  for (int64_t r : {64, 96, 128, 160, 192, 224}) {
    EXPECT_EQ(conv_fc_flops(shapes_only("alexnet", r)), 2 * alexnet_macs(r)) << r;
  }
}

TEST(Zoo, AdaptivePoolHeadRefusesInexactResolutions) {
  // VGG at 256: an 8x8 map has no exact ONNX pool to 7x7; 448 gives 14x14 = 2 x 7.
  try {
    shapes_only("vgg16", 256);
    FAIL() << "no error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("vgg16"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("8x8"), std::string::npos) << e.what();
  }
  const Graph g = shapes_only("vgg16", 448);
  EXPECT_EQ(count_ops(g, "AveragePool"), 1);
  EXPECT_EQ(zoo::trainable_parameters(g), 138357544);
}

TEST(Zoo, UnknownFamilyListsTheKnownOnes) {
  try {
    zoo::build_model({.family = "resnet101"});
    FAIL() << "no error";
  } catch (const Error& e) {
    const std::string m = e.what();
    EXPECT_NE(m.find("resnet101"), std::string::npos) << m;
    EXPECT_NE(m.find("mobilenetv3large"), std::string::npos) << m;
  }
  EXPECT_THROW(zoo::family(""), Error);
  EXPECT_THROW(zoo::build_model({.family = "resnet18", .resolution = -5}), Error);
}

TEST(Zoo, TrainableParametersLeaveOutBatchNormStatistics) {
  const Graph g = shapes_only("resnet18");
  int64_t bn_channels = 0;
  for (const auto& n : g.nodes)
    if (n.op_type == "BatchNormalization") bn_channels += g.shape(n.outputs[0])[1];
  EXPECT_EQ(g.parameter_count() - zoo::trainable_parameters(g), 2 * bn_channels);
}

TEST(Zoo, MaterializedWeightsMatchShapeOnlyGraphs) {
  for (const char* f : {"resnet50", "mobilenetv3small", "shufflenetv2", "googlenet"}) {
    const Graph full = zoo::build_model({.family = f, .seed = 3});
    const Graph lean = shapes_only(f);
    ASSERT_EQ(full.nodes.size(), lean.nodes.size()) << f;
    for (size_t i = 0; i < full.nodes.size(); ++i) {
      EXPECT_EQ(full.nodes[i].op_type, lean.nodes[i].op_type);
      EXPECT_EQ(full.shape(full.nodes[i].outputs[0]), lean.shape(lean.nodes[i].outputs[0]));
    }
    for (const auto& [name, t] : full.initializers) EXPECT_TRUE(t->materialized()) << name;
    bool any_lean = false;
    for (const auto& [name, t] : lean.initializers)
      any_lean |= t->dtype == graph::DType::kFloat32 && !t->materialized();
    EXPECT_TRUE(any_lean) << f;
    EXPECT_EQ(zoo::trainable_parameters(full), zoo::trainable_parameters(lean));
  }
}

TEST(Zoo, SeededWeightsAreReproducible) {
  const Graph a = zoo::build_model({.family = "mobilenetv2", .seed = 11});
  const Graph b = zoo::build_model({.family = "mobilenetv2", .seed = 11});
  const Graph c = zoo::build_model({.family = "mobilenetv2", .seed = 12});
  ASSERT_EQ(a.initializers.size(), b.initializers.size());
  bool differs = false;
  for (const auto& [name, t] : a.initializers) {
    EXPECT_EQ(t->f32, b.initializers.at(name)->f32) << name;
    EXPECT_EQ(t->i64, b.initializers.at(name)->i64) << name;
    differs |= t->f32 != c.initializers.at(name)->f32;
  }
  EXPECT_TRUE(differs);
}
