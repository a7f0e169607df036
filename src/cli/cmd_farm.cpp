// nnjoule farm: a collection plan in a shared dataset (PostgreSQL, or a SQLite file on one
// machine) that workers on many devices measure together.
#include <unistd.h>

#include <iostream>

#include "collect_rig.hpp"
#include "command.hpp"
#include "nnjoule/collect/farm.hpp"
#include "nnjoule/collect/runner.hpp"
#include "nnjoule/common/error.hpp"
#include "nnjoule/kernels/kernel.hpp"
#include "nnjoule/zoo/kernel_models.hpp"
#include "nnjoule/zoo/zoo.hpp"

namespace nnjoule::cli {
namespace {

struct PlanTarget {
  std::string db, plan;
  std::vector<std::string> devices;

  void add_to(CLI::App* cmd) {
    cmd->add_option("--db", db, "Dataset: postgresql://... (a farm's server) or a file")
        ->required();
    cmd->add_option("--plan", plan, "Plan name (adding to a plan adds only the items it lacks)")
        ->required();
    cmd->add_option("--device-labels", devices,
                    "Devices that each measure every item, by label (a worker gives its own with "
                    "farm collect --device-label); default: one set of items any device may claim")
        ->delimiter(',');
  }

  void add(const collect::WorkItems& items) const {
    if (plan.empty()) fail("farm plan: --plan needs a name");
    for (const auto& d : devices) {
      if (d.empty()) fail("farm plan: --device-labels has an empty label");
    }
    store::Store s(db);
    const std::vector<std::string> labels =
        devices.empty() ? std::vector<std::string>{""} : devices;
    for (const auto& d : labels) {
      const int64_t added = s.add_work(plan, items, d);
      std::cout << fmt::format("plan '{}', {}: {} items added, {} already there\n", plan,
                               d.empty() ? "any device" : "device '" + d + "'", added,
                               static_cast<int64_t>(items.size()) - added);
    }
  }
};

struct KernelPlanOptions {
  PlanTarget target;
  collect::KernelCollectOptions k;
};

struct ModelPlanOptions {
  PlanTarget target;
  collect::ModelCollectOptions m;
  bool all = false;
};

struct WorkCli {
  CollectCommon common;
  std::string plan, device, worker;
  double lease_s = 120, poll_s = 5;
  bool wait = false, no_breakdown = false;
};

std::string host_name() {
  char buf[256] = {};
  if (gethostname(buf, sizeof buf - 1) != 0) return "host";
  return buf;
}

void run_work(const WorkCli& o) {
  if (!store::is_postgres(o.common.db) && !std::filesystem::exists(o.common.db))
    fail("{}: no such dataset file (nnjoule farm plan creates it with a plan)", o.common.db);
  store::Store db(o.common.db);
  if (db.work_summary(o.plan).devices.empty()) {
    fail("{}: no plan named '{}' (nnjoule farm plan stores one; farm status lists them)",
         db.path().string(), o.plan);
  }
  collect::Rig rig(o.common.rig());
  for (const auto& n : rig.notes()) std::cerr << "note: " << n << "\n";
  collect::WorkOptions wo;
  wo.plan = o.plan;
  wo.device = o.device.empty() ? rig.runner().device().name : o.device;
  wo.worker = o.worker.empty() ? fmt::format("{}:{}", host_name(), getpid()) : o.worker;
  wo.lease = std::chrono::milliseconds(static_cast<int64_t>(o.lease_s * 1000));
  wo.poll = std::chrono::milliseconds(static_cast<int64_t>(o.poll_s * 1000));
  wo.wait = o.wait;
  wo.breakdown = !o.no_breakdown;
  wo.command =
      o.common.command_line(fmt::format("(farm) --plan {} --device {}", wo.plan, wo.device));
  std::cerr << fmt::format("worker {} on device '{}', plan '{}'\n", wo.worker, wo.device, wo.plan);
  StopOnSigint sigint;
  collect::ProgressPrinter printer(std::cerr, isatty(STDERR_FILENO) != 0);
  const auto report = collect::collect_work(db, rig.runner(), wo, g_stop, std::ref(printer));
  printer.finish();
  if (const auto line = rig.restore_clocks(); !line.empty()) std::cerr << "note: " << line << "\n";
  if (o.common.json) {
    print_json(report.to_json());
  } else {
    std::cout << report.to_text();
    const store::PlanStatus st = db.work_status(wo.plan, wo.device);
    std::cout << fmt::format(
        "plan '{}' for device '{}': {} done, {} failed, {} pending, {} held by other workers{}\n",
        wo.plan, wo.device, st.done, st.failed, st.pending, st.claimed - st.expired,
        st.expired ? fmt::format(", {} with expired leases (claimable)", st.expired) : "");
  }
  if (report.interrupted) throw CLI::RuntimeError(130);
}

void register_farm(CLI::App& app) {
  auto* farm = app.add_subcommand(
      "farm",
      "A device farm: a collection plan in a shared dataset that workers on many devices measure");
  farm->require_subcommand(1);

  auto* plan = farm->add_subcommand("plan", "Store a collection plan as work items");
  plan->require_subcommand(1);

  auto k = std::make_shared<KernelPlanOptions>();
  auto* pk = plan->add_subcommand("kernels", "Plan the kernels `collect kernels` would sample");
  k->target.add_to(pk);
  pk->add_option("--kernels", k->k.kernel_types, "Kernel types (default: every type the zoo has)")
      ->delimiter(',');
  pk->add_option("--count", k->k.count, "Samples in all (default 2000)")
      ->check(CLI::NonNegativeNumber);
  pk->add_option("--floor", k->k.floor, "At least this many samples per type (default 10)")
      ->check(CLI::NonNegativeNumber);
  pk->add_option("--prior-variants", k->k.prior_variants,
                 "Zoo variants per family behind the config prior (default 8)")
      ->check(CLI::NonNegativeNumber);
  pk->add_option("--dtype", k->k.dtype, "fp32 (default) or int8")
      ->check(CLI::IsMember({"fp32", "int8"}));
  pk->add_option("--seed", k->k.seed, "Seed of the samples and weights (default 0)");
  pk->callback([k] {
    collect::check_kernel_types(k->k.kernel_types, "farm plan kernels");
    k->target.add(collect::kernel_work_items(k->k));
  });

  auto m = std::make_shared<ModelPlanOptions>();
  m->m.families = collect::default_model_families();
  m->m.variants = collect::kDefaultModelVariants;
  m->m.repeats = collect::kDefaultModelRepeats;
  auto* pm = plan->add_subcommand("models", "Plan the models `collect models` would measure");
  m->target.add_to(pm);
  pm->add_option("--families", m->m.families,
                 "Families (default: the 8 of collect models; all: every zoo family)")
      ->delimiter(',');
  pm->add_option("--variants", m->m.variants, "Variants per family besides the base (default 4)")
      ->check(CLI::NonNegativeNumber);
  pm->add_option("--repeat", m->m.repeats, "Measure every model this many times (default 2)")
      ->check(CLI::Range(1, 1000));
  pm->add_option("--seed", m->m.seed, "Seed of the variants and weights (default 0)");
  pm->callback([m] {
    if (m->m.families == std::vector<std::string>{"all"}) m->m.families.clear();
    m->target.add(collect::model_work_items(m->m));
  });

  auto w = std::make_shared<WorkCli>();
  auto* wc = farm->add_subcommand(
      "collect",
      "Measure a plan's items on this device: claim one, measure it, store it with its completion");
  w->common.add_to(wc);
  wc->get_option("--db")->description(
      "Dataset holding the plan: postgresql://... (a farm's server) or a file");
  wc->add_option("--plan", w->plan, "Plan name")->required();
  wc->add_option("--device-label", w->device,
                 "This device's label in the plan (default: the host name)");
  wc->add_option("--worker", w->worker, "This worker's name (default: HOST:PID)");
  wc->add_option("--lease", w->lease_s,
                 "Seconds an item stays claimed without renewal (renewed every third; default "
                 "120): a killed worker's item is claimable again after it")
      ->check(NumberIn(1, 86400, "s"));
  wc->add_flag("--wait", w->wait,
               "When nothing is claimable but other workers hold items, wait for them and take "
               "over items whose leases expire");
  wc->add_option("--poll", w->poll_s, "Seconds between looks while waiting (default 5)")
      ->check(NumberIn(0.1, 3600, "s"));
  wc->add_flag("--no-breakdown", w->no_breakdown, "Skip the per-kernel latency of model items");
  wc->callback([w] { run_work(*w); });

  auto st = std::make_shared<std::tuple<std::string, std::string, bool>>();
  auto* sc = farm->add_subcommand("status", "Items per plan and device, leases held, failures");
  sc->add_option("--db", std::get<0>(*st), "Dataset: postgresql://... or a file")->required();
  sc->add_option("--plan", std::get<1>(*st), "One plan (default: all)");
  sc->add_flag("--json", std::get<2>(*st), "Print JSON");
  sc->callback([st] {
    const auto& [db_path, plan_name, as_json] = *st;
    if (!store::is_postgres(db_path) && !std::filesystem::exists(db_path))
      fail("{}: no such dataset file", db_path);
    const store::Store s(db_path, {.read_only = true});
    const auto summary = s.work_summary(plan_name);
    if (!plan_name.empty() && summary.devices.empty())
      fail("{}: no plan named '{}'", db_path, plan_name);
    if (as_json)
      print_json(summary.to_json());
    else
      std::cout << summary.to_text();
  });
}

}  // namespace

NNJOULE_COMMAND(55, register_farm);

}  // namespace nnjoule::cli
