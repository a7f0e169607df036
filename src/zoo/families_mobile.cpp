// MobileNetV1/V2/V3, ShuffleNetV2, MnasNet and ProxylessNAS (mobile). Every generator decides
// residual connections from the base architecture; a variant's block output then reuses its
// input width, so the draws tied by an Add are made once per stage.
#include <fmt/format.h>

#include "net.hpp"
#include "nnjoule/common/error.hpp"

namespace nnjoule::zoo::detail {
namespace {

const std::vector<int64_t> kResolutions = {128, 160, 192, 224};
const std::vector<int64_t> kMobileKernels = {3, 5, 7};

// MobileNetV1 from the paper (Howard et al. 2017, Table 1): BN + ReLU after every conv, the
// final 7x7 average pool as a global one, a 1024 -> 1000 fully connected layer.
std::string mobilenetv1(Net& n, const std::string& input) {
  const int64_t stem_c = n.ch(32);
  const int64_t stem_k = n.ks(3);
  auto x = n.cba(input, stem_c, stem_k, 2, "relu");
  const std::vector<std::pair<int64_t, int64_t>> cfg = {
      {64, 1},  {128, 2}, {128, 1}, {256, 2}, {256, 1},  {512, 2}, {512, 1},
      {512, 1}, {512, 1}, {512, 1}, {512, 1}, {1024, 2}, {1024, 1}};
  for (const auto& [c, stride] : cfg) {
    const int64_t k = n.ks(3);
    x = n.dw(x, k, stride, "relu");
    x = n.cba(x, n.ch(c), 1, 1, "relu");
  }
  return n.gap_fc(x);
}

// One inverted residual (MobileNetV2 / MnasNet / ProxylessNAS): optional 1x1 expansion, kxk
// depthwise, linear 1x1 projection, identity added when the base block has one.
struct InvertedResidual {
  int64_t base_in, base_out, expansion, kernel, stride;
  bool residual;
  std::string act;
  bool identity_first = false;  // Add(x, block(x)) as torchvision's MobileNetV2 writes it
};

std::string inverted_residual(Net& n, const std::string& x, const InvertedResidual& r) {
  auto& b = n.b;
  const int64_t cin = n.channels(x);
  std::string h = x;
  if (r.expansion != 1) h = n.cba(x, n.ch(r.base_in * r.expansion), 1, 1, r.act);
  const int64_t k = n.ks(r.kernel);
  h = n.dw(h, k, r.stride, r.act);
  const int64_t out = r.residual ? cin : n.ch(r.base_out);
  h = n.cba(h, out, 1, 1, "none");
  if (!r.residual) return h;
  return r.identity_first ? b.add(x, h) : b.add(h, x);
}

// torchvision mobilenet_v2.
std::string mobilenetv2(Net& n, const std::string& input) {
  const int64_t stem_c = n.ch(32);
  const int64_t stem_k = n.ks(3);
  auto x = n.cba(input, stem_c, stem_k, 2, "relu6");
  struct Row {
    int64_t t, c, repeats, stride;
  };
  const std::vector<Row> rows = {{1, 16, 1, 1}, {6, 24, 2, 2},  {6, 32, 3, 2}, {6, 64, 4, 2},
                                 {6, 96, 3, 1}, {6, 160, 3, 2}, {6, 320, 1, 1}};
  int64_t base_in = 32;
  for (const auto& row : rows) {
    for (int64_t i = 0; i < row.repeats; ++i) {
      const int64_t stride = i == 0 ? row.stride : 1;
      x = inverted_residual(
          n, x, {base_in, row.c, row.t, 3, stride, stride == 1 && base_in == row.c, "relu6", true});
      base_in = row.c;
    }
  }
  x = n.cba(x, n.ch(1280), 1, 1, "relu6");
  return n.gap_fc(x);
}

// torchvision mnasnet1_0 (MnasNet-B1): stem conv, depthwise-separable conv, six stacks.
std::string mnasnet(Net& n, const std::string& input) {
  const int64_t stem_c = n.ch(32);
  const int64_t stem_k = n.ks(3);
  auto x = n.cba(input, stem_c, stem_k, 2, "relu");
  const int64_t dw_k = n.ks(3);
  x = n.dw(x, dw_k, 1, "relu");
  x = n.cba(x, n.ch(16), 1, 1, "none");
  struct Stack {
    int64_t out, kernel, stride, expansion, repeats;
  };
  const std::vector<Stack> stacks = {{24, 3, 2, 3, 3}, {40, 5, 2, 3, 3},  {80, 5, 2, 6, 3},
                                     {96, 3, 1, 6, 2}, {192, 5, 2, 6, 4}, {320, 3, 1, 6, 1}};
  int64_t base_in = 16;
  for (const auto& s : stacks) {
    for (int64_t i = 0; i < s.repeats; ++i) {
      const int64_t stride = i == 0 ? s.stride : 1;
      x = inverted_residual(
          n, x,
          {base_in, s.out, s.expansion, s.kernel, stride, stride == 1 && base_in == s.out, "relu"});
      base_in = s.out;
    }
  }
  x = n.cba(x, n.ch(1280), 1, 1, "relu");
  return n.mean_fc(x);
}

// ProxylessNAS searched for mobile (Cai et al. 2019, Fig. 4; the released proxyless_mobile
// net): 0 = a block the search replaced by a zero op (identity), which emits no node.
std::string proxylessnas(Net& n, const std::string& input) {
  const int64_t stem_c = n.ch(32);
  const int64_t stem_k = n.ks(3);
  auto x = n.cba(input, stem_c, stem_k, 2, "relu6");
  struct Block {
    int64_t out, kernel, expansion, stride;
    bool shortcut;
  };
  const std::vector<Block> blocks = {
      {16, 3, 1, 1, false},  //
      {32, 5, 3, 2, false},  {32, 3, 3, 1, true},  {0, 0, 0, 0, false},  {0, 0, 0, 0, false},
      {40, 7, 3, 2, false},  {40, 3, 3, 1, true},  {40, 5, 3, 1, true},  {40, 5, 3, 1, true},
      {80, 7, 6, 2, false},  {80, 5, 3, 1, true},  {80, 5, 3, 1, true},  {80, 5, 3, 1, true},
      {96, 5, 6, 1, false},  {96, 5, 3, 1, true},  {96, 5, 3, 1, true},  {96, 5, 3, 1, true},
      {192, 7, 6, 2, false}, {192, 7, 6, 1, true}, {192, 7, 3, 1, true}, {192, 7, 3, 1, true},
      {320, 7, 6, 1, false}};
  int64_t base_in = 32;
  for (const auto& blk : blocks) {
    if (blk.out == 0) continue;
    x = inverted_residual(
        n, x, {base_in, blk.out, blk.expansion, blk.kernel, blk.stride, blk.shortcut, "relu6"});
    base_in = blk.out;
  }
  x = n.cba(x, n.ch(1280), 1, 1, "relu6");
  return n.gap_fc(x);
}

// torchvision's _make_divisible: round to a multiple of 8, never more than 10% down.
int64_t make_divisible(int64_t v, int64_t divisor = 8) {
  int64_t r = std::max(divisor, (v + divisor / 2) / divisor * divisor);
  if (10 * r < 9 * v) r += divisor;
  return r;
}

// torchvision mobilenet_v3_small / mobilenet_v3_large: SE = GAP, 1x1 conv + ReLU, 1x1 conv +
// Hardsigmoid, Mul, with make_divisible(expanded / 4) squeeze channels.
struct V3Block {
  int64_t in, kernel, expanded, out;
  bool se;
  const char* act;  // "relu" or "hswish"
  int64_t stride;
};

const std::vector<V3Block> kV3Large = {
    {16, 3, 16, 16, false, "relu", 1},     {16, 3, 64, 24, false, "relu", 2},
    {24, 3, 72, 24, false, "relu", 1},     {24, 5, 72, 40, true, "relu", 2},
    {40, 5, 120, 40, true, "relu", 1},     {40, 5, 120, 40, true, "relu", 1},
    {40, 3, 240, 80, false, "hswish", 2},  {80, 3, 200, 80, false, "hswish", 1},
    {80, 3, 184, 80, false, "hswish", 1},  {80, 3, 184, 80, false, "hswish", 1},
    {80, 3, 480, 112, true, "hswish", 1},  {112, 3, 672, 112, true, "hswish", 1},
    {112, 5, 672, 160, true, "hswish", 2}, {160, 5, 960, 160, true, "hswish", 1},
    {160, 5, 960, 160, true, "hswish", 1}};

const std::vector<V3Block> kV3Small = {
    {16, 3, 16, 16, true, "relu", 2},    {16, 3, 72, 24, false, "relu", 2},
    {24, 3, 88, 24, false, "relu", 1},   {24, 5, 96, 40, true, "hswish", 2},
    {40, 5, 240, 40, true, "hswish", 1}, {40, 5, 240, 40, true, "hswish", 1},
    {40, 5, 120, 48, true, "hswish", 1}, {48, 5, 144, 48, true, "hswish", 1},
    {48, 5, 288, 96, true, "hswish", 2}, {96, 5, 576, 96, true, "hswish", 1},
    {96, 5, 576, 96, true, "hswish", 1}};

std::string mobilenetv3(Net& n, const std::string& input, const std::vector<V3Block>& blocks,
                        int64_t last_channel) {
  auto& b = n.b;
  const int64_t stem_c = n.ch(16);
  const int64_t stem_k = n.ks(3);
  auto x = n.cba(input, stem_c, stem_k, 2, "hswish");
  for (const auto& blk : blocks) {
    const bool residual = blk.stride == 1 && blk.in == blk.out;
    const int64_t cin = n.channels(x);
    std::string h = x;
    int64_t expanded = cin;
    if (blk.expanded != blk.in) {
      expanded = n.ch(blk.expanded);
      h = n.cba(h, expanded, 1, 1, blk.act);
    }
    const int64_t k = n.ks(blk.kernel);
    h = n.dw(h, k, blk.stride, blk.act);
    if (blk.se) h = b.se(h, make_divisible(expanded / 4), "hsigmoid");
    const int64_t out = residual ? cin : n.ch(blk.out);
    h = n.cba(h, out, 1, 1, "none");
    x = residual ? b.add(h, x) : h;
  }
  x = n.cba(x, n.ch(6 * blocks.back().out), 1, 1, "hswish");
  x = b.flatten(b.global_avgpool(x));
  x = b.hswish(b.fc(x, n.ch(last_channel)));
  return b.fc(x, 1000);
}

// torchvision shufflenet_v2_x1_0: chunk (Split) + Concat + channel shuffle as
// Reshape-Transpose-Reshape; branch widths are half the stage width, so a variant draws the
// stage width as an even number.
std::string shufflenetv2(Net& n, const std::string& input) {
  auto& b = n.b;
  const int64_t stem_c = n.ch(24);
  const int64_t stem_k = n.ks(3);
  auto x = n.cba(input, stem_c, stem_k, 2, "relu");
  x = b.maxpool(x, 3, 2, 1);
  const std::vector<std::pair<int64_t, int>> stages = {{116, 4}, {232, 8}, {464, 4}};
  for (const auto& [base, repeats] : stages) {
    const int64_t branch = n.v.channels_multiple(base, 2) / 2;
    for (int i = 0; i < repeats; ++i) {
      std::string left, right;
      if (i == 0) {
        const int64_t k1 = n.ks(3);
        left = n.dw(x, k1, 2, "none");
        left = n.cba(left, branch, 1, 1, "relu");
        right = n.cba(x, branch, 1, 1, "relu");
        const int64_t k2 = n.ks(3);
        right = n.dw(right, k2, 2, "none");
        right = n.cba(right, branch, 1, 1, "relu");
      } else {
        auto halves = b.split(x, {branch, branch});
        left = halves[0];
        right = n.cba(halves[1], branch, 1, 1, "relu");
        const int64_t k = n.ks(3);
        right = n.dw(right, k, 1, "none");
        right = n.cba(right, branch, 1, 1, "relu");
      }
      x = b.channel_shuffle(b.concat({left, right}), 2);
    }
  }
  x = n.cba(x, n.ch(1024), 1, 1, "relu");
  return n.mean_fc(x);
}

FamilyInfo info(std::string name, std::string title, std::string source, int64_t min_res) {
  return FamilyInfo{std::move(name), std::move(title), std::move(source), 224,
                    min_res,         kMobileKernels,   kResolutions};
}

}  // namespace

void register_mobile(std::vector<FamilyDef>& out) {
  out.push_back(
      {info("mobilenetv1", "MobileNetV1", "Howard et al. 2017, Table 1 (width 1.0, BN + ReLU)", 1),
       mobilenetv1});
  out.push_back(
      {info("mobilenetv2", "MobileNetV2", "Sandler et al. 2018, as torchvision mobilenet_v2", 1),
       mobilenetv2});
  out.push_back({info("mobilenetv3small", "MobileNetV3-Small",
                      "Howard et al. 2019, as torchvision mobilenet_v3_small", 1),
                 [](Net& n, const std::string& x) { return mobilenetv3(n, x, kV3Small, 1024); }});
  out.push_back({info("mobilenetv3large", "MobileNetV3-Large",
                      "Howard et al. 2019, as torchvision mobilenet_v3_large", 1),
                 [](Net& n, const std::string& x) { return mobilenetv3(n, x, kV3Large, 1280); }});
  out.push_back({info("shufflenetv2", "ShuffleNetV2 1.0x",
                      "Ma et al. 2018, as torchvision shufflenet_v2_x1_0", 1),
                 shufflenetv2});
  out.push_back(
      {info("mnasnet", "MnasNet 1.0", "Tan et al. 2019, as torchvision mnasnet1_0", 1), mnasnet});
  out.push_back({info("proxylessnas", "ProxylessNAS (mobile)",
                      "Cai et al. 2019, the searched mobile architecture (proxyless_mobile)", 1),
                 proxylessnas});
}

}  // namespace nnjoule::zoo::detail
