#include "nnjoule/zoo/kernel_models.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <functional>

#include "net.hpp"
#include "nnjoule/common/error.hpp"
#include "nnjoule/graph/builder.hpp"

namespace nnjoule::zoo {
namespace {

using graph::GraphBuilder;

// Config lookups that name the kernel type and the key in every error. Uses only the inline
// part of KernelConfig so the zoo does not depend on the kernels stage's implementation.
class Config {
 public:
  Config(const std::string& type, const kernels::KernelConfig& c) : type_(type), c_(c) {}
  bool has(const std::string& key) const {
    for (const auto& [k, v] : c_.items())
      if (k == key) return true;
    return false;
  }
  int64_t raw(const std::string& key) const {
    for (const auto& [k, v] : c_.items())
      if (k == key) return v;
    fail("kernel '{}': config key {} is missing", type_, key);
  }
  int64_t positive(const std::string& key) const {
    const int64_t v = raw(key);
    if (v <= 0) fail("kernel '{}': config {}={} must be positive", type_, key, v);
    return v;
  }
  int64_t positive_or(const std::string& key, int64_t fallback) const {
    return has(key) ? positive(key) : fallback;
  }
  [[noreturn]] void invalid(const std::string& key, const std::string& why) const {
    fail("kernel '{}': config {}={} {}", type_, key, raw(key), why);
  }
  const std::string& type() const { return type_; }

