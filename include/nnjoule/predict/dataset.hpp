#pragma once
// The in-memory datasets the predictors train and are evaluated on: kernel samples (one kernel
// config with its measured or imported targets) and model samples (a model's kernels with its
// measured totals). Filled from the store (store_adapter.hpp) or, for prediction only, a CSV of
// kernel configs.
#include <array>
#include <filesystem>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "nnjoule/common/provenance.hpp"
#include "nnjoule/kernels/kernel.hpp"
#include "nnjoule/predict/features.hpp"

namespace nnjoule::predict {

enum class Target { kEnergy, kLatency, kPower };
inline constexpr std::array<Target, 3> kAllTargets = {Target::kEnergy, Target::kLatency,
                                                      Target::kPower};
std::string_view target_name(Target t);      // "energy_mj", "latency_ms", "power_mw"
std::string_view target_unit(Target t);      // "mJ", "ms", "mW"
Target parse_target(std::string_view name);  // accepts "energy_mj" or "energy", ...

// Per-target values; absent when not measured.
struct Targets {
  std::optional<double> energy_mj, latency_ms, power_mw;
  std::optional<double> get(Target t) const;
  void set(Target t, double v);
};

struct KernelSample {
  std::string id;  // the dataset's id of the sample
  // Kernel key: the canonical type ("conv-bn-relu"), "@int8" added for an int8 kernel
  // (kernels::kernel_key); regressors are trained per key.
  std::string type;
  kernels::KernelConfig config;
  Targets targets;
  Provenance energy_origin;   // where energy / power come from (meter, estimate, dataset)
  Provenance latency_origin;  // where latency comes from
  std::string model;          // model the kernel was measured in; empty for a single-kernel sample
  std::string family;         // that model's family; empty for a single-kernel sample
  long kernel_index = -1;     // the kernel's index in that model's kernel list
  KernelContext context;      // that model's weights; the defaults for a single-kernel sample
};

// What a device's kernel data was measured with: recorded in every predictor bundle.
struct DeviceInfo {
  std::string name;     // "Huawei P40 Pro (Kirin 990 5G)", a host name, ...
  std::string runtime;  // "xnnpack", "tflite-cpu", ...
  int threads = 1;
  std::string meter;  // "rapl:package-0", "estimate", "deepen2023 (imported)", ...
};

struct KernelDataset {
  DeviceInfo device;
  std::string source;  // where the rows were read from (file, database, directory)
  std::vector<KernelSample> samples;
  // Rows of the source not in `samples` for a quality flag ("disturbed", "implausible_power"),
  // by flag: a dataset smaller than the store says why.
  std::map<std::string, int64_t> flagged_left_out;

  // kAuto resolved for these rows: full+model when some were timed inside a model (a bundle
  // trained on kernels run alone has never seen a kernel inside a model: the feature would only
  // flag every model's kernels as out of range), else full; either with +clock when the rows
  // ran at more than one (CPU clock, capacity) (KernelContext). Other sets as they are.
  FeatureSet resolve(FeatureSet set) const;
  // Sorted distinct kernel types.
  std::vector<std::string> types() const;
  // Stable hash of every row (type, config, targets), independent of row order.
  std::string hash() const;
};

// One whole model with its measured totals: the unit "unseen model" evaluation scores.
struct ModelSample {
  std::string name;                      // "resnet18-v3-0"
  std::string family;                    // "resnet18"
  std::vector<kernels::Kernel> kernels;  // detected with the device's fusion rules
  std::vector<kernels::Kernel> unfused;  // every op its own kernel (baseline)
  Targets measured;                      // per target, the median of `repeats`
  std::vector<Targets> repeats;          // every stored measurement of the model, oldest first
  Provenance energy_origin, latency_origin;
  KernelContext where;  // the CPU clock and capacity it ran at (unknown: not recorded)
};

// A batch of kernel configs for prediction: CSV with a header; a `type` (or `kernel`) column,
// an optional `name` (or `id`) column, an optional `dtype` column (fp32 or int8; empty: fp32),
// and nn-Meter config columns (HW, CIN, COUT, KERNEL_SIZE,
// STRIDES, ...). Empty cells leave the key out. Throws Error naming file, line and column.
struct KernelRow {
  std::string name;
  std::string type;  // kernel key: "@int8" added for a row of dtype int8
  kernels::KernelConfig config;
};
std::vector<KernelRow> read_kernel_csv(const std::filesystem::path& path);
std::vector<KernelRow> parse_kernel_csv(std::string_view text, const std::string& source);

}  // namespace nnjoule::predict
