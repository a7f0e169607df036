#include "nnjoule/score/input.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <map>
#include <set>

#include "nnjoule/common/error.hpp"
#include "nnjoule/common/text.hpp"

namespace nnjoule::score {

ScoreInput load_score_input(const store::Store& db) {
  ScoreInput in;
  const auto rows = db.applications();
  if (rows.empty())
    fail("{}: no application measurements (run nnjoule apps --suite first)", db.path().string());
  auto devices = db.devices();
  std::map<int64_t, std::string> names;
  std::map<int64_t, size_t> info_index;
  std::set<int64_t> with_rows;
  for (const auto& r : rows) with_rows.insert(r.device_id);
  // Only devices with application rows need telling apart: the same host's collect rows sit
  // under another device row (another runtime string) with the same name.
  std::map<std::string, int> name_count;
  for (const auto& d : devices)
    if (with_rows.count(d.id)) ++name_count[d.name];
  for (const auto& d : devices) {
    if (!with_rows.count(d.id)) continue;
    names[d.id] = name_count[d.name] > 1 ? fmt::format("{} #{}", d.name, d.id) : d.name;
    info_index[d.id] = in.devices.size();
    in.devices.push_back({.name = names[d.id], .soc = d.soc.empty() ? d.cpu : d.soc});
  }
  // Suite configurations and TDPs from the runs, oldest first (a later run's TDP wins). The
  // settings are JSON another version (or a hand) may have written: their shape is checked.
  const std::string file = db.path().string();
  std::set<std::string> seen;
  for (const auto& run : db.runs()) {
    if (run.kind != "applications") continue;
    const auto& st = run.settings;
    const std::string at = fmt::format("{}: run {}", file, run.id);
    if (!st.is_object()) fail("{}: settings: expected an object", at);
    if (auto it = info_index.find(run.device_id); it != info_index.end() && st.contains("tdp_w")) {
      const auto& t = st["tdp_w"];
      if (!t.is_number())
        fail("{}: settings.tdp_w: expected a number, got {}", at, json_text(t).substr(0, 40));
      const std::string source = st.contains("tdp_source") && st["tdp_source"].is_string()
                                     ? st["tdp_source"].get<std::string>()
                                     : std::string();
      check_tdp_w(t.get<double>(),
                  at + ": settings.tdp_w" + (source.empty() ? "" : " (" + source + ")"));
      auto& dev = in.devices[it->second];
      dev.tdp_w = t.get<double>();
      dev.tdp_source = source.empty() ? "the bench run's settings" : source;
    }
    if (st.contains("configs")) {
      const auto& cs = st["configs"];
      auto is_key = [](const nlohmann::json& c) {
        return c.is_object() && c.contains("model") && c["model"].is_string() &&
               c.contains("delegate") && c["delegate"].is_string();
      };
      if (!cs.is_array() || !std::all_of(cs.begin(), cs.end(), is_key))
        fail("{}: settings.configs: expected a list of {{\"model\", \"delegate\"}} objects", at);
      for (const auto& c : cs) {
        ConfigKey k{c["model"].get<std::string>(), c["delegate"].get<std::string>()};
        if (seen.insert(k.label()).second) in.configs.push_back(k);
      }
    }
    if (st.contains("unsupported") && info_index.count(run.device_id)) {
      const auto& un = st["unsupported"];
      if (!un.is_object() ||
          !std::all_of(un.begin(), un.end(), [](const auto& v) { return v.is_string(); }))
        fail("{}: settings.unsupported: expected an object of configuration: reason", at);
      const auto& dev = in.devices[info_index[run.device_id]].name;
      for (const auto& [label, why] : un.items())
        in.unsupported[{dev, label}] = why.template get<std::string>();
    }
  }
  std::map<std::pair<int64_t, std::string>, const store::AppRow*> latest;
  for (const auto& r : rows) {
    if (!r.m.power_mw || !r.m.energy_mj || !names.count(r.device_id)) continue;
    const ConfigKey k{r.model, r.delegate};
    auto& slot = latest[{r.device_id, k.label()}];
    if (!slot || slot->id < r.id) slot = &r;
    if (seen.insert(k.label()).second) in.configs.push_back(k);
  }
  // The values scored, in the store's units (mW, mJ, ms), each within its plausible range.
  const Plausible power_range{kApcRange.min * 1e3, kApcRange.max * 1e3, "mW"};
  const Plausible energy_range{kEciRange.min * 1e3, kEciRange.max * 1e3, "mJ"};
  for (const auto& [key, r] : latest) {
    const std::string where = fmt::format("{}: application measurement {} ({} on '{}')", file,
                                          r->id, key.second, names[r->device_id]);
    check_plausible(*r->m.power_mw, power_range, where, "power_mw ");
    check_plausible(*r->m.energy_mj, energy_range, where, "energy_mj ");
    if (r->m.latency_ms) check_plausible(*r->m.latency_ms, kLatencyRange, where, "latency_ms ");
    in.results.push_back({names[r->device_id],
                          {r->model, r->delegate},
                          *r->m.power_mw / 1000.0,
                          *r->m.energy_mj / 1000.0,
                          r->m.latency_ms,
                          r->m.provenance});
  }
  return in;
}

}  // namespace nnjoule::score
