// nnjoule report: one self-contained HTML file with the device scores and the plots.
#include <iostream>

#include "command.hpp"
#include "nnjoule/common/error.hpp"
#include "nnjoule/report/report.hpp"
#include "nnjoule/score/input.hpp"
#include "nnjoule/score/scores.hpp"

namespace nnjoule::cli {
namespace {

struct ReportArgs {
  std::string measurements, devices, db, focus, predictor, output, title = "nnjoule report";
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
    // With a predictor, a database of collected models alone is a report of its predictions.
    r = report::load_report_input(a.db, a.focus, !a.predictor.empty());
    if (!r.scores.devices.empty()) {
      in = score::load_score_input(store::Store(a.db, {.read_only = true}));
    }
    sources.push_back(std::filesystem::path(a.db).filename().string());
  } else if (!a.focus.empty()) {
    fail("--focus needs --db (the breakdown and the trace come from nnjoule apps)");
  }
  if (!a.predictor.empty() && a.db.empty()) {
    fail("--predictor needs --db (the models it predicts are the ones measured in the database)");
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
  if (!a.predictor.empty()) {
    report::add_predictions(r, a.db, a.predictor);
  } else {
    r.predicted_note =
        "No predictions: give --db FILE and --predictor BUNDLE to compare the models measured "
        "in the database with a predictor's estimates (nnjoule train --db FILE -o BUNDLE trains "
        "one "
        "from the database's kernel rows; nnjoule build-predictor measures this machine and "
        "trains one).";
  }
  report::write_html(r, a.output);
  std::cout << "wrote " << a.output << "\n";
  if (!a.predictor.empty()) {
    std::cout << (r.predicted.empty() ? r.predicted_note : r.predicted_subject) << "\n";
  }
}

void register_report(CLI::App& app) {
  auto a = std::make_shared<ReportArgs>();
  auto* cmd = app.add_subcommand("report", "Self-contained HTML report: scores, ranks and plots");
  cmd->add_option("--measurements", a->measurements, "application results CSV (as for score)");
  cmd->add_option("--devices", a->devices, "devices CSV (as for score)");
  cmd->add_option("--db", a->db, "nnjoule database with application measurements (nnjoule apps)");
  cmd->add_option("--focus", a->focus,
                  "[DEVICE:]CONFIG whose kernel breakdown and power trace are shown (DNN7/CPU1)");
  cmd->add_option("--predictor", a->predictor,
                  "predictor bundle: its predictions of the models measured in --db on its "
                  "device, against the measurements");
  cmd->add_option("--tdp", a->tdp, "DEVICE=WATTS: a device's TDP for PCS (repeatable)");
  cmd->add_option("--title", a->title, "page title");
  cmd->add_option("-o,--output", a->output, "the HTML file to write")->required();
  cmd->callback([a] { run_report(*a); });
}

}  // namespace
NNJOULE_COMMAND(70, register_report);
}  // namespace nnjoule::cli
