#pragma once
// A measuring session's meters: found and chosen from the user's settings, with the sampler
// running while the session lives. `nnjoule measure`, `collect`, `build-predictor` and `bench`
// all start here, and so can a program of its own (examples/energy_window.cpp).
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "nnjoule/collect/protocol.hpp"
#include "nnjoule/meter/discovery.hpp"

namespace nnjoule::collect {

// What a user chooses about meters.
struct MeterSetup {
  std::string root = "/";   // where /sys and /proc are read (tests: a fake tree)
  std::string device_file;  // JSON: estimate powers, battery sign, INA total rail, trace
  std::string trace;        // power-monitor trace (CSV)
  std::optional<double> trace_start_epoch_s;
  double trace_offset_s = 0;
  bool allow_charging = false;
  std::vector<std::string> meters;  // kinds or names, the first primary; empty: every live
                                    // sensor, else the estimate
};

// The discovery options the setup stands for (the device file is read here).
meter::DiscoverOptions discover_options(const MeterSetup& setup);

// Whose CPU time the estimate meter charges.
struct WorkloadCpu {
  meter::CpuSeconds seconds;
  std::string source;  // what it is, for the estimate's basis
};

class Session {
 public:
  // Finds the meters, chooses them and starts the sampler. Without `cpu`, the workload is this
  // process (its CPU time is what the estimate charges).
  explicit Session(const MeterSetup& setup, std::optional<WorkloadCpu> cpu = {});
  ~Session();
  Session(const Session&) = delete;
  Session& operator=(const Session&) = delete;

  const Context& context() const { return ctx_; }
  meter::Sampler& sampler() { return *sampler_; }
  // The primary meter's provenance: what every energy of this session is labelled with.
  Provenance provenance() const;
  // Meters skipped and why, fallbacks taken.
  const std::vector<std::string>& notes() const { return notes_; }
  // The device file's settings (its TDP, ...).
  const meter::MeterConfig& config() const { return config_; }
  void stop();  // stops the sampler (the destructor does too)

 private:
  meter::SteadyClock clock_;
  meter::MeterConfig config_;
  std::unique_ptr<meter::Sampler> sampler_;
  Context ctx_;
  std::vector<std::string> notes_;
};

// A note when other processes keep more than a quarter of a CPU busy (looked at over 0.5 s):
// their interference goes into every latency and energy measured.
std::optional<std::string> busy_host_note(const meter::SysFs& fs);

}  // namespace nnjoule::collect
