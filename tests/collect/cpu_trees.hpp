#pragma once
// Fake CPU trees after layouts public kernel sources and vendor documents describe, shared by
// the cluster, pinning and suite tests: Policy / write_cpus write one cpufreq policy per
// cluster, pixel4_like a Snapdragon 855 phone (4 Cortex-A55 + 3 A76 + 1 A76 prime).
#include <optional>
#include <string>
#include <vector>

#include "meter/fake_tree.hpp"

namespace nnjoule::testing {

struct Policy {
  std::vector<int> cpus;
  std::string related;  // as the kernel writes it: "0 1 2 3"
  long long min_khz, max_khz, cur_khz;
  std::optional<int> capacity;
  std::string governor = "schedutil";
  std::vector<long long> available_khz;  // scaling_available_frequencies; empty: not listed
};

inline void write_cpus(const FakeTree& t, const std::string& online,
                       const std::vector<Policy>& ps) {
  t.write("/sys/devices/system/cpu/online", online + "\n");
  t.write("/proc/cpuinfo", "processor\t: 0\n");
  for (const auto& p : ps)
    for (int c : p.cpus) {
      const std::string d = "/sys/devices/system/cpu/cpu" + std::to_string(c);
      t.write(d + "/cpufreq/related_cpus", p.related + "\n");
      t.write(d + "/cpufreq/cpuinfo_min_freq", p.min_khz);
      t.write(d + "/cpufreq/cpuinfo_max_freq", p.max_khz);
      t.write(d + "/cpufreq/scaling_cur_freq", p.cur_khz);
      t.write(d + "/cpufreq/scaling_min_freq", p.min_khz);
      t.write(d + "/cpufreq/scaling_max_freq", p.max_khz);
      t.write(d + "/cpufreq/scaling_governor", p.governor + "\n");
      if (p.capacity) t.write(d + "/cpu_capacity", *p.capacity);
      if (!p.available_khz.empty()) {
        std::string list;
        for (long long k : p.available_khz) list += std::to_string(k) + " ";
        t.write(d + "/cpufreq/scaling_available_frequencies", list + "\n");
      }
    }
}

inline void pixel4_like(const FakeTree& t) {
  write_cpus(t, "0-7",
             {{{0, 1, 2, 3}, "0 1 2 3", 300000, 1785600, 1209600, 404},
              {{4, 5, 6},
               "4 5 6",
               710400,
               2419200,
               1996800,
               911,
               "schedutil",
               {710400, 825600, 940800, 1056000, 1171200, 1286400, 1401600, 1497600, 1612800,
                1708800, 1804800, 1920000, 2016000, 2131200, 2227200, 2323200, 2419200}},
              {{7}, "7", 825600, 2841600, 2841600, 1024}});
}

}  // namespace nnjoule::testing
