// The application suite's reference models (DeepEn2023 DNN1..DNN12), built with GraphBuilder.
#include "nnjoule/zoo/suite_models.hpp"

#include <cmath>

#include "nnjoule/common/error.hpp"
#include "nnjoule/graph/builder.hpp"

namespace nnjoule::zoo {
namespace {
using graph::ConvOptions;
using graph::GraphBuilder;

std::string conv_bn_act(GraphBuilder& b, const std::string& x, int64_t cout, int64_t k,
                        int64_t stride, const std::string& act, int64_t dilation = 1,
                        int64_t groups = 1) {
  auto y =
      b.conv(x, cout, k, ConvOptions{.stride = stride, .groups = groups, .dilation = dilation});
  y = b.bn(y);
  return act == "none" ? y : b.activation(y, act);
}

// MobileNetV2 inverted residual (torchvision / TF slim): expand 1x1, depthwise, project 1x1.
std::string inverted_residual(GraphBuilder& b, const std::string& x, int64_t expand, int64_t cout,
                              int64_t stride, int64_t k = 3, int64_t dilation = 1,
                              const std::string& act = "relu6", std::string* expanded = nullptr) {
  const int64_t cin = b.channels(x);
  std::string y = x;
  if (expand != 1) y = conv_bn_act(b, y, cin * expand, 1, 1, act);
  if (expanded) *expanded = y;
  const int64_t mid = b.channels(y);
  y = conv_bn_act(b, y, mid, k, stride, act, dilation, mid);
  y = conv_bn_act(b, y, cout, 1, 1, "none");
  if (stride == 1 && cin == cout) y = b.add(y, x);
  return y;
}

struct MbV2Features {
  std::string c19;   // output stride 16: the expansion of block 13 (576 channels), SSD's first map
  std::string last;  // the final 1x1 conv (1280) or the last block (320) for DeepLab
};

// MobileNetV2 body. With `dilate_last` the stride-2 stage of 160 channels keeps stride 1 and
// dilates (output stride 16, as DeepLabv3 uses it).
MbV2Features mobilenetv2_body(GraphBuilder& b, const std::string& input, bool dilate_last) {
  struct Stage {
    int64_t t, c, n, s;
  };
  const Stage stages[] = {{1, 16, 1, 1}, {6, 24, 2, 2},  {6, 32, 3, 2}, {6, 64, 4, 2},
                          {6, 96, 3, 1}, {6, 160, 3, 2}, {6, 320, 1, 1}};
  MbV2Features f;
  auto x = conv_bn_act(b, input, 32, 3, 2, "relu6");
  int block = 0;
  for (const auto& st : stages) {
    for (int64_t i = 0; i < st.n; ++i, ++block) {
      int64_t stride = i == 0 ? st.s : 1, dilation = 1;
      if (dilate_last && st.c >= 160) {
        dilation = (st.c == 160 && i == 0) ? 1 : 2;
        stride = 1;
      }
      std::string expanded;
      x = inverted_residual(b, x, st.t, st.c, stride, 3, dilation, "relu6", &expanded);
      if (block == 13) f.c19 = expanded;
    }
  }
  f.last = dilate_last ? x : conv_bn_act(b, x, 1280, 1, 1, "relu6");
  return f;
}

// [1, A*k, H, W] -> [1, H*W*A, k]: TFLite's box and class layout.
std::string flatten_head(GraphBuilder& b, const std::string& x, int64_t k) {
  const auto& s = b.shape(x);
  auto t = b.transpose(x, {0, 2, 3, 1});
  return b.reshape(t, {1, s[2] * s[3] * (s[1] / k), k});
}

constexpr int64_t kSsdClasses = 91;  // COCO's 90 labels + background, as TFLite's SSD models

graph::Graph build_ssd(int64_t side, uint64_t seed, bool mat) {
  GraphBuilder b(side == 300 ? "ssd-mobilenetv2-300" : "ssd-mobilenetv2-640", seed, mat);
  auto in = b.input("input", {1, 3, side, side});
  auto f = mobilenetv2_body(b, in, false);
  std::vector<std::string> maps = {f.c19, f.last};
  // Extra feature layers of TF's SSD feature extractor: 1x1 reduce, 3x3 stride 2.
  const std::pair<int64_t, int64_t> extras[] = {{256, 512}, {128, 256}, {128, 256}, {64, 128}};
  auto x = f.last;
  for (auto [mid, out] : extras) {
    x = conv_bn_act(b, x, mid, 1, 1, "relu6");
    x = conv_bn_act(b, x, out, 3, 2, "relu6");
    maps.push_back(x);
  }
  std::vector<std::string> boxes, scores;
  for (size_t i = 0; i < maps.size(); ++i) {
    const int64_t a = i == 0 ? 3 : 6;
    boxes.push_back(flatten_head(b, b.conv(maps[i], a * 4, 1, ConvOptions{.bias = true}), 4));
    scores.push_back(flatten_head(b, b.conv(maps[i], a * kSsdClasses, 1, ConvOptions{.bias = true}),
                                  kSsdClasses));
  }
  return b.finish({b.concat(boxes, 1), b.concat(scores, 1)});
}

// EfficientNet-Lite0 (TFLite's EfficientNet for mobile: no squeeze-excitation, ReLU6).
graph::Graph build_efficientnet(uint64_t seed, bool mat) {
  GraphBuilder b("efficientnet-lite0", seed, mat);
  auto x = conv_bn_act(b, b.input("input", {1, 3, 224, 224}), 32, 3, 2, "relu6");
  struct Stage {
    int64_t t, k, s, c, n;
  };
  const Stage stages[] = {{1, 3, 1, 16, 1},  {6, 3, 2, 24, 2},  {6, 5, 2, 40, 2}, {6, 3, 2, 80, 3},
                          {6, 5, 1, 112, 3}, {6, 5, 2, 192, 4}, {6, 3, 1, 320, 1}};
  for (const auto& st : stages)
    for (int64_t i = 0; i < st.n; ++i)
      x = inverted_residual(b, x, st.t, st.c, i == 0 ? st.s : 1, st.k);
  x = conv_bn_act(b, x, 1280, 1, 1, "relu6");
  x = b.flatten(b.global_avgpool(x));
  return b.finish({b.fc(x, 1000)});
}

graph::Graph build_mobilenetv1(uint64_t seed, bool mat) {
  GraphBuilder b("mobilenetv1", seed, mat);
  auto x = conv_bn_act(b, b.input("input", {1, 3, 224, 224}), 32, 3, 2, "relu");
  const std::pair<int64_t, int64_t> layers[] = {{64, 1},  {128, 2},  {128, 1}, {256, 2}, {256, 1},
                                                {512, 2}, {512, 1},  {512, 1}, {512, 1}, {512, 1},
                                                {512, 1}, {1024, 2}, {1024, 1}};
  for (auto [c, s] : layers) {
    x = conv_bn_act(b, x, b.channels(x), 3, s, "relu", 1, b.channels(x));
    x = conv_bn_act(b, x, c, 1, 1, "relu");
  }
  x = b.flatten(b.global_avgpool(x));
  return b.finish({b.fc(x, 1000)});
}

constexpr int kEsrganBlocks = 2;  // ESRGAN has 23 RRDB blocks; see docs/scoring.md

graph::Graph build_esrgan(uint64_t seed, bool mat) {
  GraphBuilder b("esrgan-50", seed, mat);
  const ConvOptions biased{.bias = true};
  auto lrelu = [&](const std::string& x) { return b.leaky_relu(x, 0.2f); };
  const auto beta = b.constant({1}, {0.2f}, "residual_scale");
  auto rdb = [&](const std::string& x) {
    std::vector<std::string> feats = {x};
    for (int i = 0; i < 4; ++i) feats.push_back(lrelu(b.conv(b.concat(feats, 1), 32, 3, biased)));
    auto x5 = b.conv(b.concat(feats, 1), 64, 3, biased);
    return b.add(b.mul(x5, beta), x);
  };
  auto fea = b.conv(b.input("input", {1, 3, 50, 50}), 64, 3, biased);
  auto trunk = fea;
  for (int i = 0; i < kEsrganBlocks; ++i) trunk = b.add(b.mul(rdb(rdb(rdb(trunk))), beta), trunk);
  fea = b.add(fea, b.conv(trunk, 64, 3, biased));
  fea = lrelu(b.conv(b.resize(fea, {1, 1, 2, 2}, "nearest"), 64, 3, biased));
  fea = lrelu(b.conv(b.resize(fea, {1, 1, 2, 2}, "nearest"), 64, 3, biased));
  auto out = b.conv(lrelu(b.conv(fea, 64, 3, biased)), 3, 3, biased);
  return b.finish({out});
}

graph::Graph build_deeplabv3(uint64_t seed, bool mat) {
  GraphBuilder b("deeplabv3-mobilenetv2-257", seed, mat);
  auto in = b.input("input", {1, 3, 257, 257});
  auto f = mobilenetv2_body(b, in, true);  // 17x17, 320 channels
  const auto& s = b.shape(f.last);
  std::vector<std::string> branches = {conv_bn_act(b, f.last, 256, 1, 1, "relu")};
  for (int64_t rate : {6, 12, 18})
    branches.push_back(conv_bn_act(b, f.last, 256, 3, 1, "relu", rate));
  auto pooled = conv_bn_act(b, b.global_avgpool(f.last), 256, 1, 1, "relu");
  branches.push_back(
      b.resize(pooled, {1, 1, static_cast<float>(s[2]), static_cast<float>(s[3])}, "nearest"));
  auto x = conv_bn_act(b, b.concat(branches, 1), 256, 1, 1, "relu");
  x = b.conv(x, 21, 1, ConvOptions{.bias = true});
  // 17 -> 257 bilinear; the half-pixel margin keeps floor(17 * scale) at 257 in float.
  const float scale = 257.5f / static_cast<float>(s[2]);
  return b.finish({b.resize(x, {1, 1, scale, scale}, "linear")});
}

// MobileBERT (Sun et al. 2020): 24 bottleneck transformer layers, hidden 512, bottleneck 128,
// 4 heads, 4 stacked feed-forward networks, NoNorm (x * gamma + beta) instead of LayerNorm.
graph::Graph build_mobilebert(uint64_t seed, bool mat) {
  GraphBuilder b("mobilebert-384", seed, mat);
  const int64_t L = kMobileBertSequence, H = 512, B = 128, heads = 4, hd = B / heads;
  auto dense = [&](const std::string& x, int64_t n) {
    return b.add(b.matmul_weight(x, n), b.weight({n}, b.shape(x).back(), "bias"));
  };
  auto nonorm = [&](const std::string& x) {
    const int64_t n = b.shape(x).back();
    return b.add(
        b.mul(x, b.constant({n}, std::vector<float>(static_cast<size_t>(n), 1.f), "gamma")),
        b.constant({n}, std::vector<float>(static_cast<size_t>(n), 0.f), "beta"));
  };
  auto emb = b.input("input", {1, L, kMobileBertEmbedding});
  // Trigram embedding: each position sees its neighbours' word embeddings too.
  auto next = b.pad(b.slice(emb, {1}, {1}, {L}), {0, 0, 0, 0, 1, 0});
  auto prev = b.pad(b.slice(emb, {1}, {0}, {L - 1}), {0, 1, 0, 0, 0, 0});
  auto x = dense(b.concat({next, emb, prev}, 2), H);
  std::vector<int64_t> positions(static_cast<size_t>(L));
  for (int64_t i = 0; i < L; ++i) positions[static_cast<size_t>(i)] = i;
  auto pos_table = b.weight({512, H}, H, "position_embeddings");
  x = b.add(x, b.gather(pos_table, b.constant_ints({L}, positions, "positions"), 0));
  x = nonorm(x);
  const auto scale = b.constant({1}, {1.0f / std::sqrt(static_cast<float>(hd))}, "attn_scale");
  auto split_heads = [&](const std::string& t) {
    return b.transpose(b.reshape(t, {1, L, heads, hd}), {0, 2, 1, 3});
  };
  for (int layer = 0; layer < 24; ++layer) {
    auto in_bottleneck = nonorm(dense(x, B));
    auto kq = nonorm(dense(x, B));
    auto q = split_heads(dense(kq, B));
    auto k = b.transpose(b.reshape(dense(kq, B), {1, L, heads, hd}), {0, 2, 3, 1});
    auto v = split_heads(dense(x, B));
    auto attn = b.softmax(b.mul(b.matmul(q, k), scale), -1);
    auto ctx = b.reshape(b.transpose(b.matmul(attn, v), {0, 2, 1, 3}), {1, L, B});
    auto y = nonorm(b.add(dense(ctx, B), in_bottleneck));
    for (int ffn = 0; ffn < 4; ++ffn) y = nonorm(b.add(dense(b.relu(dense(y, H)), B), y));
    x = nonorm(b.add(dense(y, H), x));
  }
  return b.finish({dense(x, 2)});
}

// TensorFlow's speech-commands "conv" model (the frozen graph behind Conv-Actions-Frozen):
// 20x8 conv, 2x2 max-pool, 10x4 conv, fully connected to 12 labels.
graph::Graph build_conv_actions(uint64_t seed, bool mat) {
  GraphBuilder b("conv-actions", seed, mat);
  auto conv = [&](const std::string& x, int64_t cout, int64_t kh, int64_t kw) {
    const int64_t cin = b.channels(x);
    const int64_t fan_in = cin * kh * kw;
    auto y = b.node("Conv",
                    {x, b.weight({cout, cin, kh, kw}, fan_in, "w"), b.weight({cout}, fan_in, "b")},
                    {{"kernel_shape", std::vector<int64_t>{kh, kw}},
                     {"strides", std::vector<int64_t>{1, 1}},
                     {"pads", std::vector<int64_t>{(kh - 1) / 2, (kw - 1) / 2, kh / 2, kw / 2}},
                     {"dilations", std::vector<int64_t>{1, 1}},
                     {"group", int64_t{1}}})[0];
    return b.relu(y);
  };
  auto x = conv(b.input("input", {1, 1, 98, 40}), 64, 20, 8);
  x = b.maxpool(x, 2, 2);
  x = conv(x, 64, 10, 4);
  return b.finish({b.fc(b.flatten(x), 12)});
}

}  // namespace

const std::vector<SuiteModelInfo>& suite_models() {
  static const std::vector<SuiteModelInfo> models = {
      {"ssd-mobilenetv2-300", "MobileNetV2-SSD 300x300", "detection",
       "TF SSD feature extractor with 1x1 box predictors; 1917 anchors, 91 classes"},
      {"ssd-mobilenetv2-640", "MobileNetV2-SSD 640x640", "detection",
       "as the 300x300 model at 640x640; 8028 anchors"},
      {"efficientnet-lite0", "EfficientNet-Lite0 224x224", "classification",
       "the TFLite EfficientNet (no squeeze-excitation, ReLU6)"},
      {"mobilenetv1", "MobileNetV1 224x224", "classification", ""},
      {"esrgan-50", "ESRGAN 50x50 (x4)", "super-resolution",
       "2 RRDB blocks instead of 23; nearest x2 upsampling twice"},
      {"deeplabv3-mobilenetv2-257", "DeepLabv3 MobileNetV2 257x257", "segmentation",
       "output stride 16, ASPP rates 6/12/18 + image pooling, 21 classes, bilinear upsampling"},
      {"mobilebert-384", "MobileBERT (sequence 384)", "question-answering",
       "word-embedding lookup in pre-processing (the engine takes float inputs); no token-type "
       "embeddings; NoNorm weights 1/0"},
      {"conv-actions", "Conv-Actions-Frozen (speech commands)", "speech",
       "TF speech-commands conv model: 98x40 spectrogram, 12 labels"},
  };
  return models;
}

const SuiteModelInfo& suite_model(const std::string& name) {
  for (const auto& m : suite_models())
    if (m.name == name) return m;
  std::string names;
  for (const auto& m : suite_models()) names += (names.empty() ? "" : ", ") + m.name;
  fail("unknown suite model '{}' (known: {})", name, names);
}

graph::Graph build_suite_model(const std::string& name, uint64_t seed, bool mat) {
  suite_model(name);  // validates the name
  if (name == "ssd-mobilenetv2-300") return build_ssd(300, seed, mat);
  if (name == "ssd-mobilenetv2-640") return build_ssd(640, seed, mat);
  if (name == "efficientnet-lite0") return build_efficientnet(seed, mat);
  if (name == "mobilenetv1") return build_mobilenetv1(seed, mat);
  if (name == "esrgan-50") return build_esrgan(seed, mat);
  if (name == "deeplabv3-mobilenetv2-257") return build_deeplabv3(seed, mat);
  if (name == "mobilebert-384") return build_mobilebert(seed, mat);
  return build_conv_actions(seed, mat);
}

SsdLayout ssd_layout(const std::string& name) {
  if (name == "ssd-mobilenetv2-300") return {{19, 10, 5, 3, 2, 1}, {3, 6, 6, 6, 6, 6}};
  if (name == "ssd-mobilenetv2-640") return {{40, 20, 10, 5, 3, 2}, {3, 6, 6, 6, 6, 6}};
  fail("suite model '{}' is not an SSD detection model", name);
}

}  // namespace nnjoule::zoo
