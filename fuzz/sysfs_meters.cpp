// The sysfs meters (RAPL through powercap, hwmon and INA rails, battery fuel gauges) on a fake
// tree whose files hold the input: pieces split at NUL bytes fill the files below in order
// (a missing piece leaves the file out). Discovery runs, then every meter found reads twice.
#include <filesystem>
#include <fstream>
#include <vector>

#include "fuzz.hpp"
#include "nnjoule/meter/meters.hpp"
#include "nnjoule/meter/sysfs.hpp"

namespace {

const char* const kFiles[] = {
    "sys/class/powercap/intel-rapl:0/name",
    "sys/class/powercap/intel-rapl:0/energy_uj",
    "sys/class/powercap/intel-rapl:0/max_energy_range_uj",
    "sys/class/powercap/intel-rapl:0/constraint_0_power_limit_uw",
    "sys/class/powercap/intel-rapl:0/enabled",
    "sys/class/powercap/intel-rapl:0:0/name",
    "sys/class/powercap/intel-rapl:0:0/energy_uj",
    "sys/class/powercap/intel-rapl:0:0/max_energy_range_uj",
    "sys/class/hwmon/hwmon0/name",
    "sys/class/hwmon/hwmon0/in1_input",
    "sys/class/hwmon/hwmon0/curr1_input",
    "sys/class/hwmon/hwmon0/in1_label",
    "sys/class/hwmon/hwmon0/power1_input",
    "sys/class/hwmon/hwmon0/energy1_input",
    "sys/class/power_supply/BAT0/type",
    "sys/class/power_supply/BAT0/status",
    "sys/class/power_supply/BAT0/voltage_now",
    "sys/class/power_supply/BAT0/current_now",
    "sys/class/power_supply/BAT0/power_now",
    "sys/class/power_supply/AC/type",
    "sys/class/power_supply/AC/online",
};

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  namespace fs = std::filesystem;
  using namespace nnjoule::meter;
  const fs::path root = fs::path(nnjoule::fuzz::scratch_dir()) / "tree";
  fs::remove_all(root);
  const auto text = nnjoule::fuzz::bytes(data, size);
  size_t start = 0;
  for (const char* rel : kFiles) {
    if (start > text.size()) break;
    size_t end = text.find('\0', start);
    if (end == std::string_view::npos) end = text.size();
    const fs::path p = root / rel;
    fs::create_directories(p.parent_path());
    std::ofstream(p, std::ios::binary) << text.substr(start, end - start);
    start = end + 1;
  }
  auto sysfs = std::make_shared<const SysFs>(root);
  return nnjoule::fuzz::guarded([&] {
    std::vector<Finding> found;
    for (auto f :
         {find_rapl(sysfs), find_hwmon(sysfs), find_ina(sysfs, {}), find_battery(sysfs, {})})
      found.insert(found.end(), f.begin(), f.end());
    for (const auto& f : found) {
      if (!f.meter) continue;
      std::vector<double> out(f.meter->domains().size());
      f.meter->read(0.0, out);
      f.meter->read(0.001, out);
    }
  });
}
