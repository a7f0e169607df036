#pragma once
// Runs an application suite: each configuration's pipeline (pre-processing, inference,
// post-processing) under the measurement protocol, as a whole and by stage, with a per-kernel
// breakdown and a power trace; results go to the store as application measurements.
#include <filesystem>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "nnjoule/collect/protocol.hpp"
#include "nnjoule/common/provenance.hpp"
#include "nnjoule/exec/engine.hpp"
#include "nnjoule/meter/discovery.hpp"
#include "nnjoule/store/store.hpp"
#include "nnjoule/zoo/suite.hpp"

namespace nnjoule::collect {

// One application, ready to run: the model compiled for `threads`, its input prepared.
class Pipeline {
 public:
  // Builds (built-in) or imports (ONNX) the model and checks that its inputs and outputs fit
  // the application; throws Error naming the entry.
  // `cpus`: pin thread i to the i-th CPU (empty: not pinned).
  Pipeline(const zoo::SuiteEntry& entry, int threads, uint64_t seed,
           const std::vector<int>& cpus = {});
  ~Pipeline();
  Pipeline(Pipeline&&) noexcept;

  void pre();    // decode / tokenise / frame the input, fill the model input
  void infer();  // run the model
  void post();   // interpret the outputs
  void run_once() { pre(), infer(), post(); }

  const std::string& result() const;  // what post-processing found, one line
  exec::CompiledModel& model();
  const graph::Graph& graph() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

struct StageResult {
  std::string stage;  // "pre-processing", "inference", "post-processing"
  double latency_ms = 0;
  std::optional<double> energy_mj;  // per run, from a protocol measurement of the stage alone
};

struct KernelShare {
  std::string name, op;
  double latency_ms = 0;
  double energy_mj = 0;  // inference energy x the step's share of the inference latency
};

struct TraceSample {
  double t_s = 0;
  double power_mw = 0;
  std::string phase;  // "idle" or "run"
};

struct ConfigResult {
  zoo::ConfigKey config;
  std::string title;        // the entry's title
  std::string application;  // application_name
  int threads = 0;
  std::vector<int> cpus;    // the CPUs its threads were pinned to (delegate_cpus); empty: not
  std::string unsupported;  // non-empty: not run, and why
  std::string skipped;      // non-empty: already stored (resume)
  Measurement whole;        // one inference = one whole pipeline run
  std::vector<StageResult> stages;
  std::vector<KernelShare> kernels;
  std::vector<TraceSample> trace;
  std::string output;  // the pipeline's result line
};

struct SuiteRunOptions {
  ProtocolOptions protocol;        // the whole pipeline
  ProtocolOptions stage_protocol;  // each stage alone (no idle baselines)
  uint64_t seed = 0;
  double trace_idle_s = 0.4;                         // power trace: idle before and after ...
  double trace_run_s = 1.0;                          // ... and at least this long running
  double trace_step_s = 0.05;                        // one sample per window of this length
  std::function<void(const std::string&)> progress;  // one line per step, for the CLI
};

// Where a CPU delegate of `threads` threads runs. DeepEn2023's CPU1 and CPU4 ran on a phone's
// big cores: where clusters of different kinds exist, the first `threads` CPUs of "big"
// (resolve_cpus: every core outside the little cluster), all of them when there are fewer;
// so CPU1 is the big cluster's first core (not the prime core: CPU1 and CPU4 then differ in
// threads only, not in core or clock). Empty (not pinned) on a machine with one kind of core.
std::vector<int> delegate_cpus(const meter::SysFs& fs, int threads);

// Protocol settings that keep a 16-configuration suite to a few minutes on a small machine.
SuiteRunOptions quick_suite_options();

// Runs one configuration (the sampler must be running).
ConfigResult run_config(const zoo::Suite& suite, const zoo::ConfigKey& config, const Context& ctx,
                        const SuiteRunOptions& options);

// Runs every configuration of the suite and stores each as soon as it is measured (one
// transaction each): an interrupted run keeps what it finished, and a rerun skips configurations
// already stored for this device and suite. Unsupported configurations are stored nowhere but
// listed in the run's settings and in the results.
struct SuiteRun {
  int64_t run_id = 0;
  store::Device device;
  std::vector<ConfigResult> results;
};
SuiteRun run_suite(const zoo::Suite& suite, store::Store& db, const Context& ctx,
                   const Provenance& provenance, const SuiteRunOptions& options,
                   const std::string& command, std::optional<double> tdp_w,
                   const std::string& tdp_source);

}  // namespace nnjoule::collect
