// nnjoule report: one self-contained HTML file with the device scores and the plots.
#include <iostream>

#include "command.hpp"
#include "nnjoule/common/error.hpp"
#include "nnjoule/report/report.hpp"
#include "nnjoule/score/scores.hpp"

namespace nnjoule::cli {
namespace {

struct ReportArgs {
  std::string measurements, devices, output, title = "nnjoule report";
  std::vector<std::string> tdp;
};

void run_report(const ReportArgs& a) {
  if (a.measurements.empty()) fail("give --measurements CSV (with --devices CSV)");
  score::ScoreInput in;
  in.results = score::read_measurements_csv(a.measurements);
  if (!a.devices.empty()) in.devices = score::read_devices_csv(a.devices);
  for (const auto& t : a.tdp) score::apply_tdp_override(in.devices, t);
  report::ReportInput r;
  r.title = a.title;
  r.source = std::filesystem::path(a.measurements).filename().string();
  r.scores = score::compute_scores(in);
  r.predicted_note = "No predictions: published tables hold no model-level measurements.";
  report::write_html(r, a.output);
  std::cout << "wrote " << a.output << "\n";
}

void register_report(CLI::App& app) {
  auto a = std::make_shared<ReportArgs>();
  auto* cmd = app.add_subcommand("report", "Self-contained HTML report: scores, ranks and plots");
  cmd->add_option("--measurements", a->measurements, "application results CSV (as for score)");
  cmd->add_option("--devices", a->devices, "devices CSV (as for score)");
  cmd->add_option("--tdp", a->tdp, "DEVICE=WATTS: a device's TDP for PCS (repeatable)");
  cmd->add_option("--title", a->title, "page title");
  cmd->add_option("-o,--output", a->output, "the HTML file to write")->required();
  cmd->callback([a] { run_report(*a); });
}

}  // namespace
NNJOULE_COMMAND(70, register_report);
}  // namespace nnjoule::cli
