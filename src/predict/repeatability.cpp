#include "nnjoule/predict/repeatability.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>

#include "nnjoule/common/stats.hpp"
#include "nnjoule/common/table.hpp"

namespace nnjoule::predict {

RepeatabilityResult evaluate_repeatability(const std::vector<ModelSample>& models) {
  RepeatabilityResult r;
  r.models = models.size();
  const std::vector<Target> targets = {Target::kLatency, Target::kEnergy};
  for (const Target t : targets) {
    r.targets.emplace_back(target_name(t));
    RepeatabilityShare share;
    std::vector<RepeatabilityRow> rows;
    for (const auto& m : models) {
      std::vector<double> v;
      for (const auto& x : m.repeats)
        if (auto y = x.get(t); y && *y > 0) v.push_back(*y);
      if (v.size() < 2) continue;
      const double med = stats::median(v);
      RepeatabilityRow row{m.name, m.family, v.size(), med, 0.0};
      for (const double x : v) {
        const double dev = std::abs(x / med - 1);
        row.max_deviation = std::max(row.max_deviation, dev);
        ++share.measurements;
        share.within5 += dev <= 0.05;
        share.within10 += dev <= 0.10;
      }
      rows.push_back(std::move(row));
    }
    r.repeated_models = std::max(r.repeated_models, rows.size());
    r.overall.push_back(share);
    r.rows.push_back(std::move(rows));
  }
  for (const auto& m : models)
    if (!m.energy_origin.by.empty()) {
      r.energy_origin = m.energy_origin.label();
      break;
    }
  return r;
}

nlohmann::json to_json(const RepeatabilityResult& r) {
  nlohmann::json j = {{"models", r.models},
                      {"repeated_models", r.repeated_models},
                      {"energy_origin", r.energy_origin}};
  for (size_t i = 0; i < r.targets.size(); ++i) {
    const auto& s = r.overall[i];
    nlohmann::json rows = nlohmann::json::array();
    for (const auto& row : r.rows[i])
      rows.push_back({{"model", row.model},
                      {"family", row.family},
                      {"n", row.n},
                      {"median", row.median},
                      {"max_deviation", row.max_deviation}});
    j[r.targets[i]] = {{"measurements", s.measurements},
                       {"within_5", s.share5()},
                       {"within_10", s.share10()},
                       {"per_model", rows}};
  }
  return j;
}

std::string render_table(const RepeatabilityResult& r) {
  if (r.repeated_models == 0)
    return fmt::format(
        "repeatability: none of the {} models was measured more than once (nnjoule collect "
        "models --repeat N)\n",
        r.models);
  TextTable t({"target", "measurements", "models", "within +/-5% of median",
               "within +/-10% of median", "worst model (deviation)"});
  for (size_t i = 0; i < r.targets.size(); ++i) {
    const auto& s = r.overall[i];
    if (!s.measurements) continue;
    const auto worst = std::max_element(
        r.rows[i].begin(), r.rows[i].end(),
        [](const auto& a, const auto& b) { return a.max_deviation < b.max_deviation; });
    t.add_row({r.targets[i], std::to_string(s.measurements), std::to_string(r.rows[i].size()),
               fmt::format("{:.1f}%", 100 * s.share5()), fmt::format("{:.1f}%", 100 * s.share10()),
               fmt::format("{} ({:.1f}%)", worst->model, 100 * worst->max_deviation)});
  }
  std::string out = fmt::format(
      "repeatability: {} of {} models measured more than once; each measurement against its "
      "model's median (latency measured by clock; energy {})\n",
      r.repeated_models, r.models, r.energy_origin.empty() ? "unknown" : r.energy_origin);
  return out + t.render();
}

std::string ceiling_line(const RepeatabilityResult& r) {
  if (r.repeated_models == 0) return "";
  std::string out = "repeatability ceiling (repeated measurements within +/-10% of their median):";
  for (size_t i = 0; i < r.targets.size(); ++i)
    if (r.overall[i].measurements)
      out += fmt::format(" {} {:.1f}%", r.targets[i], 100 * r.overall[i].share10());
  return out + fmt::format(" over {} models\n", r.repeated_models);
}

}  // namespace nnjoule::predict
