#pragma once
// Finding the meters of this machine, probing them, and choosing those a measurement uses.
#include <memory>
#include <string>
#include <vector>

#include "nnjoule/meter/meters.hpp"
#include "nnjoule/meter/sampler.hpp"

namespace nnjoule::meter {

struct DiscoverOptions {
  std::shared_ptr<const SysFs> fs;  // default: the real root
  MeterConfig config;
  std::shared_ptr<PerfBackend> perf;  // default: perf_event_open
  NvmlLoader nvml;                    // default: load_nvml
  CpuSeconds workload_cpu;            // the estimate charges this CPU time, else /proc/stat's
  std::string workload_cpu_source;    // what it is, for the estimate's basis

  // The workload runs in this process: the estimate charges this process's CPU time.
  void charge_this_process() {
    workload_cpu = this_process_cpu_s;
    workload_cpu_source = kThisProcessCpuSource;
  }
};
// Every meter family gets at least one Finding: found, or not and why.
std::vector<Finding> discover_meters(const DiscoverOptions& options);

// Polls meters for `duration_s` on `clock` (the sampling thread on a SteadyClock) and returns
// their statistics: measured update period, resolution, reads, errors.
std::vector<MeterStats> probe_meters(const std::vector<std::shared_ptr<Meter>>& meters,
                                     double duration_s);

// Whether a probe shows a meter can measure: a counter that never advanced cannot.
bool probe_says_live(const Meter& meter, const MeterStats& stats, std::string* why);

struct Selection {
  std::vector<std::shared_ptr<Meter>> meters;  // the first is the primary
  std::vector<std::string> notes;              // meters skipped and why, fallbacks taken
};
// names: kinds or names ("rapl", "nvml", "hwmon:amdgpu"); empty: every live measuring meter in
// order of coverage (trace, ina, battery, rapl, perf, hwmon, nvml), else the estimate.
// A named meter that was not found is an error carrying the reason.
Selection select_meters(const std::vector<Finding>& findings, const std::vector<std::string>& names,
                        double probe_s = 0.1);

}  // namespace nnjoule::meter
