#pragma once
// A kernel is the unit edge runtimes schedule: one or more graph nodes fused into one operator
// (conv + batch-norm + relu runs as one). Names follow nn-Meter / DeepEn2023.
#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "nnjoule/graph/graph.hpp"

namespace nnjoule::kernels {

// Config parameters in nn-Meter's names (HW, CIN, COUT, KERNEL_SIZE, STRIDES, POOL_STRIDES,
// CIN1..CIN4, GROUPS, ...), in the order the catalogue lists them.
class KernelConfig {
 public:
  KernelConfig() = default;
  KernelConfig(std::initializer_list<std::pair<std::string, int64_t>> items) : items_(items) {}
  bool has(std::string_view key) const;
  int64_t get(std::string_view key) const;  // throws Error naming the key when absent
  int64_t get_or(std::string_view key, int64_t fallback) const;
  void set(const std::string& key, int64_t value);
  const std::vector<std::pair<std::string, int64_t>>& items() const { return items_; }
  std::string str() const;  // "HW=56 CIN=64 COUT=128 KERNEL_SIZE=3 STRIDES=1"
  bool operator==(const KernelConfig& o) const = default;

 private:
  std::vector<std::pair<std::string, int64_t>> items_;
};

inline constexpr const char* kFp32 = "fp32";
inline constexpr const char* kInt8 = "int8";

struct Kernel {
  std::string type;                         // catalogue name, or "unknown:<OpType>"
  std::string name;                         // name of the kernel's first node
  std::vector<std::string> ops;             // op classes fused, in order: {"conv", "bn", "relu"}
  std::vector<size_t> nodes;                // indices into Graph::nodes, topological order
  std::vector<std::string> inputs;          // runtime tensors entering from outside the kernel
  std::vector<std::string> outputs;         // tensors leaving the kernel
  std::vector<graph::Shape> input_shapes;   // NCHW
  std::vector<graph::Shape> output_shapes;  // NCHW
  KernelConfig config;
  double flops = 0;  // floating-point operations (a multiply-add counts 2)
  int64_t params =
      0;  // weight values read by the kernel (float32, or int8 behind a DequantizeLinear)
  int64_t bytes = 0;  // memory moved: runtime inputs + outputs + weights, at their stored types
  // "int8" when the kernel's main op reads an activation through DequantizeLinear of a runtime
  // int8/uint8 tensor and every output leaves through QuantizeLinear (the engine runs it as
  // one XNNPACK int8 operator); "fp32" otherwise. Part of the kernel's key for prediction.
  std::string dtype = kFp32;

  bool unknown() const { return type.rfind("unknown:", 0) == 0; }
};

// What the catalogue knows of a kernel type.
struct KernelType {
  std::string name;                      // "conv-bn-relu"
  std::string group;                     // "conv", "dwconv", "fc", "pool", "elementwise", ...
  std::vector<std::string> config_keys;  // required config keys, in order
  std::string description;
};

// The key a kernel is measured and predicted under: its type, with "@<dtype>" for a data type
// other than fp32 ("conv-relu@int8"). An fp32 kernel's key is its bare type, so datasets and
// predictor bundles written before dtypes read as fp32. The quantize / dequantize kernels at a
// quantized model's float edges (dtype fp32) are keyed int8: they exist only in int8 models.
std::string kernel_key(std::string_view type, std::string_view dtype);
std::string_view key_type(std::string_view key);  // "conv-relu@int8" -> "conv-relu"
std::string key_dtype(std::string_view key);      // "conv-relu@int8" -> "int8", "conv" -> "fp32"
inline std::string kernel_key(const Kernel& k) {
  return kernel_key(k.type, k.dtype);
}

const std::vector<KernelType>& catalogue();
const KernelType* find_kernel_type(std::string_view name);  // nullptr when not catalogued
// Maps other tools' spellings onto ours: "addrelu" -> "add-relu", "bnrelu" -> "bn-relu",
// "conv-block" -> "conv", "dwconv-block" -> "dwconv", "channel-shuffle" -> "channelshuffle".
std::string canonical_kernel_type(std::string_view name);

}  // namespace nnjoule::kernels
