// AlexNet, VGG, ResNet, SqueezeNet, GoogLeNet and DenseNet-121 as torchvision defines them.
#include <fmt/format.h>

#include "net.hpp"
#include "nnjoule/common/error.hpp"

namespace nnjoule::zoo::detail {
namespace {

using graph::ConvOptions;

const std::vector<int64_t> kResolutions = {128, 160, 192, 224};

// torchvision's AdaptiveAvgPool2d(target) before the classifier, where ONNX can express it
// exactly: an identity when the map already has the target size (left out, as it is a no-op), an
// AveragePool when the map is a multiple of it. Below the target the classifier takes the map as
// it is (as Keras's VGG does); other sizes have no exact ONNX pool and are refused.
std::string adaptive_head(Net& n, const std::string& x, int64_t target) {
  const auto& s = n.b.shape(x);
  const int64_t f = s[2];
  if (s[2] != s[3]) fail("{}: feature map {} is not square", n.family, graph::shape_str(s));
  if (f == target || f < target) return n.b.flatten(x);
  if (f % target == 0) return n.b.flatten(n.b.avgpool(x, f / target, f / target));
  fail(
      "{}: the input resolution gives a {}x{} feature map; torchvision's adaptive pool to {}x{} "
      "has no exact ONNX form there (choose a resolution whose map is below {} or a multiple of "
      "it)",
      n.family, f, f, target, target, target);
}

// A conv with bias whose kernel a variant may re-draw.
std::string conv_bias(Net& n, const std::string& x, int64_t cout, int64_t base_k, int64_t stride,
                      int64_t base_pad) {
  const int64_t k = n.ks(base_k);
  return n.b.conv(
      x, cout, k,
      ConvOptions{.stride = stride, .pad = varied_pad(base_k, base_pad, k), .bias = true});
}

std::string alexnet(Net& n, const std::string& input) {
  auto& b = n.b;
  auto x = b.relu(conv_bias(n, input, n.ch(64), 11, 4, 2));
  x = b.maxpool(x, 3, 2);
  x = b.relu(conv_bias(n, x, n.ch(192), 5, 1, 2));
  x = b.maxpool(x, 3, 2);
  x = b.relu(conv_bias(n, x, n.ch(384), 3, 1, 1));
  x = b.relu(conv_bias(n, x, n.ch(256), 3, 1, 1));
  x = b.relu(conv_bias(n, x, n.ch(256), 3, 1, 1));
  x = b.maxpool(x, 3, 2);
  x = adaptive_head(n, x, 6);
  x = b.relu(b.fc(x, n.ch(4096)));
  x = b.relu(b.fc(x, n.ch(4096)));
  return b.fc(x, 1000);
}

// torchvision's cfgs "A", "B", "D", "E": channel counts, 0 = max pool.
std::string vgg(Net& n, const std::string& input, const std::vector<int64_t>& cfg) {
  auto& b = n.b;
  std::string x = input;
  for (int64_t c : cfg) {
    x = c == 0 ? b.maxpool(x, 2, 2) : b.relu(conv_bias(n, x, n.ch(c), 3, 1, 1));
  }
  x = adaptive_head(n, x, 7);
  x = b.relu(b.fc(x, n.ch(4096)));
  x = b.relu(b.fc(x, n.ch(4096)));
  return b.fc(x, 1000);
}

const std::vector<int64_t> kVgg11 = {64, 0, 128, 0, 256, 256, 0, 512, 512, 0, 512, 512, 0};
const std::vector<int64_t> kVgg13 = {64, 64, 0, 128, 128, 0, 256, 256, 0, 512, 512, 0, 512, 512, 0};
const std::vector<int64_t> kVgg16 = {64, 64,  0,   128, 128, 0,   256, 256, 256,
                                     0,  512, 512, 512, 0,   512, 512, 512, 0};
const std::vector<int64_t> kVgg19 = {64,  64,  0,   128, 128, 0,   256, 256, 256, 256, 0,
                                     512, 512, 512, 512, 0,   512, 512, 512, 512, 0};

std::string conv_bn(Net& n, const std::string& x, int64_t cout, int64_t k, int64_t stride) {
  return n.b.bn(n.b.conv(x, cout, k, stride));
}

// ResNet v1.5 (stride on the 3x3 conv of the bottleneck), torchvision's resnet18/34/50.
std::string resnet(Net& n, const std::string& input, const std::vector<int>& blocks,
                   bool bottleneck) {
  auto& b = n.b;
  const int64_t expansion = bottleneck ? 4 : 1;
  const int64_t stem = n.ch(64);
  const int64_t stem_k = n.ks(7);
  auto x = b.relu(b.bn(b.conv(input, stem, stem_k, 2)));
  x = b.maxpool(x, 3, 2, 1);
  int64_t base_in = 64;
  for (size_t stage = 0; stage < blocks.size(); ++stage) {
    const int64_t planes = int64_t{64} << stage;
    // The residual adds tie every block's output in a stage; basic-block layer1 has no
    // downsample, which ties it to the stem as well.
    const int64_t out = !bottleneck && stage == 0 ? stem : n.ch(planes * expansion);
    for (int j = 0; j < blocks[stage]; ++j) {
      const int64_t stride = j == 0 && stage > 0 ? 2 : 1;
      const bool downsample = j == 0 && (stride != 1 || base_in != planes * expansion);
      std::string h;
      if (bottleneck) {
        const int64_t width = n.ch(planes);
        h = b.relu(conv_bn(n, x, width, 1, 1));
        const int64_t k = n.ks(3);
        h = b.relu(conv_bn(n, h, width, k, stride));
        h = conv_bn(n, h, out, 1, 1);
      } else {
        const int64_t mid = n.ch(planes);
        const int64_t k1 = n.ks(3);
        h = b.relu(conv_bn(n, x, mid, k1, stride));
        const int64_t k2 = n.ks(3);
        h = conv_bn(n, h, out, k2, 1);
      }
      const std::string identity = downsample ? conv_bn(n, x, out, 1, stride) : x;
      x = b.relu(b.add(h, identity));
      base_in = planes * expansion;
    }
  }
  return n.gap_fc(x);
}

// SqueezeNet 1.0 (the paper's; torchvision squeezenet1_0).
std::string squeezenet(Net& n, const std::string& input) {
  auto& b = n.b;
  auto conv_relu = [&](const std::string& x, int64_t c, int64_t base_k, int64_t base_pad,
                       int64_t stride) {
    return b.relu(conv_bias(n, x, c, base_k, stride, base_pad));
  };
  auto fire = [&](const std::string& x, int64_t squeeze, int64_t expand) {
    auto s = conv_relu(x, n.ch(squeeze), 1, 0, 1);
    auto e1 = conv_relu(s, n.ch(expand), 1, 0, 1);
    auto e3 = conv_relu(s, n.ch(expand), 3, 1, 1);
    return b.concat({e1, e3});
  };
  auto x = conv_relu(input, n.ch(96), 7, 0, 2);
  x = b.maxpool(x, 3, 2, 0, true);
  x = fire(x, 16, 64);
  x = fire(x, 16, 64);
  x = fire(x, 32, 128);
  x = b.maxpool(x, 3, 2, 0, true);
  x = fire(x, 32, 128);
  x = fire(x, 48, 192);
  x = fire(x, 48, 192);
  x = fire(x, 64, 256);
  x = b.maxpool(x, 3, 2, 0, true);
  x = fire(x, 64, 256);
  // The classifier conv makes the 1000 logits; its width is not varied.
  x = b.relu(b.conv(x, 1000, 1, ConvOptions{.bias = true}));
  return b.flatten(b.global_avgpool(x));
}

// GoogLeNet as torchvision builds it (BasicConv2d = conv + BN + ReLU; the "5x5" branch is a
// 3x3 conv; ceil-mode pools; no auxiliary classifiers, as with its pretrained weights).
std::string googlenet(Net& n, const std::string& input) {
  auto& b = n.b;
  auto basic = [&](const std::string& x, int64_t c, int64_t base_k, int64_t stride = 1) {
    return b.relu(b.bn(b.conv(x, c, n.ks(base_k), stride)));
  };
  auto inception = [&](const std::string& x, int64_t c1, int64_t c3r, int64_t c3, int64_t c5r,
                       int64_t c5, int64_t pool_proj) {
    auto b1 = basic(x, n.ch(c1), 1);
    auto b2 = basic(x, n.ch(c3r), 1);
    b2 = basic(b2, n.ch(c3), 3);
    auto b3 = basic(x, n.ch(c5r), 1);
    b3 = basic(b3, n.ch(c5), 3);
    auto b4 = basic(b.maxpool(x, 3, 1, 1, true), n.ch(pool_proj), 1);
    return b.concat({b1, b2, b3, b4});
  };
  auto x = basic(input, n.ch(64), 7, 2);
  x = b.maxpool(x, 3, 2, 0, true);
  x = basic(x, n.ch(64), 1);
  x = basic(x, n.ch(192), 3);
  x = b.maxpool(x, 3, 2, 0, true);
  x = inception(x, 64, 96, 128, 16, 32, 32);
  x = inception(x, 128, 128, 192, 32, 96, 64);
  x = b.maxpool(x, 3, 2, 0, true);
  x = inception(x, 192, 96, 208, 16, 48, 64);
  x = inception(x, 160, 112, 224, 24, 64, 64);
  x = inception(x, 128, 128, 256, 24, 64, 64);
  x = inception(x, 112, 144, 288, 32, 64, 64);
  x = inception(x, 256, 160, 320, 32, 128, 128);
  x = b.maxpool(x, 2, 2, 0, true);
  x = inception(x, 256, 160, 320, 32, 128, 128);
  x = inception(x, 384, 192, 384, 48, 128, 128);
  return n.gap_fc(x);
}

// DenseNet-121: growth 32, bottleneck 4 * 32, blocks (6, 12, 24, 16), compression 0.5. Each
// layer concatenates all earlier features of its block, as torchvision's _DenseLayer does.
std::string densenet121(Net& n, const std::string& input) {
  auto& b = n.b;
  const int64_t growth = 32, bn_size = 4;
  const std::vector<int> blocks = {6, 12, 24, 16};
  const int64_t stem = n.ch(64);
  const int64_t stem_k = n.ks(7);
  auto x = b.maxpool(b.relu(b.bn(b.conv(input, stem, stem_k, 2))), 3, 2, 1);
  int64_t base_features = 64;
  for (size_t i = 0; i < blocks.size(); ++i) {
    std::vector<std::string> features = {x};
    for (int l = 0; l < blocks[i]; ++l) {
      auto in = features.size() == 1 ? features[0] : b.concat(features);
      auto h = b.conv(b.relu(b.bn(in)), n.ch(bn_size * growth), 1);
      const int64_t c = n.ch(growth);
      const int64_t k = n.ks(3);
      h = b.conv(b.relu(b.bn(h)), c, k);
      features.push_back(h);
    }
    x = b.concat(features);
    base_features += blocks[i] * growth;
    if (i + 1 < blocks.size()) {
      base_features /= 2;
      x = b.avgpool(b.conv(b.relu(b.bn(x)), n.ch(base_features), 1), 2, 2);
    }
  }
  x = b.relu(b.bn(x));
  return n.gap_fc(x);
}

FamilyInfo info(std::string name, std::string title, std::string source, int64_t min_res,
                std::vector<int64_t> kernel_sizes) {
  return FamilyInfo{std::move(name), std::move(title),        std::move(source), 224,
                    min_res,         std::move(kernel_sizes), kResolutions};
}

}  // namespace

void register_classic(std::vector<FamilyDef>& out) {
  const std::vector<int64_t> k357 = {3, 5, 7};
  out.push_back(
      {info("alexnet", "AlexNet",
            "Krizhevsky et al. 2012, as torchvision alexnet (one-GPU variant)", 63, {3, 5, 7, 11}),
       alexnet});
  const std::vector<std::pair<const char*, const std::vector<int64_t>*>> vggs = {
      {"11", &kVgg11}, {"13", &kVgg13}, {"16", &kVgg16}, {"19", &kVgg19}};
  for (const auto& [depth, cfg] : vggs) {
    const auto* c = cfg;
    out.push_back(
        {info(fmt::format("vgg{}", depth), fmt::format("VGG-{}", depth),
              fmt::format("Simonyan & Zisserman 2015, as torchvision vgg{}", depth), 32, k357),
         [c](Net& n, const std::string& x) { return vgg(n, x, *c); }});
  }
  out.push_back({info("resnet18", "ResNet-18", "He et al. 2016, as torchvision resnet18", 1, k357),
                 [](Net& n, const std::string& x) {
                   return resnet(n, x, {2, 2, 2, 2}, false);
                 }});
  out.push_back({info("resnet34", "ResNet-34", "He et al. 2016, as torchvision resnet34", 1, k357),
                 [](Net& n, const std::string& x) {
                   return resnet(n, x, {3, 4, 6, 3}, false);
                 }});
  out.push_back(
      {info("resnet50", "ResNet-50", "He et al. 2016 (v1.5), as torchvision resnet50", 1, k357),
       [](Net& n, const std::string& x) {
         return resnet(n, x, {3, 4, 6, 3}, true);
       }});
  out.push_back({info("squeezenet", "SqueezeNet 1.0",
                      "Iandola et al. 2016, as torchvision squeezenet1_0", 29, k357),
                 squeezenet});
  out.push_back(
      {info("googlenet", "GoogLeNet",
            "Szegedy et al. 2015, as torchvision googlenet (no aux classifiers)", 31, k357),
       googlenet});
  out.push_back({info("densenet121", "DenseNet-121",
                      "Huang et al. 2017, as torchvision densenet121", 29, k357),
                 densenet121});
}

}  // namespace nnjoule::zoo::detail
