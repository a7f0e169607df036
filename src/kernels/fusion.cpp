#include "nnjoule/kernels/fusion.hpp"

#include <fmt/format.h>

#include <nlohmann/json.hpp>

#include "nnjoule/common/error.hpp"
#include "nnjoule/common/io.hpp"
#include "nnjoule/common/json.hpp"

namespace nnjoule::kernels {

FusionRules FusionRules::xnnpack_default() {
  FusionRules r;
  r.source_ = "built-in (XNNPACK / TFLite CPU)";
  // Batch-norm folds into the weights of the conv before it.
  for (const char* conv : {"conv", "dwconv", "convtrans"}) {
    r.rules_[fmt::format("BF_{}_bn", conv)] = true;
    r.rules_[fmt::format("BF_{}_relu", conv)] = true;
    r.rules_[fmt::format("BF_{}_bn_relu", conv)] = true;
    // XNNPACK has no fused h-swish output: it runs as its own operator.
    r.rules_[fmt::format("BF_{}_hswish", conv)] = false;
    r.rules_[fmt::format("BF_{}_add", conv)] = false;
    r.rules_[fmt::format("BF_{}_pooling", conv)] = false;
  }
  // ReLU / ReLU6 / clamps are output clamps of fully connected, add and a standalone batch-norm
  // (a per-channel scale-shift).
  r.rules_["BF_bn_relu"] = true;
  r.rules_["BF_dense_relu"] = true;
  r.rules_["BF_add_relu"] = true;
  r.rules_["BF_pooling_relu"] = false;
  r.rules_["BF_relu_relu"] = false;
  r.rules_["BF_dense_dense"] = false;
  r.rules_["BF_add_add"] = false;
  r.rules_["BF_concat_concat"] = false;
  r.rules_["BF_reshape_dense"] = false;
  r.rules_["BF_se_relu"] = false;
  return r;
}

FusionRules FusionRules::from_file(const std::filesystem::path& path) {
  return from_json(read_file(path), path.string());
}

FusionRules FusionRules::from_json(std::string_view text, const std::string& source) {
  const nlohmann::json j =
      parse_json(text, source, "fusion rules must be nn-Meter's fusion_rules.json format");
  if (!j.is_object())
    fail("{}: fusion rules must be a JSON object of \"BF_<a>_<b>\" entries", source);
  FusionRules r;
  r.source_ = source;
  for (const auto& [key, value] : j.items()) {
    if (key.rfind("BF_", 0) != 0) continue;  // nn-Meter's other rule kinds (RT, MON, RBC, CBC)
    if (key.size() < 6 || key.find('_', 3) == std::string::npos) {
      fail("{}: rule '{}' must name two ops, as in BF_conv_bn", source, key);
    }
    if (!value.is_object())
      fail("{}: rule '{}' must be an object with an \"obey\" field", source, key);
    auto it = value.find("obey");
    if (it == value.end()) fail("{}: rule '{}' has no \"obey\" field", source, key);
    if (it->is_null()) {
      r.rules_[key] = false;  // undetermined in nn-Meter: not fused
    } else if (it->is_boolean()) {
      r.rules_[key] = it->get<bool>();
    } else {
      fail("{}: rule '{}': \"obey\" must be true, false or null, got {}", source, key, it->dump());
    }
  }
  if (r.rules_.empty()) fail("{}: no \"BF_<a>_<b>\" fusion rules found", source);
  return r;
}

std::string FusionRules::rule_name(const std::string& c) {
  if (c == "relu6" || c == "clip" || c == "leakyrelu") return "relu";
  if (c == "maxpool" || c == "avgpool") return "pooling";
  if (c == "fc") return "dense";
  return c;
}

bool FusionRules::fuses(const std::vector<std::string>& ops, const std::string& next) const {
  if (ops.empty()) return false;
  const std::string b = rule_name(next);
  if (ops.size() > 1) {
    std::string full = "BF";
    for (const auto& o : ops) full += "_" + rule_name(o);
    full += "_" + b;
    if (auto it = rules_.find(full); it != rules_.end()) return it->second;
  }
  auto pair = rules_.find("BF_" + rule_name(ops.back()) + "_" + b);
  if (pair == rules_.end() || !pair->second) return false;
  // The head of the kernel must accept the op too (conv-bn + relu needs conv + relu).
  const std::string head = rule_name(ops.front());
  if (ops.size() > 1 && head != rule_name(ops.back())) {
    auto h = rules_.find("BF_" + head + "_" + b);
    if (h != rules_.end() && !h->second) return false;
  }
  return true;
}

std::string FusionRules::to_json() const {
  nlohmann::json j = nlohmann::json::object();
  for (const auto& [k, v] : rules_) j[k] = {{"obey", v}};
  return j.dump(2);
}

}  // namespace nnjoule::kernels
