#include "nnjoule/predict/evaluate.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <array>
#include <cmath>
#include <mutex>
#include <nlohmann/json.hpp>
#include <numeric>
#include <set>

#include "nnjoule/common/error.hpp"
#include "nnjoule/common/rng.hpp"
#include "nnjoule/common/stats.hpp"
#include "nnjoule/common/table.hpp"
#include "parallel.hpp"

namespace nnjoule::predict {

using nlohmann::json;

namespace {

std::string pct(double share) {
  return fmt::format("{:.1f}%", 100 * share);
}
std::string pe(double v) {
  return fmt::format("{:.2f}%", v);
}

json accuracy_map(const std::map<Target, Accuracy>& m) {
  json j = json::object();
  for (const auto& [t, a] : m) j[std::string(target_name(t))] = a.to_json();
  return j;
}

// Accuracy of pairs collected per target; targets with no pair are left out.
struct Collector {
  std::map<Target, std::vector<double>> pred, actual;
  void add(Target t, const std::optional<double>& p, const std::optional<double>& a) {
    if (!p || !a || !(*a > 0)) return;
    pred[t].push_back(*p);
    actual[t].push_back(*a);
  }
  std::map<Target, Accuracy> result() const {
    std::map<Target, Accuracy> out;
    for (const auto& [t, p] : pred) out[t] = accuracy(p, actual.at(t));
    return out;
  }
};

}  // namespace

// ---- kernel level ----------------------------------------------------------------------

KernelCvResult kernel_cross_validation(const KernelDataset& ds, const KernelCvOptions& o) {
  if (o.folds < 2) fail("cross-validation needs at least 2 folds, got {}", o.folds);
  KernelCvResult res;
  const size_t n = ds.samples.size();
  res.fold.assign(n, -1);
  res.predicted.resize(n);
  struct Job {
    std::string type;
    Target target;
  };
  std::vector<Job> jobs;
  const size_t min_rows = std::max<size_t>(o.train.min_samples, static_cast<size_t>(o.folds));
  for (const auto& type : ds.types()) {
    std::vector<size_t> idx;
    for (size_t i = 0; i < n; ++i)
      if (ds.samples[i].type == type) idx.push_back(i);
    if (idx.size() < min_rows) {
      res.skipped.push_back(fmt::format("{}: {} rows (needs {})", type, idx.size(), min_rows));
      continue;
    }
    const auto folds = kfold_assignment(idx.size(), o.folds, hash_mix(o.seed, hash_string(type)));
    for (size_t j = 0; j < idx.size(); ++j) res.fold[idx[j]] = folds[j];
    for (Target t : o.train.targets) jobs.push_back({type, t});
  }
  std::vector<std::optional<KernelCvRow>> rows(jobs.size());
  detail::parallel_for(jobs.size(), o.train.jobs, [&](size_t j) {
    const Job& job = jobs[j];
    TypeData d = type_data(ds, job.type, job.target, ds.resolve(o.train.feature_set));
    if (d.x.rows < static_cast<size_t>(o.folds)) return;
    std::vector<int> folds(d.x.rows);
    for (size_t r = 0; r < d.x.rows; ++r) folds[r] = res.fold[d.sample_index[r]];
    auto it = o.train.overrides.find(job.type);
    RegressorParams p =
        it != o.train.overrides.end()
            ? it->second
            : default_params(job.type, o.train.mode, d.x.rows, d.feature_names.size());
    p.seed = hash_mix(o.seed, hash_string(job.type));
    p.threads = 1;
    const auto pred =
        cross_val_predict(d, folds, p, o.train.log_target, uses_work_base(job.target, o.train));
    for (size_t r = 0; r < d.x.rows; ++r) res.predicted[d.sample_index[r]].set(job.target, pred[r]);
    rows[j] = KernelCvRow{job.type, job.target, accuracy(pred, d.y), p};
  });
  for (auto& r : rows)
    if (r) res.rows.push_back(std::move(*r));
  std::sort(res.rows.begin(), res.rows.end(), [](const KernelCvRow& a, const KernelCvRow& b) {
    return std::tie(a.type, a.target) < std::tie(b.type, b.target);
  });
  Collector all;
  for (size_t i = 0; i < n; ++i) {
    if (res.fold[i] < 0) continue;
    for (Target t : o.train.targets)
      all.add(t, res.predicted[i].get(t), ds.samples[i].targets.get(t));
  }
  res.overall = all.result();
  return res;
}

json to_json(const KernelCvResult& r) {
  json types = json::object();
  for (const auto& row : r.rows) {
    json& t = types[row.type];
    t[std::string(target_name(row.target))] = row.accuracy.to_json();
    t["params"] = row.params.to_json();
  }
  return {{"types", types}, {"overall", accuracy_map(r.overall)}, {"skipped", r.skipped}};
}

std::string render_table(const KernelCvResult& r) {
  std::map<std::string, std::map<Target, Accuracy>> by_type;
  for (const auto& row : r.rows) by_type[row.type][row.target] = row.accuracy;
  std::vector<std::string> header = {"kernel type", "rows"};
  std::vector<TextTable::Align> align = {TextTable::Align::kLeft, TextTable::Align::kRight};
  std::vector<Target> targets;
  for (Target t : kAllTargets) {
    bool any = false;
    for (const auto& row : r.rows) any |= row.target == t;
    if (!any) continue;
    targets.push_back(t);
    header.push_back(std::string(target_name(t)) + " RMSPE");
    header.push_back("±10%");
    align.push_back(TextTable::Align::kRight);
    align.push_back(TextTable::Align::kRight);
  }
  TextTable table(header, align);
  auto add = [&](const std::string& name, const std::map<Target, Accuracy>& m) {
    size_t rows = 0;
    for (const auto& [t, a] : m) rows = std::max(rows, a.n);
    std::vector<std::string> cells = {name, std::to_string(rows)};
    for (Target t : targets) {
      auto it = m.find(t);
      cells.push_back(it == m.end() ? "-" : pe(it->second.rmspe));
      cells.push_back(it == m.end() ? "-" : pct(it->second.within10));
    }
    table.add_row(cells);
  };
  for (const auto& [type, m] : by_type) add(type, m);
  table.add_separator();
  add("all kernels", r.overall);
  std::string s = table.render();
  for (const auto& sk : r.skipped) s += "skipped " + sk + "\n";
  return s;
}

json export_folds(const KernelDataset& ds, const KernelCvResult& r) {
  json types = json::object();
  for (size_t i = 0; i < ds.samples.size(); ++i) {
    if (r.fold[i] < 0) continue;
    const KernelSample& s = ds.samples[i];
    json& t = types[s.type];
    if (t.is_null()) {
      t = {{"features_nn_meter", feature_names(s.type, FeatureSet::kNnMeter)},
           {"features_full", feature_names(s.type, FeatureSet::kFull)},
           {"rows", json::array()}};
    }
    json row = {{"id", s.id},
                {"fold", r.fold[i]},
                {"x_nn_meter", features(s.type, s.config, FeatureSet::kNnMeter)},
                {"x_full", features(s.type, s.config, FeatureSet::kFull)}};
    for (Target tg : kAllTargets) {
      const auto y = s.targets.get(tg);
      const auto p = r.predicted[i].get(tg);
      row[std::string(target_name(tg))] = y ? json(*y) : json(nullptr);
      row["pred_" + std::string(target_name(tg))] = p ? json(*p) : json(nullptr);
    }
    t["rows"].push_back(std::move(row));
  }
  return {{"source", ds.source}, {"device", ds.device.name}, {"types", types}};
}

// ---- model level -----------------------------------------------------------------------

std::string_view split_name(Split s) {
  switch (s) {
    case Split::kRandom:
      return "random";
    case Split::kKFold:
      return "k-fold";
    case Split::kLeaveOneFamilyOut:
      return "leave-one-family-out";
  }
  return "?";
}

Split parse_split(std::string_view name) {
  if (name == "random") return Split::kRandom;
  if (name == "kfold" || name == "k-fold") return Split::kKFold;
  if (name == "family" || name == "leave-one-family-out") return Split::kLeaveOneFamilyOut;
  fail("unknown split '{}' (expected random, kfold or family)", name);
}

namespace {

// Least squares y = X b via the normal equations (at most 4 columns, scaled to unit size).
std::optional<std::vector<double>> least_squares(const std::vector<std::vector<double>>& x,
                                                 const std::vector<double>& y) {
  constexpr size_t kMax = 4;
  if (x.empty()) return std::nullopt;
  const size_t k = x[0].size();
  if (k == 0 || k > kMax || x.size() < k) return std::nullopt;
  std::array<double, kMax> scale{};
  for (const auto& r : x)
    for (size_t j = 0; j < k; ++j) scale[j] = std::max(scale[j], std::fabs(r[j]));
  for (double& s : scale) s = s > 0 ? s : 1;
  std::array<std::array<double, kMax + 1>, kMax> a{};
  for (size_t i = 0; i < x.size(); ++i) {
    for (size_t p = 0; p < k; ++p) {
      for (size_t q = 0; q < k; ++q) a[p][q] += x[i][p] / scale[p] * x[i][q] / scale[q];
      a[p][k] += x[i][p] / scale[p] * y[i];
    }
  }
  for (size_t c = 0; c < k; ++c) {  // Gauss-Jordan with partial pivoting
    size_t piv = c;
    for (size_t r = c + 1; r < k; ++r)
      if (std::fabs(a[r][c]) > std::fabs(a[piv][c])) piv = r;
    if (std::fabs(a[piv][c]) < 1e-12) return std::nullopt;
    std::swap(a[c], a[piv]);
    for (size_t r = 0; r < k; ++r) {
      if (r == c) continue;
      const double f = a[r][c] / a[c][c];
      for (size_t q = c; q <= k; ++q) a[r][q] -= f * a[c][q];
    }
  }
  std::vector<double> b(k);
  for (size_t c = 0; c < k; ++c) b[c] = a[c][k] / a[c][c] / scale[c];
  return b;
}

struct ModelSizes {
  double flops = 0, bytes = 0;
};
ModelSizes model_sizes(const ModelSample& m) {
  ModelSizes s;
  for (const auto& k : m.kernels) {
    s.flops += k.flops;
    s.bytes += static_cast<double>(k.bytes);
  }
  return s;
}

const std::vector<Target> kModelTargets = {Target::kEnergy, Target::kLatency, Target::kPower};

}  // namespace

ModelEvalResult evaluate_models(const KernelDataset& kds, const std::vector<ModelSample>& models,
                                const ModelEvalOptions& o) {
  if (models.empty()) fail("model evaluation: no measured models");
  ModelEvalResult res;
  res.split = o.split;
  {
    std::set<std::string> origins;
    for (const auto& m : models)
      if (m.measured.energy_mj) origins.insert(m.energy_origin.label());
    for (const auto& s : origins) res.energy_origin += (res.energy_origin.empty() ? "" : ", ") + s;
  }
  // Rounds: each a set of held-out model indices.
  std::vector<std::vector<size_t>> rounds;
  std::vector<std::string> round_names;
  if (o.split == Split::kRandom || o.split == Split::kKFold) {
    if (models.size() < 2) {
      fail("{} split needs at least 2 models, got {}", split_name(o.split), models.size());
    }
    std::vector<size_t> order(models.size());
    std::iota(order.begin(), order.end(), 0);
    Rng rng(hash_mix(o.seed, 0x5eed));
    for (size_t i = order.size(); i > 1; --i) {
      std::swap(order[i - 1],
                order[static_cast<size_t>(rng.uniform_int(0, static_cast<int64_t>(i - 1)))]);
    }
    if (o.split == Split::kRandom) {
      const size_t n_test = std::clamp<size_t>(
          static_cast<size_t>(std::lround(o.test_share * static_cast<double>(models.size()))), 1,
          models.size() - 1);
      rounds.push_back({order.begin(), order.begin() + static_cast<std::ptrdiff_t>(n_test)});
      round_names.push_back("random");
    } else {
      if (o.folds < 2) fail("k-fold split needs at least 2 folds, got {}", o.folds);
      const size_t k = std::min(static_cast<size_t>(o.folds), models.size());
      rounds.resize(k);
      for (size_t i = 0; i < order.size(); ++i) rounds[i % k].push_back(order[i]);
      for (size_t f = 0; f < k; ++f) round_names.push_back(fmt::format("fold{}", f));
    }
  } else {
    std::map<std::string, std::vector<size_t>> fam;
    for (size_t i = 0; i < models.size(); ++i) fam[models[i].family].push_back(i);
    if (fam.size() < 2) {
      fail("leave-one-family-out needs models of at least 2 families, got {}", fam.size());
    }
    for (auto& [f, idx] : fam) {
      rounds.push_back(idx);
      round_names.push_back(f);
    }
  }
  // nn-meter-rf: DeepEn2023's and nn-Meter's method on the same kernels (a random forest on
  // nn-Meter's features per kernel type, summed over the model's kernels).
  const std::vector<std::string> methods = {"nnjoule", "nn-meter-rf", "per-op-sum", "flops-linear",
                                            "flops-bytes-linear"};
  std::set<std::string> notes;
  // In-model kernel timings of each model: kernel index -> latencies of its repeats.
  std::map<std::string, std::map<long, std::vector<double>>> timed;
  for (const auto& s : kds.samples) {
    if (!s.model.empty() && s.kernel_index >= 0 && s.targets.latency_ms)
      timed[s.model][s.kernel_index].push_back(*s.targets.latency_ms);
  }
  std::map<std::string, TypeContribution> by_type;
  std::map<std::string, std::string> fallbacks;  // type -> how, from the first round using it
  for (size_t ri = 0; ri < rounds.size(); ++ri) {
    std::set<std::string> held;
    for (size_t i : rounds[ri]) held.insert(models[i].name);
    KernelDataset train = kds;
    train.samples.clear();
    size_t dropped = 0;
    for (const auto& s : kds.samples) {
      if (!s.model.empty() && held.count(s.model)) {
        ++dropped;
        continue;
      }
      train.samples.push_back(s);
    }
    if (train.samples.empty()) {
      fail("model evaluation round '{}': no kernel samples left to train on", round_names[ri]);
    }
    TrainOptions to = o.train;
    to.cv_folds = 0;  // model-level accuracy is what this measures
    const Predictor p = Predictor::train(train, to, o.fusion, "eval-" + round_names[ri]);
    TrainOptions rf = to;
    rf.mode = Mode::kForest;
    rf.feature_set = FeatureSet::kNnMeter;
    rf.work_base = false;
    rf.log_target = false;
    rf.pool_clamp_classes = false;  // nn-Meter's method: one forest per kernel type
    const Predictor prf = Predictor::train(train, rf, o.fusion, "rf-" + round_names[ri]);
    // Linear baselines on the training models' totals.
    std::map<Target, std::optional<std::vector<double>>> lin_f, lin_fb;
    for (Target t : {Target::kEnergy, Target::kLatency}) {
      std::vector<std::vector<double>> xf, xfb;
      std::vector<double> y;
      for (size_t i = 0; i < models.size(); ++i) {
        if (held.count(models[i].name)) continue;
        const auto v = models[i].measured.get(t);
        if (!v) continue;
        const ModelSizes z = model_sizes(models[i]);
        xf.push_back({z.flops, 1.0});
        xfb.push_back({z.flops, z.bytes, 1.0});
        y.push_back(*v);
      }
      lin_f[t] = least_squares(xf, y);
      lin_fb[t] = least_squares(xfb, y);
      if (!lin_f[t])
        notes.insert(
            fmt::format("round {}: too few training models for the linear "
                        "{} baselines",
                        round_names[ri], target_name(t)));
    }
    for (size_t i : rounds[ri]) {
      const ModelSample& m = models[i];
      ModelPredictionRow row;
      row.model = m.name;
      row.family = m.family;
      row.round = static_cast<int>(ri);
      row.measured = m.measured;
      const ModelPrediction mp = p.predict(m.kernels, m.name, nullptr, m.where);
      row.predicted["nnjoule"] = mp.total;
      if (auto t = timed.find(m.name); t != timed.end()) {
        std::map<std::string, std::pair<double, double>> in_model;  // type -> (measured, predicted)
        for (size_t k = 0; k < mp.kernels.size(); ++k) {
          auto it = t->second.find(static_cast<long>(k));
          const auto& pk = mp.kernels[k];
          if (it == t->second.end() || !pk.predicted.latency_ms) continue;
          auto& c = by_type[pk.type];
          c.type = pk.type;
          ++c.kernels;
          c.measured_ms += stats::mean(it->second);
          c.predicted_ms += *pk.predicted.latency_ms;
          in_model[pk.type].first += stats::mean(it->second);
          in_model[pk.type].second += *pk.predicted.latency_ms;
        }
        for (const auto& [type, mp_sum] : in_model) {
          by_type[type].abs_error_ms += std::fabs(mp_sum.second - mp_sum.first);
        }
      }
      row.predicted["nn-meter-rf"] = prf.predict(m.kernels, m.name, nullptr, m.where).total;
      // One note per type: the rounds differ only in the row counts of the fallback.
      for (const auto& [type, how] : mp.fallback_types) fallbacks.emplace(type, how);
      if (mp.lower_bound) notes.insert(fmt::format("{}: unknown ops excluded", m.name));
      if (!m.unfused.empty()) {
        const ModelPrediction up = p.predict(m.unfused, m.name, nullptr, m.where);
        row.predicted["per-op-sum"] = up.total;
      }
      const ModelSizes z = model_sizes(m);
      Targets lf, lfb;
      for (Target t : {Target::kEnergy, Target::kLatency}) {
        if (lin_f[t]) lf.set(t, (*lin_f[t])[0] * z.flops + (*lin_f[t])[1]);
        if (lin_fb[t]) {
          lfb.set(t, (*lin_fb[t])[0] * z.flops + (*lin_fb[t])[1] * z.bytes + (*lin_fb[t])[2]);
        }
      }
      for (Targets* tg : {&lf, &lfb}) {
        if (tg->energy_mj && tg->latency_ms && *tg->latency_ms > 0) {
          tg->power_mw = *tg->energy_mj / *tg->latency_ms * 1000;
        }
      }
      row.predicted["flops-linear"] = lf;
      row.predicted["flops-bytes-linear"] = lfb;
      res.models.push_back(std::move(row));
    }
  }
  for (const auto& name : methods) {
    MethodResult mr;
    mr.method = name;
    Collector all;
    std::map<std::string, Collector> fam;
    for (const auto& row : res.models) {
      auto it = row.predicted.find(name);
      if (it == row.predicted.end()) continue;
      for (Target t : kModelTargets) {
        all.add(t, it->second.get(t), row.measured.get(t));
        fam[row.family].add(t, it->second.get(t), row.measured.get(t));
      }
    }
    mr.overall = all.result();
    for (const auto& [f, c] : fam) mr.by_family[f] = c.result();
    if (!mr.overall.empty()) res.methods.push_back(std::move(mr));
  }
  double total_abs = 0;
  for (const auto& [type, c] : by_type) total_abs += c.abs_error_ms;
  for (auto& [type, c] : by_type) {
    c.share_of_error = total_abs > 0 ? c.abs_error_ms / total_abs : 0;
    res.by_type.push_back(c);
  }
  std::sort(res.by_type.begin(), res.by_type.end(),
            [](const auto& a, const auto& b) { return a.abs_error_ms > b.abs_error_ms; });
  for (const auto& [type, how] : fallbacks) {
    notes.insert(
        fmt::format("nnjoule: {} predicted by {} (in the first round that needed it)", type, how));
  }
  res.notes.assign(notes.begin(), notes.end());
  return res;
}

BundleEvalResult evaluate_bundle(const Predictor& p, const KernelDataset& kds,
                                 const std::vector<ModelSample>& models) {
  BundleEvalResult res;
  std::vector<KernelInput> in;
  in.reserve(kds.samples.size());
  for (const auto& s : kds.samples) in.push_back({s.id, s.type, s.config, {}, {}, s.context});
  const auto pred = p.predict_kernels(in);
  std::map<std::string, Collector> by_type;
  Collector all;
  std::set<std::string> notes;
  for (size_t i = 0; i < pred.size(); ++i) {
    for (Target t : kAllTargets) {
      by_type[kds.samples[i].type].add(t, pred[i].predicted.get(t), kds.samples[i].targets.get(t));
      all.add(t, pred[i].predicted.get(t), kds.samples[i].targets.get(t));
    }
    if (pred[i].fallback) {
      notes.insert(fmt::format("kernel type {} has no regressor of its own: {}", pred[i].type,
                               pred[i].method.at(Target::kEnergy)));
    }
  }
  for (const auto& [type, c] : by_type) {
    for (const auto& [t, a] : c.result()) res.kernels.push_back({type, t, a, {}});
  }
  res.kernels_overall = all.result();
  Collector mall;
  std::map<std::string, Collector> fam;
  for (const auto& m : models) {
    const ModelPrediction mp = p.predict(m.kernels, m.name, nullptr, m.where);
    ModelPredictionRow row;
    row.model = m.name;
    row.family = m.family;
    row.measured = m.measured;
    row.predicted["nnjoule"] = mp.total;
    for (Target t : kModelTargets) {
      mall.add(t, mp.total.get(t), m.measured.get(t));
      fam[m.family].add(t, mp.total.get(t), m.measured.get(t));
    }
    if (mp.lower_bound) notes.insert(fmt::format("{}: unknown ops excluded (lower bound)", m.name));
    res.models.push_back(std::move(row));
  }
  res.models_overall = mall.result();
  for (const auto& [f, c] : fam) res.models_by_family[f] = c.result();
  res.notes.assign(notes.begin(), notes.end());
  return res;
}

namespace {

json model_rows_json(const std::vector<ModelPredictionRow>& rows) {
  json out = json::array();
  for (const auto& r : rows) {
    json pred = json::object();
    for (const auto& [m, t] : r.predicted) {
      pred[m] = {{"energy_mj", t.energy_mj ? json(*t.energy_mj) : json(nullptr)},
                 {"latency_ms", t.latency_ms ? json(*t.latency_ms) : json(nullptr)},
                 {"power_mw", t.power_mw ? json(*t.power_mw) : json(nullptr)}};
    }
    out.push_back(
        {{"model", r.model},
         {"family", r.family},
         {"round", r.round},
         {"measured",
          {{"energy_mj", r.measured.energy_mj ? json(*r.measured.energy_mj) : json(nullptr)},
           {"latency_ms", r.measured.latency_ms ? json(*r.measured.latency_ms) : json(nullptr)},
           {"power_mw", r.measured.power_mw ? json(*r.measured.power_mw) : json(nullptr)}}},
         {"predicted", pred}});
  }
  return out;
}

// One row per (scope, method): RMSE, RMSPE, within 5/10/15% for energy and latency.
TextTable accuracy_table() {
  using A = TextTable::Align;
  return TextTable({"scope", "method", "models", "energy RMSE mJ", "energy RMSPE", "±5%", "±10%",
                    "±15%", "latency RMSE ms", "latency RMSPE", "±5%", "±10%", "±15%"},
                   {A::kLeft, A::kLeft, A::kRight, A::kRight, A::kRight, A::kRight, A::kRight,
                    A::kRight, A::kRight, A::kRight, A::kRight, A::kRight, A::kRight});
}

void add_accuracy_row(TextTable& t, const std::string& scope, const std::string& method,
                      const std::map<Target, Accuracy>& m) {
  std::vector<std::string> cells = {scope, method};
  size_t n = 0;
  for (const auto& [tg, a] : m) n = std::max(n, a.n);
  cells.push_back(std::to_string(n));
  for (Target tg : {Target::kEnergy, Target::kLatency}) {
    auto it = m.find(tg);
    if (it == m.end()) {
      for (int i = 0; i < 5; ++i) cells.push_back("-");
      continue;
    }
    const Accuracy& a = it->second;
    cells.push_back(format_number(a.rmse));
    cells.push_back(pe(a.rmspe));
    cells.push_back(pct(a.within5));
    cells.push_back(pct(a.within10));
    cells.push_back(pct(a.within15));
  }
  t.add_row(cells);
}

}  // namespace

namespace {

json by_type_json(const std::vector<TypeContribution>& v) {
  json a = json::array();
  for (const auto& c : v) {
    a.push_back({{"type", c.type},
                 {"kernels", c.kernels},
                 {"measured_latency_ms", c.measured_ms},
                 {"predicted_latency_ms", c.predicted_ms},
                 {"abs_error_ms", c.abs_error_ms},
                 {"share_of_error", c.share_of_error}});
  }
  return a;
}

std::string by_type_table(const std::vector<TypeContribution>& v) {
  using A = TextTable::Align;
  TextTable t({"kernel type", "kernels", "latency_ms measured in models", "predicted", "error",
               "sum of |error| per model", "share"},
              {A::kLeft, A::kRight, A::kRight, A::kRight, A::kRight, A::kRight, A::kRight});
  for (const auto& c : v) {
    t.add_row({c.type, std::to_string(c.kernels), format_number(c.measured_ms),
               format_number(c.predicted_ms),
               c.measured_ms > 0
                   ? fmt::format("{:+.1f}%", 100 * (c.predicted_ms - c.measured_ms) / c.measured_ms)
                   : std::string("-"),
               format_number(c.abs_error_ms), fmt::format("{:.0f}%", 100 * c.share_of_error)});
  }
  return t.render();
}

}  // namespace

json to_json(const ModelEvalResult& r) {
  json methods = json::object();
  for (const auto& m : r.methods) {
    json fam = json::object();
    for (const auto& [f, a] : m.by_family) fam[f] = accuracy_map(a);
    methods[m.method] = {{"overall", accuracy_map(m.overall)}, {"by_family", fam}};
  }
  return {{"split", split_name(r.split)},
          {"measured_energy_origin", r.energy_origin},
          {"methods", methods},
          {"models", model_rows_json(r.models)},
          {"by_kernel_type", by_type_json(r.by_type)},
          {"notes", r.notes}};
}

namespace {

// Each model's measured and predicted latency and energy side by side; `baselines` adds the
// latency error of other methods.
std::string side_by_side(const std::vector<ModelPredictionRow>& rows,
                         const std::vector<std::string>& baselines) {
  using A = TextTable::Align;
  std::vector<std::string> head = {"model", "family", "latency_ms measured", "predicted", "error"};
  for (const auto& b : baselines) head.push_back(b + " error");
  for (const char* h : {"energy_mj measured", "predicted", "error"}) head.push_back(h);
  std::vector<A> align(head.size(), A::kRight);
  align[0] = align[1] = A::kLeft;
  TextTable side(head, align);
  auto err = [](const std::optional<double>& p, const std::optional<double>& m) {
    return p && m && *m > 0 ? fmt::format("{:+.1f}%", 100 * (*p - *m) / *m) : std::string("-");
  };
  auto val = [](const std::optional<double>& v) {
    return v ? format_number(*v) : std::string("-");
  };
  for (const auto& m : rows) {
    const Targets& p = m.predicted.at("nnjoule");
    std::vector<std::string> row = {m.model, m.family, val(m.measured.latency_ms),
                                    val(p.latency_ms), err(p.latency_ms, m.measured.latency_ms)};
    for (const auto& b : baselines) {
      auto it = m.predicted.find(b);
      row.push_back(it == m.predicted.end() ? std::string("-")
                                            : err(it->second.latency_ms, m.measured.latency_ms));
    }
    for (const auto& c :
         {val(m.measured.energy_mj), val(p.energy_mj), err(p.energy_mj, m.measured.energy_mj)})
      row.push_back(c);
    side.add_row(row);
  }
  return side.render();
}

}  // namespace

std::string render_table(const ModelEvalResult& r) {
  TextTable t = accuracy_table();
  for (const auto& m : r.methods) add_accuracy_row(t, "all", m.method, m.overall);
  for (const auto& m : r.methods) {
    if (m.by_family.size() < 2 && r.split == Split::kRandom) continue;
    t.add_separator();
    for (const auto& [f, a] : m.by_family) add_accuracy_row(t, f, m.method, a);
  }
  std::string s = fmt::format("unseen models, {} split; measured energy: {}\n", split_name(r.split),
                              r.energy_origin.empty() ? "none" : r.energy_origin);
  s += side_by_side(r.models, {"per-op-sum", "flops-bytes-linear"});
  s += t.render();
  if (!r.by_type.empty()) {
    s += "where nnjoule's latency error comes from (held-out models' kernels, timed inside the "
         "models' runs; summed over all rounds):\n";
    s += by_type_table(r.by_type);
  }
  for (const auto& n : r.notes) s += "note: " + n + "\n";
  return s;
}

json to_json(const BundleEvalResult& r) {
  json kernels = json::object();
  for (const auto& row : r.kernels) {
    kernels[row.type][std::string(target_name(row.target))] = row.accuracy.to_json();
  }
  json fam = json::object();
  for (const auto& [f, a] : r.models_by_family) fam[f] = accuracy_map(a);
  return {{"kernels", kernels},
          {"kernels_overall", accuracy_map(r.kernels_overall)},
          {"models_overall", accuracy_map(r.models_overall)},
          {"models_by_family", fam},
          {"models", model_rows_json(r.models)},
          {"notes", r.notes}};
}

std::string render_table(const BundleEvalResult& r, const std::string& bundle_name) {
  std::string s = fmt::format(
      "accuracy of predicted ({}) against the database's values (its kernel rows "
      "may include the bundle's own training rows)\n",
      bundle_name);
  KernelCvResult k;
  k.rows = r.kernels;
  k.overall = r.kernels_overall;
  s += render_table(k);
  if (!r.models.empty()) {
    s += fmt::format("models: measured (dataset) beside predicted ({})\n", bundle_name);
    s += side_by_side(r.models, {});
    TextTable t = accuracy_table();
    add_accuracy_row(t, "all", "nnjoule", r.models_overall);
    t.add_separator();
    for (const auto& [f, a] : r.models_by_family) add_accuracy_row(t, f, "nnjoule", a);
    s += t.render();
  }
  for (const auto& n : r.notes) s += "note: " + n + "\n";
  return s;
}

}  // namespace nnjoule::predict
