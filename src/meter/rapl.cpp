// RAPL energy counters through the powercap sysfs interface (Intel, and AMD's same names).
#include <algorithm>
#include <cerrno>
#include <cstring>

#include "nnjoule/common/error.hpp"
#include "nnjoule/meter/meters.hpp"

namespace nnjoule::meter {
namespace {

constexpr const char* kPowercap = "/sys/class/powercap";

struct Zone {
  std::string dir;     // "intel-rapl:0:1"
  std::string parent;  // "intel-rapl:0" for a subzone, empty at the top
  std::string name;    // what the zone's name file says: "package-0", "core", "dram", "psys"
  bool mmio = false;
  double wrap_mj = 0;
};

class RaplMeter : public Meter {
 public:
  RaplMeter(std::shared_ptr<const SysFs> fs, std::vector<std::unique_ptr<Attr>> attrs,
            std::vector<Domain> domains)
      : fs_(std::move(fs)), attrs_(std::move(attrs)) {
    domains_ = std::move(domains);
  }
  std::string kind() const override { return "rapl"; }
  void read(double, std::span<double> out) override {
    for (size_t i = 0; i < attrs_.size(); ++i)
      out[i] = static_cast<double>(attrs_[i]->read_int()) / 1000.0;  // uJ -> mJ
  }

 private:
  std::shared_ptr<const SysFs> fs_;  // outlives attrs_, which refer to it
  std::vector<std::unique_ptr<Attr>> attrs_;
};

}  // namespace

std::string rapl_permission_message(const std::string& shown_path) {
  return fmt::format(
      "{}: permission denied: energy_uj is readable only by root since the CVE-2020-8694 fix "
      "(Platypus); fixes: run nnjoule as root, or make it readable with `sudo chmod a+r "
      "/sys/class/powercap/intel-rapl*/energy_uj` (until reboot) or the udev rule "
      "`ACTION==\"add\", SUBSYSTEM==\"powercap\", RUN+=\"/bin/chmod a+r /sys%p/energy_uj\"`, "
      "or use the perf power PMU (--meter perf, with kernel.perf_event_paranoid <= 0)",
      shown_path);
}

std::vector<Finding> find_rapl(std::shared_ptr<const SysFs> fs) {
  Finding f;
  f.kind = f.name = "rapl";
  if (!fs->is_dir(kPowercap)) {
    f.reason = fmt::format(
        "{}: not present (not an x86 machine, a virtual machine, or the intel_rapl modules are "
        "not loaded)",
        fs->show(kPowercap));
    return {f};
  }
  std::vector<Zone> zones;
  for (const auto& e : fs->list(kPowercap)) {
    const bool msr = e.rfind("intel-rapl:", 0) == 0, mmio = e.rfind("intel-rapl-mmio:", 0) == 0;
    if (!msr && !mmio) continue;
    Zone z;
    z.dir = e;
    z.mmio = mmio;
    const auto first = e.find(':'), last = e.rfind(':');
    if (last != first) z.parent = e.substr(0, last);
    z.name = fs->read_trimmed(join(join(kPowercap, e), "name")).value_or(e);
    zones.push_back(std::move(z));
  }
  // MSR zones first; the MMIO ones repeat some of them.
  std::stable_partition(zones.begin(), zones.end(), [](const Zone& z) { return !z.mmio; });
  if (zones.empty()) {
    f.reason = fmt::format("{}: no intel-rapl zones", fs->show(kPowercap));
    return {f};
  }

  auto find_zone = [&](const std::string& dir) -> const Zone* {
    for (const auto& z : zones)
      if (z.dir == dir) return &z;
    return nullptr;
  };
  bool has_psys = false;
  for (const auto& z : zones)
    if (!z.mmio && z.name == "psys") has_psys = true;

  std::vector<std::string> refusals, denied;
  std::vector<std::unique_ptr<Attr>> attrs;
  std::vector<Domain> domains;
  for (auto& z : zones) {
    const std::string dir = join(kPowercap, z.dir);
    const std::string max_rel = join(dir, "max_energy_range_uj");
    const std::string energy_rel = join(dir, "energy_uj");
    if (!fs->exists(energy_rel)) continue;  // a zone with limits only
    int err = 0;
    auto max = fs->try_read_int(max_rel, &err);
    if (!max || *max <= 0) {
      refusals.push_back(
          fmt::format("{}: {}; without the counter's range a wrap-around cannot be corrected",
                      fs->show(max_rel),
                      !max ? (err == EINVAL ? std::string("not an integer") : std::strerror(err))
                           : "not positive"));
      continue;
    }
    z.wrap_mj = static_cast<double>(*max) / 1000.0;
    const int fd = fs->open_fd(fs->path(energy_rel));
    if (fd < 0) {
      if (-fd == EACCES || -fd == EPERM)
        denied.push_back(fs->show(energy_rel));
      else
        refusals.push_back(
            fmt::format("{}: cannot open ({})", fs->show(energy_rel), std::strerror(-fd)));
      continue;
    }
    auto attr = std::make_unique<Attr>(*fs, energy_rel, fd);
    try {
      attr->read_int();
    } catch (const Error& e) {
      refusals.push_back(e.what());
      continue;
    }
    Domain d;
    d.signal = Signal::kEnergy;
    d.wrap_mj = z.wrap_mj;
    const Zone* parent = z.parent.empty() ? nullptr : find_zone(z.parent);
    d.name = (z.mmio ? "mmio:" : "") + (parent ? parent->name + ":" + z.name : z.name);
    bool duplicate_of_msr = false;
    if (z.mmio) {
      for (const auto& o : zones)
        if (!o.mmio && o.name == z.name && o.parent.empty() == z.parent.empty())
          duplicate_of_msr = true;
    }
    if (duplicate_of_msr) {
      d.in_total = false;
      d.note = "same counter as " + z.name + " (MMIO interface)";
    } else if (has_psys) {
      d.in_total = z.name == "psys";
      d.note = d.in_total ? "platform: whole SoC and more" : "inside psys";
    } else if (parent) {
      // DRAM sits outside the package even when listed under it; core/uncore/gpu are inside.
      d.in_total = z.name == "dram";
      d.note = d.in_total ? "memory, outside " + parent->name : "inside " + parent->name;
    } else {
      d.in_total = z.name != "psys";
    }
    domains.push_back(std::move(d));
    attrs.push_back(std::move(attr));
  }
  if (!denied.empty()) {
    // One message for all zones: the fixes are the same.
    std::string shown = denied.front();
    if (denied.size() > 1) shown += fmt::format(" (and {} more zones)", denied.size() - 1);
    refusals.insert(refusals.begin(), rapl_permission_message(shown));
  }
  if (!refusals.empty()) {
    f.status = Finding::Status::kRefused;
    f.reason = refusals.front();
    for (size_t i = 1; i < refusals.size(); ++i) f.reason += "; " + refusals[i];
    return {f};
  }
  if (domains.empty()) {
    f.reason = fmt::format("{}: RAPL zones without energy_uj", fs->show(kPowercap));
    return {f};
  }
  f.status = Finding::Status::kFound;
  f.meter = std::make_shared<RaplMeter>(fs, std::move(attrs), std::move(domains));
  return {f};
}

}  // namespace nnjoule::meter
