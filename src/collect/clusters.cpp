#include "nnjoule/collect/clusters.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cctype>
#include <map>
#include <set>

#include "nnjoule/common/error.hpp"
#include "nnjoule/common/parse.hpp"
#include "nnjoule/common/table.hpp"
#include "nnjoule/exec/engine.hpp"
#include "nnjoule/meter/meters.hpp"

namespace nnjoule::collect {
namespace {

const std::string kCpuDir = "/sys/devices/system/cpu";

std::optional<double> mhz(const meter::SysFs& fs, const std::string& rel) {
  auto v = fs.try_read_int(rel);
  if (!v || *v <= 0) return std::nullopt;
  return static_cast<double>(*v) / 1000.0;
}

std::vector<int> online(const meter::SysFs& fs) {
  if (auto text = fs.read_trimmed(meter::join(kCpuDir, "online")))
    if (auto list = meter::parse_cpu_list(*text)) return *list;
  std::vector<int> cpus;
  for (int c = 0; c < meter::online_cpus(fs); ++c) cpus.push_back(c);
  return cpus;
}

}  // namespace

std::string cpu_ranges(const std::vector<int>& cpus) {
  std::string out;
  for (size_t i = 0; i < cpus.size();) {
    size_t j = i;
    while (j + 1 < cpus.size() && cpus[j + 1] == cpus[j] + 1) ++j;
    out += (out.empty() ? "" : ",") +
           (j > i ? fmt::format("{}-{}", cpus[i], cpus[j]) : std::to_string(cpus[i]));
    i = j + 1;
  }
  return out;
}

std::vector<CpuCluster> discover_clusters(const meter::SysFs& fs) {
  using meter::join;
  const std::vector<int> cpus = online(fs);
  // Key: the policy's CPUs when cpufreq exists, else (cluster_id, capacity).
  std::map<std::string, CpuCluster> groups;
  std::vector<std::string> order;
  for (const int c : cpus) {
    const std::string dir = join(kCpuDir, "cpu" + std::to_string(c));
    const auto capacity = fs.try_read_int(join(dir, "cpu_capacity"));
    std::string key;
    const std::string freq = join(dir, "cpufreq");
    if (auto related = fs.read_trimmed(join(freq, "related_cpus"))) {
      key = "policy " + *related;
    } else {
      const auto id = fs.try_read_int(join(dir, "topology/cluster_id"));
      const auto pkg = fs.try_read_int(join(dir, "topology/physical_package_id"));
      key =
          fmt::format("cluster {} {} {}", id.value_or(-1), pkg.value_or(-1), capacity.value_or(-1));
    }
    auto [it, fresh] = groups.try_emplace(key);
    CpuCluster& g = it->second;
    if (fresh) {
      order.push_back(key);
      g.min_mhz = mhz(fs, join(freq, "cpuinfo_min_freq"));
      g.max_mhz = mhz(fs, join(freq, "cpuinfo_max_freq"));
      g.governor = fs.read_trimmed(join(freq, "scaling_governor")).value_or("");
      g.cur_mhz = mhz(fs, join(freq, "scaling_cur_freq"));
    }
    g.cpus.push_back(c);
    if (capacity) g.capacity = std::max(g.capacity.value_or(0), *capacity);
  }
  std::vector<CpuCluster> out;
  for (const auto& k : order) out.push_back(groups[k]);
  // Slowest first: capacity, then the highest clock, then the first CPU.
  std::stable_sort(out.begin(), out.end(), [](const CpuCluster& a, const CpuCluster& b) {
    const auto ka = std::make_tuple(a.capacity.value_or(0), a.max_mhz.value_or(0));
    const auto kb = std::make_tuple(b.capacity.value_or(0), b.max_mhz.value_or(0));
    return ka < kb;
  });
  // Clusters that differ in neither capacity nor clock are one kind of core (a Raspberry Pi
  // with one policy per core, say): named alike, "big" covers them all.
  const bool one_kind = std::all_of(out.begin(), out.end(), [&](const CpuCluster& c) {
    return c.capacity == out.front().capacity && c.max_mhz == out.front().max_mhz;
  });
  for (size_t i = 0; i < out.size(); ++i) {
    if (one_kind)
      out[i].name = out.size() == 1 ? "all" : fmt::format("all{}", i);
    else if (i == 0)
      out[i].name = "little";
    else if (i + 1 == out.size() && out.size() >= 3)
      out[i].name = "prime";
    else
      out[i].name = i == 1 ? "big" : fmt::format("big{}", i);
  }
  return out;
}

std::vector<int> resolve_cpus(const meter::SysFs& fs, const std::string& spec) {
  const auto clusters = discover_clusters(fs);
  if (clusters.empty()) fail("--cpus {}: no online CPU found under {}", spec, fs.show(kCpuDir));
  const bool one_kind = clusters.front().name.rfind("all", 0) == 0;
  std::vector<int> cpus;
  if (spec == "big" || spec == "little") {
    for (size_t i = 0; i < clusters.size(); ++i) {
      const bool slowest = i == 0;
      if (one_kind || (spec == "little") == slowest)
        cpus.insert(cpus.end(), clusters[i].cpus.begin(), clusters[i].cpus.end());
    }
  } else if (auto it = std::find_if(clusters.begin(), clusters.end(),
                                    [&](const CpuCluster& c) { return c.name == spec; });
             it != clusters.end()) {
    cpus = it->cpus;
  } else if (!spec.empty() && (std::isdigit(static_cast<unsigned char>(spec[0])) != 0)) {
    return exec::parse_cpu_list(spec);  // a list keeps its order: thread i on the i-th CPU
  } else {
    std::string names;
    for (const auto& c : clusters)
      if (c.name != "big" && c.name != "little") names += ", " + c.name;
    fail("--cpus {}: expected big, little{} or a CPU list like 0,2-3", spec, names);
  }
  std::sort(cpus.begin(), cpus.end());
  return cpus;
}

std::vector<std::optional<double>> cluster_clocks(const meter::SysFs& fs,
                                                  const std::vector<CpuCluster>& clusters) {
  std::vector<std::optional<double>> out;
  for (const auto& c : clusters)
    out.push_back(c.cpus.empty() ? std::nullopt
                                 : mhz(fs, meter::join(kCpuDir, "cpu" + std::to_string(c.cpus[0]) +
                                                                    "/cpufreq/scaling_cur_freq")));
  return out;
}

std::vector<std::string> cluster_governors(const meter::SysFs& fs,
                                           const std::vector<CpuCluster>& clusters) {
  std::vector<std::string> out;
  for (const auto& c : clusters)
    out.push_back(c.cpus.empty()
                      ? ""
                      : fs.read_trimmed(meter::join(kCpuDir, "cpu" + std::to_string(c.cpus[0]) +
                                                                 "/cpufreq/scaling_governor"))
                            .value_or(""));
  return out;
}

std::string describe(const CpuCluster& c) {
  std::string out = fmt::format("{} {}", c.name, cpu_ranges(c.cpus));
  std::vector<std::string> parts;
  if (c.capacity) parts.push_back(fmt::format("capacity {}", *c.capacity));
  if (c.min_mhz && c.max_mhz)
    parts.push_back(fmt::format("{}-{} MHz", format_number(*c.min_mhz), format_number(*c.max_mhz)));
  if (!c.governor.empty())
    parts.push_back(c.cur_mhz ? fmt::format("{} at {} MHz", c.governor, format_number(*c.cur_mhz))
                              : c.governor);
  if (!parts.empty()) {
    out += " (";
    for (size_t i = 0; i < parts.size(); ++i) out += (i ? ", " : "") + parts[i];
    out += ")";
  }
  return out;
}

}  // namespace nnjoule::collect
