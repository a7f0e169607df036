// hwmon power sensors and INA3221/INA238 board rails (Jetson and other boards), in the modern
// hwmon layout and the older ina3221x IIO layout of L4T 4.9 kernels.
#include <algorithm>
#include <cctype>
#include <filesystem>
#include <limits>
#include <map>
#include <set>

#include "nnjoule/common/error.hpp"
#include "nnjoule/meter/meters.hpp"

namespace nnjoule::meter {
namespace {

constexpr const char* kHwmon = "/sys/class/hwmon";

// One rail or sensor channel and how to turn its files into mJ or mW.
struct Channel {
  std::string label;
  Signal signal = Signal::kPower;
  std::string a, b;  // power or energy file; or voltage (a) and current (b) files
  double scale = 1;  // to mJ or mW: uJ/uW x 1e-3, mW x 1, mV x mA x 1e-3
};

class RailMeter : public Meter {
 public:
  RailMeter(std::string kind, std::string name, std::shared_ptr<const SysFs> fs,
            std::vector<Channel> channels, std::vector<Domain> domains)
      : kind_(std::move(kind)), name_(std::move(name)), fs_(std::move(fs)) {
    for (const auto& c : channels) {
      Open o;
      o.a = fs_->open(c.a);
      if (!c.b.empty()) o.b = fs_->open(c.b);
      o.scale = c.scale;
      open_.push_back(std::move(o));
    }
    domains_ = std::move(domains);
  }
  std::string kind() const override { return kind_; }
  std::string name() const override { return name_; }
  void read(double, std::span<double> out) override {
    for (size_t i = 0; i < open_.size(); ++i) {
      auto& o = open_[i];
      double v = static_cast<double>(o.a->read_int());
      if (o.b) v *= static_cast<double>(o.b->read_int());
      out[i] = v * o.scale;
    }
  }

