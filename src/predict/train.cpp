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
  type = kernels::key_type(type);  // int8 kernels train with their fp32 twin's settings
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

std::string clamp_class(std::string_view key) {
  // Pooling never crosses data types: conv-relu@int8 pools with conv@int8 only.
  const std::string_view type = kernels::key_type(key);
  const std::string dtype = kernels::key_dtype(key);
  for (std::string_view base : {"convtrans", "dwconv", "conv", "fc", "add"}) {
    if (!type.starts_with(base)) continue;
    const std::string_view rest = type.substr(base.size());
    for (std::string_view suffix : {"", "-relu", "-relu6", "-bn", "-bn-relu", "-bn-relu6"}) {
      if (rest == suffix) return kernels::kernel_key(base, dtype);
    }
  }
  return std::string(key);
}

TypeData type_data(const KernelDataset& ds, const std::string& type, Target target, FeatureSet set,
                   bool pooled) {
  const std::string cls = clamp_class(type);
  TypeData d;
  d.type = type;
  d.target = target;
  d.feature_names = feature_names(type, set);
  d.x.cols = d.feature_names.size();
  std::vector<float> row;
  for (size_t i = 0; i < ds.samples.size(); ++i) {
    const KernelSample& s = ds.samples[i];
    if (s.type != type && !(pooled && clamp_class(s.type) == cls)) continue;
    const auto v = s.targets.get(target);
    if (!v) continue;
    if (!(*v > 0) || !std::isfinite(*v)) {
      fail("{}: sample {} ({}) has {} = {} (must be positive)", ds.source, s.id, s.type,
           target_name(target), *v);
    }
    row.clear();
    const KernelSizes z = with_context(fmt::format("{}: sample {}", ds.source, s.id), [&] {
      append_features(s.type, s.config, set, row, s.context);
      return kernel_sizes(s.type, s.config);
    });
    d.x.append_row(row);
    d.y.push_back(*v);
    d.mflops.push_back(z.flops / 1e6);
    d.mb.push_back(z.bytes / 1e6);
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

double WorkBase::eval(double mflops, double mb) const {
  return std::max(floor, per_mflop * mflops + per_mb * mb + constant);
}

nlohmann::json WorkBase::to_json() const {
  return {{"energy_or_latency_per_mflop", per_mflop},
          {"per_mb", per_mb},
          {"constant", constant},
          {"floor", floor}};
}

WorkBase WorkBase::from_json(const nlohmann::json& j, const std::string& source) {
  WorkBase b;
  try {
    b.per_mflop = j.at("energy_or_latency_per_mflop").get<double>();
    b.per_mb = j.at("per_mb").get<double>();
    b.constant = j.at("constant").get<double>();
    b.floor = j.at("floor").get<double>();
  } catch (const nlohmann::json::exception& e) {
    fail("{}: bad work base: {}", source, e.what());
  }
  for (double v : {b.per_mflop, b.per_mb, b.constant, b.floor}) {
    if (!std::isfinite(v)) fail("{}: work base value {} is not finite", source, v);
  }
  if (b.per_mflop < 0 || b.per_mb < 0 || b.constant < 0 || !(b.floor > 0)) {
    fail(
        "{}: work base out of range (per MFLOP {}, per MB {}, constant {} must be >= 0, floor {} "
        "> 0)",
        source, b.per_mflop, b.per_mb, b.constant, b.floor);
  }
  return b;
}

std::optional<WorkBase> fit_work_base(std::span<const double> mflops, std::span<const double> mb,
                                      std::span<const double> y) {
  const size_t n = y.size();
  if (n < 3 || mflops.size() != n || mb.size() != n) return std::nullopt;
  std::optional<WorkBase> best;
  double best_err = INFINITY;
  // Columns: 0 MFLOPs, 1 MB, 2 constant; each subset solved by weighted least squares
  // (weights 1 / y^2: relative error), kept when every coefficient is positive.
  for (int mask = 1; mask < 8; ++mask) {
    std::vector<int> cols;
    for (int c = 0; c < 3; ++c)
      if (mask & (1 << c)) cols.push_back(c);
    const size_t k = cols.size();
    double a[3][4] = {};
    auto col = [&](size_t i, int c) { return c == 0 ? mflops[i] : c == 1 ? mb[i] : 1.0; };
    for (size_t i = 0; i < n; ++i) {
      const double w = 1.0 / (y[i] * y[i]);
      for (size_t p = 0; p < k; ++p) {
        for (size_t q = 0; q < k; ++q) a[p][q] += w * col(i, cols[p]) * col(i, cols[q]);
        a[p][k] += w * col(i, cols[p]) * y[i];
      }
    }
    bool ok = true;
    for (size_t c = 0; c < k && ok; ++c) {  // Gauss-Jordan with partial pivoting
      size_t piv = c;
      for (size_t r = c + 1; r < k; ++r)
        if (std::fabs(a[r][c]) > std::fabs(a[piv][c])) piv = r;
      if (std::fabs(a[piv][c]) < 1e-300) {
        ok = false;
        break;
      }
      for (size_t q = 0; q <= k; ++q) std::swap(a[c][q], a[piv][q]);
      for (size_t r = 0; r < k; ++r) {
        if (r == c) continue;
        const double f = a[r][c] / a[c][c];
        for (size_t q = c; q <= k; ++q) a[r][q] -= f * a[c][q];
      }
    }
    if (!ok) continue;
    WorkBase b;
    for (size_t c = 0; c < k; ++c) {
      const double v = a[c][k] / a[c][c];
      if (!(v > 0) || !std::isfinite(v)) ok = false;
      (cols[c] == 0 ? b.per_mflop : cols[c] == 1 ? b.per_mb : b.constant) = v;
    }
    if (!ok) continue;
    double err = 0, floor = INFINITY;
    for (size_t i = 0; i < n; ++i) {
      const double v = b.per_mflop * mflops[i] + b.per_mb * mb[i] + b.constant;
      if (!(v > 0)) {
        ok = false;
        break;
      }
      floor = std::min(floor, v);
      err += (v - y[i]) * (v - y[i]) / (y[i] * y[i]);
    }
    if (!ok || err >= best_err) continue;
    b.floor = floor;
    best = b;
    best_err = err;
  }
  return best;
}

bool uses_work_base(Target t, const TrainOptions& o) {
  return o.work_base && o.log_target && t != Target::kPower;
}

FittedModel fit_model(const TypeData& d, std::span<const size_t> rows, const RegressorParams& p,
                      bool log_target, bool work_base) {
  std::vector<size_t> all;
  if (rows.empty()) {
    all.resize(d.x.rows);
    for (size_t i = 0; i < all.size(); ++i) all[i] = i;
    rows = all;
  }
  std::vector<double> y, f, b;
  for (size_t i : rows) {
    y.push_back(d.y[i]);
    f.push_back(d.mflops[i]);
    b.push_back(d.mb[i]);
  }
  FittedModel m;
  if (work_base && log_target) m.base = fit_work_base(f, b, y);
  std::vector<double> target = y;
  if (m.base) {
    for (size_t j = 0; j < y.size(); ++j) target[j] = y[j] / m.base->eval(f[j], b[j]);
  }
  m.trees = fit(d.x.select(rows), target, p, log_target);
  return m;
}

std::vector<double> predict_model(const FittedModel& m, const Matrix& x,
                                  std::span<const double> mflops, std::span<const double> mb,
                                  bool log_target) {
  auto v = predict_values(m.trees, x, log_target);
  if (m.base) {
    for (size_t i = 0; i < v.size(); ++i) v[i] *= m.base->eval(mflops[i], mb[i]);
  }
  return v;
}

std::vector<double> cross_val_predict(const TypeData& d, std::span<const int> folds,
                                      const RegressorParams& p, bool log_target, bool work_base) {
  if (folds.size() != d.x.rows) fail("cross-validation: size mismatch");
  const int k = folds.empty() ? 0 : *std::max_element(folds.begin(), folds.end()) + 1;
  std::vector<double> out(d.x.rows, std::nan(""));
  for (int f = 0; f < k; ++f) {
    std::vector<size_t> tr, te;
    for (size_t i = 0; i < d.x.rows; ++i) (folds[i] == f ? te : tr).push_back(i);
    if (te.empty()) continue;
    if (tr.empty()) fail("cross-validation: fold {} leaves no training rows", f);
    const FittedModel m = fit_model(d, tr, p, log_target, work_base);
    std::vector<double> mf, mb;
    for (size_t i : te) {
      mf.push_back(d.mflops[i]);
      mb.push_back(d.mb[i]);
    }
    const auto pred = predict_model(m, d.x.select(te), mf, mb, log_target);
    for (size_t j = 0; j < te.size(); ++j) out[te[j]] = pred[j];
  }
  return out;
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
  TypeData d = type_data(ds, job.type, job.target, ds.resolve(o.feature_set), o.pool_clamp_classes);
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
      const auto pred = cross_val_predict(d, folds, p, o.log_target, uses_work_base(job.target, o));
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
    const auto pred =
        cross_val_predict(d, folds, chosen, o.log_target, uses_work_base(job.target, o));
    t.cv = accuracy(pred, d.y);
  }
  FittedModel m = fit_model(d, {}, chosen, o.log_target, uses_work_base(job.target, o));
  t.regressor = std::move(m.trees);
  t.base = m.base;
  return t;
}

}  // namespace

std::vector<TrainedRegressor> train_regressors(const KernelDataset& ds, const TrainOptions& o) {
  std::vector<std::pair<size_t, Job>> sized;
  for (const std::string& type : ds.types()) {
    for (Target target : o.targets) {
      size_t n = 0;
      for (const auto& s : ds.samples) {
        const bool mine =
            s.type == type || (o.pool_clamp_classes && clamp_class(s.type) == clamp_class(type));
        n += mine && s.targets.get(target).has_value();
      }
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
