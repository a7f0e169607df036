#pragma once
// A measurement as the protocol hands it on (to the CLI and to the store): the numbers, where
// they came from, and the state of the device they were taken in.
#include <nlohmann/json.hpp>

#include <optional>
#include <string>
#include <vector>

#include "nnjoule/collect/clusters.hpp"
#include "nnjoule/collect/pinning.hpp"
#include "nnjoule/common/provenance.hpp"

namespace nnjoule::collect {

struct CpuState {
  int cpu = 0;
  std::string governor;           // empty: not readable
  std::optional<double> cur_mhz;  // scaling_cur_freq
  std::optional<double> min_mhz;  // scaling_min_freq
  std::optional<double> max_mhz;  // scaling_max_freq
};

struct Temperature {
  std::string zone;  // "thermal_zone0"
  std::string type;  // "x86_pkg_temp", "cpu-thermal"
  double celsius = 0;
};

// One CPU cache as the kernel describes it for cpu0.
struct CacheLevel {
  int level = 0;
  std::string type;  // "Data", "Instruction", "Unified"
  int64_t bytes = 0;
  std::string shared_cpus;  // shared_cpu_list ("0-3"); empty when unknown
};

struct DeviceState {
  std::string cpu_model;
  int logical_cores = 0;                   // online
  std::string kernel;                      // /proc/sys/kernel/osrelease
  std::string governor;                    // one name, "mixed: a, b", or "unknown (...)"
  std::vector<CpuState> cpus;              // per online CPU with cpufreq
  std::vector<CpuCluster> clusters;        // big.LITTLE clusters, slowest first (clusters.hpp)
  std::vector<PinnedClock> pinned_clocks;  // --pin-freq (pinning.hpp); empty: not pinned
  std::vector<Temperature> temperatures;
  std::vector<CacheLevel> caches;  // cpu0's, smallest level first (what kernels compete for)
  std::string caches_source;       // "sysfs", "sysconf (cpuid)", or "" when unknown
  int threads = 0;                 // threads the workload ran with (0: not applicable)
  std::vector<int> affinity;       // CPUs this process may run on
  int cores_used = 0;              // min(threads, affinity) for models; affinity size for commands
  std::string meter;               // the primary meter
  std::string meter_label;         // "measured (rapl)", "estimated (cpu-time model)"
  std::vector<std::string> domains;  // of the primary meter: "package-0 (total)", ...
  std::vector<std::string> notes;    // what could not be read, and why
};

struct DomainResult {
  std::string name;
  bool in_total = true;
  double energy_mj = 0;
  double avg_power_mw = 0;
};

// One meter's view of the whole measurement.
struct MeterResult {
  std::string meter;
  std::string kind;
  Provenance provenance;
  double energy_mj = 0;  // over the measured windows
  double avg_power_mw = 0;
  std::optional<double> idle_power_mw;  // baseline; nullopt when none was taken
  std::optional<double> dynamic_energy_mj;
  std::optional<double> update_period_ms;
  bool update_period_upper_bound = false;
  std::vector<DomainResult> domains;
};

struct Measurement {
  std::string workload;  // model path or command line
  std::string kind;      // "model" or "command"
  std::string meter;     // primary meter; every headline number comes from it
  Provenance provenance;

  // Per inference (models); nullopt for a command, which runs once.
  int64_t inferences = 0;  // N, over the measured windows
  int windows = 0;
  int64_t inferences_per_window = 0;
  std::optional<double> energy_per_inference_mj;
  std::optional<double> energy_ci95_mj;   // half-width of the 95% CI of the mean
  std::optional<double> energy_ci95_rel;  // half-width / mean
  std::optional<double> dynamic_energy_per_inference_mj;
  std::optional<double> latency_ms;
  std::optional<double> latency_ci95_ms;
  bool converged = false;   // the CI target was met
  std::string stop_reason;  // "ci target met", "time cap", ...

  // The whole measured part (idle baselines excluded).
  double duration_ms = 0;
  double energy_mj = 0;
  std::optional<double> dynamic_energy_mj;
  double avg_power_mw = 0;
  std::optional<double> idle_power_mw;  // mean of the baselines before and after
  std::optional<double> idle_before_mw;
  std::optional<double> idle_after_mw;
  // Half the before/after baseline difference times the duration: how far dynamic energy moves
  // with the baseline's own drift (a GPU's tail power after load, a temperature change).
  std::optional<double> dynamic_energy_drift_mj;
  double window_target_ms = 0;  // max(minimum duration, K meter updates)
  // Host interference (models): windows measured again because steal or CPU pressure exceeded
  // the protocol's limits, and the worst shares seen in the windows kept (nullopt: unreadable).
  int disturbed_windows = 0;
  bool disturbed = false;  // disturbed windows had to be kept: the result carries interference
  std::optional<double> max_steal_share;
  std::optional<double> max_cpu_pressure_share;
  // Each cluster's clock read at the start and the end of every kept window (models): the
  // range it moved in, which a governor or thermal throttling widens; and its governor at the
  // end of the last one (device.clusters holds the one at the start). Same order as
  // device.clusters.
  struct ClusterClock {
    std::string cluster;
    std::optional<double> min_mhz, max_mhz;
    std::string governor_end;  // empty: unreadable
  };
  std::vector<ClusterClock> window_clocks;
  std::vector<Temperature> temperatures_end;  // after the last window

  std::optional<int> exit_code;       // commands
  std::optional<double> cpu_time_ms;  // commands: user + system time (wait4 rusage)
  std::vector<MeterResult> meters;
  DeviceState device;
  std::vector<std::string> notes;
};

nlohmann::json to_json(const DeviceState& d);
nlohmann::json to_json(const Measurement& m);
// m.window_clocks as to_json writes them; collect also stores them with a row's device state.
nlohmann::json window_clocks_json(const Measurement& m);
// Throws Error naming the field when something is missing or mistyped.
Measurement measurement_from_json(const nlohmann::json& j);
// The human-readable report the CLI prints.
std::string format_measurement(const Measurement& m);

}  // namespace nnjoule::collect
