// RAPL energy counters through the powercap sysfs interface (Intel, and AMD's same names).
#include <algorithm>
#include <cerrno>
#include <cstring>

#include "nnjoule/common/error.hpp"
#include "nnjoule/common/parse.hpp"
#include "nnjoule/meter/meters.hpp"
#include "nnjoule/meter/sampler.hpp"

namespace nnjoule::meter {
namespace {

constexpr const char* kPowercap = "/sys/class/powercap";
// The ceiling of a zone that lists no power limit (AMD lists none): no CPU package, DRAM or
// platform domain draws a kilowatt. Polls follow it; a late poll is not an error on it alone.
constexpr double kAssumedZoneMaxPowerW = 1000;

struct Zone {
  std::string dir;     // "intel-rapl:0:1"
  std::string parent;  // "intel-rapl:0" for a subzone, empty at the top
  std::string name;    // what the zone's name file says: "package-0", "core", "dram", "psys"
  bool mmio = false;
  double wrap_mj = 0;
  double max_power_mw = 0;       // the highest power limit the zone lists; 0: none
  std::string max_power_source;  // the file it came from
};

bool ends_with(const std::string& s, std::string_view end) {
  return s.size() >= end.size() && s.compare(s.size() - end.size(), end.size(), end) == 0;
}

// The zone's power limits (constraint_N_power_limit_uw, constraint_N_max_power_uw): the highest
// is the most the zone draws over any of its windows. A limit that cannot be read is left out
// (some return ENODATA); one that is not a whole integer is an error.
std::string read_power_limits(const SysFs& fs, const std::string& dir, Zone& z) {
  for (const auto& e : fs.list(dir)) {
    if (e.rfind("constraint_", 0) != 0 ||
        !(ends_with(e, "_power_limit_uw") || ends_with(e, "_max_power_uw")))
      continue;
    const std::string rel = join(dir, e);
    const auto text = fs.read(rel);
    if (!text) continue;
    const auto v = parse_int(*text);
    if (!v || *v < 0)
      return fmt::format("{}: expected an integer, got '{}'", fs.show(rel), quoted_field(*text));
    const double mw = static_cast<double>(*v) / 1000.0;  // uW -> mW
    if (mw > z.max_power_mw) {
      z.max_power_mw = mw;
      z.max_power_source = e;
    }
  }
  return {};
}

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

  std::vector<std::string> refusals, denied, notes;
  for (auto& z : zones) {
    if (auto bad = read_power_limits(*fs, join(kPowercap, z.dir), z); !bad.empty())
      refusals.push_back(bad);
  }
  std::vector<std::unique_ptr<Attr>> attrs;
  std::vector<Domain> domains;
  const SamplerOptions sampling;  // what the sampler can do by default
  for (auto& z : zones) {
    const std::string dir = join(kPowercap, z.dir);
    const std::string max_rel = join(dir, "max_energy_range_uj");
    const std::string energy_rel = join(dir, "energy_uj");
    if (!fs->exists(energy_rel)) continue;  // a zone with limits only
    auto max = fs->try_read_int(max_rel);
    if (!max || *max <= 0) {
      const std::string why = fs->int_problem(max_rel);
      refusals.push_back(
          fmt::format("{}; without the counter's range a wrap-around cannot be corrected",
                      why.empty() ? fs->show(max_rel) + ": not positive" : why));
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
    // The ceiling that sets the shortest wrap period: the zone's own limit, its package's for
    // a part inside the package (DRAM is outside), else the assumed one.
    if (z.max_power_mw > 0) {
      d.max_power_mw = z.max_power_mw;
      d.max_power_source = z.max_power_source;
    } else if (parent && z.name != "dram" && parent->max_power_mw > 0) {
      d.max_power_mw = parent->max_power_mw;
      d.max_power_source = parent->name + "'s " + parent->max_power_source;
    } else {
      d.max_power_mw = kAssumedZoneMaxPowerW * 1e3;
      d.max_power_source = fmt::format(
          "assumed: the zone lists no power limit, and no RAPL "
          "zone draws {:g} W",
          kAssumedZoneMaxPowerW);
      d.max_power_assumed = true;
    }
    if (const auto need = wrap_poll_interval_s(d, sampling)) {
      const std::string wraps =
          fmt::format("its {:g} J range wraps every {:g} ms at up to {:g} W ({})", d.wrap_mj / 1e3,
                      *wrap_period_s(d) * 1e3, d.max_power_mw / 1e3, d.max_power_source);
      if (*need < sampling.fastest_interval_s) {
        refusals.push_back(fmt::format(
            "{}: {}, faster than the sampler can follow (a poll every {:g} ms at the fastest, "
            "{:g} per wrap): the energy would be under-reported; use --meter perf (64-bit "
            "counters the kernel unwraps)",
            fs->show(max_rel), wraps, sampling.fastest_interval_s * 1e3, sampling.wrap_safety));
        continue;
      }
      if (*need < sampling.min_interval_s)
        notes.push_back(fmt::format("{}: {}: polled every {:g} ms instead of every {:g} ms", d.name,
                                    wraps, *need * 1e3, sampling.min_interval_s * 1e3));
    }
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
  for (const auto& n : notes) f.reason += (f.reason.empty() ? "" : "; ") + n;
  f.meter = std::make_shared<RaplMeter>(fs, std::move(attrs), std::move(domains));
  return {f};
}

}  // namespace nnjoule::meter
