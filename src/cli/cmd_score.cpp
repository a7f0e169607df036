// nnjoule score: device scores (PCS, IECS, performance) and per-configuration ranks.
#include <iostream>

#include "command.hpp"
#include "nnjoule/common/error.hpp"
#include "nnjoule/score/scores.hpp"

namespace nnjoule::cli {
namespace {

struct ScoreArgs {
  std::string measurements, devices;
  std::vector<std::string> tdp;
  bool json = false;
};

// "--tdp 'OnePlus 8 Pro=15'": overrides or adds a device's TDP.
void apply_tdp(std::vector<score::DeviceInfo>& devices, const std::string& spec) {
  const auto eq = spec.rfind('=');
  if (eq == std::string::npos || eq == 0) fail("--tdp '{}': expected DEVICE=WATTS", spec);
  const std::string name = spec.substr(0, eq), value = spec.substr(eq + 1);
  char* end = nullptr;
  const double w = std::strtod(value.c_str(), &end);
  if (value.empty() || end != value.c_str() + value.size() || !(w > 0)) {
    fail("--tdp '{}': '{}' is not a positive number of watts", spec, value);
  }
  for (auto& d : devices) {
    if (d.name == name) {
      d.tdp_w = w;
      d.tdp_source = "--tdp";
      return;
    }
  }
  devices.push_back({.name = name, .tdp_w = w, .tdp_source = "--tdp"});
}

void run_score(const ScoreArgs& a) {
  if (a.measurements.empty()) fail("give --measurements CSV (with --devices CSV)");
  score::ScoreInput in;
  if (!a.measurements.empty()) {
    in.results = score::read_measurements_csv(a.measurements);
    if (!a.devices.empty()) in.devices = score::read_devices_csv(a.devices);
  }
  for (const auto& t : a.tdp) apply_tdp(in.devices, t);
  const auto report = score::compute_scores(in);
  if (a.json)
    print_json(score::to_json(report));
  else
    std::cout << score::render_text(report);
}

void register_score(CLI::App& app) {
  auto a = std::make_shared<ScoreArgs>();
  auto* cmd = app.add_subcommand("score", "Device scores (PCS, IECS, performance) and ranks");
  cmd->add_option("--measurements", a->measurements,
                  "application results CSV: device,dnn,delegate,apc_w,eci_j[,latency_ms]");
  cmd->add_option("--devices", a->devices,
                  "devices CSV: device[,soc][,tdp_w][,price][,pcs_published][,iecs_published]");
  cmd->add_option("--tdp", a->tdp, "DEVICE=WATTS: a device's TDP for PCS (repeatable)");
  cmd->add_flag("--json", a->json, "print JSON instead of tables");
  cmd->callback([a] { run_score(*a); });
}

}  // namespace
NNJOULE_COMMAND(60, register_score);
}  // namespace nnjoule::cli
