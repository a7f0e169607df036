#pragma once
// What `nnjoule meters` shows: every meter family, what was found with its probed statistics,
// and what was not and why.
#include <nlohmann/json.hpp>

#include <optional>
#include <string>
#include <vector>

#include "nnjoule/meter/sampler.hpp"

namespace nnjoule::meter {

// stats[i] belongs to findings[i] (nullopt where nothing was found to probe).
nlohmann::json meters_json(const std::vector<Finding>& findings,
                           const std::vector<std::optional<MeterStats>>& stats, double probe_s);
std::string format_meters(const std::vector<Finding>& findings,
                          const std::vector<std::optional<MeterStats>>& stats, double probe_s);

}  // namespace nnjoule::meter
