#pragma once
// The HTML report: one self-contained file (Vega, Vega-Lite and vega-embed inlined) with the
// device score table coloured by rank, PCS against performance, predicted against measured
// energy, a per-kernel energy breakdown and a power trace. Every number carries its origin.
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include "nnjoule/common/provenance.hpp"
#include "nnjoule/score/scores.hpp"
#include "nnjoule/store/store.hpp"

namespace nnjoule::report {

// One model measured and predicted: a point of the predicted-vs-measured scatters (energy and
// latency). A quantity is absent when it was not measured or the bundle cannot predict it.
struct PredictedPoint {
  std::string model;
  std::optional<double> measured_mj, predicted_mj;
  std::optional<double> measured_ms, predicted_ms;
  std::string measured_label;   // of the energy: "measured (rapl)", "estimated (cpu-time model)"
  std::string latency_label;    // of the latency: "measured (clock)"
  std::string predicted_label;  // "predicted (bundle-name)"
  std::string note;             // "lower bound: unknown ops left out", fallbacks used
};

struct KernelEnergy {
  std::string name;  // the step or kernel name
  std::string op;    // "conv", "dwconv", "fc", ...
  double latency_ms = 0;
  double energy_mj = 0;
};

struct KernelBreakdown {
  std::string subject;  // "DNN7/CPU1 (mobilenetv1) on host"
  std::string label;    // origin of the energies the split starts from
  std::string method;   // how the per-kernel energies were obtained
  std::vector<KernelEnergy> kernels;
};

struct PowerSample {
  double t_s = 0;
  double power_mw = 0;
  std::string phase;  // "idle", "warm-up", "run", ...
};

struct PowerTrace {
  std::string subject;
  std::string label;  // origin of the power values
  std::vector<PowerSample> samples;
};

struct ReportInput {
  std::string title = "nnjoule report";
  std::string source;  // what the numbers were read from ("results.db", "measurements.csv")
  score::ScoreReport scores;
  std::vector<PredictedPoint> predicted;
  std::string predicted_note;                // why the scatters are empty, when they are
  std::string predicted_subject;             // which models, device, bundle
  std::vector<std::string> predicted_notes;  // models left out, fallbacks, training overlap
  std::optional<KernelBreakdown> breakdown;
  std::optional<PowerTrace> trace;
  std::vector<std::string> notes;  // shown under the title
};

// Scores, the per-kernel breakdown and the power trace from a database's application
// measurements (nnjoule apps). `focus` names the configuration ("DNN7/CPU1", optionally
// "device:DNN7/CPU1") whose breakdown and trace are shown; empty: the first one that has them.
// A database without application measurements is an error unless `applications_optional`
// (a report of predictions alone): the scores are then empty.
ReportInput load_report_input(const std::filesystem::path& db_path, const std::string& focus,
                              bool applications_optional = false);

// Predicts every model the database measured on the bundle's device at the bundle's thread
// count (from the kernels stored with each model) and fills the predicted-vs-measured points,
// or, when there are none, the note that says why. Throws Error naming both devices when the
// database has no device the bundle was trained for.
void add_predictions(ReportInput& r, const std::filesystem::path& db_path,
                     const std::filesystem::path& bundle_dir);

// The whole page as one string (about 1 MB, the libraries included).
std::string render_html(const ReportInput& input);
void write_html(const ReportInput& input, const std::filesystem::path& path);

}  // namespace nnjoule::report
