#include "nnjoule/meter/discovery.hpp"

#include <algorithm>
#include <thread>

#include "nnjoule/common/error.hpp"

namespace nnjoule::meter {
namespace {

// Whole-device coverage first: an external monitor or the board's input rail sees everything.
const std::vector<std::string> kAutoOrder = {"trace", "ina",   "battery", "rapl",
                                             "perf",  "hwmon", "nvml"};
const char* kKinds = "rapl, perf, nvml, ina, hwmon, battery, trace, estimate";

template <typename F>
void collect(std::vector<Finding>& out, const std::string& kind, F&& find) {
  try {
    for (auto& f : find()) out.push_back(std::move(f));
  } catch (const Error& e) {
    if (kind == "trace") throw;  // a file the user named: a bad one is an error
    Finding f;
    f.kind = f.name = kind;
    f.status = Finding::Status::kRefused;
    f.reason = e.what();
    out.push_back(std::move(f));
  }
}

}  // namespace

std::vector<Finding> discover_meters(const DiscoverOptions& o) {
  auto fs = o.fs ? o.fs : std::make_shared<const SysFs>("/");
  auto perf = o.perf ? o.perf : system_perf_backend();
  NvmlLoader nvml = o.nvml ? o.nvml : NvmlLoader(load_nvml);
  std::vector<Finding> out;
  collect(out, "rapl", [&] { return find_rapl(fs); });
  collect(out, "perf", [&] { return find_perf(fs, perf); });
  collect(out, "nvml", [&] { return find_nvml(nvml); });
  collect(out, "ina", [&] { return find_ina(fs, o.config.ina); });
  collect(out, "hwmon", [&] { return find_hwmon(fs); });
  collect(out, "battery", [&] { return find_battery(fs, o.config.battery); });
  collect(out, "trace", [&] { return find_trace(o.config.trace); });
  collect(out, "estimate", [&] {
    return find_estimate(fs, o.config.estimate, o.workload_cpu, o.workload_cpu_source);
  });
  return out;
}

std::vector<MeterStats> probe_meters(const std::vector<std::shared_ptr<Meter>>& meters,
                                     double duration_s) {
  if (meters.empty()) return {};
  SteadyClock clock;
  Sampler sampler(meters, clock);
  sampler.start();
  std::this_thread::sleep_for(std::chrono::duration<double>(duration_s));
  sampler.stop();
  sampler.step(clock.now_s());  // reads every meter once more if due
  std::vector<MeterStats> out;
  for (size_t i = 0; i < meters.size(); ++i) out.push_back(sampler.stats(i));
  return out;
}

bool probe_says_live(const Meter& meter, const MeterStats& s, std::string* why) {
  if (!s.error.empty()) {
    if (why) *why = s.error;
    return false;
  }
  bool counter = false;
  for (const auto& d : meter.domains()) counter = counter || d.signal == Signal::kEnergy;
  if (counter && s.reads >= 2 && s.changes == 0) {
    if (why)
      *why = fmt::format(
          "the energy counter did not advance in {} reads (a virtual machine's stub PMU, or a "
          "sensor that is off)",
          s.reads);
    return false;
  }
  return true;
}

Selection select_meters(const std::vector<Finding>& findings, const std::vector<std::string>& names,
                        double probe_s) {
  Selection sel;
  auto matches = [](const Finding& f, const std::string& n) { return f.kind == n || f.name == n; };
  std::vector<std::shared_ptr<Meter>> candidates;
  if (!names.empty()) {
    for (const auto& n : names) {
      bool any = false, known = false;
      std::string reason;
      for (const auto& f : findings) {
        if (!matches(f, n)) continue;
        known = true;
        if (f.status == Finding::Status::kFound) {
          any = true;
          if (std::find(candidates.begin(), candidates.end(), f.meter) == candidates.end())
            candidates.push_back(f.meter);
        } else if (reason.empty()) {
          reason = f.reason;
        }
      }
      if (!known) fail("unknown meter '{}' (known: {})", n, kKinds);
      if (!any) fail("meter '{}' is not available: {}", n, reason);
    }
  } else {
    for (const auto& kind : kAutoOrder)
      for (const auto& f : findings)
        if (f.kind == kind && f.status == Finding::Status::kFound) candidates.push_back(f.meter);
  }
  if (!candidates.empty()) {
    const auto stats = probe_meters(candidates, probe_s);
    bool have_rapl = false;
    for (size_t i = 0; i < candidates.size(); ++i) {
      std::string why;
      if (!probe_says_live(*candidates[i], stats[i], &why)) {
        if (!names.empty()) fail("meter '{}' cannot measure here: {}", candidates[i]->name(), why);
        sel.notes.push_back("skipped " + candidates[i]->name() + ": " + why);
        continue;
      }
      if (names.empty() && candidates[i]->kind() == "perf" && have_rapl) {
        sel.notes.push_back("skipped perf: the same RAPL counters as rapl");
        continue;
      }
      have_rapl = have_rapl || candidates[i]->kind() == "rapl";
      sel.meters.push_back(candidates[i]);
    }
  }
  if (sel.meters.empty()) {
    if (!names.empty()) fail("none of the named meters can measure here");
    for (const auto& f : findings) {
      if (f.kind == "estimate" && f.status == Finding::Status::kFound) {
        sel.meters.push_back(f.meter);
        sel.notes.push_back(
            "no power sensor can measure here: results are estimated (cpu-time model), not "
            "measured");
        break;
      }
    }
    if (sel.meters.empty())
      fail("no meter can measure here, and the cpu-time estimate is unavailable");
  }
  return sel;
}

}  // namespace nnjoule::meter
