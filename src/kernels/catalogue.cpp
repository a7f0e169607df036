#include <fmt/format.h>

#include <algorithm>
#include <cctype>

#include "nnjoule/common/error.hpp"
#include "nnjoule/kernels/kernel.hpp"

namespace nnjoule::kernels {

bool KernelConfig::has(std::string_view key) const {
  return std::any_of(items_.begin(), items_.end(), [&](auto& kv) { return kv.first == key; });
}

int64_t KernelConfig::get(std::string_view key) const {
  for (const auto& [k, v] : items_)
    if (k == key) return v;
  fail("kernel config has no '{}' (has: {})", key, str());
}

int64_t KernelConfig::get_or(std::string_view key, int64_t fallback) const {
  for (const auto& [k, v] : items_)
    if (k == key) return v;
  return fallback;
}

void KernelConfig::set(const std::string& key, int64_t value) {
  for (auto& [k, v] : items_) {
    if (k == key) {
      v = value;
      return;
    }
  }
  items_.emplace_back(key, value);
}

std::string KernelConfig::str() const {
  std::string s;
  for (const auto& [k, v] : items_) {
    if (!s.empty()) s += ' ';
    s += fmt::format("{}={}", k, v);
  }
  return s;
}

namespace {
std::vector<KernelType> make_catalogue() {
  const std::vector<std::string> conv_keys = {"HW", "CIN", "COUT", "KERNEL_SIZE", "STRIDES"};
  const std::vector<std::string> dw_keys = {"HW", "CIN", "KERNEL_SIZE", "STRIDES"};
  const std::vector<std::string> pool_keys = {"HW", "CIN", "KERNEL_SIZE", "POOL_STRIDES"};
  const std::vector<std::string> hw_cin = {"HW", "CIN"};
  std::vector<KernelType> c;
  const char* suffixes[][2] = {{"", ""},
                               {"-relu", " + ReLU"},
                               {"-relu6", " + ReLU6"},
                               {"-hswish", " + h-swish"},
                               {"-bn", " + batch-norm"},
                               {"-bn-relu", " + batch-norm + ReLU"},
                               {"-bn-relu6", " + batch-norm + ReLU6"},
                               {"-bn-hswish", " + batch-norm + h-swish"}};
  for (auto& s : suffixes) {
    c.push_back(
        {std::string("conv") + s[0], "conv", conv_keys, std::string("2-D convolution") + s[1]});
  }
  for (auto& s : suffixes) {
    c.push_back({std::string("dwconv") + s[0], "dwconv", dw_keys,
                 std::string("depthwise convolution") + s[1]});
  }
  c.push_back({"convtrans", "convtrans", conv_keys, "transposed convolution"});
  c.push_back({"convtrans-relu", "convtrans", conv_keys, "transposed convolution + ReLU"});
  c.push_back(
      {"convtrans-bn-relu", "convtrans", conv_keys, "transposed convolution + batch-norm + ReLU"});
  c.push_back({"fc", "fc", {"CIN", "COUT"}, "fully connected (Gemm / MatMul with weights)"});
  c.push_back({"fc-relu", "fc", {"CIN", "COUT"}, "fully connected + ReLU"});
  c.push_back({"maxpool", "pool", pool_keys, "max pooling"});
  c.push_back({"avgpool", "pool", pool_keys, "average pooling"});
  c.push_back({"global-avgpool", "pool", hw_cin, "global average pooling"});
  c.push_back({"add", "elementwise", hw_cin, "element-wise addition (residual)"});
  c.push_back({"add-relu", "elementwise", hw_cin, "element-wise addition + ReLU"});
  c.push_back({"mul", "elementwise", hw_cin, "element-wise multiplication"});
  c.push_back({"sub", "elementwise", hw_cin, "element-wise subtraction"});
  c.push_back({"div", "elementwise", hw_cin, "element-wise division"});
  c.push_back({"bn", "elementwise", hw_cin, "standalone batch-norm (scale and shift)"});
  c.push_back({"bn-relu", "elementwise", hw_cin, "batch-norm + ReLU (pre-activation)"});
  c.push_back({"relu", "activation", hw_cin, "ReLU"});
  c.push_back({"relu6", "activation", hw_cin, "ReLU6"});
  c.push_back({"clip", "activation", hw_cin, "clamp to a range"});
  c.push_back({"hswish", "activation", hw_cin, "h-swish (HardSwish op or x*relu6(x+3)/6)"});
  c.push_back({"hsigmoid", "activation", hw_cin, "h-sigmoid"});
  c.push_back({"sigmoid", "activation", hw_cin, "sigmoid"});
  c.push_back({"swish", "activation", hw_cin, "swish / SiLU (x * sigmoid(x))"});
  c.push_back({"tanh", "activation", hw_cin, "tanh"});
  c.push_back({"leakyrelu", "activation", hw_cin, "leaky ReLU"});
  c.push_back({"se", "block", hw_cin,
               "squeeze-and-excitation: global pool, two 1x1 convs, gate, multiply (CMID: "
               "bottleneck channels)"});
  c.push_back(
      {"channelshuffle", "data", hw_cin, "channel shuffle (reshape-transpose-reshape; GROUPS)"});
  c.push_back({"concat",
               "data",
               {"HW", "CIN1", "CIN2"},
               "concatenation along channels (CIN1..CINn, NS inputs)"});
  c.push_back({"split", "data", hw_cin, "split along channels (NS outputs)"});
  c.push_back({"slice", "data", hw_cin, "strided slice"});
  c.push_back({"reshape", "data", hw_cin, "reshape / flatten"});
  c.push_back({"transpose", "data", hw_cin, "transpose"});
  c.push_back({"pad", "data", hw_cin, "constant padding"});
  c.push_back({"resize", "data", hw_cin, "resize / upsample (SCALE)"});
  c.push_back({"softmax", "activation", hw_cin, "softmax"});
  c.push_back({"matmul", "fc", {"M", "K", "N"}, "matrix product of two activations"});
  c.push_back({"reducemean", "pool", hw_cin, "mean over axes"});
  c.push_back({"gather", "data", hw_cin, "table lookup (embeddings)"});
  c.push_back({"identity", "data", hw_cin, "identity kept to name a graph output"});
  return c;
}
}  // namespace

const std::vector<KernelType>& catalogue() {
  static const std::vector<KernelType> c = make_catalogue();
  return c;
}

std::string kernel_key(std::string_view type, std::string_view dtype) {
  // The conversions at a quantized model's float edges exist only in int8 models and run as
  // part of int8 execution: they are predicted with int8 data, whatever their own dtype.
  if (type == "quantize" || type == "dequantize") dtype = kInt8;
  if (dtype.empty() || dtype == kFp32) return std::string(type);
  return fmt::format("{}@{}", type, dtype);
}

std::string_view key_type(std::string_view key) {
  return key.substr(0, key.find('@'));
}

std::string key_dtype(std::string_view key) {
  const size_t at = key.find('@');
  return at == std::string_view::npos ? std::string(kFp32) : std::string(key.substr(at + 1));
}

const KernelType* find_kernel_type(std::string_view name) {
  for (const auto& t : catalogue())
    if (t.name == name) return &t;
  return nullptr;
}

std::string canonical_kernel_type(std::string_view name) {
  std::string s(name);
  std::transform(s.begin(), s.end(), s.begin(),
                 [](unsigned char ch) { return static_cast<char>(std::tolower(ch)); });
  static const std::pair<const char*, const char*> aliases[] = {
      {"addrelu", "add-relu"},
      {"bnrelu", "bn-relu"},
      {"conv-block", "conv"},
      {"dwconv-block", "dwconv"},
      {"channel-shuffle", "channelshuffle"},
      {"channel_shuffle", "channelshuffle"},
      {"se-block", "se"},
      {"maxpool-block", "maxpool"},
      {"avgpool-block", "avgpool"},
      {"fc-block", "fc"},
      {"concat-block", "concat"},
      {"split-block", "split"},
      {"global-avgpool-block", "global-avgpool"},
      {"gap", "global-avgpool"},
      {"bnrelu-block", "bn-relu"},
      {"bn-block", "bn"},
      {"hswish-block", "hswish"},
      {"relu-block", "relu"},
      {"add-block", "add"},
      {"dense", "fc"}};
  for (const auto& [from, to] : aliases)
    if (s == from) return to;
  return s;
}

}  // namespace nnjoule::kernels
