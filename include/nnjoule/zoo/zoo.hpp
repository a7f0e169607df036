#pragma once
// The model zoo: generators of classic CNN families (torchvision's architectures where
// torchvision has the model, the paper's otherwise) and their seeded variants, as the nn-Meter
// and DeepEn2023 datasets made them. Weights are seeded random. See docs/zoo.md.
#include <cstdint>
#include <string>
#include <vector>

#include "nnjoule/graph/graph.hpp"
#include "nnjoule/kernels/fusion.hpp"

namespace nnjoule::zoo {

struct FamilyInfo {
  std::string name;    // "resnet18"
  std::string title;   // "ResNet-18"
  std::string source;  // where the architecture comes from: "torchvision resnet18", a paper
  int64_t default_resolution = 224;
  int64_t min_resolution = 1;  // smallest input side the base architecture accepts
  // Kernel sizes a variant draws from for every spatial (k > 1) conv; 1x1 convs stay 1x1.
  std::vector<int64_t> kernel_sizes;
  // Input sides a variant draws from when ModelSpec::sample_resolution is set.
  std::vector<int64_t> resolutions;
};

// Every family, in a fixed order.
const std::vector<FamilyInfo>& families();
// Throws Error listing the known families when the name is unknown.
const FamilyInfo& family(const std::string& name);
std::vector<std::string> family_names();

struct ModelSpec {
  std::string family;
  int64_t resolution = 0;           // input side; 0 = the family's default
  int64_t variant = -1;             // -1 = the base model; k >= 0 = the k-th variant of `seed`
  uint64_t seed = 0;                // seeds the variant draws and the weights
  bool materialize_weights = true;  // false: weight shapes only (fast; cannot be exported)
  // With a variant and resolution 0: draw the input side from FamilyInfo::resolutions.
  bool sample_resolution = false;
};

// "<family>" for the base model, "<family>-v<seed>-<k>" for variant k.
std::string model_name(const ModelSpec& spec);
// The input side build_model will use (resolves the default and a sampled resolution).
int64_t resolved_resolution(const ModelSpec& spec);

// Input "input" [1,3,R,R], output "output" [1,1000] (logits). Throws Error naming the family
// for an unknown family, a resolution below the family's minimum, or one its head cannot take.
graph::Graph build_model(const ModelSpec& spec);

// Trainable parameters in PyTorch's sense: float weights without batch-norm running mean and
// variance (which Graph::parameter_count includes). Equals torchvision's
// sum(p.numel() for p in model.parameters()) for the base models.
int64_t trainable_parameters(const graph::Graph& g);

// What `zoo list` and the export manifest report of a model; every number is counted (exact by
// construction), kernels and FLOPs by kernel detection under `rules` (see docs/kernels.md).
struct ModelCounts {
  int64_t parameters = 0;  // trainable_parameters()
  double flops = 0;        // sum of the detected kernels' FLOPs (a multiply-add counts 2)
  int64_t kernels = 0;     // number of detected kernels
  std::string rules;       // FusionRules::source()
};
ModelCounts count_model(const graph::Graph& g, const kernels::FusionRules& rules =
                                                   kernels::FusionRules::xnnpack_default());

}  // namespace nnjoule::zoo
