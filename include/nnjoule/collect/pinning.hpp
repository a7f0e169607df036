#pragma once
// Holds CPU clusters at one clock while a workload is measured (--pin-freq), and puts the
// previous limits back afterwards. A governor moves the clock with the load and the
// temperature; a pinned clock makes a measurement repeatable and lets a dataset hold the same
// kernels at several known clocks. The clock is set by writing scaling_min_freq =
// scaling_max_freq = target (any governor then runs at that clock), which needs root.
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "nnjoule/collect/clusters.hpp"
#include "nnjoule/meter/sysfs.hpp"

namespace nnjoule::collect {

// What was pinned on one cluster, recorded with every measurement taken under it.
struct PinnedClock {
  std::string cluster;                  // "big"
  std::vector<int> cpus;                // the cluster's CPUs
  std::string requested;                // "max", "min" or MHz as given ("1200")
  double mhz = 0;                       // the clock written (snapped to an available one)
  std::string method;                   // kPinMethod
  std::optional<double> saved_min_mhz;  // scaling_min_freq before pinning
  std::optional<double> saved_max_mhz;  // scaling_max_freq before pinning
  std::string governor;                 // scaling_governor (left as it was)
  bool restored = false;                // the saved limits were written back
};

inline constexpr const char* kPinMethod = "scaling_min_freq = scaling_max_freq";

// "max", "min" or a clock in MHz (a positive number); throws Error naming the value otherwise.
void check_pin_spec(const std::string& spec);

// Pins the clusters that hold any of `cpus` (all clusters when empty) for its lifetime. Throws
// Error naming the file and why when a cluster has no cpufreq, a file cannot be read or
// written (permission denied: run as root), or a requested MHz lies outside the cluster's
// cpuinfo_min_freq..cpuinfo_max_freq; what was already written is put back first.
class ClockPin {
 public:
  ClockPin(std::shared_ptr<const meter::SysFs> fs, const std::string& spec,
           const std::vector<int>& cpus);
  ~ClockPin();  // restores; a failure is printed to stderr (a destructor cannot throw)
  ClockPin(const ClockPin&) = delete;
  ClockPin& operator=(const ClockPin&) = delete;

  const std::vector<PinnedClock>& pinned() const { return pinned_; }
  // Writes the saved limits back (once; later calls do nothing and return the same). Returns
  // one line per file that could not be written; empty when everything was restored.
  const std::vector<std::string>& restore();
  // Where the kernel did not keep a written value (a thermal or QoS cap): one line each.
  const std::vector<std::string>& notes() const { return notes_; }

 private:
  std::shared_ptr<const meter::SysFs> fs_;
  std::vector<PinnedClock> pinned_;
  std::vector<std::string> dirs_;  // each pinned cluster's cpufreq directory
  std::vector<std::string> notes_, restore_problems_;
  bool restored_ = false;
};

// "big 4-6 at 2419 MHz (max; scaling_min_freq = scaling_max_freq; restored)"
std::string describe(const PinnedClock& p);

}  // namespace nnjoule::collect
