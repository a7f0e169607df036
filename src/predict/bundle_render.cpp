// Predictions and bundles as text and JSON: ModelPrediction::to_json and render, the batch of
// kernel predictions of nnjoule predict --kernels, and a bundle's summary.
#include <fmt/format.h>

#include <map>
#include <nlohmann/json.hpp>
#include <set>

#include "bundle_detail.hpp"
#include "nnjoule/common/table.hpp"
#include "nnjoule/predict/bundle.hpp"

namespace nnjoule::predict {

using nlohmann::json;

namespace {

using detail::fmt_feature;
using detail::opt_json;

std::string fmt_value(const std::optional<double>& v) {
  return v ? format_number(*v) : std::string("n/a");
}

json kernel_json(const KernelPrediction& k) {
  json cfg = json::object();
  for (const auto& [key, v] : k.config.items()) cfg[key] = v;
  json methods = json::object();
  for (const auto& [t, m] : k.method) methods[std::string(target_name(t))] = m;
  json outside = json::array();
  for (const auto& o : k.out_of_range) {
    outside.push_back({{"feature", o.feature}, {"value", o.value}, {"min", o.min}, {"max", o.max}});
  }
  return {{"name", k.name},
          {"type", k.type},  // the kernel key: "conv-relu@int8"
          {"dtype", kernels::key_dtype(k.type)},
          {"config", cfg},
          {"energy_mj", opt_json(k.predicted.energy_mj)},
          {"latency_ms", opt_json(k.predicted.latency_ms)},
          {"power_mw", opt_json(k.predicted.power_mw)},
          {"fallback", k.fallback},
          {"extrapolated", k.extrapolated},
          {"out_of_range", outside},
          {"rejected", k.rejected},
          {"method", methods}};
}

// The method column: how the kernel was predicted, and whether the trees extrapolated.
std::string method_cell(const KernelPrediction& k) {
  // "none*": energy or latency has nothing to predict it (an int8 kernel and a bundle without
  // int8 rows); the footnote says why.
  const bool none = std::any_of(k.method.begin(), k.method.end(), [](const auto& m) {
    return m.first != Target::kPower && m.second.rfind("none: ", 0) == 0;
  });
  std::string s = k.rejected   ? "left out!"
                  : none       ? "none*"
                  : k.fallback ? "fallback*"
                               : "regressor";
  if (k.extrapolated) s += ", extrapolated";
  return s;
}

std::string out_of_range_text(const KernelPrediction& k) {
  std::string s;
  for (const auto& o : k.out_of_range) {
    s += fmt::format("{}{}={} (trained {}..{})", s.empty() ? "" : ", ", o.feature,
                     fmt_feature(o.value), fmt_feature(o.min), fmt_feature(o.max));
  }
  return s;
}

std::string fallback_notes(const std::vector<KernelPrediction>& ks) {
  std::map<std::string, std::string> fb;
  for (const auto& k : ks) {
    if (!k.fallback || fb.count(k.type)) continue;
    std::string how;
    for (const auto& [t, m] : k.method) {
      if (m == "regressor") continue;
      how += (how.empty() ? "" : "; ") + std::string(target_name(t)) + ": " + m;
    }
    fb[k.type] = how;
  }
  std::string s;
  for (const auto& [type, how] : fb) s += fmt::format("* {}: {}\n", type, how);
  return s;
}

}  // namespace

json ModelPrediction::to_json() const {
  json ks = json::array();
  for (const auto& k : kernels) {
    json j = kernel_json(k);
    j["energy_share"] = k.energy_share;
    j["latency_share"] = k.latency_share;
    ks.push_back(std::move(j));
  }
  json unknown = json::array();
  for (const auto& [op, node] : unknown_ops) unknown.push_back({{"op", op}, {"node", node}});
  json fb = json::object();
  for (const auto& [t, how] : fallback_types) fb[t] = how;
  return {{"model", model},
          {"origin", origin_name(provenance.origin)},
          {"provenance", provenance.label()},
          {"predictor", predictor},
          {"device",
           {{"name", device.name},
            {"runtime", device.runtime},
            {"threads", device.threads},
            {"meter", device.meter}}},
          {"training_energy_origin", training_energy_origin},
          {"cpu_mhz", opt_json(cpu_mhz)},
          {"cpu_capacity", opt_json(cpu_capacity)},
          {"total",
           {{"energy_mj", opt_json(total.energy_mj)},
            {"latency_ms", opt_json(total.latency_ms)},
            {"power_mw", opt_json(total.power_mw)},
            {"power_note", "average power: total energy / total latency"}}},
          {"lower_bound", lower_bound},
          {"extrapolated_kernels", extrapolated_kernels},
          {"kernels", ks},
          {"fallback_types", fb},
          {"unknown_ops", unknown},
          {"warnings", warnings}};
}

std::string ModelPrediction::render() const {
  const std::string label = provenance.label();
  std::string s =
      fmt::format("{}: {} for {} ({}, {} thread{})\n", model.empty() ? "kernels" : model, label,
                  device.name, device.runtime, device.threads, device.threads == 1 ? "" : "s");
  s += fmt::format("  trained on energy {}\n",
                   training_energy_origin.empty() ? std::string("(none)") : training_energy_origin);
  if (cpu_mhz)
    s += fmt::format("  at a CPU clock of {} MHz{} (given)\n", format_number(*cpu_mhz),
                     cpu_capacity ? fmt::format(", capacity {:g}", *cpu_capacity) : std::string());
  TextTable t({"#", "kernel", "type", "config", "energy_mj", "latency_ms", "power_mw", "energy %",
               "method"},
              {TextTable::Align::kRight, TextTable::Align::kLeft, TextTable::Align::kLeft,
               TextTable::Align::kLeft, TextTable::Align::kRight, TextTable::Align::kRight,
               TextTable::Align::kRight, TextTable::Align::kRight, TextTable::Align::kLeft});
  for (size_t i = 0; i < kernels.size(); ++i) {
    const auto& k = kernels[i];
    t.add_row({std::to_string(i + 1), k.name, k.type, k.config.str(),
               fmt_value(k.predicted.energy_mj), fmt_value(k.predicted.latency_ms),
               fmt_value(k.predicted.power_mw), fmt::format("{:.1f}", 100 * k.energy_share),
               method_cell(k)});
  }
  s += t.render();
  s += fmt::format("total energy_mj: {}   latency_ms: {}   average power_mw: {}   [{}{}{}]\n",
                   fmt_value(total.energy_mj), fmt_value(total.latency_ms),
                   fmt_value(total.power_mw), label, lower_bound ? ", lower bound" : "",
                   extrapolated_kernels ? fmt::format(", {} of {} kernels extrapolated",
                                                      extrapolated_kernels, kernels.size())
                                        : std::string());
  for (const auto& [type, how] : fallback_types) s += fmt::format("* {}: {}\n", type, how);
  for (const auto& w : warnings) s += "warning: " + w + "\n";
  return s;
}

std::string render_kernel_predictions(const Predictor& p, const std::vector<KernelPrediction>& ks) {
  const auto& d = p.info().device;
  std::string s = fmt::format("kernels: {} for {} ({}, {} thread{}); trained on energy {}\n",
                              p.provenance().label(), d.name, d.runtime, d.threads,
                              d.threads == 1 ? "" : "s", p.info().training.energy_origin);
  using A = TextTable::Align;
  TextTable t({"name", "type", "config", "energy_mj", "latency_ms", "power_mw", "method"},
              {A::kLeft, A::kLeft, A::kLeft, A::kRight, A::kRight, A::kRight, A::kLeft});
  size_t extrapolated = 0;
  for (const auto& k : ks) {
    t.add_row({k.name, k.type, k.config.str(), fmt_value(k.predicted.energy_mj),
               fmt_value(k.predicted.latency_ms), fmt_value(k.predicted.power_mw), method_cell(k)});
    extrapolated += k.extrapolated;
  }
  s += t.render();
  s += fallback_notes(ks);
  if (extrapolated > 0) {
    s += fmt::format(
        "{} of {} kernels extrapolated (a feature outside the training range of the regressor "
        "that predicted them):\n",
        extrapolated, ks.size());
    for (const auto& k : ks)
      if (k.extrapolated) s += fmt::format("  {}: {}\n", k.name, out_of_range_text(k));
  }
  for (const auto& k : ks) {
    if (!k.rejected) continue;
    for (const auto& [target, m] : k.method) {
      if (m.rfind("none: ", 0) == 0 && m.find("(left out)") != std::string::npos) {
        s += fmt::format("! {} {}: {}\n", k.name, target_name(target), m);
      }
    }
  }
  return s;
}

json kernel_predictions_json(const Predictor& p, const std::vector<KernelPrediction>& ks) {
  json rows = json::array();
  size_t extrapolated = 0;
  for (const auto& k : ks) {
    rows.push_back(kernel_json(k));
    extrapolated += k.extrapolated;
  }
  const auto& d = p.info().device;
  return {{"origin", "predicted"},
          {"provenance", p.provenance().label()},
          {"predictor", p.name()},
          {"device",
           {{"name", d.name}, {"runtime", d.runtime}, {"threads", d.threads}, {"meter", d.meter}}},
          {"training_energy_origin", p.info().training.energy_origin},
          {"extrapolated_kernels", extrapolated},
          {"kernels", rows}};
}

std::string render_summary(const Predictor& p) {
  const BundleInfo& i = p.info();
  std::string s = fmt::format(
      "predictor {}: {} ({}, {} thread{}), {} regressors, {} features, log targets: {}\n", i.name,
      i.device.name, i.device.runtime, i.device.threads, i.device.threads == 1 ? "" : "s",
      mode_name(i.mode), feature_set_name(i.feature_set), i.log_target ? "yes" : "no");
  s += fmt::format("training data: {} rows from {} (hash {}); energy {}; latency {}\n",
                   i.training.rows, i.training.source, i.training.hash, i.training.energy_origin,
                   i.training.latency_origin);
  using A = TextTable::Align;
  TextTable t({"kernel type", "target", "rows", "CV RMSPE", "CV ±10%", "params"},
              {A::kLeft, A::kLeft, A::kRight, A::kRight, A::kRight, A::kLeft});
  for (const auto& r : p.regressors()) {
    t.add_row({r.type, std::string(target_name(r.target)), std::to_string(r.rows),
               r.cv ? fmt::format("{:.2f}%", r.cv->rmspe) : "-",
               r.cv ? fmt::format("{:.1f}%", 100 * r.cv->within10) : "-",
               r.params.str() + (r.searched ? " (searched)" : "")});
  }
  s += t.render();
  std::set<std::string> without;
  for (const auto& [type, n] : i.training.rows_by_type)
    if (!p.find(type, Target::kEnergy) && !p.find(type, Target::kLatency)) without.insert(type);
  for (const auto& type : without) {
    s += fmt::format("{}: {} rows, too few for a regressor; predicted by {}\n", type,
                     i.training.rows_by_type.at(type), p.method(type, Target::kLatency));
  }
  return s;
}

}  // namespace nnjoule::predict
