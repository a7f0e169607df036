#pragma once
// What `nnjoule meters` shows: every meter family, what was found with its probed statistics,
// and what was not and why.
#include <nlohmann/json.hpp>

#include <optional>
#include <string>
#include <vector>

#include "nnjoule/meter/discovery.hpp"
#include "nnjoule/meter/sampler.hpp"

namespace nnjoule::meter {

// Every meter found, each live one probed for its update period and resolution.
struct MeterSurvey {
  std::vector<Finding> findings;
  std::vector<std::optional<MeterStats>> stats;  // stats[i] belongs to findings[i]
  double probe_s = 0;
};
// Probes for `probe_s`, by default 0.5 s, 5 s with a battery gauge (they update about once a
// second or slower).
MeterSurvey survey_meters(const DiscoverOptions& options,
                          std::optional<double> probe_s = std::nullopt);
nlohmann::json to_json(const MeterSurvey& s);
std::string format_meters(const MeterSurvey& s);

// stats[i] belongs to findings[i] (nullopt where nothing was found to probe).
nlohmann::json meters_json(const std::vector<Finding>& findings,
                           const std::vector<std::optional<MeterStats>>& stats, double probe_s);
// One energy window: the primary meter's energy, power and provenance at the top, then every
// meter and domain.
nlohmann::json to_json(const EnergyWindow& w);
std::string format_meters(const std::vector<Finding>& findings,
                          const std::vector<std::optional<MeterStats>>& stats, double probe_s);

}  // namespace nnjoule::meter
