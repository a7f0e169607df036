#include "nnjoule/meter/report.hpp"

#include <fmt/format.h>

#include "nnjoule/common/table.hpp"
#include "nnjoule/meter/discovery.hpp"

namespace nnjoule::meter {
namespace {
using json = nlohmann::json;

std::string unit(Signal s) {
  return s == Signal::kPower ? "mW" : "mJ";
}

std::string period_text(const MeterStats& s, double probe_s) {
  if (!s.update_period_s)
    return fmt::format("not seen to change in {} ms", format_number(probe_s * 1e3));
  return fmt::format("{}{} ms{}", s.period_is_upper_bound ? "<= " : "",
                     format_number(*s.update_period_s * 1e3), s.period_known ? " (known)" : "");
}

// found / found but not live, from the probe.
std::string live_status(const Finding& f, const std::optional<MeterStats>& s, std::string* why) {
  if (f.status != Finding::Status::kFound) return std::string(status_name(f.status));
  if (s && !probe_says_live(*f.meter, *s, why)) return "not live";
  return "found";
}

}  // namespace

json meters_json(const std::vector<Finding>& findings,
                 const std::vector<std::optional<MeterStats>>& stats, double probe_s) {
  json out = json::array();
  for (size_t i = 0; i < findings.size(); ++i) {
    const auto& f = findings[i];
    const auto& s = stats.at(i);
    std::string why;
    const std::string status = live_status(f, s, &why);
    json m = {{"kind", f.kind}, {"name", f.name}, {"status", status}, {"reason", f.reason}};
    if (!why.empty()) m["not_live_reason"] = why;
    if (s && !s->polling_note.empty()) m["polling_note"] = s->polling_note;
    if (f.meter) {
      m["provenance"] = to_json(f.meter->provenance());
      json doms = json::array();
      const auto& d = f.meter->domains();
      for (size_t k = 0; k < d.size(); ++k) {
        json dj = {{"name", d[k].name},
                   {"signal", std::string(signal_name(d[k].signal))},
                   {"in_total", d[k].in_total},
                   {"note", d[k].note},
                   {"wrap_mj", d[k].wrap_mj > 0 ? json(d[k].wrap_mj) : json(nullptr)}};
        if (const auto period = wrap_period_s(d[k])) {
          dj["max_power_mw"] = d[k].max_power_mw;
          dj["max_power_source"] = d[k].max_power_source;
          dj["max_power_assumed"] = d[k].max_power_assumed;
          dj["wrap_period_ms"] = *period * 1e3;
        }
        if (s) {
          dj["readable"] = s->error.empty();
          dj["reads"] = s->reads;
          dj["update_period_ms"] =
              s->update_period_s ? json(*s->update_period_s * 1e3) : json(nullptr);
          dj["update_period_upper_bound"] = s->period_is_upper_bound;
          dj["update_period_known"] = s->period_known;
          const auto& r = k < s->resolution.size() ? s->resolution[k] : std::nullopt;
          dj["resolution"] = r ? json(*r) : json(nullptr);
          dj["resolution_unit"] = unit(d[k].signal);
          dj["resolution_known"] = k < s->resolution_known.size() && s->resolution_known[k];
          if (!s->error.empty()) dj["error"] = s->error;
          dj["poll_interval_ms"] = s->interval_s * 1e3;
        }
        doms.push_back(std::move(dj));
      }
      m["domains"] = doms;
    }
    out.push_back(std::move(m));
  }
  return {{"probe_ms", probe_s * 1e3}, {"meters", out}};
}

std::string format_meters(const std::vector<Finding>& findings,
                          const std::vector<std::optional<MeterStats>>& stats, double probe_s) {
  TextTable t({"meter", "status", "domain", "signal", "readable", "update period",
               "resolution (min step)", "note"});
  std::string tail;
  for (size_t i = 0; i < findings.size(); ++i) {
    const auto& f = findings[i];
    const auto& s = stats.at(i);
    std::string why;
    const std::string status = live_status(f, s, &why);
    if (!f.meter) {
      tail += fmt::format("{}: {}: {}\n", f.name, status, f.reason);
      continue;
    }
    const auto& d = f.meter->domains();
    for (size_t k = 0; k < d.size(); ++k) {
      std::string readable = "not probed", period = "-", res = "-";
      if (s) {
        readable = s->error.empty() ? "yes" : "no";
        period = period_text(*s, probe_s);
        const auto& r = k < s->resolution.size() ? s->resolution[k] : std::nullopt;
        const bool known = k < s->resolution_known.size() && s->resolution_known[k];
        res = r ? format_number(*r) + " " + unit(d[k].signal) + (known ? " (known)" : "")
                : std::string("not seen");
      }
      if (d[k].signal == Signal::kOffline) readable = "file", period = "-", res = "-";
      std::string note = d[k].note;
      if (!d[k].in_total) note = "not in total: " + note;
      t.add_row({k == 0 ? f.name : "", k == 0 ? status : "", d[k].name,
                 std::string(signal_name(d[k].signal)), readable, period, res, note});
    }
    const std::string label = f.meter->provenance().label();
    if (!f.reason.empty()) tail += fmt::format("{}: {}: {}\n", f.name, label, f.reason);
    if (!why.empty()) tail += fmt::format("{}: not live: {}\n", f.name, why);
    if (s && !s->polling_note.empty()) tail += fmt::format("{}: {}\n", f.name, s->polling_note);
    if (s && !s->error.empty()) tail += fmt::format("{}: read failed: {}\n", f.name, s->error);
  }
  std::string out = t.rows() ? t.render() : std::string("no meter found\n");
  return out + "\n" + tail +
         fmt::format("(update period and resolution measured over a {} ms probe)\n",
                     format_number(probe_s * 1e3));
}

json to_json(const EnergyWindow& w) {
  json meters = json::array();
  for (const auto& m : w.meters) {
    json domains = json::array();
    for (const auto& d : m.domains)
      domains.push_back({{"name", d.name},
                         {"signal", std::string(signal_name(d.signal))},
                         {"in_total", d.in_total},
                         {"energy_mj", d.energy_mj},
                         {"avg_power_mw", d.avg_power_mw},
                         {"wraps", d.wraps}});
    meters.push_back({{"meter", m.meter},
                      {"kind", m.kind},
                      {"provenance", to_json(m.provenance)},
                      {"energy_mj", m.energy_mj},
                      {"avg_power_mw", m.avg_power_mw},
                      {"reads", m.reads},
                      {"updates", m.updates},
                      {"domains", domains}});
  }
  json j = {{"name", w.name}, {"duration_ms", w.duration_ms}, {"meters", meters}};
  if (!w.meters.empty()) {
    const auto& p = w.primary();
    j["energy_mj"] = p.energy_mj;
    j["avg_power_mw"] = p.avg_power_mw;
    j["provenance"] = to_json(p.provenance);
  }
  return j;
}

MeterSurvey survey_meters(const DiscoverOptions& options, std::optional<double> probe_s) {
  MeterSurvey s;
  s.findings = discover_meters(options);
  std::vector<std::shared_ptr<Meter>> live;
  bool battery = false;
  for (const auto& f : s.findings) {
    if (f.status != Finding::Status::kFound) continue;
    live.push_back(f.meter);
    battery = battery || f.kind == "battery";
  }
  s.probe_s = probe_s ? *probe_s : battery ? 5.0 : 0.5;
  const auto stats = probe_meters(live, s.probe_s);
  size_t k = 0;
  for (const auto& f : s.findings)
    s.stats.push_back(f.status == Finding::Status::kFound ? std::optional<MeterStats>(stats.at(k++))
                                                          : std::nullopt);
  return s;
}

json to_json(const MeterSurvey& s) {
  return meters_json(s.findings, s.stats, s.probe_s);
}

std::string format_meters(const MeterSurvey& s) {
  return format_meters(s.findings, s.stats, s.probe_s);
}

}  // namespace nnjoule::meter
