#include "nnjoule/collect/measurement.hpp"

#include <cmath>

#include <fmt/format.h>

#include "nnjoule/common/error.hpp"
#include "nnjoule/common/table.hpp"

namespace nnjoule::collect {
namespace {
using json = nlohmann::json;

json opt(const std::optional<double>& v) {
  return v ? json(*v) : json(nullptr);
}

// Reading back: every field is required, so a truncated record is an error, not zeros.
const json& at(const json& j, const char* key, const std::string& where) {
  if (!j.is_object() || !j.contains(key)) fail("measurement: missing field '{}{}'", where, key);
  return j.at(key);
}
template <typename T>
T get(const json& j, const char* key, const std::string& where) {
  try {
    return at(j, key, where).get<T>();
  } catch (const json::type_error&) {
    fail("measurement: field '{}{}' has the wrong type", where, key);
  }
}
std::optional<double> get_opt(const json& j, const char* key, const std::string& where) {
  const json& v = at(j, key, where);
  if (v.is_null()) return std::nullopt;
  if (!v.is_number()) fail("measurement: field '{}{}' must be a number or null", where, key);
  return v.get<double>();
}
Provenance get_prov(const json& j, const std::string& where) {
  Provenance p;
  p.origin = parse_origin(get<std::string>(j, "origin", where));
  p.by = get<std::string>(j, "by", where);
  return p;
}
json prov(const Provenance& p) {
  return nnjoule::to_json(p);
}

std::string num(const std::optional<double>& v, const char* unit) {
  return v ? format_number(*v) + " " + unit : std::string("unknown");
}

json temps_json(const std::vector<Temperature>& ts) {
  json temps = json::array();
  for (const auto& t : ts)
    temps.push_back({{"zone", t.zone}, {"type", t.type}, {"celsius", t.celsius}});
  return temps;
}

}  // namespace

json window_clocks_json(const Measurement& m) {
  json out = json::array();
  for (const auto& c : m.window_clocks)
    out.push_back({{"cluster", c.cluster},
                   {"min_mhz", opt(c.min_mhz)},
                   {"max_mhz", opt(c.max_mhz)},
                   {"governor_end", c.governor_end}});
  return out;
}

json to_json(const DeviceState& d) {
  json cpus = json::array();
  for (const auto& c : d.cpus)
    cpus.push_back({{"cpu", c.cpu},
                    {"governor", c.governor},
                    {"cur_mhz", opt(c.cur_mhz)},
                    {"min_mhz", opt(c.min_mhz)},
                    {"max_mhz", opt(c.max_mhz)}});
  json clusters = json::array();
  for (const auto& c : d.clusters)
    clusters.push_back({{"name", c.name},
                        {"cpus", c.cpus},
                        {"capacity", c.capacity ? json(*c.capacity) : json(nullptr)},
                        {"min_mhz", opt(c.min_mhz)},
                        {"max_mhz", opt(c.max_mhz)},
                        {"governor", c.governor},
                        {"cur_mhz", opt(c.cur_mhz)}});
  json pinned = json::array();
  for (const auto& p : d.pinned_clocks)
    pinned.push_back({{"cluster", p.cluster},
                      {"cpus", p.cpus},
                      {"requested", p.requested},
                      {"mhz", p.mhz},
                      {"method", p.method},
                      {"saved_min_mhz", opt(p.saved_min_mhz)},
                      {"saved_max_mhz", opt(p.saved_max_mhz)},
                      {"governor", p.governor},
                      {"restored", p.restored}});
  const json temps = temps_json(d.temperatures);
  json caches = json::array();
  for (const auto& c : d.caches)
    caches.push_back(
        {{"level", c.level}, {"type", c.type}, {"bytes", c.bytes}, {"shared_cpus", c.shared_cpus}});
  return {{"cpu_model", d.cpu_model},
          {"logical_cores", d.logical_cores},
          {"kernel", d.kernel},
          {"governor", d.governor},
          {"cpus", cpus},
          {"clusters", clusters},
          {"pinned_clocks", pinned},
          {"temperatures", temps},
          {"caches", caches},
          {"caches_source", d.caches_source},
          {"threads", d.threads},
          {"affinity", d.affinity},
          {"cores_used", d.cores_used},
          {"meter", d.meter},
          {"meter_label", d.meter_label},
          {"domains", d.domains},
          {"notes", d.notes}};
}

json to_json(const Measurement& m) {
  json meters = json::array();
  for (const auto& r : m.meters) {
    json doms = json::array();
    for (const auto& d : r.domains)
      doms.push_back({{"name", d.name},
                      {"in_total", d.in_total},
                      {"energy_mj", d.energy_mj},
                      {"avg_power_mw", d.avg_power_mw}});
    meters.push_back({{"meter", r.meter},
                      {"kind", r.kind},
                      {"provenance", prov(r.provenance)},
                      {"energy_mj", r.energy_mj},
                      {"avg_power_mw", r.avg_power_mw},
                      {"idle_power_mw", opt(r.idle_power_mw)},
                      {"dynamic_energy_mj", opt(r.dynamic_energy_mj)},
                      {"update_period_ms", opt(r.update_period_ms)},
                      {"update_period_upper_bound", r.update_period_upper_bound},
                      {"domains", doms}});
  }
  return {{"workload", m.workload},
          {"kind", m.kind},
          {"meter", m.meter},
          {"provenance", prov(m.provenance)},
          {"inferences", m.inferences},
          {"windows", m.windows},
          {"inferences_per_window", m.inferences_per_window},
          {"energy_per_inference_mj", opt(m.energy_per_inference_mj)},
          {"energy_ci95_mj", opt(m.energy_ci95_mj)},
          {"energy_ci95_rel", opt(m.energy_ci95_rel)},
          {"dynamic_energy_per_inference_mj", opt(m.dynamic_energy_per_inference_mj)},
          {"latency_ms", opt(m.latency_ms)},
          {"latency_ci95_ms", opt(m.latency_ci95_ms)},
          {"converged", m.converged},
          {"stop_reason", m.stop_reason},
          {"duration_ms", m.duration_ms},
          {"energy_mj", m.energy_mj},
          {"dynamic_energy_mj", opt(m.dynamic_energy_mj)},
          {"avg_power_mw", m.avg_power_mw},
          {"idle_power_mw", opt(m.idle_power_mw)},
          {"idle_before_mw", opt(m.idle_before_mw)},
          {"idle_after_mw", opt(m.idle_after_mw)},
          {"dynamic_energy_drift_mj", opt(m.dynamic_energy_drift_mj)},
          {"window_clocks", window_clocks_json(m)},
          {"temperatures_end", temps_json(m.temperatures_end)},
          {"disturbed_windows", m.disturbed_windows},
          {"disturbed", m.disturbed},
          {"max_steal_share", opt(m.max_steal_share)},
          {"max_cpu_pressure_share", opt(m.max_cpu_pressure_share)},
          {"window_target_ms", m.window_target_ms},
          {"exit_code", m.exit_code ? json(*m.exit_code) : json(nullptr)},
          {"cpu_time_ms", opt(m.cpu_time_ms)},
          {"meters", meters},
          {"device", to_json(m.device)},
          {"notes", m.notes}};
}

Measurement measurement_from_json(const json& j) {
  Measurement m;
  m.workload = get<std::string>(j, "workload", "");
  m.kind = get<std::string>(j, "kind", "");
  m.meter = get<std::string>(j, "meter", "");
  m.provenance = get_prov(at(j, "provenance", ""), "provenance.");
  m.inferences = get<int64_t>(j, "inferences", "");
  m.windows = get<int>(j, "windows", "");
  m.inferences_per_window = get<int64_t>(j, "inferences_per_window", "");
  m.energy_per_inference_mj = get_opt(j, "energy_per_inference_mj", "");
  m.energy_ci95_mj = get_opt(j, "energy_ci95_mj", "");
  m.energy_ci95_rel = get_opt(j, "energy_ci95_rel", "");
  m.dynamic_energy_per_inference_mj = get_opt(j, "dynamic_energy_per_inference_mj", "");
  m.latency_ms = get_opt(j, "latency_ms", "");
  m.latency_ci95_ms = get_opt(j, "latency_ci95_ms", "");
  m.converged = get<bool>(j, "converged", "");
  m.stop_reason = get<std::string>(j, "stop_reason", "");
  m.duration_ms = get<double>(j, "duration_ms", "");
  m.energy_mj = get<double>(j, "energy_mj", "");
  m.dynamic_energy_mj = get_opt(j, "dynamic_energy_mj", "");
  m.avg_power_mw = get<double>(j, "avg_power_mw", "");
  m.idle_power_mw = get_opt(j, "idle_power_mw", "");
  m.idle_before_mw = get_opt(j, "idle_before_mw", "");
  m.idle_after_mw = get_opt(j, "idle_after_mw", "");
  // Fields newer versions added: absent in a record an older nnjoule wrote.
  auto added = [&](const char* key) {
    return j.contains(key) ? get_opt(j, key, "") : std::nullopt;
  };
  m.dynamic_energy_drift_mj = added("dynamic_energy_drift_mj");
  if (j.contains("disturbed_windows")) m.disturbed_windows = get<int>(j, "disturbed_windows", "");
  if (j.contains("disturbed")) m.disturbed = get<bool>(j, "disturbed", "");
  m.max_steal_share = added("max_steal_share");
  m.max_cpu_pressure_share = added("max_cpu_pressure_share");
  m.window_target_ms = get<double>(j, "window_target_ms", "");
  if (const auto& e = at(j, "exit_code", ""); !e.is_null())
    m.exit_code = get<int>(j, "exit_code", "");
  m.cpu_time_ms = get_opt(j, "cpu_time_ms", "");
  for (const auto& r : at(j, "meters", "")) {
    MeterResult x;
    x.meter = get<std::string>(r, "meter", "meters[].");
    x.kind = get<std::string>(r, "kind", "meters[].");
    x.provenance = get_prov(at(r, "provenance", "meters[]."), "meters[].provenance.");
    x.energy_mj = get<double>(r, "energy_mj", "meters[].");
    x.avg_power_mw = get<double>(r, "avg_power_mw", "meters[].");
    x.idle_power_mw = get_opt(r, "idle_power_mw", "meters[].");
    x.dynamic_energy_mj = get_opt(r, "dynamic_energy_mj", "meters[].");
    x.update_period_ms = get_opt(r, "update_period_ms", "meters[].");
    x.update_period_upper_bound = get<bool>(r, "update_period_upper_bound", "meters[].");
    for (const auto& d : at(r, "domains", "meters[]."))
      x.domains.push_back({get<std::string>(d, "name", "meters[].domains[]."),
                           get<bool>(d, "in_total", "meters[].domains[]."),
                           get<double>(d, "energy_mj", "meters[].domains[]."),
                           get<double>(d, "avg_power_mw", "meters[].domains[].")});
    m.meters.push_back(std::move(x));
  }
  const json& d = at(j, "device", "");
  const std::string w = "device.";
  m.device.cpu_model = get<std::string>(d, "cpu_model", w);
  m.device.logical_cores = get<int>(d, "logical_cores", w);
  m.device.kernel = get<std::string>(d, "kernel", w);
  m.device.governor = get<std::string>(d, "governor", w);
  for (const auto& c : at(d, "cpus", w))
    m.device.cpus.push_back(
        {get<int>(c, "cpu", w + "cpus[]."), get<std::string>(c, "governor", w + "cpus[]."),
         get_opt(c, "cur_mhz", w + "cpus[]."), get_opt(c, "min_mhz", w + "cpus[]."),
         get_opt(c, "max_mhz", w + "cpus[].")});
  if (d.contains("clusters"))  // absent in records of versions before cluster discovery
    for (const auto& c : at(d, "clusters", w)) {
      const std::string wc = w + "clusters[].";
      CpuCluster k;
      k.name = get<std::string>(c, "name", wc);
      k.cpus = get<std::vector<int>>(c, "cpus", wc);
      if (auto cap = get_opt(c, "capacity", wc)) k.capacity = static_cast<int64_t>(*cap);
      k.min_mhz = get_opt(c, "min_mhz", wc);
      k.max_mhz = get_opt(c, "max_mhz", wc);
      k.governor = get<std::string>(c, "governor", wc);
      k.cur_mhz = get_opt(c, "cur_mhz", wc);
      m.device.clusters.push_back(std::move(k));
    }
  if (d.contains("pinned_clocks"))  // absent in records of versions before --pin-freq
    for (const auto& c : at(d, "pinned_clocks", w)) {
      const std::string wc = w + "pinned_clocks[].";
      PinnedClock p;
      p.cluster = get<std::string>(c, "cluster", wc);
      p.cpus = get<std::vector<int>>(c, "cpus", wc);
      p.requested = get<std::string>(c, "requested", wc);
      p.mhz = get<double>(c, "mhz", wc);
      p.method = get<std::string>(c, "method", wc);
      p.saved_min_mhz = get_opt(c, "saved_min_mhz", wc);
      p.saved_max_mhz = get_opt(c, "saved_max_mhz", wc);
      p.governor = get<std::string>(c, "governor", wc);
      p.restored = get<bool>(c, "restored", wc);
      m.device.pinned_clocks.push_back(std::move(p));
    }
  if (j.contains("window_clocks"))  // absent in records of older versions
    for (const auto& c : at(j, "window_clocks", ""))
      m.window_clocks.push_back(
          {get<std::string>(c, "cluster", "window_clocks[]."),
           get_opt(c, "min_mhz", "window_clocks[]."), get_opt(c, "max_mhz", "window_clocks[]."),
           // absent in records from before governors were read per window
           c.contains("governor_end") ? get<std::string>(c, "governor_end", "window_clocks[].")
                                      : std::string()});
  if (j.contains("temperatures_end"))
    for (const auto& t : at(j, "temperatures_end", ""))
      m.temperatures_end.push_back({get<std::string>(t, "zone", "temperatures_end[]."),
                                    get<std::string>(t, "type", "temperatures_end[]."),
                                    get<double>(t, "celsius", "temperatures_end[].")});
  for (const auto& t : at(d, "temperatures", w))
    m.device.temperatures.push_back({get<std::string>(t, "zone", w + "temperatures[]."),
                                     get<std::string>(t, "type", w + "temperatures[]."),
                                     get<double>(t, "celsius", w + "temperatures[].")});
  if (d.contains("caches")) {  // absent in records of versions before cache sizes
    for (const auto& c : at(d, "caches", w)) {
      const std::string wc = w + "caches[].";
      m.device.caches.push_back({get<int>(c, "level", wc), get<std::string>(c, "type", wc),
                                 get<int64_t>(c, "bytes", wc),
                                 get<std::string>(c, "shared_cpus", wc)});
    }
    m.device.caches_source = get<std::string>(d, "caches_source", w);
  }
  m.device.threads = get<int>(d, "threads", w);
  m.device.affinity = get<std::vector<int>>(d, "affinity", w);
  m.device.cores_used = get<int>(d, "cores_used", w);
  m.device.meter = get<std::string>(d, "meter", w);
  m.device.meter_label = get<std::string>(d, "meter_label", w);
  m.device.domains = get<std::vector<std::string>>(d, "domains", w);
  m.device.notes = get<std::vector<std::string>>(d, "notes", w);
  m.notes = get<std::vector<std::string>>(j, "notes", "");
  return m;
}

std::string format_measurement(const Measurement& m) {
  const std::string src = m.provenance.label();
  std::string out =
      fmt::format("{} {}: {}\n", m.kind, m.kind == "model" ? "measured" : "run", m.workload);
  TextTable t({"quantity", "value", "source"},
              {TextTable::Align::kLeft, TextTable::Align::kRight, TextTable::Align::kLeft});
  auto row = [&](const std::string& q, const std::string& v, const std::string& s) {
    t.add_row({q, v, s});
  };
  if (m.exit_code) row("exit code", std::to_string(*m.exit_code), "command");
  if (m.cpu_time_ms)
    row("cpu time", format_number(*m.cpu_time_ms) + " ms", "measured (wait4 rusage)");
  if (m.kind == "model") {
    row("inferences (N)",
        fmt::format("{} in {} windows ({} per window at the end)", m.inferences, m.windows,
                    m.inferences_per_window),
        "counted");
    row("energy / inference", num(m.energy_per_inference_mj, "mJ"), src);
    row("95% CI",
        m.energy_ci95_mj ? fmt::format("+/- {} mJ ({:.2f}%)", format_number(*m.energy_ci95_mj),
                                       m.energy_ci95_rel.value_or(0) * 100)
                         : std::string("unknown (one window)"),
        src);
    row("dynamic energy / inference", num(m.dynamic_energy_per_inference_mj, "mJ"), src);
    row("latency", num(m.latency_ms, "ms"), "measured (steady clock)");
  }
  row("duration", format_number(m.duration_ms) + " ms", "measured (steady clock)");
  row("energy", format_number(m.energy_mj) + " mJ", src);
  row("average power", format_number(m.avg_power_mw) + " mW", src);
  row("idle power",
      m.idle_power_mw ? fmt::format("{} mW (before {}, after {})", format_number(*m.idle_power_mw),
                                    num(m.idle_before_mw, "mW"), num(m.idle_after_mw, "mW"))
                      : std::string("unknown (no baseline)"),
      src);
  std::string dynamic = num(m.dynamic_energy_mj, "mJ");
  if (m.dynamic_energy_mj && m.dynamic_energy_drift_mj) {
    dynamic += fmt::format(" +/- {} mJ (idle drift)", format_number(*m.dynamic_energy_drift_mj));
    if (*m.dynamic_energy_mj <= *m.dynamic_energy_drift_mj)
      dynamic += ": indistinguishable from idle";
  }
  row("dynamic energy", dynamic, src);
  out += t.render();
  if (m.kind == "model")
    out += fmt::format("stop: {}; window target {} ms\n", m.stop_reason,
                       format_number(m.window_target_ms));

  TextTable mt(
      {"meter", "domain", "energy_mj", "avg_power_mw", "idle_power_mw", "update period", "source"},
      {TextTable::Align::kLeft, TextTable::Align::kLeft, TextTable::Align::kRight,
       TextTable::Align::kRight, TextTable::Align::kRight, TextTable::Align::kRight,
       TextTable::Align::kLeft});
  for (const auto& r : m.meters) {
    const std::string period = r.update_period_ms ? (r.update_period_upper_bound ? "<= " : "") +
                                                        format_number(*r.update_period_ms) + " ms"
                                                  : std::string("not measured");
    mt.add_row({r.meter, "total", format_number(r.energy_mj), format_number(r.avg_power_mw),
                r.idle_power_mw ? format_number(*r.idle_power_mw) : "unknown", period,
                r.provenance.label()});
    for (const auto& d : r.domains)
      mt.add_row({"", d.name + (d.in_total ? "" : " (not in total)"), format_number(d.energy_mj),
                  format_number(d.avg_power_mw), "", "", ""});
  }
  out += "\n" + mt.render();

  const auto& d = m.device;
  out += fmt::format("\ndevice: {} ({} cores online), kernel {}\n", d.cpu_model, d.logical_cores,
                     d.kernel.empty() ? "unknown" : d.kernel);
  out += fmt::format("governor: {}", d.governor);
  if (!d.cpus.empty() && d.cpus.front().cur_mhz) {
    double lo = 1e300, hi = 0;
    for (const auto& c : d.cpus)
      if (c.cur_mhz) lo = std::min(lo, *c.cur_mhz), hi = std::max(hi, *c.cur_mhz);
    out += fmt::format("; frequency {}-{} MHz", format_number(lo), format_number(hi));
  }
  out += "\n";
  if (d.clusters.size() > 1 || (!d.clusters.empty() && d.clusters.front().capacity)) {
    out += "clusters:";
    for (size_t i = 0; i < d.clusters.size(); ++i)
      out += (i ? "; " : " ") + describe(d.clusters[i]);
    out += "\n";
  }
  for (const auto& p : d.pinned_clocks) out += "clock pinned: " + describe(p) + "\n";
  if (!d.temperatures.empty()) {
    out += "temperature:";
    for (const auto& tz : d.temperatures)
      out += fmt::format(" {} {:.1f} C;", tz.type.empty() ? tz.zone : tz.type, tz.celsius);
    out += "\n";
  }
  std::string clocks;
  for (const auto& c : m.window_clocks)
    if (c.min_mhz && c.max_mhz)
      clocks += fmt::format(" {} {}-{} MHz;", c.cluster, format_number(*c.min_mhz),
                            format_number(*c.max_mhz));
  if (!clocks.empty()) out += "clock at the start and end of each window:" + clocks + "\n";
  // A governor switched by someone else mid-measurement (a phone's power HAL, a thermal
  // daemon) changes what the numbers mean: said in one line.
  std::string switched;
  for (size_t i = 0; i < m.window_clocks.size() && i < d.clusters.size(); ++i) {
    const auto& c = m.window_clocks[i];
    if (!c.governor_end.empty() && !d.clusters[i].governor.empty() &&
        c.governor_end != d.clusters[i].governor)
      switched += fmt::format(" {} {} -> {};", c.cluster, d.clusters[i].governor, c.governor_end);
  }
  if (!switched.empty()) out += "governor changed during the measurement:" + switched + "\n";
  if (!m.temperatures_end.empty()) {
    out += "temperature at the end:";
    for (const auto& tz : m.temperatures_end)
      out += fmt::format(" {} {:.1f} C;", tz.type.empty() ? tz.zone : tz.type, tz.celsius);
    out += "\n";
  }
  std::string aff;
  for (int c : d.affinity) aff += (aff.empty() ? "" : ",") + std::to_string(c);
  out += fmt::format("threads: {}; cores used: {}; affinity: {}\n",
                     d.threads > 0 ? std::to_string(d.threads) : std::string("n/a"), d.cores_used,
                     aff.empty() ? "unknown" : aff);
  for (const auto& n : d.notes) out += "note: " + n + "\n";
  for (const auto& n : m.notes) out += "note: " + n + "\n";
  return out;
}

}  // namespace nnjoule::collect
