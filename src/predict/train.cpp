#include "nnjoule/predict/train.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <mutex>
#include <tuple>

#include "nnjoule/common/error.hpp"
#include "nnjoule/common/rng.hpp"
#include "parallel.hpp"

namespace nnjoule::predict {

namespace {

struct ForestSetting {
  const char* type;
  int trees, depth, max_features;
};

// nn-Meter's tflite_cpu random-forest settings per kernel type
// (nn_meter/builder/kernel_predictor_builder/predictor_lib/predictor_lib.py).
constexpr ForestSetting kNnMeterForest[] = {
    {"conv-bn-relu", 320, 70, 6},
    {"dwconv-bn-relu", 240, 50, 6},
    {"fc", 370, 50, 2},
    {"channelshuffle", 370, 50, 2},
    {"se", 290, 20, 2},
    {"maxpool", 210, 50, 5},
    {"global-avgpool", 370, 70, 2},
    {"hswish", 190, 50, 2},
    {"avgpool", 370, 50, 5},
    {"bn-relu", 370, 50, 2},
    {"relu", 370, 50, 2},
    {"bn", 370, 50, 2},
    {"concat", 690, 100, 5},
    {"add-relu", 570, 50, 3},
    {"add", 570, 50, 3},
    {"split", 190, 50, 2},
};

const ForestSetting* forest_setting(std::string_view type) {
  for (const auto& s : kNnMeterForest)
    if (type == s.type) return &s;
  // Related types take their family's setting (conv-bn-relu6 -> conv-bn-relu).
  const FeatureFamily f = feature_family(type);
  const char* base = f == FeatureFamily::kConv     ? "conv-bn-relu"
                     : f == FeatureFamily::kDwconv ? "dwconv-bn-relu"
                     : f == FeatureFamily::kFc     ? "fc"
                     : f == FeatureFamily::kPool   ? "avgpool"
                     : f == FeatureFamily::kAdd    ? "add"
                                                   : nullptr;
  if (base)
    for (const auto& s : kNnMeterForest)
      if (std::string_view(base) == s.type) return &s;
  return nullptr;
}

std::vector<float> to_float_labels(std::span<const double> y, bool log_target) {
  std::vector<float> out(y.size());
  for (size_t i = 0; i < y.size(); ++i) {
    if (log_target && !(y[i] > 0)) fail("log target needs positive values, got {}", y[i]);
    out[i] = static_cast<float>(log_target ? std::log(y[i]) : y[i]);
  }
  return out;
}

}  // namespace

RegressorParams default_params(std::string_view type, Mode mode, size_t rows, size_t n_features) {
  RegressorParams p;
  p.mode = mode;
  if (mode == Mode::kForest) {
    const ForestSetting* s = forest_setting(type);
    p.n_estimators = s ? s->trees : 370;
    p.max_depth = s ? s->depth : 50;
    const int mf = s ? s->max_features : static_cast<int>(n_features);
    p.colsample = std::min(1.0, static_cast<double>(mf) / static_cast<double>(n_features));
    // sklearn bootstraps n rows with replacement: about 63.2% distinct rows per tree.
    p.subsample = 0.632;
    p.learning_rate = 1;
    p.reg_lambda = 0;
    p.min_child_weight = 1;
    return p;
  }
  // Boosted: shallow trees and more rounds on tiny tables; measured on the DeepEn2023 kernels
  // (docs/prediction.md).
  if (rows < 40) {
    p.n_estimators = 300;
    p.max_depth = 3;
    p.learning_rate = 0.1;
    p.subsample = 1.0;
  } else {
    p.n_estimators = 500;
    p.max_depth = 4;
    p.learning_rate = 0.06;
    p.subsample = 0.8;
  }
  p.colsample = 1.0;
  p.min_child_weight = 1;
  p.reg_lambda = 1;
  return p;
}

std::vector<RegressorParams> search_grid(std::string_view type, Mode mode, size_t rows,
                                         size_t n_features) {
  std::vector<RegressorParams> grid;
  const RegressorParams base = default_params(type, mode, rows, n_features);
  grid.push_back(base);
  if (mode == Mode::kForest) {
    for (int trees : {200, 500}) {
      for (double cs : {0.5, 0.8, 1.0}) {
        RegressorParams p = base;
        p.n_estimators = trees;
        p.colsample = cs;
        grid.push_back(p);
      }
    }
    return grid;
  }
  for (int depth : {3, 5, 8}) {
    for (double eta : {0.03, 0.1}) {
      for (int rounds : {300, 1000}) {
        for (double mcw : {1.0, 3.0}) {
          RegressorParams p = base;
          p.max_depth = depth;
          p.learning_rate = eta;
          p.n_estimators = rounds;
          p.min_child_weight = mcw;
          p.subsample = rows < 40 ? 1.0 : 0.8;
          grid.push_back(p);
        }
      }
    }
  }
  return grid;
}

TypeData type_data(const KernelDataset& ds, const std::string& type, Target target,
                   FeatureSet set) {
  TypeData d;
  d.type = type;
  d.target = target;
  d.feature_names = feature_names(type, set);
  d.x.cols = d.feature_names.size();
  std::vector<float> row;
  for (size_t i = 0; i < ds.samples.size(); ++i) {
    const KernelSample& s = ds.samples[i];
    if (s.type != type) continue;
    const auto v = s.targets.get(target);
    if (!v) continue;
    if (!(*v > 0) || !std::isfinite(*v)) {
      fail("{}: sample {} ({}) has {} = {} (must be positive)", ds.source, s.id, type,
           target_name(target), *v);
    }
    row.clear();
    with_context(fmt::format("{}: sample {}", ds.source, s.id),
                 [&] { append_features(type, s.config, set, row); });
    d.x.append_row(row);
    d.y.push_back(*v);
    d.sample_index.push_back(i);
  }
  return d;
}

Regressor fit(const Matrix& x, std::span<const double> y, const RegressorParams& p,
              bool log_target) {
  const auto labels = to_float_labels(y, log_target);
  return Regressor::train(x, labels, p);
}

std::vector<double> predict_values(const Regressor& r, const Matrix& x, bool log_target) {
  auto v = r.predict(x);
  if (log_target)
    for (double& e : v) e = std::exp(e);
  return v;
}

std::vector<double> cross_val_predict(const Matrix& x, std::span<const double> y,
                                      std::span<const int> folds, const RegressorParams& p,
                                      bool log_target) {
  if (folds.size() != x.rows || y.size() != x.rows) fail("cross-validation: size mismatch");
  const int k = folds.empty() ? 0 : *std::max_element(folds.begin(), folds.end()) + 1;
  std::vector<double> out(x.rows, std::nan(""));
  for (int f = 0; f < k; ++f) {
    std::vector<size_t> tr, te;
    for (size_t i = 0; i < x.rows; ++i) (folds[i] == f ? te : tr).push_back(i);
    if (te.empty()) continue;
    if (tr.empty()) fail("cross-validation: fold {} leaves no training rows", f);
    std::vector<double> ytr;
    for (size_t i : tr) ytr.push_back(y[i]);
    const Regressor r = fit(x.select(tr), ytr, p, log_target);
    const auto pred = predict_values(r, x.select(te), log_target);
    for (size_t j = 0; j < te.size(); ++j) out[te[j]] = pred[j];
  }
  return out;
}

namespace {

struct Job {
  std::string type;
  Target target;
};

TrainedRegressor train_one(const KernelDataset& ds, const Job& job, const TrainOptions& o) {
  TypeData d = type_data(ds, job.type, job.target, o.feature_set);
  TrainedRegressor t;
  t.type = job.type;
  t.target = job.target;
  t.feature_names = d.feature_names;
  t.rows = d.x.rows;
  const uint64_t seed =
      hash_mix(o.seed, hash_string(job.type + "/" + std::string(target_name(job.target))));
  const size_t nf = d.feature_names.size();
  RegressorParams chosen = default_params(job.type, o.mode, d.x.rows, nf);
  const int k =
      static_cast<int>(std::min<size_t>(static_cast<size_t>(std::max(o.cv_folds, 2)), d.x.rows));
  auto it = o.overrides.find(job.type);
  if (it != o.overrides.end()) {
    chosen = it->second;
  } else if (o.search && d.x.rows >= 10) {
    // Select on one fold assignment, report on another, so the reported CV is less optimistic.
    const auto folds = kfold_assignment(d.x.rows, k, hash_mix(seed, 1));
    double best = INFINITY;
    for (RegressorParams p : search_grid(job.type, o.mode, d.x.rows, nf)) {
      p.seed = seed;
      const auto pred = cross_val_predict(d.x, d.y, folds, p, o.log_target);
      const double score = accuracy(pred, d.y).rmspe;
      if (score < best - 1e-9) {
        best = score;
        chosen = p;
      }
    }
    t.searched = true;
  }
  chosen.seed = seed;
  chosen.threads = 1;
  t.params = chosen;
  if (o.cv_folds >= 2 && d.x.rows >= 4) {
    const auto folds = kfold_assignment(d.x.rows, k, hash_mix(seed, 2));
    const auto pred = cross_val_predict(d.x, d.y, folds, chosen, o.log_target);
    t.cv = accuracy(pred, d.y);
  }
  t.regressor = fit(d.x, d.y, chosen, o.log_target);
  return t;
}

}  // namespace

std::vector<TrainedRegressor> train_regressors(const KernelDataset& ds, const TrainOptions& o) {
  std::vector<std::pair<size_t, Job>> sized;
  for (const std::string& type : ds.types()) {
    for (Target target : o.targets) {
      size_t n = 0;
      for (const auto& s : ds.samples) n += s.type == type && s.targets.get(target).has_value();
      if (n >= std::max<size_t>(o.min_samples, 2)) sized.push_back({n, {type, target}});
    }
  }
  // Largest tables first so parallel workers finish together.
  std::stable_sort(sized.begin(), sized.end(),
                   [](const auto& a, const auto& b) { return a.first > b.first; });
  std::vector<TrainedRegressor> out(sized.size());
  std::mutex progress_mutex;
  detail::parallel_for(sized.size(), o.jobs, [&](size_t i) {
    out[i] = train_one(ds, sized[i].second, o);
    if (o.progress) {
      std::lock_guard lock(progress_mutex);
      const auto& t = out[i];
      o.progress(fmt::format("{} {}: {} rows{}", t.type, target_name(t.target), t.rows,
                             t.cv ? fmt::format(", CV RMSPE {:.1f}%, within 10% {:.0f}%",
                                                t.cv->rmspe, 100 * t.cv->within10)
                                  : std::string()));
    }
  });
  std::sort(out.begin(), out.end(), [](const TrainedRegressor& a, const TrainedRegressor& b) {
    return std::tie(a.type, a.target) < std::tie(b.type, b.target);
  });
  return out;
}

}  // namespace nnjoule::predict
