// nnjoule measure -- COMMAND ARGS...: the energy of a whole program run (application level).
#include <iostream>

#include "command.hpp"
#include "meter_options.hpp"
#include "nnjoule/bench/protocol.hpp"
#include "nnjoule/common/error.hpp"

namespace nnjoule::cli {
namespace {

struct Options {
  MeterOptions meters;
  std::vector<std::string> meter_names;
  bool json = false;
  double idle_s = 2.0;
  std::vector<std::string> args;
};

void run(const Options& o) {
  if (o.args.empty()) fail("measure: nothing to measure; give a command after --");
  const std::string& first = o.args.front();
  if (o.args.size() == 1 && first.size() > 5 && first.substr(first.size() - 5) == ".onnx")
    fail(
        "measure: {}: measuring a model needs the execution engine (src/exec), not in this "
        "build; to measure a program that runs it, give the program after --",
        first);
  auto discover = o.meters.discover();
  // The estimate charges the command's own CPU time, not other processes' load.
  auto cpu = std::make_shared<meter::ProcessCpu>(discover.fs);
  discover.workload_cpu = meter::ProcessCpu::source(cpu);
  discover.workload_cpu_source = "the command's CPU time (/proc/PID/stat, wait4)";
  const auto found = meter::discover_meters(discover);
  auto sel = meter::select_meters(found, o.meter_names);
  meter::SteadyClock clock;
  meter::Sampler sampler(sel.meters, clock);
  bench::Context ctx{&sampler, bench::real_sleeper(),
                     std::make_shared<const meter::SysFs>(o.meters.root)};
  bench::ProtocolOptions po;
  po.idle_s = o.idle_s;
  std::string cmdline;
  for (const auto& a : o.args) cmdline += (cmdline.empty() ? "" : " ") + a;
  sampler.start();
  bench::CommandHooks hooks;
  hooks.stdout_to_stderr = o.json;
  hooks.on_start = [&](int pid) { cpu->attach(pid); };
  hooks.on_exit = [&](double cpu_s) { cpu->finish(cpu_s); };
  bench::Measurement m = bench::measure_run(
      ctx, [&] { return bench::run_command(o.args, hooks); }, cmdline, po);
  sampler.stop();
  m.notes.insert(m.notes.begin(), sel.notes.begin(), sel.notes.end());
  if (o.json)
    print_json(bench::to_json(m));
  else
    std::cout << bench::format_measurement(m);
}

void register_measure(CLI::App& app) {
  auto o = std::make_shared<Options>();
  auto* cmd = app.add_subcommand(
      "measure",
      "Measure the energy of a command's whole run: nnjoule measure [options] -- CMD ARGS...");
  o->meters.add_to(cmd);
  cmd->add_option("--meter", o->meter_names,
                  "Meters to use, the first is the primary (rapl, perf, nvml, ina, hwmon, battery, "
                  "trace, estimate); default: every live sensor, else the estimate")
      ->delimiter(',');
  cmd->add_flag("--json", o->json,
                "Print JSON (format in docs/cli.md); the command's stdout goes to stderr");
  cmd->add_option("--idle", o->idle_s, "Seconds of idle baseline before and after (0: none)")
      ->check(CLI::NonNegativeNumber);
  cmd->add_option("command", o->args, "The command and its arguments, after --");
  cmd->callback([o] { run(*o); });
}

}  // namespace

NNJOULE_COMMAND(45, register_measure);

}  // namespace nnjoule::cli
