// A report's content from the application measurements nnjoule apps stored.
#include <fmt/format.h>

#include "nnjoule/common/error.hpp"
#include "nnjoule/report/report.hpp"
#include "nnjoule/score/input.hpp"

namespace nnjoule::report {

ReportInput load_report_input(const std::filesystem::path& db_path, const std::string& focus,
                              bool applications_optional) {
  const store::Store db(db_path, {.read_only = true});
  ReportInput r;
  r.source = db_path.filename().string();
  const auto rows = db.applications();
  // Without application rows load_score_input fails with the message that says what to run.
  if (!rows.empty() || !applications_optional) {
    r.scores = score::compute_scores(score::load_score_input(db));
  }

  std::map<int64_t, std::string> device_names;
  for (const auto& d : db.devices()) device_names[d.id] = d.name;
  std::string focus_device, focus_config = focus;
  if (auto colon = focus.rfind(':'); colon != std::string::npos) {
    focus_device = focus.substr(0, colon);
    focus_config = focus.substr(colon + 1);
  }
  // Without a focus: the first measured configuration that has a breakdown; with one: the
  // latest measurement of that configuration.
  const store::AppRow* chosen = nullptr;
  for (const auto& row : rows) {
    if (focus.empty()) {
      if (row.details.contains("kernels") && !row.details["kernels"].empty()) {
        chosen = &row;
        break;
      }
      continue;
    }
    if (row.model + "/" + row.delegate != focus_config) continue;
    if (!focus_device.empty() && device_names[row.device_id] != focus_device) continue;
    if (!chosen || row.id > chosen->id) chosen = &row;
  }
  if (!focus.empty() && !chosen) {
    fail("{}: no application measurement of '{}' (give a configuration such as DNN7/CPU1)",
         db_path.string(), focus);
  }
  if (chosen) {
    const auto& d = chosen->details;
    const std::string subject =
        fmt::format("{}/{} ({}) on {}", chosen->model, chosen->delegate,
                    d.value("title", chosen->configuration), device_names[chosen->device_id]);
    if (d.contains("kernels") && !d["kernels"].empty()) {
      KernelBreakdown b;
      b.subject = subject;
      b.label = chosen->m.provenance.label();
      b.method =
          "the inference energy split by each step's share of the inference time "
          "(an estimate on top of the energy's own origin)";
      for (const auto& k : d["kernels"]) {
        b.kernels.push_back({k.at("name").get<std::string>(), k.at("op").get<std::string>(),
                             k.at("latency_ms").get<double>(), k.at("energy_mj").get<double>()});
      }
      r.breakdown = std::move(b);
    }
    if (d.contains("power_trace") && !d["power_trace"].empty()) {
      PowerTrace t;
      t.subject = subject + ": idle, the pipeline running back to back, idle";
      t.label = chosen->m.provenance.label();
      for (const auto& s : d["power_trace"]) {
        t.samples.push_back(
            {s.at(0).get<double>(), s.at(1).get<double>(), s.at(2).get<std::string>()});
      }
      r.trace = std::move(t);
    }
  }
  if (!rows.empty()) {
    r.notes.push_back(
        "APC, ECI and latency per configuration are nnjoule apps measurements of the "
        "whole application pipeline (pre-processing, inference, post-processing); "
        "their origin is shown beside every table.");
  }
  return r;
}

}  // namespace nnjoule::report
