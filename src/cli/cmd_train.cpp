// nnjoule train: per-kernel-type regressors from a device's rows in an energy dataset, written
// as a predictor bundle.
#include <fmt/format.h>

#include <filesystem>

#include "command.hpp"
#include "nnjoule/common/error.hpp"
#include "nnjoule/predict/bundle.hpp"
#include "nnjoule/predict/store_adapter.hpp"

namespace nnjoule::cli {
namespace {

struct TrainCliOptions {
  std::string db;
  std::optional<std::string> device;
  std::string out;
  std::string name;
  std::string mode = "boosted";
  std::string features = "auto";
  std::vector<std::string> targets;
  bool search = false;
  int cv_folds = 5;
  size_t min_samples = 5;
  int jobs = 2;
  uint64_t seed = 0;
  std::string rules;
  std::optional<int64_t> threads;
  bool no_model_kernels = false;
  std::string host_speed = "auto";
  bool no_work_base = false;
  bool pool = false;
  bool json = false;
};

void run_train(const TrainCliOptions& o) {
  const store::Store db(o.db, {.read_only = true});
  const store::Device dev = predict::select_device(db, o.device);
  predict::StoreReadOptions ro;
  ro.model_kernels = !o.no_model_kernels;
  ro.host_speed = predict::parse_host_speed(o.host_speed);
  ro.threads = o.threads;
  const predict::KernelDataset ds = predict::read_kernel_dataset(db, dev, ro);
  predict::TrainOptions to;
  to.mode = predict::parse_mode(o.mode);
  to.feature_set = predict::parse_feature_set(o.features);
  if (!o.targets.empty()) {
    to.targets.clear();
    for (const auto& t : o.targets) to.targets.push_back(predict::parse_target(t));
  }
  to.work_base = !o.no_work_base;
  to.pool_clamp_classes = o.pool;
  to.search = o.search;
  to.cv_folds = o.cv_folds;
  to.min_samples = o.min_samples;
  to.jobs = o.jobs;
  to.seed = o.seed;
  if (!o.json)
    to.progress = [](const std::string& line) { std::cerr << "trained " << line << "\n"; };
  const auto rules = o.rules.empty() ? kernels::FusionRules::xnnpack_default()
                                     : kernels::FusionRules::from_file(o.rules);
  std::filesystem::path out(o.out);
  const std::string name = !o.name.empty()          ? o.name
                           : out.filename().empty() ? out.parent_path().filename().string()
                                                    : out.filename().string();
  const auto p = predict::Predictor::train(ds, to, rules, name);
  p.save(out);
  if (o.json) {
    print_json({{"bundle", out.string()},
                {"predictor", p.manifest()},
                {"flagged_left_out", ds.flagged_left_out}});
    return;
  }
  std::cout << predict::render_summary(p);
  if (!ds.flagged_left_out.empty()) {
    std::string why;
    for (const auto& [flag, n] : ds.flagged_left_out) why += fmt::format(", {} {}", flag, n);
    std::cout << fmt::format(
        "left out: kernel rows with a quality flag ({}; `nnjoule db info` "
        "counts them)\n",
        why.substr(2));
  }
  std::cout << fmt::format("wrote predictor bundle {} ({} regressors)\n", out.string(),
                           p.regressors().size());
}

void register_train(CLI::App& app) {
  auto o = std::make_shared<TrainCliOptions>();
  auto* c = app.add_subcommand(
      "train", "Train per-kernel-type energy, latency and power regressors into a bundle");
  c->add_option("--db", o->db, "Energy dataset (nnjoule import / collect)")->required();
  c->add_option("--device", o->device, "Device name in the dataset (default: the only one)");
  c->add_option("-o,--out", o->out, "Bundle directory to write")->required();
  c->add_option("--name", o->name, "Bundle name shown with predictions (default: directory name)");
  c->add_option("--mode", o->mode, "boosted (default) or forest (nn-Meter's random forests)");
  c->add_option("--features", o->features,
                "auto (default: full, plus the model around each kernel when rows were timed "
                "inside models), full, full+model or nn-meter");
  c->add_option("--targets", o->targets, "energy_mj latency_ms power_mw (default: all)");
  c->add_flag("--search", o->search, "Cross-validated hyperparameter search per type and target");
  c->add_option("--cv-folds", o->cv_folds,
                "Folds of the CV metrics stored in the bundle (0: none)");
  c->add_option("--min-samples", o->min_samples,
                "Rows a kernel type needs for its own regressor (fewer: labelled fallback)");
  c->add_option("--jobs", o->jobs, "Regressors trained in parallel");
  c->add_option("--seed", o->seed, "Seed of folds and subsampling");
  c->add_option("--rules", o->rules,
                "Fusion rules (nn-Meter fusion_rules.json) of the device's runtime, used to "
                "split models into kernels when predicting");
  c->add_option("--threads", o->threads, "Use rows measured at this thread count");
  c->add_flag("--no-model-kernels", o->no_model_kernels,
              "Leave out kernels timed inside measured models");
  c->add_option("--host-speed", o->host_speed,
                "Put every model measurement at the dataset's median host speed, from the "
                "reference kernel timed with each: auto (default: when every one has it), on, off")
      ->check(CLI::IsMember({"auto", "on", "off"}));
  c->add_flag("--no-work-base", o->no_work_base,
              "Trees fit energy and latency alone, not their ratio to a linear work base");
  c->add_flag("--pool-clamp-classes", o->pool,
              "Train each kernel type also on the rows of types that run as the same operator "
              "(conv-bn and conv-bn-relu: batch-norm folded, ReLU a clamp)");
  c->add_flag("--json", o->json, "Print the bundle manifest as JSON");
  c->callback([o] { run_train(*o); });
}

}  // namespace

NNJOULE_COMMAND(61, register_train);

}  // namespace nnjoule::cli
