// nnjoule evaluate: accuracy of a predictor bundle on a dataset, kernel-level cross-validation,
// and unseen-model evaluation (random split, leave-one-family-out) against baselines.
#include <fmt/format.h>

#include "command.hpp"
#include "nnjoule/common/error.hpp"
#include "nnjoule/common/io.hpp"
#include "nnjoule/predict/evaluate.hpp"
#include "nnjoule/predict/repeatability.hpp"
#include "nnjoule/predict/store_adapter.hpp"

namespace nnjoule::cli {
namespace {

struct EvaluateOptions {
  std::string predictor;
  std::string db;
  std::optional<std::string> device;
  bool kernel_cv = false;
  int folds = 5;
  std::string export_folds;
  std::string models;  // random | family
  double test_share = 0.3;
  std::string mode = "boosted";
  std::string features = "auto";
  bool linear_target = false;
  bool no_work_base = false;
  bool pool = false;
  int jobs = 2;
  uint64_t seed = 0;
  std::optional<int64_t> threads;
  std::string host_speed = "auto";
  bool json = false;
  bool repeatability = false;
};

void run_evaluate(const EvaluateOptions& o) {
  if (o.predictor.empty() && !o.kernel_cv && o.models.empty() && !o.repeatability) {
    fail(
        "evaluate needs --predictor BUNDLE, --kernel-cv, --models random|kfold|family or "
        "--repeatability");
  }
  const store::Store db(o.db, {.read_only = true});
  const store::Device dev = predict::select_device(db, o.device);
  predict::StoreReadOptions ro;
  ro.threads = o.threads;
  ro.host_speed = predict::parse_host_speed(o.host_speed);
  predict::KernelDataset ds = predict::read_kernel_dataset(db, dev, ro);
  predict::TrainOptions to;
  to.mode = predict::parse_mode(o.mode);
  to.feature_set = predict::parse_feature_set(o.features);
  to.log_target = !o.linear_target;
  to.work_base = !o.no_work_base;
  to.pool_clamp_classes = o.pool;
  to.jobs = o.jobs;
  to.seed = o.seed;
  nlohmann::json out = nlohmann::json::object();
  out["device"] = dev.name;
  out["db"] = o.db;
  std::string text;
  // A dataset of measured models alone has kernel rows with latency only: its energy is the
  // models'.
  std::string energy = ds.device.meter;
  if (energy.empty() || energy == "none")
    for (const auto& m : predict::read_model_samples(db, dev, ds, ro))
      if (m.measured.energy_mj) {
        energy = m.energy_origin.label() + ", whole models only";
        break;
      }
  const std::string energy_note = fmt::format("device {}; energy in the dataset: {}\n", dev.name,
                                              energy.empty() ? "none" : energy);
  text += energy_note;
  const std::string speed = predict::host_speed_note(db, dev, ro, ds.device.threads);
  if (!speed.empty()) text += speed + "\n";
  out["host_speed"] = speed.empty() ? nlohmann::json(nullptr) : nlohmann::json(speed);
  if (!o.predictor.empty()) {
    const auto p = predict::Predictor::load(o.predictor);
    const auto models = predict::read_model_samples(db, dev, ds, ro);
    const auto r = predict::evaluate_bundle(p, ds, models);
    out["bundle"] = predict::to_json(r);
    out["bundle"]["provenance"] = p.provenance().label();
    text += predict::render_table(r, p.name());
  }
  if (o.kernel_cv) {
    predict::KernelCvOptions ko;
    ko.folds = o.folds;
    ko.seed = o.seed;
    ko.train = to;
    // Kernels timed inside models have latency only and belong to the model-level protocol.
    predict::KernelDataset single = ds;
    std::erase_if(single.samples, [](const predict::KernelSample& s) { return !s.model.empty(); });
    const auto r = predict::kernel_cross_validation(single, ko);
    out["kernel_cv"] = predict::to_json(r);
    out["kernel_cv"]["folds"] = o.folds;
    text += fmt::format("kernel-level {}-fold cross-validation ({} {}, {} features):\n", o.folds,
                        o.mode, o.linear_target ? "linear targets" : "log targets", o.features);
    text += predict::render_table(r);
    if (!o.export_folds.empty()) {
      write_file_atomic(o.export_folds, json_text(predict::export_folds(single, r)) + "\n");
      text += fmt::format("wrote folds, features and predictions to {}\n", o.export_folds);
    }
  }
  if (!o.models.empty()) {
    predict::ModelEvalOptions mo;
    mo.split = predict::parse_split(o.models);
    mo.test_share = o.test_share;
    mo.folds = o.folds;
    mo.seed = o.seed;
    mo.train = to;
    const auto models = predict::read_model_samples(db, dev, ds, ro);
    const auto r = predict::evaluate_models(ds, models, mo);
    out["models"] = predict::to_json(r);
    text += predict::render_table(r);
    // The ceiling no predictor can beat, beside the table, where repeats exist.
    text += predict::ceiling_line(predict::evaluate_repeatability(models));
  }
  if (o.repeatability) {
    const auto r = predict::evaluate_repeatability(predict::read_model_samples(db, dev, ds, ro));
    out["repeatability"] = predict::to_json(r);
    text += predict::render_table(r);
  }
  if (o.json)
    print_json(out);
  else
    std::cout << text;
}

void register_evaluate(CLI::App& app) {
  auto o = std::make_shared<EvaluateOptions>();
  auto* c = app.add_subcommand(
      "evaluate", "Accuracy of predictors: a bundle, kernel cross-validation, unseen models");
  c->add_option("--predictor", o->predictor, "Bundle to score on the dataset's rows");
  c->add_option("--db", o->db, "Energy dataset")->required();
  c->add_option("--device", o->device, "Device name in the dataset (default: the only one)");
  c->add_flag("--kernel-cv", o->kernel_cv, "k-fold cross-validation per kernel type");
  c->add_option("--folds", o->folds, "Folds of --kernel-cv and --models kfold (default 5)");
  c->add_option("--export-folds", o->export_folds,
                "Write the folds, features and predictions of --kernel-cv as JSON");
  c->add_option("--models", o->models,
                "Unseen-model evaluation: random (hold out a share), kfold (every model held "
                "out once, --folds folds of models) or family (leave one family out)");
  c->add_option("--test-share", o->test_share, "Share of models held out by --models random");
  c->add_option("--mode", o->mode, "boosted (default) or forest");
  c->add_option("--features", o->features,
                "auto (default: full, plus the model around each kernel when rows were timed "
                "inside models), full, full+model or nn-meter");
  c->add_flag("--linear-target", o->linear_target, "Fit targets as they are, not their logs");
  c->add_flag("--no-work-base", o->no_work_base,
              "Trees fit energy and latency alone, not their ratio to a linear work base");
  c->add_flag("--pool-clamp-classes", o->pool,
              "Train each kernel type also on the rows of types that run as the same operator "
              "(conv-bn and conv-bn-relu: batch-norm folded, ReLU a clamp)");
  c->add_option("--jobs", o->jobs, "Regressors trained in parallel");
  c->add_option("--seed", o->seed, "Seed of folds and splits");
  c->add_option("--threads", o->threads, "Use rows measured at this thread count");
  c->add_option("--host-speed", o->host_speed,
                "Put every model measurement at the dataset's median host speed, from the "
                "reference kernel timed with each: auto (default: when every one has it), on, off")
      ->check(CLI::IsMember({"auto", "on", "off"}));
  c->add_flag("--json", o->json, "Print JSON");
  c->add_flag("--repeatability", o->repeatability,
              "How well repeated model measurements agree with their median (the ceiling of "
              "any predictor here; collect models --repeat N)");
  c->callback([o] { run_evaluate(*o); });
}

}  // namespace

NNJOULE_COMMAND(62, register_evaluate);

}  // namespace nnjoule::cli
