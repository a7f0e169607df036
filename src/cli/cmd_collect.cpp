// nnjoule collect: build an energy dataset of this machine (single kernels, whole models).
#include <time.h>
#include <unistd.h>

#include <atomic>
#include <csignal>
#include <iostream>

#include "command.hpp"
#include "meter_options.hpp"
#include "nnjoule/common/error.hpp"
#include "nnjoule/common/table.hpp"
#include "nnjoule/exec/engine.hpp"
#include "nnjoule/store/runner.hpp"

namespace nnjoule::cli {
namespace {

std::atomic<bool> g_stop{false};

extern "C" void on_sigint(int) {
  g_stop.store(true);
  static const char msg[] =
      "\nnnjoule: stopping after the measurement in flight (Ctrl-C again to abort at once)\n";
  [[maybe_unused]] auto n = write(STDERR_FILENO, msg, sizeof msg - 1);
  std::signal(SIGINT, SIG_DFL);
}

// Ctrl-C sets the stop flag for the duration of a collection.
class StopOnSigint {
 public:
  StopOnSigint() {
    g_stop.store(false);
    previous_ = std::signal(SIGINT, on_sigint);
  }
  ~StopOnSigint() { std::signal(SIGINT, previous_); }

 private:
  void (*previous_)(int) = SIG_DFL;
};

double process_cpu_s() {
  timespec ts{};
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
  return static_cast<double>(ts.tv_sec) + static_cast<double>(ts.tv_nsec) * 1e-9;
}

struct Common {
  std::string db;
  MeterOptions meters;
  std::vector<std::string> meter_names;
  int threads = 1;
  std::string cpus;
  uint64_t seed = 0;
  std::string profile = "standard";
  double idle_s = 2.0;
  double idle_every_s = 600;
  bool json = false;

  void add_to(CLI::App* cmd) {
    cmd->add_option("--db", db, "Dataset file (created when absent; resumed when present)")
        ->required();
    meters.add_to(cmd);
    cmd->add_option("--meter", meter_names,
                    "Meters to use, the first is the primary (rapl, perf, nvml, ina, hwmon, "
                    "battery, trace, estimate); default: every live sensor, else the estimate")
        ->delimiter(',');
    cmd->add_option("--threads", threads, "Engine threads (default 1)")->check(CLI::PositiveNumber);
    cmd->add_option("--cpus", cpus, "Pin the engine's threads to these CPUs (\"0,2-3\")");
    cmd->add_option("--seed", seed, "Seed of the samples, variants and weights (default 0)");
    cmd->add_option("--profile", profile,
                    "Measurement profile: standard (2% CI, 30 s cap) or quick (5% CI, 5 s cap)")
        ->check(CLI::IsMember({"standard", "quick"}));
    cmd->add_option("--idle", idle_s,
                    "Seconds of the shared idle baseline, each side (0: none, no dynamic energy)")
        ->check(CLI::NonNegativeNumber);
    cmd->add_option("--idle-every", idle_every_s,
                    "Re-take the idle baseline after this many seconds (0: once)")
        ->check(CLI::NonNegativeNumber);
    cmd->add_flag("--json", json, "Print the collection report as JSON");
  }

  std::string command_line(const std::string& what) const {
    return fmt::format("nnjoule collect {} --db {} --threads {} --seed {} --profile {}", what, db,
                       threads, seed, profile);
  }
};

// Meters, sampler and runner for one collection; the sampler runs while this lives.
class Rig {
 public:
  explicit Rig(const Common& c) : clock_() {
    auto discover = c.meters.discover();
    // The engine runs in this process: the estimate charges this process's CPU time.
    discover.workload_cpu = process_cpu_s;
    discover.workload_cpu_source = "this process's CPU time (CLOCK_PROCESS_CPUTIME_ID)";
    const auto found = meter::discover_meters(discover);
    auto sel = meter::select_meters(found, c.meter_names);
    notes_ = sel.notes;
    sampler_ = std::make_unique<meter::Sampler>(sel.meters, clock_);
    ctx_ = bench::Context{sampler_.get(), bench::real_sleeper(),
                          std::make_shared<const meter::SysFs>(c.meters.root)};
    store::RunnerOptions ro;
    ro.threads = c.threads;
    if (!c.cpus.empty()) ro.cpus = exec::parse_cpu_list(c.cpus);
    ro.protocol = store::protocol_profile(c.profile);
    ro.idle_s = c.idle_s;
    ro.idle_every_s = c.idle_every_s;
    ro.input_seed = c.seed + 1;
    runner_ = store::make_runner(ctx_, ro);
    sampler_->start();
  }
  ~Rig() { sampler_->stop(); }
  store::Runner& runner() { return *runner_; }
  const std::vector<std::string>& notes() const { return notes_; }

