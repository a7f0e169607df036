#pragma once
// CPU clusters of a big.LITTLE (DynamIQ) phone or board: CPUs that share a frequency (one
// cpufreq policy) and a capacity, from sysfs. A phone's energy depends on which cluster runs
// the work and at what clock, so every measurement records them, and `--cpus big|little`
// picks them.
#include <optional>
#include <string>
#include <vector>

#include "nnjoule/meter/sysfs.hpp"

namespace nnjoule::collect {

struct CpuCluster {
  std::string name;                 // "little", "big", "prime"; "all" when there is one
  std::vector<int> cpus;            // online CPUs of the cluster, ascending
  std::optional<int64_t> capacity;  // cpu_capacity (1024 = the fastest core), when exposed
  std::optional<double> min_mhz;    // cpuinfo_min_freq: what the hardware allows
  std::optional<double> max_mhz;    // cpuinfo_max_freq
  std::string governor;             // scaling_governor of the policy ("" unreadable)
  std::optional<double> cur_mhz;    // scaling_cur_freq when read
};

// Groups online CPUs by cpufreq policy (related_cpus), else by topology cluster_id and
// capacity, and names them by capacity, then maximum frequency: one cluster "all"; two
// "little", "big"; three "little", "big", "prime"; more "little", "big", "big2", ..., "prime".
std::vector<CpuCluster> discover_clusters(const meter::SysFs& fs);

// "big" (every CPU outside the slowest cluster, all of them on a machine with one kind of core),
// "little" (the slowest cluster), a cluster's name, or a CPU list ("0,2-3", kept in its order:
// thread i runs on the i-th CPU). Throws Error naming what is wrong.
std::vector<int> resolve_cpus(const meter::SysFs& fs, const std::string& spec);

// Each cluster's current clock (scaling_cur_freq of its first CPU), in the clusters' order;
// nullopt where unreadable.
std::vector<std::optional<double>> cluster_clocks(const meter::SysFs& fs,
                                                  const std::vector<CpuCluster>& clusters);

// "0-3,7": a CPU list as the kernel writes one.
std::string cpu_ranges(const std::vector<int>& cpus);

// Each cluster's scaling_governor (of its first CPU), in the clusters' order; "" where
// unreadable.
std::vector<std::string> cluster_governors(const meter::SysFs& fs,
                                           const std::vector<CpuCluster>& clusters);

// "little 0-3 (capacity 404, 300-1785 MHz, schedutil at 1209 MHz)"
std::string describe(const CpuCluster& c);

}  // namespace nnjoule::collect
