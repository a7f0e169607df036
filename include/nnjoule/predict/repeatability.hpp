#pragma once
// How well a device's measurements agree with themselves: every model measured more than once
// (nnjoule collect models --repeat N), each measurement against its model's median. No
// predictor can be judged more accurate than this; it is printed beside accuracy tables.
#include <nlohmann/json.hpp>

#include <optional>
#include <string>
#include <vector>

#include "nnjoule/predict/dataset.hpp"

namespace nnjoule::predict {

struct RepeatabilityShare {
  size_t measurements = 0;  // of models with at least two
  size_t within5 = 0;       // |x / median - 1| <= 5%
  size_t within10 = 0;      // <= 10%
  double share5() const { return measurements ? double(within5) / measurements : 0; }
  double share10() const { return measurements ? double(within10) / measurements : 0; }
};

struct RepeatabilityRow {
  std::string model, family;
  size_t n = 0;              // measurements
  double median = 0;         // of the target's measurements
  double max_deviation = 0;  // largest |x / median - 1|
};

struct RepeatabilityResult {
  std::vector<std::string> targets;                 // "latency_ms", "energy_mj"
  std::vector<RepeatabilityShare> overall;          // per target
  std::vector<std::vector<RepeatabilityRow>> rows;  // per target, per repeated model
  size_t models = 0, repeated_models = 0;
  std::string energy_origin;  // "measured (rapl)", "estimated (cpu-time model)"
};

RepeatabilityResult evaluate_repeatability(const std::vector<ModelSample>& models);
nlohmann::json to_json(const RepeatabilityResult& r);
std::string render_table(const RepeatabilityResult& r);
// One line for beside an accuracy table; empty when no model was measured twice.
std::string ceiling_line(const RepeatabilityResult& r);

}  // namespace nnjoule::predict
