#pragma once
// Internal: what the family generators share. A Net couples the graph builder with the
// variation so each generator reads like its reference implementation.
#include <algorithm>
#include <functional>
#include <string>

#include "nnjoule/graph/builder.hpp"
#include "nnjoule/zoo/variation.hpp"
#include "nnjoule/zoo/zoo.hpp"

namespace nnjoule::zoo::detail {

struct Net {
  graph::GraphBuilder& b;
  Variation& v;
  std::string family;

  int64_t ch(int64_t base) { return v.channels(base); }
  int64_t ks(int64_t base) { return v.kernel_size(base); }
  int64_t channels(const std::string& x) const { return b.channels(x); }

  // conv (same padding, no bias) + batch norm + activation ("none" for a linear conv).
  std::string cba(const std::string& x, int64_t cout, int64_t k, int64_t stride,
                  const std::string& act, int64_t groups = 1) {
    auto y = b.bn(b.conv(x, cout, k, graph::ConvOptions{.stride = stride, .groups = groups}));
    return b.activation(y, act);
  }
  // depthwise conv + batch norm + activation.
  std::string dw(const std::string& x, int64_t k, int64_t stride, const std::string& act) {
    return b.activation(b.bn(b.dwconv(x, k, stride)), act);
  }
  // GlobalAveragePool -> Flatten -> Gemm, as torchvision's adaptive_avg_pool2d heads export.
  std::string gap_fc(const std::string& x, int64_t classes = 1000) {
    return b.fc(b.flatten(b.global_avgpool(x)), classes);
  }
  // x.mean([2, 3]) -> Gemm, as torchvision's MnasNet and ShuffleNetV2 export.
  std::string mean_fc(const std::string& x, int64_t classes = 1000) {
    return b.fc(b.reduce_mean(x, {2, 3}, false), classes);
  }
};

// Padding of a conv whose kernel a variant re-drew: "same" convs stay "same"; convs with a
// smaller fixed padding (AlexNet's first conv, SqueezeNet's stem) keep it, clamped to k / 2.
inline int64_t varied_pad(int64_t base_k, int64_t base_pad, int64_t k) {
  if (base_pad == (base_k - 1) / 2) return (k - 1) / 2;
  return std::min(base_pad, (k - 1) / 2);
}

// Renames a node output everywhere it appears (the builder names tensors after their node).
void rename_tensor(graph::Graph& g, const std::string& from, const std::string& to);

using BuildFn = std::function<std::string(Net&, const std::string& input)>;

struct FamilyDef {
  FamilyInfo info;
  BuildFn build;
};

// Each appends its families to `out`.
void register_classic(std::vector<FamilyDef>& out);  // AlexNet, VGG, ResNet, SqueezeNet, ...
void register_mobile(std::vector<FamilyDef>& out);   // MobileNets, ShuffleNetV2, MnasNet, ...

}  // namespace nnjoule::zoo::detail
