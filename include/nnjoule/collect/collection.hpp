#pragma once
// Dataset collection: single-kernel models (config samples from the zoo's prior) and whole
// model variants, each measured by a Runner and stored as its own transaction. A re-run skips
// what is stored (resume keys, see store.hpp); a stop request ends the collection after the
// measurement in flight; a kernel that fails to build or run is reported and the collection
// goes on. While a run is open, a Heartbeat (store.hpp) keeps its heartbeat fresh; a collection
// that starts closes the runs of its kind on its device that a killed collection left
// "running" (store::Store::close_interrupted_runs) and says so through the progress callback.
#include <nlohmann/json.hpp>

#include <atomic>
#include <functional>
#include <map>
#include <optional>
#include <ostream>
#include <string>
#include <vector>

#include "nnjoule/graph/graph.hpp"
#include "nnjoule/kernels/kernel.hpp"
#include "nnjoule/store/store.hpp"

namespace nnjoule::collect {

// What a runner hands back for one graph.
struct RunResult {
  store::Measured m;  // latency, energy, power, CI, N, origin and meter, device state
  // Per kernel of the graph (models, when a breakdown was asked for); empty otherwise.
  std::vector<std::optional<double>> kernel_latency_ms;
  double measured_s = 0;  // time inside measured windows (the rest is harness overhead)
  // Where the runner's time went, seconds: "compile", "idle baseline", "warm-up and stopping
  // rule" (the protocol outside its windows), "breakdown". The loop adds "build" and "store".
  std::map<std::string, double> phases_s;
};

// Measures one graph on this device. The collection loop is written against this interface;
// the XNNPACK + measurement-protocol runner is make_runner() (runner.hpp).
class Runner {
 public:
  virtual ~Runner() = default;
  virtual store::Device device() = 0;
  // What makes two measurements comparable (threads, meter, runtime): part of every resume key.
  virtual nlohmann::json key_settings() = 0;
  // Everything worth recording with the run (protocol settings included).
  virtual nlohmann::json run_settings() = 0;
  virtual Provenance provenance() = 0;
  virtual int threads() = 0;
  // Throws Error when the graph cannot be compiled or run.
  virtual RunResult measure(const graph::Graph& g, const std::vector<kernels::Kernel>& kernels,
                            bool breakdown) = 0;
};

struct Progress {
  int64_t index = 0;  // 1-based position in the plan
  int64_t total = 0;
  int64_t measured = 0, skipped = 0, failed = 0;  // so far
  std::string label;  // "conv-bn-relu HW=56 CIN=64 ..." or "resnet18-v0-3"
  // "measured", "stored", "failed"; "resumed" (before the first item, index 0): label is the
  // line saying which interrupted run this collection resumes.
  std::string status;
  std::string error;  // for failed
  std::optional<RunResult> result;
  double elapsed_s = 0;    // since the collection started
  double measuring_s = 0;  // wall time spent on measured items so far
};
using ProgressFn = std::function<void(const Progress&)>;

struct CollectReport {
  std::string kind;  // "kernels" or "models"
  int64_t planned = 0, measured = 0, skipped = 0, failed = 0;
  std::vector<std::string> failures;  // "<label>: <error>"
  bool interrupted = false;
  int64_t run_id = 0;                 // 0 when nothing was measured
  std::vector<int64_t> resumed_runs;  // interrupted runs this collection closed and resumes
  double wall_s = 0;
  double item_wall_s = 0;  // wall time of the measured items (build + measure + store)
  double measured_s = 0;   // of which inside measured windows
  std::map<std::string, double> phases_s;  // the rest, by phase (RunResult::phases_s)
  std::string provenance;
  std::string to_text() const;
  nlohmann::json to_json() const;
};

struct KernelCollectOptions {
  std::vector<std::string> kernel_types;  // empty: every type the zoo's prior has
  int64_t count = 2000;                   // total samples
  int64_t floor = 10;                     // at least this many per type
  uint64_t seed = 0;
  int prior_variants = 8;  // zoo variants per family behind the prior
  // "int8": each single-kernel model is quantized (zoo::quantize_qdq, calibrated on the
  // engine) and its int8 kernel is measured; the row is stored under the detected type
  // (batch norm folds into the conv: conv-bn-relu is measured as conv-relu) with dtype int8.
  std::string dtype = "fp32";
  std::string command;
};

// Throws Error naming `context` and the known types when one of `types` cannot be collected.
void check_kernel_types(const std::vector<std::string>& types, const std::string& context);

// The plan: which kernels a collection measures, in order.
struct KernelPlanItem {
  std::string type;
  kernels::KernelConfig config;
  std::string key;
  std::string dtype = "fp32";  // KernelCollectOptions::dtype
};
std::vector<KernelPlanItem> plan_kernels(Runner& runner, const KernelCollectOptions& options);
// The same plan keyed with the settings of a runner (Runner::key_settings) that is not here.
std::vector<KernelPlanItem> plan_kernels(const KernelCollectOptions& options,
                                         const nlohmann::json& key_settings);

CollectReport collect_kernels(store::Store& store, Runner& runner,
                              const KernelCollectOptions& options, const std::atomic<bool>& stop,
                              const ProgressFn& progress = {});
// Measures a given plan (collect_kernels after planning): e.g. the fine-grained samples of the
// adaptive predictor builder. `seed` seeds the single-kernel models' weights.
CollectReport collect_kernel_plan(store::Store& store, Runner& runner,
                                  const std::vector<KernelPlanItem>& plan,
                                  const std::string& command, uint64_t seed,
                                  const std::atomic<bool>& stop, const ProgressFn& progress = {});

struct ModelCollectOptions {
  std::vector<std::string> families;  // empty: every zoo family
  int64_t variants = 5;               // per family, besides the base model
  uint64_t seed = 0;
  bool sample_resolution = true;  // variants draw their input side
  bool breakdown = true;          // per-kernel latency of each model
  // Measure every model this many times, round robin (one pass over all models, then the next),
  // so slow drift of the host spreads over all of them instead of biasing some; each repeat is a
  // row of its own (`nnjoule evaluate --repeatability` reads their spread).
  int64_t repeats = 1;
  std::string command;
};
// What `nnjoule collect models` measures by default: 8 families of edge models (ResNet-18,
// MobileNetV1/V2/V3-Small, MnasNet, SqueezeNet, ShuffleNetV2, GoogLeNet), the base model and 4
// variants each, twice: the dataset behind docs/prediction.md's unseen-model table.
const std::vector<std::string>& default_model_families();
inline constexpr int64_t kDefaultModelVariants = 4;
inline constexpr int64_t kDefaultModelRepeats = 2;

CollectReport collect_models(store::Store& store, Runner& runner,
                             const ModelCollectOptions& options, const std::atomic<bool>& stop,
                             const ProgressFn& progress = {});

// Renders progress: a bar with rate and ETA redrawn in place on a terminal, one plain line per
// item otherwise.
class ProgressPrinter {
 public:
  ProgressPrinter(std::ostream& out, bool tty);
  void operator()(const Progress& p);
  void finish();  // ends the bar's line

 private:
  std::ostream& out_;
  bool tty_;
  bool drawn_ = false;
};

// "12m05s", "3.2s"
std::string format_duration(double s);

// "resuming interrupted run 3 (kernels, started ..., 17 measurements stored): <why>; ..."
std::string resume_line(const store::Run& run, int64_t rows);

}  // namespace nnjoule::collect
