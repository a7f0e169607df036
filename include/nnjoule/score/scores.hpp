#pragma once
// Device scores over an application suite, as the DeepEn2023 study defined them, plus a
// performance score: PCS (power consumption score), IECS (inference energy consumption score)
// and per-configuration ranks. Every formula is stated in docs/scoring.md.
#include <filesystem>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "nnjoule/common/plausible.hpp"
#include "nnjoule/common/provenance.hpp"
#include "nnjoule/zoo/suite.hpp"

namespace nnjoule::score {

using zoo::ConfigKey;

// Application-level result of one configuration on one device.
struct AppResult {
  std::string device;
  ConfigKey config;
  double apc_w = 0;                  // average power consumption during inference
  double eci_j = 0;                  // energy consumption per inference
  std::optional<double> latency_ms;  // absent: derived as 1000 * ECI / APC
  Provenance provenance;
};

struct DeviceInfo {
  std::string name;
  std::string soc;
  std::optional<double> tdp_w;  // needed for PCS; no TDP, no PCS (never a silent value)
  std::string tdp_source;       // where the TDP came from ("devices.csv column tdp_w", "--tdp")
  std::optional<double> price;  // bubble size in the report when given
  std::optional<double> published_pcs;
  std::optional<double> published_iecs;
};

struct ScoreInput {
  std::vector<DeviceInfo> devices;  // devices with results but no entry here get one (no TDP)
  std::vector<AppResult> results;
  // The suite's configurations in display order; empty: the union of the results' configs in
  // order of first appearance.
  std::vector<ConfigKey> configs;
  // Configurations a device cannot run, (device, config label "DNN2/CPU1") -> the reason;
  // shown as "not supported" instead of "missing" on that device.
  std::map<std::pair<std::string, std::string>, std::string> unsupported;
};

struct DeviceScore {
  DeviceInfo info;
  int configs_run = 0;
  int configs_total = 0;
  std::vector<ConfigKey> missing;  // suite configurations without a result on this device

  double mean_apc_w = 0;
  std::optional<double> pcs;         // 100 * mean(1 - APC/TDP) over the configs run
  std::optional<double> pcs_common;  // the same over the configs every device ran
  double iecs = 0;                   // sum of 1/ECI over the configs run
  double iecs_common = 0;            // the same over the configs every device ran
  double ips_geomean = 0;            // geometric mean of inferences per second
  double perf_score = 0;             // 100 * geomean(ips / best ips of that config)
  double perf_score_common = 0;
  // Published values and how far ours land from them (ours - published, ours / published).
  std::optional<double> pcs_delta;
  std::optional<double> iecs_ratio;
  // The TDP that would make our PCS equal the published one (mean APC / (1 - PCS/100)).
  std::optional<double> implied_tdp_w;
  std::vector<std::string> provenance;  // distinct labels of the results behind the scores
  std::vector<std::string> notes;       // effect of missing configurations, absent TDP, ...
};

// Ranks of the devices within one configuration: 1 = best (lowest APC, lowest ECI, lowest
// latency); devices without a result get no rank. Ties share the lower rank.
struct ConfigRanks {
  ConfigKey config;
  std::vector<std::optional<AppResult>> results;  // per device, in DeviceScore order
  std::vector<std::optional<int>> apc_rank, eci_rank, latency_rank;
};

struct ScoreReport {
  std::vector<DeviceScore> devices;
  std::vector<ConfigKey> configs;  // the suite's configurations
  std::vector<ConfigKey> common;   // those every device ran
  std::vector<ConfigRanks> ranks;  // one per config
  std::map<std::pair<std::string, std::string>, std::string> unsupported;  // as in ScoreInput
  // The reason a configuration is not supported on a device; empty when it is.
  std::string unsupported_reason(const std::string& device, const ConfigKey& c) const;
};

// The ranges a number scoring reads must lie in (limits included): positive, finite and
// plausible for its unit; docs/scoring.md lists them and why. Scores computed from numbers in
// these ranges are finite.
inline constexpr Plausible kApcRange{1e-6, 1e5, "W"};          // 1 uW .. 100 kW
inline constexpr Plausible kEciRange{1e-9, 1e6, "J"};          // 1 nJ .. 1 MJ per inference
inline constexpr Plausible kLatencyRange{1e-6, 8.64e7, "ms"};  // 1 ns .. 1 day per inference
inline constexpr Plausible kPriceRange{0.01, 1e7, ""};
inline constexpr Plausible kPublishedPcsRange{0, 100, ""};
inline constexpr Plausible kPublishedIecsRange{1e-6, 1e12, "1/J"};

// Throws Error for an APC, ECI, latency (given or derived), TDP, price or published score
// outside its plausible range, or a duplicate result. A PCS that would come out negative (mean
// APC above the TDP) is not given; a note on the device says why.
ScoreReport compute_scores(const ScoreInput& input);

// Latency of a result: the stored one, else 1000 * ECI / APC (ECI = APC x latency).
double latency_ms(const AppResult& r);

// The shared tables' format (see docs/scoring.md):
//   measurements: device, dnn (or model), delegate, apc_w, eci_j[, latency_ms]
//   devices: device[, soc][, tdp_w | tdp_w_as_printed][, price][, pcs_published][, iecs_published]
// Errors name the file, the line and the column. `results` are labelled imported (file name).
std::vector<AppResult> read_measurements_csv(const std::filesystem::path& path);
std::vector<DeviceInfo> read_devices_csv(const std::filesystem::path& path);

// "DEVICE=WATTS" (--tdp): sets the TDP of a device, adding the device when it is not listed.
// Throws Error naming the argument when it is malformed.
void apply_tdp_override(std::vector<DeviceInfo>& devices, const std::string& spec);

// Appends results (another table, another database) to an input; the suite's configuration
// list, when it has one, grows by the configurations it lacks.
void add_results(ScoreInput& input, std::vector<AppResult> results);

// Completes `devices` with the facts (TDP, price, SoC, published scores) of `more`, adding the
// devices it does not list.
void merge_devices(std::vector<DeviceInfo>& devices, const std::vector<DeviceInfo>& more);

// The unsupported configurations grouped, one line per device and reason.
std::vector<std::string> unsupported_lines(const ScoreReport& report);

// Plain-text device table, missing configurations, per-configuration ranks.
std::string render_text(const ScoreReport& report);
nlohmann::json to_json(const ScoreReport& report);

}  // namespace nnjoule::score