 private:
  struct Open {
    std::unique_ptr<Attr> a, b;
    double scale = 1;
  };
  std::string kind_, name_;
  std::shared_ptr<const SysFs> fs_;
  std::vector<Open> open_;
};

// Channel numbers of files named prefix<N>suffix in a directory.
std::set<int> indices(const std::vector<std::string>& names, const std::string& prefix,
                      const std::string& suffix) {
  std::set<int> out;
  for (const auto& n : names) {
    if (n.size() <= prefix.size() + suffix.size() || n.rfind(prefix, 0) != 0 ||
        n.compare(n.size() - suffix.size(), suffix.size(), suffix) != 0)
      continue;
    const std::string mid = n.substr(prefix.size(), n.size() - prefix.size() - suffix.size());
    if (mid.empty() || !std::all_of(mid.begin(), mid.end(), ::isdigit)) continue;
    // No driver numbers a channel past int; a name that does is not a channel.
    const auto v = parse_int(mid);
    if (v && *v <= std::numeric_limits<int>::max()) out.insert(static_cast<int>(*v));
  }
  return out;
}

bool has(const std::vector<std::string>& names, const std::string& n) {
  return std::find(names.begin(), names.end(), n) != names.end();
}

// Channels of one hwmon device: energy (uJ) over power (uW) over voltage x current (INA only).
std::vector<Channel> hwmon_channels(const SysFs& fs, const std::string& dir, bool ina,
                                    const std::string& fallback) {
  const auto names = fs.list(dir);
  std::set<int> idx = indices(names, "energy", "_input");
  for (int i : indices(names, "power", "_input")) idx.insert(i);
  for (int i : indices(names, "power", "_average")) idx.insert(i);
  if (ina)
    for (int i : indices(names, "curr", "_input")) idx.insert(i);
  std::vector<Channel> out;
  for (int i : idx) {
    const std::string n = std::to_string(i);
    if (auto en = fs.read_trimmed(join(dir, "in" + n + "_enable")); en && *en == "0") continue;
    Channel c;
    for (const std::string& lf : {"in" + n + "_label", "power" + n + "_label",
                                  "curr" + n + "_label", "energy" + n + "_label"}) {
      if (has(names, lf)) {
        c.label = fs.read_trimmed(join(dir, lf)).value_or("");
        if (!c.label.empty()) break;
      }
    }
    if (c.label.empty()) c.label = fallback + "/ch" + n;
    if (has(names, "energy" + n + "_input")) {
      c.signal = Signal::kEnergy;
      c.a = join(dir, "energy" + n + "_input");
      c.scale = 1e-3;
    } else if (has(names, "power" + n + "_input") || has(names, "power" + n + "_average")) {
      c.a = join(dir, has(names, "power" + n + "_input") ? "power" + n + "_input"
                                                         : "power" + n + "_average");
      c.scale = 1e-3;
    } else if (has(names, "in" + n + "_input") && has(names, "curr" + n + "_input")) {
      c.a = join(dir, "in" + n + "_input");
      c.b = join(dir, "curr" + n + "_input");
      c.scale = 1e-3;  // mV x mA = uW
    } else {
      continue;
    }
    out.push_back(std::move(c));
  }
  return out;
}

// The L4T 4.9 ina3221x IIO layout: rail_name_K, in_power{K}_input (mW), in_current{K}_input
// (mA), in_voltage{K}_input (mV).
std::vector<Channel> iio_channels(const SysFs& fs, const std::string& dir) {
  const auto names = fs.list(dir);
  std::vector<Channel> out;
  for (int k : indices(names, "rail_name_", "")) {
    const std::string n = std::to_string(k);
    Channel c;
    c.label = fs.read_trimmed(join(dir, "rail_name_" + n)).value_or("");
    if (c.label.empty()) c.label = "ina3221x/ch" + n;
    if (has(names, "in_power" + n + "_input")) {
      c.a = join(dir, "in_power" + n + "_input");
      c.scale = 1;
    } else if (has(names, "in_voltage" + n + "_input") && has(names, "in_current" + n + "_input")) {
      c.a = join(dir, "in_voltage" + n + "_input");
      c.b = join(dir, "in_current" + n + "_input");
      c.scale = 1e-3;
    } else {
      continue;
    }
    out.push_back(std::move(c));
  }
  return out;
}

std::string upper(std::string s) {
  for (auto& ch : s) ch = static_cast<char>(std::toupper(static_cast<unsigned char>(ch)));
  return s;
}

// Checks every channel once, so a sensor that cannot be read is refused at discovery.
std::string check_readable(const SysFs& fs, const std::vector<Channel>& chans) {
  for (const auto& c : chans) {
    for (const auto& p : {c.a, c.b}) {
      if (p.empty()) continue;
      if (auto why = fs.int_problem(p); !why.empty()) return why;
    }
  }
  return {};
}

}  // namespace

const std::vector<std::string>& known_total_rails() {
  // Module input rails: Orin Nano/NX and Xavier NX (VDD_IN), Nano and TX2 NX (POM_5V_IN).
  static const std::vector<std::string> rails = {"VDD_IN", "POM_5V_IN"};
  return rails;
}

std::vector<Finding> find_ina(std::shared_ptr<const SysFs> fs, const InaConfig& config) {
  Finding f;
  f.kind = f.name = "ina";
  std::vector<Channel> chans;
  std::vector<std::string> chips;
  for (const auto& h : fs->list(kHwmon)) {
    const std::string dir = join(kHwmon, h);
    const std::string chip = fs->read_trimmed(join(dir, "name")).value_or("");
    if (chip.rfind("ina", 0) != 0) continue;
    auto c = hwmon_channels(*fs, dir, true, chip);
    if (c.empty()) continue;
    chips.push_back(chip);
    chans.insert(chans.end(), c.begin(), c.end());
  }
  // Old layout; the same device may appear under the driver and under /sys/bus/iio.
  std::set<std::string> seen;
  std::vector<std::string> iio_dirs;
  const std::string drv = "/sys/bus/i2c/drivers/ina3221x";
  for (const auto& dev : fs->list(drv))
    for (const auto& sub : fs->list(join(drv, dev)))
      if (sub.rfind("iio:device", 0) == 0) iio_dirs.push_back(join(join(drv, dev), sub));
  for (const auto& dev : fs->list("/sys/bus/iio/devices"))
    if (dev.rfind("iio:device", 0) == 0) iio_dirs.push_back(join("/sys/bus/iio/devices", dev));
  for (const auto& d : iio_dirs) {
    std::error_code ec;
    const auto canon = std::filesystem::canonical(fs->path(d), ec);
    if (!seen.insert(ec ? d : canon.string()).second) continue;
    auto c = iio_channels(*fs, d);
    if (c.empty()) continue;
    chips.push_back("ina3221x");
    chans.insert(chans.end(), c.begin(), c.end());
  }
  if (chans.empty()) {
    f.reason =
        fmt::format("no INA3221/INA238 rails under {} or {}", fs->show(kHwmon), fs->show(drv));
    return {f};
  }
  if (auto bad = check_readable(*fs, chans); !bad.empty()) {
    f.status = Finding::Status::kRefused;
    f.reason = bad;
    return {f};
  }
  // Labels must be unique: two chips may both name a channel the same.
  std::map<std::string, int> uses;
  for (auto& c : chans)
    if (uses[c.label]++ > 0) c.label += fmt::format("#{}", uses[c.label]);

  int total = -1;
  if (!config.total_rail.empty()) {
    for (size_t i = 0; i < chans.size(); ++i)
      if (upper(chans[i].label) == upper(config.total_rail)) total = static_cast<int>(i);
    if (total < 0) {
      std::string list;
      for (const auto& c : chans) list += (list.empty() ? "" : ", ") + c.label;
      f.status = Finding::Status::kRefused;
      f.reason = fmt::format("total rail '{}' (ina.total_rail) is not among the rails: {}",
                             config.total_rail, list);
      return {f};
    }
  } else {
    for (const auto& name : known_total_rails())
      for (size_t i = 0; i < chans.size() && total < 0; ++i)
        if (upper(chans[i].label) == name) total = static_cast<int>(i);
  }
  std::vector<Domain> domains;
  for (size_t i = 0; i < chans.size(); ++i) {
    Domain d;
    d.name = chans[i].label;
    d.signal = chans[i].signal;
    if (total >= 0) {
      // The input rail already carries every other rail: sum one or the other, never both.
      d.in_total = static_cast<int>(i) == total;
      d.note = d.in_total ? "total (board input rail)" : "inside " + chans[total].label;
    } else {
      d.in_total = true;
      d.note = "summed (no board input rail)";
    }
    domains.push_back(std::move(d));
  }
  std::sort(chips.begin(), chips.end());
  chips.erase(std::unique(chips.begin(), chips.end()), chips.end());
  std::string chip_list;
  for (const auto& c : chips) chip_list += (chip_list.empty() ? "" : ", ") + c;
  f.status = Finding::Status::kFound;
  f.reason = total >= 0 ? fmt::format("{}; total = {}", chip_list, chans[total].label)
                        : fmt::format("{}; total = sum of {} rails", chip_list, chans.size());
  f.meter = std::make_shared<RailMeter>("ina", "ina", fs, std::move(chans), std::move(domains));
  return {f};
}

std::vector<Finding> find_hwmon(std::shared_ptr<const SysFs> fs) {
  std::vector<Finding> out;
  std::map<std::string, int> uses;
  for (const auto& h : fs->list(kHwmon)) {
    const std::string dir = join(kHwmon, h);
    const std::string chip = fs->read_trimmed(join(dir, "name")).value_or(h);
    if (chip.rfind("ina", 0) == 0) continue;  // board rails: find_ina
    auto chans = hwmon_channels(*fs, dir, false, chip);
    if (chans.empty()) continue;
    Finding f;
    f.kind = "hwmon";
    f.name = "hwmon:" + chip;
    if (uses[chip]++ > 0) f.name += "@" + h;
    if (auto bad = check_readable(*fs, chans); !bad.empty()) {
      f.status = Finding::Status::kRefused;
      f.reason = bad;
      out.push_back(std::move(f));
      continue;
    }
    std::vector<Domain> domains;
    for (const auto& c : chans)
      domains.push_back({c.label, c.signal, 0, true, chans.size() > 1 ? "summed" : ""});
    f.status = Finding::Status::kFound;
    f.reason = fmt::format("{} ({})", fs->show(dir), chip);
    f.meter =
        std::make_shared<RailMeter>("hwmon", f.name, fs, std::move(chans), std::move(domains));
    out.push_back(std::move(f));
  }
  if (out.empty()) {
    Finding f;
    f.kind = f.name = "hwmon";
    f.reason =
        fmt::format("no power or energy sensors under {} (INA rails aside)", fs->show(kHwmon));
    out.push_back(std::move(f));
  }
  return out;
}

}  // namespace nnjoule::meter
