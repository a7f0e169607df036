#pragma once
// What the commands that measure this machine share (nnjoule collect, nnjoule build-predictor):
// the dataset and measurement options (made into a collect::Rig) and Ctrl-C handling.
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <csignal>
#include <iostream>
#include <memory>
#include <thread>

#include "command.hpp"
#include "meter_options.hpp"
#include "nnjoule/collect/clusters.hpp"
#include "nnjoule/collect/rig.hpp"
#include "nnjoule/common/error.hpp"
#include "nnjoule/exec/engine.hpp"
#include "nnjoule/meter/meters.hpp"
#include "nnjoule/meter/sysfs.hpp"

namespace nnjoule::cli {

inline std::atomic<bool> g_stop{false};

extern "C" inline void on_sigint(int) {
  g_stop.store(true);
  static const char msg[] =
      "\nnnjoule: stopping after the measurement in flight (Ctrl-C again to abort at once)\n";
  [[maybe_unused]] auto n = write(STDERR_FILENO, msg, sizeof msg - 1);
  std::signal(SIGINT, SIG_DFL);
}

// Ctrl-C sets the stop flag for the duration of a collection.
class StopOnSigint {
 public:
  StopOnSigint() {
    g_stop.store(false);
    previous_ = std::signal(SIGINT, on_sigint);
  }
  ~StopOnSigint() { std::signal(SIGINT, previous_); }

 private:
  void (*previous_)(int) = SIG_DFL;
};

struct CollectCommon {
  std::string db;
  MeterOptions meters;
  std::vector<std::string> meter_names;
  int threads = 1;
  std::string cpus;
  std::string pin_freq;
  uint64_t seed = 0;
  std::string profile = "standard";
  double idle_s = 2.0;
  double idle_every_s = 600;
  bool no_host_reference = false;
  bool json = false;

  void add_to(CLI::App* cmd) {
    cmd->add_option("--db", db, "Dataset file (created when absent; resumed when present)")
        ->required();
    meters.add_to(cmd);
    cmd->add_option("--meter", meter_names,
                    "Meters to use, the first is the primary (rapl, perf, nvml, ina, hwmon, "
                    "battery, trace, estimate); default: every live sensor, else the estimate")
        ->delimiter(',');
    cmd->add_option("--threads", threads, "Engine threads (default 1)")->check(ThreadCount());
    cmd->add_option("--cpus", cpus,
                    "Pin the engine's threads to these CPUs (\"0,2-3\", big, little)");
    cmd->add_option("--pin-freq", pin_freq,
                    "Hold the clock of the clusters of --cpus (else all) at max, min or MHZ "
                    "(nearest available) for the whole collection; restored at the end. Needs "
                    "write access to cpufreq (root)");
    cmd->add_option("--seed", seed, "Seed of the samples, variants and weights (default 0)");
    cmd->add_option("--profile", profile,
                    "Measurement profile: standard (2% CI, 30 s cap) or quick (5% CI, 5 s cap)")
        ->check(CLI::IsMember({"standard", "quick"}));
    cmd->add_option("--idle", idle_s,
                    "Seconds of the shared idle baseline, each side (0: none, no dynamic energy)")
        ->check(CLI::NonNegativeNumber);
    cmd->add_option("--idle-every", idle_every_s,
                    "Re-take the idle baseline after this many seconds (0: once)")
        ->check(CLI::NonNegativeNumber);
    cmd->add_flag("--no-host-reference", no_host_reference,
                  "Skip timing the reference kernel before and after each measurement (~30 ms; "
                  "evaluate --host-speed uses it)");
    cmd->add_flag("--json", json, "Print the collection report as JSON");
  }

  collect::RigOptions rig() const {
    collect::RigOptions r;
    r.meters = meters.setup(meter_names);
    r.threads = threads;
    if (!cpus.empty()) r.cpus = collect::resolve_cpus(meter::SysFs(meters.root()), cpus);
    r.profile = profile;
    r.idle_s = idle_s;
    r.idle_every_s = idle_every_s;
    r.host_reference = !no_host_reference;
    r.seed = seed;
    if (!pin_freq.empty()) collect::check_pin_spec(pin_freq);
    r.pin_freq = pin_freq;
    return r;
  }

  std::string command_line(const std::string& what) const {
    return fmt::format("nnjoule collect {} --db {} --threads {} --seed {} --profile {}", what, db,
                       threads, seed, profile);
  }
};

}  // namespace nnjoule::cli
