// nnjoule build-predictor: measure kernels of this machine adaptively (prior sample, train,
// fine-grained samples around the worst-predicted kernels, retrain) and write a bundle.
#include <fmt/format.h>

#include <filesystem>

#include "collect_rig.hpp"
#include "command.hpp"
#include "nnjoule/collect/adaptive.hpp"

namespace nnjoule::cli {
namespace {

struct BuildOptions {
  CollectCommon common;
  std::string out;
  std::string name;
  std::vector<std::string> kernels;
  collect::AdaptiveOptions adaptive;
  std::string mode = "boosted";
  int jobs = 2;
};

void run_build(BuildOptions o) {
  o.adaptive.kernel_types.clear();
  for (const auto& k : o.kernels)
    o.adaptive.kernel_types.push_back(kernels::canonical_kernel_type(k));
  o.adaptive.seed = o.common.seed;
  o.adaptive.command = o.common.command_line("kernels") + " (nnjoule build-predictor)";
  o.adaptive.train.mode = predict::parse_mode(o.mode);
  o.adaptive.train.jobs = o.jobs;
  o.adaptive.train.seed = o.common.seed;
  if (!o.common.json) {
    o.adaptive.train.progress = [](const std::string& l) { std::cerr << "trained " << l << "\n"; };
  }
  store::Store db(o.common.db);
  collect::Rig rig(o.common.rig());
  for (const auto& n : rig.notes()) std::cerr << "note: " << n << "\n";
  StopOnSigint sigint;
  collect::ProgressPrinter printer(std::cerr, isatty(STDERR_FILENO) != 0);
  std::filesystem::path out(o.out);
  const std::string name = !o.name.empty()          ? o.name
                           : out.filename().empty() ? out.parent_path().filename().string()
                                                    : out.filename().string();
  collect::AdaptiveReport report;
  const auto p = collect::build_predictor(db, rig.runner(), o.adaptive,
                                          kernels::FusionRules::xnnpack_default(), name, g_stop,
                                          std::ref(printer), report);
  printer.finish();
  if (const auto line = rig.restore_clocks(); !line.empty()) std::cerr << "note: " << line << "\n";
  p.save(out);
  if (o.common.json) {
    print_json({{"bundle", out.string()}, {"report", report.to_json()}});
  } else {
    std::cout << report.to_text() << predict::render_summary(p)
              << fmt::format("wrote predictor bundle {}\n", out.string());
  }
  if (report.interrupted) throw CLI::RuntimeError(130);
}

void register_build(CLI::App& app) {
  auto o = std::make_shared<BuildOptions>();
  auto* c = app.add_subcommand(
      "build-predictor",
      "Build a predictor for this machine: measure sampled kernels, refine the worst, train");
  o->common.add_to(c);
  c->add_option("-o,--out", o->out, "Bundle directory to write")->required();
  c->add_option("--name", o->name, "Bundle name (default: directory name)");
  c->add_option("--kernels", o->kernels, "Kernel types (default: every type the zoo has)")
      ->delimiter(',');
  c->add_option("--count", o->adaptive.prior_count, "Prior samples in all (default 400)");
  c->add_option("--floor", o->adaptive.prior_floor, "At least this many per type (default 5)");
  c->add_option("--prior-variants", o->adaptive.prior_variants,
                "Zoo variants per family behind the prior (default 4)");
  c->add_option("--rounds", o->adaptive.rounds, "Fine-grained rounds (default 1)");
  c->add_option("--error", o->adaptive.error_threshold,
                "Out-of-fold relative error that calls for more samples (default 0.10)");
  c->add_option("--worst", o->adaptive.worst_per_type,
                "Kernels per type refined per round (default 8)");
  c->add_option("--per-kernel", o->adaptive.samples_per_kernel,
                "Fine-grained samples around each (default 4)");
  c->add_option("--cv-folds", o->adaptive.cv_folds, "Folds of the out-of-fold errors (default 5)");
  c->add_option("--mode", o->mode, "boosted (default) or forest");
  c->add_option("--jobs", o->jobs, "Regressors trained in parallel (default 2)");
  c->callback([o] { run_build(*o); });
}

}  // namespace

NNJOULE_COMMAND(63, register_build);

}  // namespace nnjoule::cli
