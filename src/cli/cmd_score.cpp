// nnjoule score: device scores (PCS, IECS, performance) and per-configuration ranks.
#include <iostream>

#include "command.hpp"
#include "nnjoule/common/error.hpp"
#include "nnjoule/score/input.hpp"
#include "nnjoule/score/scores.hpp"

namespace nnjoule::cli {
namespace {

struct ScoreArgs {
  std::string measurements, devices, db;
  std::vector<std::string> tdp;
  bool json = false;
};

void run_score(const ScoreArgs& a) {
  if (a.db.empty() && a.measurements.empty()) {
    fail("give --db FILE, --measurements CSV (with --devices CSV), or both to compare");
  }
  score::ScoreInput in;
  if (!a.db.empty()) in = score::load_score_input(store::Store(a.db, {.read_only = true}));
  if (!a.measurements.empty()) score::add_results(in, score::read_measurements_csv(a.measurements));
  if (!a.devices.empty()) score::merge_devices(in.devices, score::read_devices_csv(a.devices));
  for (const auto& t : a.tdp) score::apply_tdp_override(in.devices, t);
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
  cmd->add_option("--db", a->db, "nnjoule database with application measurements (nnjoule apps)");
  cmd->add_option("--tdp", a->tdp, "DEVICE=WATTS: a device's TDP for PCS (repeatable)");
  cmd->add_flag("--json", a->json, "print JSON instead of tables");
  cmd->callback([a] { run_score(*a); });
}

}  // namespace
NNJOULE_COMMAND(60, register_score);
}  // namespace nnjoule::cli
