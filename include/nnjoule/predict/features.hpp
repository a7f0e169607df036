#pragma once
// Regressor features of a kernel, computed from its type and nn-Meter config alone, so that a
// kernel measured on its own (config only, as in nn-Meter and DeepEn2023 datasets) and the same
// kernel detected inside a model get identical features. See docs/prediction.md.
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "nnjoule/kernels/kernel.hpp"

namespace nnjoule::predict {

// Which config keys and derived quantities a kernel type is described by.
enum class FeatureFamily {
  kConv,    // conv*, convtrans*: HW CIN COUT KERNEL_SIZE STRIDES FLOPs params
  kDwconv,  // dwconv*: HW CIN COUT(=CIN) KERNEL_SIZE STRIDES FLOPs params
  kFc,      // fc*: CIN COUT FLOPs params
  kPool,    // maxpool, avgpool: HW CIN COUT(=CIN) KERNEL_SIZE POOL_STRIDES
  kConcat,  // concat of 1..N inputs: HW NS CIN_SUM CIN_MAX CIN_MIN (nn-Meter: HW CIN1..CIN4)
  kAdd,     // add, add-relu, sub, mul, div (two inputs): HW CIN1 CIN2
  kMatmul,  // matmul: M K N
  kOther,   // everything else: HW CIN
};
FeatureFamily feature_family(std::string_view kernel_type);
std::string_view family_name(FeatureFamily f);

enum class FeatureSet {
  kNnMeter,    // exactly nn-Meter's features (its FLOPs and params formulas), for baselines
  kFull,       // nn-Meter's plus memory bytes, arithmetic intensity and output size (concat:
               // input count and channel sum, max and min in place of nn-Meter's four slots)
  kFullModel,  // kFull plus the weights of the model around the kernel (KernelContext)
  // kFull / kFullModel plus where the kernel ran (KernelContext): the clock of its cluster and
  // the cluster's capacity, for one dataset measured at several clocks or on several clusters.
  kFullClock,
  kFullModelClock,
  kAuto,  // for training: kFullModel when rows were timed inside models, else kFull; the +clock
          // set of that when the rows ran at more than one (clock, capacity)
};
bool uses_model(FeatureSet s);  // MODEL_W_MB
bool uses_clock(FeatureSet s);  // CPU_MHZ, CPU_CAPACITY
std::string_view feature_set_name(FeatureSet s);
// "nn-meter" | "full" | "full+model" | "full+clock" | "full+model+clock" | "auto"
FeatureSet parse_feature_set(std::string_view name);

// Work and traffic of a kernel as the predictor counts them: float32, "same" padding
// (output side ceil(HW / stride)), bias included for conv and fc.
struct KernelSizes {
  double flops = 0;
  double params = 0;
  double input_elems = 0;
  double output_elems = 0;
  double bytes = 0;  // 4 * (inputs + outputs + params)
};
// Throws Error naming the kernel type and key when a required key is missing or not positive.
KernelSizes kernel_sizes(std::string_view kernel_type, const kernels::KernelConfig& config);

// Where a kernel runs, which its config cannot say. Inside a model, the kernel's weights and
// input compete for the caches with the rest of the model: the fc of MobileNetV3-Small (10 MB of
// weights) runs twice as fast as the same-sized fc at the end of ResNet-18 (47 MB) on the
// development VM. A kernel measured on its own runs alone: the defaults describe that.
// Where it ran, from the measurement's device state: the mean clock (MHz) and cpu_capacity
// (1024 = the fastest core) of the CPUs its threads were pinned to (all CPUs when not pinned).
// Unknown (no cpufreq, no cpu_capacity) stays unknown: the feature is missing (NaN) for the
// regressor, never a made-up 0.
struct KernelContext {
  double model_weight_mb = 0;  // float32 weights of the model it runs inside; 0: the kernel alone
  std::optional<double> cpu_mhz;
  std::optional<double> cpu_capacity;
};
// The context of every kernel of a model whose kernels read `weight_values` weights in all.
KernelContext model_context(double weight_values);
// The weights a kernel reads as the features count them (kernel_sizes: batch norm folded, bias
// included), so that a model of one kernel is that kernel alone; `detected` when the config
// cannot be sized (an unknown op).
double counted_weights(std::string_view kernel_type, const kernels::KernelConfig& config,
                       double detected);

// Names of the features, in order.
std::vector<std::string> feature_names(std::string_view kernel_type, FeatureSet set);
// Appends the features of one kernel to `out`; throws Error naming the type and the key.
void append_features(std::string_view kernel_type, const kernels::KernelConfig& config,
                     FeatureSet set, std::vector<float>& out, const KernelContext& context = {});
std::vector<float> features(std::string_view kernel_type, const kernels::KernelConfig& config,
                            FeatureSet set, const KernelContext& context = {});

}  // namespace nnjoule::predict
