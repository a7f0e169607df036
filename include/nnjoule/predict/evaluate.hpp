#pragma once
// Evaluation: kernel-level k-fold cross-validation per kernel type, and model-level accuracy on
// models never seen in training (random split, leave-one-family-out) against baselines
// (FLOPs-linear, FLOPs+bytes-linear, per-op sums without fusion).
#include <map>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "nnjoule/predict/bundle.hpp"
#include "nnjoule/predict/dataset.hpp"
#include "nnjoule/predict/metrics.hpp"
#include "nnjoule/predict/train.hpp"

namespace nnjoule::predict {

// ---- kernel level ----------------------------------------------------------------------

struct KernelCvOptions {
  int folds = 5;
  uint64_t seed = 0;
  TrainOptions train;  // mode, feature set, targets, log target, overrides, jobs
};

struct KernelCvRow {
  std::string type;
  Target target;
  Accuracy accuracy;
  RegressorParams params;
};

struct KernelCvResult {
  std::vector<KernelCvRow> rows;       // by type, then target
  std::map<Target, Accuracy> overall;  // all kernels of all types pooled
  std::vector<int> fold;               // per dataset sample; -1: type not evaluated
  std::vector<Targets> predicted;      // per dataset sample, out-of-fold
  std::vector<std::string> skipped;    // types with too few rows ("se: 4 rows")
};

// Folds are drawn per kernel type (seeded by the type name), shared by all targets.
KernelCvResult kernel_cross_validation(const KernelDataset& ds, const KernelCvOptions& o);

nlohmann::json to_json(const KernelCvResult& r);
std::string render_table(const KernelCvResult& r);
// Samples with their fold, nn-Meter features, targets and out-of-fold predictions: what
// bench/predict_deepen2023.py feeds scikit-learn so both tools see the same folds.
nlohmann::json export_folds(const KernelDataset& ds, const KernelCvResult& r);

// ---- model level -----------------------------------------------------------------------

// random: one held-out share; kfold: every model held out once, in k folds of models;
// family: leave one family out.
enum class Split { kRandom, kKFold, kLeaveOneFamilyOut };
std::string_view split_name(Split s);
Split parse_split(std::string_view name);  // "random" | "kfold" | "family"

struct ModelEvalOptions {
  Split split = Split::kRandom;
  double test_share = 0.3;  // random split: share of models held out
  int folds = 5;            // kfold split
  uint64_t seed = 0;
  TrainOptions train;
  kernels::FusionRules fusion = kernels::FusionRules::xnnpack_default();
};

struct MethodResult {
  std::string method;  // "nnjoule", "flops-linear", "flops-bytes-linear", "per-op-sum"
  std::map<Target, Accuracy> overall;
  std::map<std::string, std::map<Target, Accuracy>> by_family;
};

struct ModelPredictionRow {
  std::string model, family;
  int round = 0;                             // split round (family index for leave-one-family-out)
  std::map<std::string, Targets> predicted;  // method -> predicted totals
  Targets measured;
};

// Where a method's model error comes from: per kernel type, the latency the held-out models
// spent in it (timed inside the models' own runs) beside what the predictor gave those kernels.
struct TypeContribution {
  std::string type;
  size_t kernels = 0;       // kernels of this type in the held-out models
  double measured_ms = 0;   // summed over them (mean of a model's repeats)
  double predicted_ms = 0;  // nnjoule's predictions for the same kernels
  // Sum over held-out models of |predicted - measured| of this type's kernels in the model,
  // and its share of that sum over all types: errors of one type in different models do
  // not cancel here.
  double abs_error_ms = 0;
  double share_of_error = 0;
};

struct ModelEvalResult {
  Split split = Split::kRandom;
  std::vector<MethodResult> methods;
  std::vector<ModelPredictionRow> models;
  // Held-out models with in-model kernel timings only; largest absolute error first.
  std::vector<TypeContribution> by_type;
  std::vector<std::string> notes;  // fallbacks used, models skipped, ...
  std::string energy_origin;       // label of the measured energy ("estimated (...)")
};

// Trains on the kernel samples not taken from held-out models (single-kernel samples always
// train), predicts every held-out model, and compares with the baselines, which are fitted on
// the training models' totals (linear) or use the same kernel regressors per op (no fusion).
ModelEvalResult evaluate_models(const KernelDataset& kernels,
                                const std::vector<ModelSample>& models, const ModelEvalOptions& o);

// Accuracy of a trained bundle on the given kernels and models as they are.
struct BundleEvalResult {
  std::vector<KernelCvRow> kernels;  // per type and target (params unused)
  std::map<Target, Accuracy> kernels_overall;
  std::map<Target, Accuracy> models_overall;
  std::map<std::string, std::map<Target, Accuracy>> models_by_family;
  std::vector<ModelPredictionRow> models;
  std::vector<std::string> notes;
};
BundleEvalResult evaluate_bundle(const Predictor& p, const KernelDataset& kernels,
                                 const std::vector<ModelSample>& models);

nlohmann::json to_json(const ModelEvalResult& r);
std::string render_table(const ModelEvalResult& r);
nlohmann::json to_json(const BundleEvalResult& r);
std::string render_table(const BundleEvalResult& r, const std::string& bundle_name);

}  // namespace nnjoule::predict