 private:
  const std::string& type_;
  const kernels::KernelConfig& c_;
};

using Outputs = std::vector<std::string>;

// DenseNet-201's last block concatenates 49 tensors; 64 leaves room.
constexpr int kMaxConcatInputs = 64;
using Build = std::function<Outputs(GraphBuilder&, const Config&)>;

struct Def {
  KernelModelType type;
  Build build;
};

std::string image_input(GraphBuilder& b, const Config& c, const std::string& name,
                        const std::string& channels_key = "CIN") {
  const int64_t hw = c.positive("HW");
  return b.input(name, {1, c.positive(channels_key), hw, hw});
}

// Applies "-bn", "-relu", "-relu6", "-hswish" suffixes in order.
std::string suffixes(GraphBuilder& b, std::string x, const std::vector<std::string>& parts) {
  for (const auto& p : parts) {
    if (p == "bn")
      x = b.bn(x);
    else if (p == "relu")
      x = b.relu(x);
    else if (p == "relu6")
      x = b.relu6(x);
    else if (p == "hswish")
      x = b.hswish(x);
    else
      fail("kernel suffix '{}' is not known", p);
  }
  return x;
}

std::vector<std::string> split_type(const std::string& type) {
  std::vector<std::string> parts;
  size_t start = 0;
  while (true) {
    const size_t dash = type.find('-', start);
    parts.push_back(
        type.substr(start, dash == std::string::npos ? std::string::npos : dash - start));
    if (dash == std::string::npos) break;
    start = dash + 1;
  }
  return parts;
}

int64_t stride_of(const Config& c, const std::string& key) {
  const int64_t s = c.positive(key);
  if (s > c.positive("HW")) c.invalid(key, "exceeds HW");
  return s;
}

Outputs conv_kernel(GraphBuilder& b, const Config& c) {
  const auto parts = split_type(c.type());
  const std::vector<std::string> post(parts.begin() + 1, parts.end());
  const bool has_bn = !post.empty() && post.front() == "bn";
  auto x = image_input(b, c, "input");
  const int64_t cin = c.positive("CIN"), cout = c.positive("COUT");
  const int64_t k = c.positive("KERNEL_SIZE");
  const int64_t groups = c.positive_or("GROUPS", 1);
  if (cin % groups != 0 || cout % groups != 0) {
    c.invalid("GROUPS", fmt::format("does not divide CIN={} and COUT={}", cin, cout));
  }
  x = b.conv(
      x, cout, k,
      graph::ConvOptions{.stride = stride_of(c, "STRIDES"), .groups = groups, .bias = !has_bn});
  return {suffixes(b, x, post)};
}

Outputs dwconv_kernel(GraphBuilder& b, const Config& c) {
  const auto parts = split_type(c.type());
  const std::vector<std::string> post(parts.begin() + 1, parts.end());
  const bool has_bn = !post.empty() && post.front() == "bn";
  auto x = image_input(b, c, "input");
  const int64_t cin = c.positive("CIN");
  x = b.conv(x, cin, c.positive("KERNEL_SIZE"),
             graph::ConvOptions{.stride = stride_of(c, "STRIDES"), .groups = cin, .bias = !has_bn});
  return {suffixes(b, x, post)};
}

Outputs convtrans_kernel(GraphBuilder& b, const Config& c) {
  const auto parts = split_type(c.type());
  const std::vector<std::string> post(parts.begin() + 1, parts.end());
  const bool has_bn = !post.empty() && post.front() == "bn";
  auto x = image_input(b, c, "input");
  const int64_t k = c.positive("KERNEL_SIZE");
  const int64_t s = c.positive("STRIDES");
  // Output side HW * STRIDES, as a learned upsampling layer makes it: padding (k - s + 1) / 2
  // and the remainder as output padding (which must stay below the stride).
  const int64_t total = k - s;  // 2 * pad - output_padding
  const int64_t pad = std::max<int64_t>(0, (total + 1) / 2);
  const int64_t out_pad = 2 * pad - total;
  if (out_pad >= s && out_pad > 0) {
    c.invalid("KERNEL_SIZE",
              fmt::format("with STRIDES={} cannot give an output of HW * STRIDES", s));
  }
  x = b.conv_transpose(x, c.positive("COUT"), k, s, pad, out_pad, !has_bn);
  return {suffixes(b, x, post)};
}

Outputs fc_kernel(GraphBuilder& b, const Config& c) {
  auto x = b.input("input", {1, c.positive("CIN")});
  x = b.fc(x, c.positive("COUT"));
  return {c.type() == "fc-relu" ? b.relu(x) : x};
}

Outputs pool_kernel(GraphBuilder& b, const Config& c) {
  auto x = image_input(b, c, "input");
  const int64_t k = c.positive("KERNEL_SIZE");
  if (k > c.positive("HW")) c.invalid("KERNEL_SIZE", "exceeds HW");
  const int64_t s = stride_of(c, "POOL_STRIDES");
  // "same"-style padding as nn-Meter's pool kernels use.
  const int64_t pad = (k - 1) / 2;
  return {c.type() == "maxpool" ? b.maxpool(x, k, s, pad) : b.avgpool(x, k, s, pad)};
}

Outputs unary_kernel(GraphBuilder& b, const Config& c) {
  auto x = image_input(b, c, "input");
  const std::string& t = c.type();
  if (t == "global-avgpool") return {b.global_avgpool(x)};
  if (t == "bn") return {b.bn(x)};
  if (t == "bn-relu") return {b.relu(b.bn(x))};
  if (t == "relu") return {b.relu(x)};
  if (t == "relu6") return {b.relu6(x)};
  if (t == "hswish") return {b.hswish(x)};
  if (t == "hsigmoid") return {b.hsigmoid(x)};
  if (t == "sigmoid") return {b.sigmoid(x)};
  if (t == "swish") return {b.mul(x, b.sigmoid(x))};
  if (t == "clip") return {b.clip(x, -1.f, 1.f)};
  if (t == "tanh") return {b.tanh(x)};
  if (t == "leakyrelu") return {b.activation(x, "leakyrelu")};
  if (t == "softmax") return {b.softmax(x, 1)};
  if (t == "identity") return {b.node("Identity", {x})[0]};
  const int64_t hw = c.positive("HW"), cin = c.positive("CIN");
  // Every second row and column, as a space-to-depth "focus" layer slices.
  if (t == "slice") return {b.slice(x, {2, 3}, {0, 0}, {hw, hw}, {2, 2})};
  if (t == "reshape") return {b.reshape(x, {1, cin, hw * hw})};
  if (t == "transpose") return {b.transpose(x, {0, 2, 3, 1})};  // NCHW -> NHWC
  if (t == "pad") return {b.pad(x, {0, 0, 1, 1, 0, 0, 1, 1})};
  // torchvision's x.mean([2, 3]) (keepdims 0; with keepdims it is a global average pool).
  // Over channels: a mean over H and W is a global-avgpool kernel.
  if (t == "reducemean") return {b.reduce_mean(x, {1}, true)};
  if (t == "gather") {
    // A channel permutation (reversed order): Gather along channels with constant indices.
    std::vector<int64_t> idx(static_cast<size_t>(cin));
    for (int64_t i = 0; i < cin; ++i) idx[static_cast<size_t>(i)] = cin - 1 - i;
    return {b.gather(x, b.constant_ints({cin}, idx, "indices"), 1)};
  }
  fail("kernel '{}' is not a unary kernel", t);
}

Outputs binary_kernel(GraphBuilder& b, const Config& c) {
  auto x = image_input(b, c, "input_0");
  auto y = image_input(b, c, "input_1");
  const std::string& t = c.type();
  if (t == "add") return {b.add(x, y)};
  if (t == "add-relu") return {b.relu(b.add(x, y))};
  if (t == "sub") return {b.sub(x, y)};
  if (t == "div") return {b.div(x, y)};
  return {b.mul(x, y)};
}

Outputs resize_kernel(GraphBuilder& b, const Config& c) {
  auto x = image_input(b, c, "input");
  const auto scale = static_cast<float>(c.positive("SCALE"));
  return {b.resize(x, {1.f, 1.f, scale, scale}, "nearest")};
}

Outputs matmul_kernel(GraphBuilder& b, const Config& c) {
  const int64_t m = c.positive("M"), k = c.positive("K"), n = c.positive("N");
  graph::Shape a = {m, k}, w = {k, n};
  if (c.has("BATCH")) {
    const int64_t batch = c.positive("BATCH");
    a.insert(a.begin(), batch);
    w.insert(w.begin(), batch);
  }
  // Both operands at run time (attention scores): with a constant 2-D weight it would be fc.
  return {b.matmul(b.input("input_0", a), b.input("input_1", w))};
}

Outputs se_kernel(GraphBuilder& b, const Config& c) {
  auto x = image_input(b, c, "input");
  const int64_t mid = c.positive_or("CMID", std::max<int64_t>(1, c.positive("CIN") / 4));
  return {b.se(x, mid, "hsigmoid")};
}

// 1..kMaxConcatInputs inputs CIN1, CIN2, ... (a zero or an absent key ends the list, as in
// DeepEn2023's zero-filled configs; a later key after the end is an error).
Outputs concat_kernel(GraphBuilder& b, const Config& c) {
  const int64_t hw = c.positive("HW");
  const int64_t width = c.positive_or("WIDTH", hw);
  std::vector<std::string> ins;
  bool ended = false;
  for (int i = 1; i <= kMaxConcatInputs; ++i) {
    const std::string key = fmt::format("CIN{}", i);
    if (!c.has(key) || c.raw(key) == 0) {
      ended = true;
      continue;
    }
    if (ended) c.invalid(key, fmt::format("follows CIN{} which is absent", ins.size() + 1));
    const int64_t ch = c.positive(key);
    ins.push_back(b.input(fmt::format("input_{}", ins.size()), {1, ch, hw, width}));
  }
  if (c.has("NS") && c.raw("NS") != static_cast<int64_t>(ins.size())) {
    c.invalid("NS", fmt::format("differs from the {} inputs CIN1, CIN2, ... give", ins.size()));
  }
  return {b.concat(ins)};
}

Outputs split_kernel(GraphBuilder& b, const Config& c) {
  auto x = image_input(b, c, "input");
  const int64_t cin = c.positive("CIN");
  const int64_t parts = c.positive_or("NS", 2);
  if (parts < 2) c.invalid("NS", "must be at least 2");
  if (cin % parts != 0) c.invalid("CIN", fmt::format("does not split into {} equal parts", parts));
  return b.split(x, std::vector<int64_t>(static_cast<size_t>(parts), cin / parts));
}

Outputs shuffle_kernel(GraphBuilder& b, const Config& c) {
  auto x = image_input(b, c, "input");
  const int64_t groups = c.positive_or("GROUPS", 2);
  if (c.positive("CIN") % groups != 0) c.invalid("GROUPS", "does not divide CIN");
  return {b.channel_shuffle(x, groups)};
}

const std::vector<Def>& defs() {
  static const std::vector<Def> d = [] {
    std::vector<Def> v;
    const std::vector<std::string> conv_keys = {"HW", "CIN", "COUT", "KERNEL_SIZE", "STRIDES"};
    const std::vector<std::string> dw_keys = {"HW", "CIN", "KERNEL_SIZE", "STRIDES"};
    const std::vector<std::string> suffix_list = {"",    "-relu",    "-relu6",    "-hswish",
                                                  "-bn", "-bn-relu", "-bn-relu6", "-bn-hswish"};
    for (const auto& s : suffix_list)
      v.push_back({{"conv" + s, conv_keys, {"GROUPS"}}, conv_kernel});
    for (const auto& s : suffix_list) v.push_back({{"dwconv" + s, dw_keys, {}}, dwconv_kernel});
    for (const char* t : {"convtrans", "convtrans-relu", "convtrans-bn-relu"})
      v.push_back({{t, conv_keys, {}}, convtrans_kernel});
    v.push_back({{"fc", {"CIN", "COUT"}, {}}, fc_kernel});
    v.push_back({{"fc-relu", {"CIN", "COUT"}, {}}, fc_kernel});
    for (const char* t : {"maxpool", "avgpool"})
      v.push_back({{t, {"HW", "CIN", "KERNEL_SIZE", "POOL_STRIDES"}, {}}, pool_kernel});
    v.push_back({{"global-avgpool", {"HW", "CIN"}, {}}, unary_kernel});
    for (const char* t : {"add", "add-relu", "mul", "sub", "div"})
      v.push_back({{t, {"HW", "CIN"}, {}}, binary_kernel});
    for (const char* t : {"bn", "bn-relu", "relu", "relu6", "clip", "hswish", "hsigmoid", "sigmoid",
                          "swish", "tanh", "leakyrelu", "softmax"})
      v.push_back({{t, {"HW", "CIN"}, {}}, unary_kernel});
    v.push_back({{"se", {"HW", "CIN"}, {"CMID"}}, se_kernel});
    v.push_back({{"channelshuffle", {"HW", "CIN"}, {"GROUPS"}}, shuffle_kernel});
    std::vector<std::string> concat_optional = {"NS", "WIDTH"};
    for (int i = 2; i <= kMaxConcatInputs; ++i) concat_optional.push_back(fmt::format("CIN{}", i));
    v.push_back({{"concat", {"HW", "CIN1"}, concat_optional}, concat_kernel});
    v.push_back({{"split", {"HW", "CIN"}, {"NS"}}, split_kernel});
    for (const char* t :
         {"slice", "reshape", "transpose", "pad", "reducemean", "gather", "identity"})
      v.push_back({{t, {"HW", "CIN"}, {}}, unary_kernel});
    v.push_back({{"resize", {"HW", "CIN", "SCALE"}, {}}, resize_kernel});
    v.push_back({{"matmul", {"M", "K", "N"}, {"BATCH"}}, matmul_kernel});
    return v;
  }();
  return d;
}

}  // namespace

const std::vector<KernelModelType>& kernel_model_types() {
  static const std::vector<KernelModelType> t = [] {
    std::vector<KernelModelType> v;
    for (const auto& d : defs()) v.push_back(d.type);
    return v;
  }();
  return t;
}

graph::Graph build_kernel_model(const std::string& type, const kernels::KernelConfig& config,
                                uint64_t seed, bool materialize_weights) {
  const Def* def = nullptr;
  for (const auto& d : defs())
    if (d.type.name == type) def = &d;
  if (!def) {
    std::vector<std::string> names;
    for (const auto& d : defs()) names.push_back(d.type.name);
    fail("unknown kernel type '{}' (known: {})", type, fmt::join(names, ", "));
  }
  std::vector<std::string> seen;
  for (const auto& [key, value] : config.items()) {
    const auto& req = def->type.required;
    const auto& opt = def->type.optional;
    if (std::find(req.begin(), req.end(), key) == req.end() &&
        std::find(opt.begin(), opt.end(), key) == opt.end()) {
      std::vector<std::string> accepted = req;
      accepted.insert(accepted.end(), opt.begin(), opt.end());
      fail("kernel '{}': unknown config key {} (accepted: {})", type, key,
           fmt::join(accepted, ", "));
    }
    if (std::find(seen.begin(), seen.end(), key) != seen.end()) {
      fail("kernel '{}': config key {} is given twice", type, key);
    }
    seen.push_back(key);
  }
  const Config c(type, config);
  for (const auto& key : def->type.required) c.raw(key);  // names the first missing key

  std::string name = type;
  for (const auto& [key, value] : config.items()) name += fmt::format("_{}{}", key, value);
  GraphBuilder b(name, seed, materialize_weights);
  const Outputs outs =
      with_context(fmt::format("kernel '{}'", type), [&] { return def->build(b, c); });
  graph::Graph g = b.finish(outs);
  for (size_t i = 0; i < outs.size(); ++i) {
    detail::rename_tensor(g, outs[i], outs.size() == 1 ? "output" : fmt::format("output_{}", i));
  }
  return g;
}

}  // namespace nnjoule::zoo
