// nnjoule measure: the energy of a model's inference (the measurement protocol on the execution
// engine) or of a whole program run (application level, after --).

#include <iostream>
#include <optional>

#include "collect_rig.hpp"
#include "command.hpp"
#include "meter_options.hpp"
#include "nnjoule/collect/clusters.hpp"
#include "nnjoule/collect/pinning.hpp"
#include "nnjoule/collect/protocol.hpp"
#include "nnjoule/common/error.hpp"
#include "nnjoule/exec/engine.hpp"
#include "nnjoule/graph/onnx.hpp"
#include "nnjoule/meter/sysfs.hpp"

namespace nnjoule::cli {
namespace {

struct Options {
  MeterOptions meters;
  std::vector<std::string> meter_names;
  bool json = false;
  double idle_s = 2.0;
  std::optional<int> threads;
  std::string cpus;
  std::string pin_freq;
  double ci_percent = 2.0;
  double min_window_s = 0.5;
  double time_cap_s = 60;
  std::vector<std::string> args;
};

bool is_model(const std::vector<std::string>& args) {
  const std::string& a = args.front();
  return args.size() == 1 && a.size() > 5 && a.substr(a.size() - 5) == ".onnx";
}

void run(const Options& o) {
  if (o.args.empty()) fail("measure: nothing to measure; give MODEL.onnx, or a command after --");
  const bool model = is_model(o.args);
  if (!model && (o.threads || !o.cpus.empty()))
    fail("measure: --threads and --cpus apply to a model (MODEL.onnx), not to a command");

  if (!o.pin_freq.empty()) collect::check_pin_spec(o.pin_freq);

  collect::ProtocolOptions po;
  po.idle_s = o.idle_s;
  po.ci_target = o.ci_percent / 100.0;
  po.min_window_s = o.min_window_s;
  po.time_cap_s = o.time_cap_s;

  std::optional<graph::Graph> g;
  collect::ModelOptions mo;
  if (model) {
    g = graph::load_onnx(o.args.front());  // before the sampler starts: a bad file fails fast
    mo.threads = o.threads.value_or(1);
    if (!o.cpus.empty()) mo.cpus = collect::resolve_cpus(meter::SysFs(o.meters.root()), o.cpus);
  }

  // The estimate charges the workload's own CPU time, not other processes' load: this
  // process's for a model, the command's for a command.
  std::shared_ptr<meter::ProcessCpu> child;
  std::optional<collect::WorkloadCpu> cpu;
  if (!model) {
    child =
        std::make_shared<meter::ProcessCpu>(std::make_shared<const meter::SysFs>(o.meters.root()));
    cpu = collect::WorkloadCpu{meter::ProcessCpu::source(child),
                               "the command's CPU time (/proc/PID/stat, wait4)"};
  }
  collect::Session session(o.meters.setup(o.meter_names), cpu);
  collect::Context ctx = session.context();
  // A pinned clock is held through both idle baselines and the work; restored before printing,
  // and by the destructor when the measurement throws. Ctrl-C would end the process with the
  // clock still held: the first one lets the measurement in flight finish (its time cap bounds
  // the wait) so the limits are put back.
  std::optional<StopOnSigint> finish_on_ctrl_c;
  std::unique_ptr<collect::ClockPin> pin;
  if (!o.pin_freq.empty()) {
    finish_on_ctrl_c.emplace();
    pin = std::make_unique<collect::ClockPin>(ctx.fs, o.pin_freq, mo.cpus);
    ctx.pinned = pin->pinned();
  }
  collect::Measurement m;
  if (model) {
    m = collect::measure_model(ctx, *g, o.args.front(), mo, po);
  } else {
    std::string cmdline;
    for (const auto& a : o.args) cmdline += (cmdline.empty() ? "" : " ") + a;
    collect::CommandHooks hooks;
    hooks.stdout_to_stderr = o.json;
    hooks.on_start = [&](int pid) { child->attach(pid); };
    hooks.on_exit = [&](double cpu_s) { child->finish(cpu_s); };
    m = collect::measure_run(
        ctx, [&] { return collect::run_command(o.args, hooks); }, cmdline, po);
  }
  session.stop();
  m.notes.insert(m.notes.begin(), session.notes().begin(), session.notes().end());
  if (pin) {
    for (const auto& p : pin->restore()) {
      m.notes.push_back(p);
      std::cerr << "nnjoule: " << p << "\n";
    }
    m.notes.insert(m.notes.end(), pin->notes().begin(), pin->notes().end());
    m.device.pinned_clocks = pin->pinned();  // now with whether each was restored
  }
  if (o.json)
    print_json(collect::to_json(m));
  else
    std::cout << collect::format_measurement(m);
}

void register_measure(CLI::App& app) {
  auto o = std::make_shared<Options>();
  auto* cmd = app.add_subcommand(
      "measure",
      "Measure energy: of a model's inference (nnjoule measure MODEL.onnx), or of a command's "
      "whole run (nnjoule measure [options] -- CMD ARGS...)");
  o->meters.add_to(cmd);
  cmd->add_option("--meter", o->meter_names,
                  "Meters to use, the first is the primary (rapl, perf, nvml, ina, hwmon, battery, "
                  "trace, estimate); default: every live sensor, else the estimate")
      ->delimiter(',');
  cmd->add_flag("--json", o->json,
                "Print JSON (format in docs/cli.md); a command's stdout goes to stderr");
  cmd->add_option("--idle", o->idle_s, "Seconds of idle baseline before and after (0: none)")
      ->check(NumberIn(0, 3600, "s"));
  cmd->add_option("--threads", o->threads, "Model: engine threads (default 1)")
      ->check(ThreadCount());
  cmd->add_option("--cpus", o->cpus,
                  "Model: pin the engine's threads to these CPUs (\"0,2-3\", big, little)");
  cmd->add_option("--pin-freq", o->pin_freq,
                  "Hold the clock of the clusters the work runs on (those of --cpus, else all) at "
                  "max, min or MHZ (nearest available) while measuring; restored afterwards. "
                  "Needs write access to cpufreq (root)");
  cmd->add_option("--ci", o->ci_percent,
                  "Model: stop when the 95% CI of energy per inference is within this % (2)")
      ->check(NumberIn(0, 100, "%", true));
  cmd->add_option("--min-window", o->min_window_s,
                  "Model: minimum seconds per measured window (0.5; at least 10 meter updates)")
      ->check(NumberIn(0, 3600, "s"));
  cmd->add_option("--time-cap", o->time_cap_s, "Model: stop repeating after this many seconds (60)")
      ->check(NumberIn(0, 86400, "s", true));
  cmd->add_option("args", o->args, "MODEL.onnx, or the command and its arguments after --");
  cmd->callback([o] { run(*o); });
}

}  // namespace

NNJOULE_COMMAND(45, register_measure);

}  // namespace nnjoule::cli
