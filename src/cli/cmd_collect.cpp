// nnjoule collect: build an energy dataset of this machine (single kernels, whole models).
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <csignal>
#include <iostream>

#include "collect_rig.hpp"
#include "command.hpp"
#include "nnjoule/collect/runner.hpp"
#include "nnjoule/common/error.hpp"
#include "nnjoule/common/table.hpp"
#include "nnjoule/exec/engine.hpp"
#include "nnjoule/kernels/kernel.hpp"
#include "nnjoule/zoo/kernel_models.hpp"
#include "nnjoule/zoo/zoo.hpp"

namespace nnjoule::cli {
namespace {

using Common = CollectCommon;

void finish(const collect::CollectReport& report, bool json) {
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
  std::string dtype = "fp32";
  bool plan = false;
};

void run_kernels(const KernelOptions& o) {
  collect::check_kernel_types(o.kernels, "collect kernels");  // a typo creates no file
  collect::KernelCollectOptions ko;
  ko.kernel_types = o.kernels;
  ko.count = o.count;
  ko.floor = o.floor;
  ko.prior_variants = o.prior_variants;
  ko.dtype = o.dtype;
  ko.seed = o.common.seed;
  ko.command = o.common.command_line("kernels");
  store::Store db(o.common.db);  // a bad dataset fails before any measuring
  collect::Rig rig(o.common.rig());
  for (const auto& n : rig.notes()) std::cerr << "note: " << n << "\n";
  if (o.plan) {
    const auto plan = collect::plan_kernels(rig.runner(), ko);
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
  collect::ProgressPrinter printer(std::cerr, isatty(STDERR_FILENO) != 0);
  const auto report = collect::collect_kernels(db, rig.runner(), ko, g_stop, std::ref(printer));
  printer.finish();
  if (const auto line = rig.restore_clocks(); !line.empty()) std::cerr << "note: " << line << "\n";
  finish(report, o.common.json);
}

struct ModelOptions {
  Common common;
  std::vector<std::string> families;
  int64_t variants = collect::kDefaultModelVariants;
  int64_t repeats = collect::kDefaultModelRepeats;
  bool no_breakdown = false;
};

void run_models(const ModelOptions& o) {
  collect::ModelCollectOptions mo;
  // Default: the families the predictor's accuracy was shown on; "all": every zoo family.
  if (o.families.empty())
    mo.families = collect::default_model_families();
  else if (o.families != std::vector<std::string>{"all"})
    mo.families = o.families;
  mo.variants = o.variants;
  mo.seed = o.common.seed;
  mo.breakdown = !o.no_breakdown;
  mo.repeats = o.repeats;
  mo.command = o.common.command_line("models");
  for (const auto& f : mo.families) zoo::family(f);  // unknown: an Error naming it
  store::Store db(o.common.db);
  collect::Rig rig(o.common.rig());
  for (const auto& n : rig.notes()) std::cerr << "note: " << n << "\n";
  StopOnSigint sigint;
  collect::ProgressPrinter printer(std::cerr, isatty(STDERR_FILENO) != 0);
  const auto report = collect::collect_models(db, rig.runner(), mo, g_stop, std::ref(printer));
  printer.finish();
  if (const auto line = rig.restore_clocks(); !line.empty()) std::cerr << "note: " << line << "\n";
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
  kc->add_option("--dtype", k->dtype,
                 "fp32 (default), or int8: each single-kernel model quantized (QDQ) and its "
                 "int8 kernel measured")
      ->check(CLI::IsMember({"fp32", "int8"}));
  kc->add_flag("--plan", k->plan,
               "Print the samples per type (and how many are stored); measure "
               "nothing");
  kc->callback([k] { run_kernels(*k); });

  auto m = std::make_shared<ModelOptions>();
  auto* mc = collect->add_subcommand(
      "models", "Measure zoo models and their variants, with per-kernel latency");
  m->common.add_to(mc);
  mc->add_option("--families", m->families,
                 "Families (default: resnet18, mobilenetv1, mobilenetv2, mobilenetv3small, "
                 "mnasnet, squeezenet, shufflenetv2, googlenet; all: every zoo family)")
      ->delimiter(',');
  mc->add_option("--variants", m->variants, "Variants per family besides the base (default 4)")
      ->check(CLI::NonNegativeNumber);
  mc->add_flag("--no-breakdown", m->no_breakdown, "Skip the per-kernel latency breakdown");
  mc->add_option("--repeat", m->repeats,
                 "Measure every model this many times, round robin (default 2); the spread is "
                 "what nnjoule evaluate --repeatability reports")
      ->check(CLI::Range(1, 1000));
  mc->callback([m] { run_models(*m); });
}

}  // namespace

NNJOULE_COMMAND(50, register_collect);

}  // namespace nnjoule::cli
