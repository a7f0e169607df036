#pragma once
// Helpers shared by the files of the predictor bundle (bundle.cpp: the bundle on disk;
// bundle_train.cpp, bundle_predict.cpp, bundle_render.cpp), private to src/predict.
#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>

#include "nnjoule/common/table.hpp"
#include "nnjoule/predict/bundle.hpp"

namespace nnjoule::predict::detail {

// A kernel key: a type name, with "@int8" for an int8 kernel (kernels::kernel_key).
inline bool valid_type_name(const std::string& key) {
  const size_t at = key.find('@');
  const std::string t = key.substr(0, at);
  if (at != std::string::npos && key.substr(at + 1) != "int8") return false;
  if (t.empty() || t.size() > 64) return false;
  return std::all_of(t.begin(), t.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '_';
  });
}

inline std::string model_file(const std::string& type, Target t) {
  return fmt::format("{}.{}.json", type, target_name(t));
}

inline nlohmann::json opt_json(const std::optional<double>& v) {
  return v ? nlohmann::json(*v) : nlohmann::json(nullptr);
}

// A feature value as a config reads: whole numbers without decimals (HW=300, not 300.0).
inline std::string fmt_feature(double v) {
  if (std::isfinite(v) && v == std::floor(v) && std::fabs(v) < 1e15)
    return fmt::format("{:.0f}", v);
  return format_number(v);
}

}  // namespace nnjoule::predict::detail
