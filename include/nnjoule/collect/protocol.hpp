#pragma once
// The measurement protocol: idle baseline, warm-up, repeated windows until the confidence
// target or a time cap, idle baseline again; the device state goes with every result.
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "nnjoule/collect/measurement.hpp"
#include "nnjoule/graph/graph.hpp"
#include "nnjoule/meter/sampler.hpp"
#include "nnjoule/meter/sysfs.hpp"

namespace nnjoule::collect {

struct ProtocolOptions {
  double idle_s = 2.0;        // each idle baseline, before and after; 0 skips them
  int warmup_runs = 3;        // at least this many inferences ...
  double warmup_s = 0.5;      // ... and at least this long
  double min_window_s = 0.5;  // a measured window lasts at least this long ...
  int min_updates = 10;       // ... and at least K updates of the primary meter
  double ci_target = 0.02;    // stop when the 95% CI half-width <= this x mean energy
  int min_windows = 5;
  int max_windows = 1000;
  double time_cap_s = 60;  // stop repeating after this long, converged or not
  int threads = 0;         // recorded in the device state
  // A window is disturbed when the hypervisor stole more than this share of the machine's CPU
  // time (/proc/stat steal) or some task waited for a CPU more than this share of the window
  // (/proc/pressure/cpu "some"); it is measured again, up to max_disturbed times, after which
  // windows are kept and the measurement is flagged.
  double max_steal = 0.05;
  double max_cpu_pressure = 0.25;
  int max_disturbed = 10;
};

// Runs n inferences back to back.
using Workload = std::function<void(int64_t n)>;
// Waits `s` seconds of the sampler's timeline (a real sleep; tests advance a ManualClock).
using Sleeper = std::function<void(double s)>;
Sleeper real_sleeper();

// Everything a measurement reads besides its meters.
struct Context {
  meter::Sampler* sampler = nullptr;  // first meter is the primary
  Sleeper sleep;
  std::shared_ptr<const meter::SysFs> fs;  // device state comes from the same root
  std::vector<PinnedClock> pinned;         // clocks held by a ClockPin, recorded with each result
};

struct CommandResult {
  int exit_code = 0;  // 128 + signal when killed by one
  double cpu_s = 0;   // user + system time of the command and the children it waited for
};
struct CommandHooks {
  bool stdout_to_stderr = false;              // keeps our stdout for --json
  std::function<void(int pid)> on_start;      // right after the spawn
  std::function<void(double cpu_s)> on_exit;  // with the exit rusage, before returning
};
// Told when a measured window begins and whether it was kept (a short or disturbed window is
// discarded and measured again): what a workload records per window (per-kernel timings) then
// belongs to exactly the windows behind the result.
struct WindowHooks {
  std::function<void()> begin;
  std::function<void(bool kept)> end;
};
// The model-level protocol around a workload callback.
Measurement measure_workload(const Context& ctx, const Workload& workload, const std::string& name,
                             const ProtocolOptions& options, const WindowHooks& hooks = {});

// Application level: baselines, then one window around one run of `run`, then the baseline after.
Measurement measure_run(const Context& ctx, const std::function<CommandResult()>& run,
                        const std::string& name, const ProtocolOptions& options);

struct ModelOptions {
  int threads = 1;        // the engine's thread pool, the calling thread included
  std::vector<int> cpus;  // pin the threads to these CPUs (empty: not pinned)
  uint64_t seed = 1;      // random inputs
};
// The protocol around one inference of `g` on the execution engine (src/exec) per call.
Measurement measure_model(const Context& ctx, const graph::Graph& g, const std::string& name,
                          const ModelOptions& model, ProtocolOptions options);

// Spawns argv (searched in PATH) and waits for it. Throws Error when it cannot be started.
CommandResult run_command(const std::vector<std::string>& argv, const CommandHooks& hooks = {});

// Readable thermal zones (/sys/class/thermal/thermal_zone*/temp); a zone whose sensor refuses
// a read is left out.
std::vector<Temperature> read_temperatures(const meter::SysFs& fs);
// cpu0's caches from cache/index*; on the real root without that directory (virtual machines),
// glibc's sysconf sizes. `source` says which ("" when none).
std::vector<CacheLevel> read_caches(const meter::SysFs& fs, std::string& source);
DeviceState read_device_state(const meter::SysFs& fs, int threads,
                              const std::vector<std::shared_ptr<meter::Meter>>& meters);

}  // namespace nnjoule::collect
