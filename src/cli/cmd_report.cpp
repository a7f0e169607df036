// nnjoule report: one self-contained HTML file with the device scores and the plots.
#include <iostream>

#include "command.hpp"
#include "nnjoule/common/error.hpp"
#include "nnjoule/report/report.hpp"
#include "nnjoule/score/app_bench.hpp"
#include "nnjoule/score/scores.hpp"

namespace nnjoule::cli {
namespace {

struct ReportArgs {
  std::string measurements, devices, db, focus, output, title = "nnjoule report";
  std::vector<std::string> tdp;
};

void run_report(const ReportArgs& a) {
  if (a.db.empty() && a.measurements.empty()) {
    fail("give --db FILE, --measurements CSV (with --devices CSV), or both to compare");
  }
  report::ReportInput r;
  score::ScoreInput in;
  std::vector<std::string> sources;
  if (!a.db.empty()) {
    r = report::load_report_input(a.db, a.focus);
    in = score::load_score_input(store::Store(a.db, {.read_only = true}));
    sources.push_back(std::filesystem::path(a.db).filename().string());
  } else if (!a.focus.empty()) {
    fail("--focus needs --db (the breakdown and the trace come from nnjoule bench)");
  }
  if (!a.measurements.empty()) {
    score::add_results(in, score::read_measurements_csv(a.measurements));
    sources.push_back(std::filesystem::path(a.measurements).filename().string());
  }
  if (!a.devices.empty()) score::merge_devices(in.devices, score::read_devices_csv(a.devices));
  for (const auto& t : a.tdp) score::apply_tdp_override(in.devices, t);
  r.title = a.title;
  r.source.clear();
  for (const auto& s : sources) r.source += (r.source.empty() ? "" : " + ") + s;
  r.scores = score::compute_scores(in);
  r.predicted_note =
      "No predictions: this build has no predictor bundles yet (src/predict), so there is "
      "nothing to compare the measurements with.";
  report::write_html(r, a.output);
  std::cout << "wrote " << a.output << "\n";
}

void register_report(CLI::App& app) {
  auto a = std::make_shared<ReportArgs>();
  auto* cmd = app.add_subcommand("report", "Self-contained HTML report: scores, ranks and plots");
  cmd->add_option("--measurements", a->measurements, "application results CSV (as for score)");
  cmd->add_option("--devices", a->devices, "devices CSV (as for score)");
  cmd->add_option("--db", a->db, "nnjoule database with application measurements (nnjoule bench)");
  cmd->add_option("--focus", a->focus,
                  "[DEVICE:]CONFIG whose kernel breakdown and power trace are shown (DNN7/CPU1)");
  cmd->add_option("--tdp", a->tdp, "DEVICE=WATTS: a device's TDP for PCS (repeatable)");
  cmd->add_option("--title", a->title, "page title");
  cmd->add_option("-o,--output", a->output, "the HTML file to write")->required();
  cmd->callback([a] { run_report(*a); });
}

}  // namespace
NNJOULE_COMMAND(70, register_report);
}  // namespace nnjoule::cli
