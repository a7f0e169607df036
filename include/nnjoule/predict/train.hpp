#pragma once
// Training per kernel type and target: feature matrices, log targets, per-type default
// hyperparameters, k-fold cross-validation and an optional cross-validated grid search.
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "nnjoule/predict/dataset.hpp"
#include "nnjoule/predict/features.hpp"
#include "nnjoule/predict/metrics.hpp"
#include "nnjoule/predict/regressor.hpp"

namespace nnjoule::predict {

struct TrainOptions {
  std::vector<Target> targets = {kAllTargets.begin(), kAllTargets.end()};
  Mode mode = Mode::kBoosted;
  FeatureSet feature_set = FeatureSet::kAuto;
  bool log_target = true;  // fit log(y): errors become relative, as the metrics are
  bool work_base = true;   // energy and latency relative to a linear work base (WorkBase)
  bool search = false;     // cross-validated grid search per type and target
  int cv_folds = 5;        // folds for the CV metrics stored in the bundle; 0 = none
  size_t min_samples = 5;  // types with fewer rows get no regressor (a labelled fallback)
  // Each type's regressor also learns from the rows of types that run as the same operator
  // (clamp_class): conv, conv-bn, conv-relu, conv-bn-relu6, ... (BN folded, ReLU a clamp).
  // Off by default: on 40 zoo models it moved 5-fold accuracy from 85% to 80% within +/-10%
  // (docs/prediction.md).
  bool pool_clamp_classes = false;
  int jobs = 2;  // regressors trained in parallel, each single-threaded
  uint64_t seed = 0;
  // Per kernel type parameters that replace the defaults (and the search) for that type.
  std::map<std::string, RegressorParams> overrides;
  std::function<void(const std::string&)> progress;  // one line per trained regressor
};

// Defaults by kernel type and row count. Forest mode uses nn-Meter's per-kernel settings
// (conv 320 trees depth 70, dwconv 240/50, fc 370/50, pools 210/50, others 370/50; column
// share = nn-Meter's max_features / feature count).
RegressorParams default_params(std::string_view kernel_type, Mode mode, size_t rows,
                               size_t n_features);
// The grid the search tries (defaults first).
std::vector<RegressorParams> search_grid(std::string_view kernel_type, Mode mode, size_t rows,
                                         size_t n_features);

// Feature matrix and labels of one kernel type and target (rows lacking the target skipped).
struct TypeData {
  std::string type;
  Target target;
  std::vector<std::string> feature_names;
  Matrix x;
  std::vector<double> y;
  std::vector<double> mflops, mb;    // work of each row (kernel_sizes): FLOPs / 1e6, bytes / 1e6
  std::vector<size_t> sample_index;  // index into KernelDataset::samples of each row
};
// With `pooled`, rows of every type of the same clamp_class are included.
TypeData type_data(const KernelDataset& ds, const std::string& type, Target target, FeatureSet set,
                   bool pooled = false);

// The operator a kernel type runs as on runtimes that fold batch-norm into the weights and run
// ReLU / ReLU6 as the operator's output clamp (XNNPACK, TFLite): "conv-bn-relu6" -> "conv",
// "dwconv-relu" -> "dwconv", "add-relu" -> "add", "fc-relu" -> "fc"; any other type is its
// own class ("conv-bn-hswish" too: h-swish is a separate operator there).
std::string clamp_class(std::string_view kernel_type);

// The work base of energy and latency: a non-negative linear function of a kernel's MFLOPs and
// MB moved, fitted per type on relative error. The trees then fit log(y / base): how far a
// kernel is from the type's typical cost per unit of work. Trees predict a constant beyond the
// largest kernels they saw; with the base a prediction still scales with the work there.
struct WorkBase {
  double per_mflop = 0, per_mb = 0, constant = 0;
  double floor = 0;  // the smallest base over the training rows: a lower clamp
  double eval(double mflops, double mb) const;
  nlohmann::json to_json() const;
  static WorkBase from_json(const nlohmann::json& j, const std::string& source);
};
// Least relative squares over the subsets of {MFLOPs, MB, 1} whose coefficients come out
// positive; nullopt when none does.
std::optional<WorkBase> fit_work_base(std::span<const double> mflops, std::span<const double> mb,
                                      std::span<const double> y);
// Whether a target gets a work base (energy and latency do; power does not scale with work).
bool uses_work_base(Target t, const TrainOptions& o);

// Fits one regressor; with log_target the model predicts log(y).
Regressor fit(const Matrix& x, std::span<const double> y, const RegressorParams& p,
              bool log_target);
// Back-transformed predictions.
std::vector<double> predict_values(const Regressor& r, const Matrix& x, bool log_target);

// A regressor with its optional work base.
struct FittedModel {
  Regressor trees;
  std::optional<WorkBase> base;
};
// Fits rows `rows` of d (all when empty); the base only with a log target and `work_base`.
FittedModel fit_model(const TypeData& d, std::span<const size_t> rows, const RegressorParams& p,
                      bool log_target, bool work_base);
std::vector<double> predict_model(const FittedModel& m, const Matrix& x,
                                  std::span<const double> mflops, std::span<const double> mb,
                                  bool log_target);

// Out-of-fold predictions for every row under the given fold assignment.
std::vector<double> cross_val_predict(const Matrix& x, std::span<const double> y,
                                      std::span<const int> folds, const RegressorParams& p,
                                      bool log_target);
std::vector<double> cross_val_predict(const TypeData& d, std::span<const int> folds,
                                      const RegressorParams& p, bool log_target, bool work_base);

struct TrainedRegressor {
  std::string type;
  Target target;
  std::vector<std::string> feature_names;
  RegressorParams params;
  bool searched = false;
  size_t rows = 0;
  std::optional<Accuracy> cv;  // out-of-fold accuracy with `params`
  Regressor regressor;
  std::optional<WorkBase> base;
};

// Trains every (type, target) with at least min_samples rows. Deterministic for a seed.
std::vector<TrainedRegressor> train_regressors(const KernelDataset& ds, const TrainOptions& o);

}  // namespace nnjoule::predict