 private:
  meter::SteadyClock clock_;
  std::unique_ptr<meter::Sampler> sampler_;
  bench::Context ctx_;
  std::unique_ptr<store::Runner> runner_;
  std::vector<std::string> notes_;
};

void finish(const store::CollectReport& report, bool json) {
  if (json) {
    print_json(report.to_json());
  } else {
    std::cout << report.to_text();
  }
  if (report.interrupted) throw CLI::RuntimeError(130);  // stopped by Ctrl-C: exit like it
}

struct KernelOptions {
  Common common;
  std::vector<std::string> kernels;
  int64_t count = 2000;
  int64_t floor = 10;
  int prior_variants = 8;
  bool plan = false;
};

void run_kernels(const KernelOptions& o) {
  store::KernelCollectOptions ko;
  ko.kernel_types = o.kernels;
  ko.count = o.count;
  ko.floor = o.floor;
  ko.prior_variants = o.prior_variants;
  ko.seed = o.common.seed;
  ko.command = o.common.command_line("kernels");
  store::Store db(o.common.db);  // a bad dataset fails before any measuring
  Rig rig(o.common);
  for (const auto& n : rig.notes()) std::cerr << "note: " << n << "\n";
  if (o.plan) {
    const auto plan = store::plan_kernels(rig.runner(), ko);
    const int64_t device_id = db.ensure_device(rig.runner().device());
    const auto stored = db.kernel_keys(device_id);
    std::map<std::string, std::pair<int64_t, int64_t>> per_type;
    for (const auto& p : plan) {
      per_type[p.type].first++;
      per_type[p.type].second += stored.count(p.key);
    }
    TextTable t({"kernel type", "samples", "stored"},
                {TextTable::Align::kLeft, TextTable::Align::kRight, TextTable::Align::kRight});
    for (const auto& [type, n] : per_type) {
      t.add_row({type, std::to_string(n.first), std::to_string(n.second)});
    }
    std::cout << t.render() << fmt::format("{} kernels planned\n", plan.size());
    return;
  }
  StopOnSigint sigint;
  store::ProgressPrinter printer(std::cerr, isatty(STDERR_FILENO) != 0);
  const auto report = store::collect_kernels(db, rig.runner(), ko, g_stop, std::ref(printer));
  printer.finish();
  finish(report, o.common.json);
}

struct ModelOptions {
  Common common;
  std::vector<std::string> families;
  int64_t variants = 5;
  bool no_breakdown = false;
};

void run_models(const ModelOptions& o) {
  store::ModelCollectOptions mo;
  mo.families = o.families;
  mo.variants = o.variants;
  mo.seed = o.common.seed;
  mo.breakdown = !o.no_breakdown;
  mo.command = o.common.command_line("models");
  store::Store db(o.common.db);
  Rig rig(o.common);
  for (const auto& n : rig.notes()) std::cerr << "note: " << n << "\n";
  StopOnSigint sigint;
  store::ProgressPrinter printer(std::cerr, isatty(STDERR_FILENO) != 0);
  const auto report = store::collect_models(db, rig.runner(), mo, g_stop, std::ref(printer));
  printer.finish();
  finish(report, o.common.json);
}

void register_collect(CLI::App& app) {
  auto* collect = app.add_subcommand(
      "collect", "Build an energy dataset of this machine: single kernels or whole models");
  collect->require_subcommand(1);

  auto k = std::make_shared<KernelOptions>();
  auto* kc = collect->add_subcommand(
      "kernels", "Measure single-kernel models sampled from the zoo's kernel configs");
  k->common.add_to(kc);
  kc->add_option("--kernels", k->kernels,
                 "Kernel types (default: every type the zoo has), e.g. conv-bn-relu,fc")
      ->delimiter(',');
  kc->add_option("--count", k->count,
                 "Samples in all (default 2000), split by how often each "
                 "type occurs in the zoo")
      ->check(CLI::NonNegativeNumber);
  kc->add_option("--floor", k->floor, "At least this many samples per type (default 10)")
      ->check(CLI::NonNegativeNumber);
  kc->add_option("--prior-variants", k->prior_variants,
                 "Zoo variants per family behind the config prior (default 8)")
      ->check(CLI::NonNegativeNumber);
  kc->add_flag("--plan", k->plan,
               "Print the samples per type (and how many are stored); measure "
               "nothing");
  kc->callback([k] { run_kernels(*k); });

  auto m = std::make_shared<ModelOptions>();
  auto* mc = collect->add_subcommand(
      "models", "Measure zoo models and their variants, with per-kernel latency");
  m->common.add_to(mc);
  mc->add_option("--families", m->families, "Families (default: all; see nnjoule zoo list)")
      ->delimiter(',');
  mc->add_option("--variants", m->variants, "Variants per family besides the base (default 5)")
      ->check(CLI::NonNegativeNumber);
  mc->add_flag("--no-breakdown", m->no_breakdown, "Skip the per-kernel latency breakdown");
  mc->callback([m] { run_models(*m); });
}

}  // namespace

NNJOULE_COMMAND(50, register_collect);

}  // namespace nnjoule::cli
