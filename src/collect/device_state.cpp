// The device state recorded with every result, read from the same (replaceable) root as the
// meters so tests see a fake device.
#include <sched.h>
#include <unistd.h>

#include <algorithm>
#include <set>

#include "nnjoule/collect/clusters.hpp"
#include "nnjoule/collect/protocol.hpp"
#include "nnjoule/common/parse.hpp"
#include "nnjoule/meter/meters.hpp"

namespace nnjoule::collect {
namespace {

std::optional<double> khz_to_mhz(const meter::SysFs& fs, const std::string& rel) {
  auto v = fs.try_read_int(rel);
  if (!v) return std::nullopt;
  return static_cast<double>(*v) / 1000.0;
}

bool all_digits(const std::string& s) {
  return !s.empty() && std::all_of(s.begin(), s.end(), ::isdigit);
}

// "48K", "1024K", "32M" (cache/index*/size) in bytes.
std::optional<int64_t> cache_bytes(const std::string& text) {
  if (text.empty()) return std::nullopt;
  int64_t scale = 1;
  std::string digits = text;
  if (digits.back() == 'K') scale = 1024;
  if (digits.back() == 'M') scale = 1024 * 1024;
  if (scale != 1) digits.pop_back();
  const auto v = parse_integer(digits);
  if (!v || *v <= 0 || *v > (int64_t{1} << 40) / scale) return std::nullopt;
  return *v * scale;
}

}  // namespace

std::vector<CacheLevel> read_caches(const meter::SysFs& fs, std::string& source) {
  using meter::join;
  const std::string dir = "/sys/devices/system/cpu/cpu0/cache";
  std::vector<CacheLevel> out;
  for (const auto& e : fs.list(dir)) {
    if (e.rfind("index", 0) != 0) continue;
    const std::string d = join(dir, e);
    const auto level = fs.try_read_int(join(d, "level"));
    const auto bytes = cache_bytes(fs.read_trimmed(join(d, "size")).value_or(""));
    if (!level || *level < 1 || *level > 8 || !bytes) continue;
    out.push_back({static_cast<int>(*level), fs.read_trimmed(join(d, "type")).value_or(""), *bytes,
                   fs.read_trimmed(join(d, "shared_cpu_list")).value_or("")});
  }
  source = out.empty() ? "" : "sysfs";
  // Virtual machines often hide the cache directory; glibc answers from cpuid on x86. Only for
  // the real root: a fake tree describes another device.
  if (out.empty() && fs.root() == "/") {
    const std::pair<int, int> names[] = {
        {1, _SC_LEVEL1_DCACHE_SIZE}, {2, _SC_LEVEL2_CACHE_SIZE}, {3, _SC_LEVEL3_CACHE_SIZE}};
    for (const auto& [level, name] : names) {
      const long v = sysconf(name);
      if (v > 0) out.push_back({level, level == 1 ? "Data" : "Unified", v, ""});
    }
    if (!out.empty()) source = "sysconf (cpuid)";
  }
  std::stable_sort(out.begin(), out.end(),
                   [](const CacheLevel& a, const CacheLevel& b) { return a.level < b.level; });
  return out;
}

std::vector<Temperature> read_temperatures(const meter::SysFs& fs) {
  using meter::join;
  const std::string thermal = "/sys/class/thermal";
  std::vector<Temperature> out;
  for (const auto& z : fs.list(thermal)) {
    if (z.rfind("thermal_zone", 0) != 0) continue;
    auto t = fs.try_read_int(join(join(thermal, z), "temp"));
    if (!t) continue;  // some zones refuse reads while their sensor sleeps
    out.push_back({z, fs.read_trimmed(join(join(thermal, z), "type")).value_or(""), *t / 1000.0});
  }
  return out;
}

DeviceState read_device_state(const meter::SysFs& fs, int threads,
                              const std::vector<std::shared_ptr<meter::Meter>>& meters) {
  using meter::join;
  DeviceState d;
  d.cpu_model = meter::cpu_model_name(fs);
  d.logical_cores = meter::online_cpus(fs);
  if (auto k = fs.read_trimmed("/proc/sys/kernel/osrelease"))
    d.kernel = *k;
  else
    d.notes.push_back(fs.show("/proc/sys/kernel/osrelease") + ": not readable");

  const std::string cpu_dir = "/sys/devices/system/cpu";
  std::set<std::string> governors;
  for (const auto& e : fs.list(cpu_dir)) {
    if (e.size() < 4 || e.rfind("cpu", 0) != 0 || !all_digits(e.substr(3))) continue;
    const auto number = parse_integer(e.substr(3));
    if (!number || *number > 1 << 20) continue;
    const std::string f = join(join(cpu_dir, e), "cpufreq");
    if (!fs.is_dir(f)) continue;
    CpuState c;
    c.cpu = static_cast<int>(*number);
    c.governor = fs.read_trimmed(join(f, "scaling_governor")).value_or("");
    c.cur_mhz = khz_to_mhz(fs, join(f, "scaling_cur_freq"));
    c.min_mhz = khz_to_mhz(fs, join(f, "scaling_min_freq"));
    c.max_mhz = khz_to_mhz(fs, join(f, "scaling_max_freq"));
    if (!c.governor.empty()) governors.insert(c.governor);
    d.cpus.push_back(std::move(c));
  }
  if (d.cpus.empty()) {
    d.governor = "unknown (no cpufreq)";
    d.notes.push_back(fs.show(join(cpu_dir, "cpu0/cpufreq")) +
                      ": not present; governor and frequencies unknown");
  } else if (governors.empty()) {
    d.governor = "unknown (scaling_governor unreadable)";
  } else if (governors.size() == 1) {
    d.governor = *governors.begin();
  } else {
    d.governor = "mixed:";
    for (const auto& g : governors) d.governor += " " + g;
  }

  d.clusters = discover_clusters(fs);
  d.caches = read_caches(fs, d.caches_source);
  if (d.caches.empty()) d.notes.push_back(fs.show(cpu_dir + "/cpu0/cache") + ": no cache sizes");

  const std::string thermal = "/sys/class/thermal";
  d.temperatures = read_temperatures(fs);
  if (d.temperatures.empty()) d.notes.push_back(fs.show(thermal) + ": no readable thermal zone");

  cpu_set_t set;
  CPU_ZERO(&set);
  if (sched_getaffinity(0, sizeof(set), &set) == 0) {
    for (int c = 0; c < CPU_SETSIZE; ++c)
      if (CPU_ISSET(c, &set)) d.affinity.push_back(c);
  }
  d.threads = threads;
  const int allowed = static_cast<int>(d.affinity.size());
  d.cores_used = threads > 0 ? std::min(threads, allowed) : allowed;

  if (!meters.empty()) {
    const auto& m = *meters.front();
    d.meter = m.name();
    d.meter_label = m.provenance().label();
    for (const auto& dom : m.domains())
      d.domains.push_back(dom.name + (dom.in_total ? " (total)" : " (" + dom.note + ")"));
  }
  return d;
}

}  // namespace nnjoule::collect
