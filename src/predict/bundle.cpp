#include "nnjoule/predict/bundle.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cctype>
#include <chrono>
#include <cmath>
#include <ctime>
#include <nlohmann/json.hpp>
#include <set>

#include "nnjoule/common/error.hpp"
#include "nnjoule/common/io.hpp"
#include "nnjoule/common/rng.hpp"
#include "nnjoule/common/stats.hpp"
#include "nnjoule/common/table.hpp"
#include "nnjoule/kernels/detect.hpp"
#include "nnjoule/version.hpp"

namespace nnjoule::predict {

namespace fs = std::filesystem;
using nlohmann::json;

namespace {

constexpr const char* kManifest = "predictor.json";
constexpr const char* kFormatName = "nnjoule-predictor";

std::vector<int> parse_version(const std::string& v, const std::string& source) {
  std::vector<int> parts;
  size_t pos = 0;
  while (pos <= v.size()) {
    const size_t dot = v.find('.', pos);
    const std::string p = v.substr(pos, dot == std::string::npos ? dot : dot - pos);
    if (p.empty() || p.find_first_not_of("0123456789") != std::string::npos) {
      fail("{}: nnjoule_version '{}' is not a version like 1.2.3", source, v);
    }
    parts.push_back(std::stoi(p));
    if (dot == std::string::npos) break;
    pos = dot + 1;
  }
  return parts;
}

std::string utc_now() {
  const std::time_t t = std::chrono::system_clock::to_time_t(std::chrono::system_clock::now());
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
  return buf;
}

bool valid_type_name(const std::string& t) {
  if (t.empty() || t.size() > 64) return false;
  return std::all_of(t.begin(), t.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '_';
  });
}

std::string model_file(const std::string& type, Target t) {
  return fmt::format("{}.{}.json", type, target_name(t));
}

std::vector<std::string> split_ops(const std::string& type) {
  std::vector<std::string> out;
  size_t pos = 0;
  while (true) {
    const size_t d = type.find('-', pos);
    out.push_back(type.substr(pos, d == std::string::npos ? d : d - pos));
    if (d == std::string::npos) break;
    pos = d + 1;
  }
  return out;
}

json opt_json(const std::optional<double>& v) {
  return v ? json(*v) : json(nullptr);
}

std::optional<double> opt_from(const json& j, const char* key) {
  if (!j.contains(key) || j[key].is_null()) return std::nullopt;
  return j[key].get<double>();
}

json rates_json(const FallbackRates& r) {
  return {{"rows", r.rows},
          {"energy_mj_per_mflop", opt_json(r.energy_mj_per_mflop)},
          {"latency_ms_per_mflop", opt_json(r.latency_ms_per_mflop)},
          {"energy_mj_per_mb", opt_json(r.energy_mj_per_mb)},
          {"latency_ms_per_mb", opt_json(r.latency_ms_per_mb)},
          {"power_mw", opt_json(r.power_mw)}};
}

FallbackRates rates_from(const json& j) {
  FallbackRates r;
  r.rows = j.at("rows").get<size_t>();
  r.energy_mj_per_mflop = opt_from(j, "energy_mj_per_mflop");
  r.latency_ms_per_mflop = opt_from(j, "latency_ms_per_mflop");
  r.energy_mj_per_mb = opt_from(j, "energy_mj_per_mb");
  r.latency_ms_per_mb = opt_from(j, "latency_ms_per_mb");
  r.power_mw = opt_from(j, "power_mw");
  return r;
}

Accuracy accuracy_from(const json& j) {
  Accuracy a;
  a.n = j.at("n").get<size_t>();
  a.rmse = j.at("rmse").get<double>();
  a.rmspe = j.at("rmspe_pct").get<double>();
  a.mape = j.at("mape_pct").get<double>();
  a.within5 = j.at("within_5pct").get<double>();
  a.within10 = j.at("within_10pct").get<double>();
  a.within15 = j.at("within_15pct").get<double>();
  return a;
}

// The feature count an XGBoost JSON model declares ("num_feature":"10" in its
// learner_model_param), read without parsing the whole model.
std::optional<size_t> declared_features(const std::string& text) {
  const std::string key = "\"num_feature\":\"";
  const size_t at = text.find(key);
  if (at == std::string::npos) return std::nullopt;
  size_t n = 0, i = at + key.size();
  if (i >= text.size() || !std::isdigit(static_cast<unsigned char>(text[i]))) return std::nullopt;
  for (; i < text.size() && std::isdigit(static_cast<unsigned char>(text[i])); ++i) {
    n = n * 10 + static_cast<size_t>(text[i] - '0');
  }
  return n;
}

std::string fmt_value(const std::optional<double>& v) {
  return v ? format_number(*v) : std::string("n/a");
}

}  // namespace

LazyRegressor::LazyRegressor(Regressor r) : regressor_(std::move(r)) {}

LazyRegressor::LazyRegressor(fs::path path, std::string sha, size_t n_features)
    : path_(std::move(path)), sha_(std::move(sha)), n_features_(n_features) {}

bool LazyRegressor::loaded() const {
  std::lock_guard lock(mutex_);
  return regressor_.has_value();
}

const Regressor& LazyRegressor::get() const {
  std::lock_guard lock(mutex_);
  if (regressor_) return *regressor_;
  const std::string text = read_file(path_);
  if (content_hash(text) != sha_) {
    fail("{}: changed since its bundle was loaded (hash differs from {})", path_.string(),
         kManifest);
  }
  Regressor r = Regressor::from_json(text, path_.string());
  if (r.num_features() != n_features_) {
    fail("{}: model has {} features, {} lists {}", path_.string(), r.num_features(), kManifest,
         n_features_);
  }
  regressor_ = std::move(r);
  return *regressor_;
}

std::map<std::string, FallbackRates> compute_fallback_rates(const KernelDataset& ds) {
  struct Acc {
    size_t rows = 0;
    std::vector<double> e_flop, l_flop, e_mb, l_mb, p;
  };
  std::map<std::string, Acc> acc;
  for (const auto& s : ds.samples) {
    KernelSizes z;
    try {
      z = kernel_sizes(s.type, s.config);
    } catch (const Error&) {
      continue;  // a config the predictor cannot size says nothing about rates
    }
    for (const std::string& key :
         {std::string(family_name(feature_family(s.type))), std::string("all")}) {
      Acc& a = acc[key];
      ++a.rows;
      const auto e = s.targets.energy_mj, l = s.targets.latency_ms, p = s.targets.power_mw;
      if (z.flops > 0) {
        if (e) a.e_flop.push_back(*e / (z.flops / 1e6));
        if (l) a.l_flop.push_back(*l / (z.flops / 1e6));
      }
      if (z.bytes > 0) {
        if (e) a.e_mb.push_back(*e / (z.bytes / 1e6));
        if (l) a.l_mb.push_back(*l / (z.bytes / 1e6));
      }
      if (p) a.p.push_back(*p);
    }
  }
  auto med = [](const std::vector<double>& v) -> std::optional<double> {
    if (v.empty()) return std::nullopt;
    return stats::median(v);
  };
  std::map<std::string, FallbackRates> out;
  for (const auto& [k, a] : acc) {
    FallbackRates r;
    r.rows = a.rows;
    r.energy_mj_per_mflop = med(a.e_flop);
    r.latency_ms_per_mflop = med(a.l_flop);
    r.energy_mj_per_mb = med(a.e_mb);
    r.latency_ms_per_mb = med(a.l_mb);
    r.power_mw = med(a.p);
    out[k] = r;
  }
  return out;
}

Predictor Predictor::train(const KernelDataset& ds, const TrainOptions& o,
                           const kernels::FusionRules& rules, const std::string& name) {
  if (ds.samples.empty()) fail("{}: no kernel samples to train on", ds.source);
  Predictor p;
  p.info_.name = name;
  p.info_.nnjoule_version = kVersion;
  p.info_.created = utc_now();
  p.info_.device = ds.device;
  p.info_.feature_set = o.feature_set;
  p.info_.mode = o.mode;
  p.info_.log_target = o.log_target;
  TrainingSummary& t = p.info_.training;
  t.rows = ds.samples.size();
  t.hash = ds.hash();
  t.source = ds.source;
  std::set<std::string> eo, lo;
  for (const auto& s : ds.samples) {
    if (!valid_type_name(s.type)) {
      fail("{}: sample {} has kernel type '{}' (expected lowercase letters, digits, '-')",
           ds.source, s.id, s.type);
    }
    t.rows_by_type[s.type]++;
    if (s.targets.energy_mj || s.targets.power_mw) eo.insert(s.energy_origin.label());
    if (s.targets.latency_ms) lo.insert(s.latency_origin.label());
  }
  auto join = [](const std::set<std::string>& s) {
    std::string r;
    for (const auto& x : s) r += (r.empty() ? "" : ", ") + x;
    return r;
  };
  t.energy_origin = join(eo);
  t.latency_origin = join(lo);
  p.rules_ = rules;
  for (auto& tr : train_regressors(ds, o)) {
    RegressorEntry e;
    e.type = tr.type;
    e.target = tr.target;
    e.feature_names = std::move(tr.feature_names);
    e.params = tr.params;
    e.searched = tr.searched;
    e.rows = tr.rows;
    e.cv = tr.cv;
    e.file = model_file(tr.type, tr.target);
    e.sha = content_hash(tr.regressor.to_json());
    e.base = tr.base;
    e.model = std::make_shared<LazyRegressor>(std::move(tr.regressor));
    p.regressors_.push_back(std::move(e));
  }
  p.rates_ = compute_fallback_rates(ds);
  return p;
}

const RegressorEntry* Predictor::find(const std::string& type, Target t) const {
  for (const auto& r : regressors_)
    if (r.type == type && r.target == t) return &r;
  return nullptr;
}

Predictor::Resolution Predictor::resolve(const std::string& type, Target t) const {
  Resolution res;
  for (size_t i = 0; i < regressors_.size(); ++i) {
    if (regressors_[i].type == type && regressors_[i].target == t) {
      res.regressor = i;
      res.description = "regressor";
      return res;
    }
  }
  // A related type: same feature family (so the same features) and the longest shared run of
  // leading ops (conv-bn-relu6 -> conv-bn-relu); ties go to the type with more rows.
  const FeatureFamily fam = feature_family(type);
  const auto ops = split_ops(type);
  const RegressorEntry* best = nullptr;
  size_t best_prefix = 0, best_index = 0;
  for (size_t i = 0; i < regressors_.size(); ++i) {
    const RegressorEntry& r = regressors_[i];
    if (r.target != t || feature_family(r.type) != fam) continue;
    const auto rops = split_ops(r.type);
    size_t k = 0;
    while (k < ops.size() && k < rops.size() && ops[k] == rops[k]) ++k;
    if (k == 0) continue;
    if (k > best_prefix || (k == best_prefix && best && r.rows > best->rows)) {
      best = &r;
      best_prefix = k;
      best_index = i;
    }
  }
  if (best) {
    res.regressor = best_index;
    res.related = best->type;
    res.description = fmt::format("fallback: regressor of related type {}", best->type);
    return res;
  }
  const std::string fname(family_name(fam));
  auto has_rate = [&](const FallbackRates& r) {
    switch (t) {
      case Target::kEnergy:
        return r.energy_mj_per_mflop || r.energy_mj_per_mb;
      case Target::kLatency:
        return r.latency_ms_per_mflop || r.latency_ms_per_mb;
      case Target::kPower:
        return r.power_mw.has_value();
    }
    return false;
  };
  auto it = rates_.find(fname);
  if (it != rates_.end() && has_rate(it->second)) {
    res.family = fname;
  } else if (auto all = rates_.find("all"); all != rates_.end() && has_rate(all->second)) {
    res.family = "all";
  } else {
    res.description = fmt::format("none: the bundle has no {} data", target_name(t));
    return res;
  }
  const FallbackRates& r = rates_.at(res.family);
  const std::string who = res.family == "all" ? "all kernels" : res.family + " kernels";
  res.description =
      t == Target::kPower
          ? fmt::format("fallback: median power of {} on this device ({} rows)", who, r.rows)
          : fmt::format(
                "fallback: median {} per MFLOP (per MB without FLOPs) of {} on this "
                "device ({} rows)",
                t == Target::kEnergy ? "energy" : "latency", who, r.rows);
  return res;
}

std::string Predictor::method(const std::string& type, Target t) const {
  return resolve(type, t).description;
}

const Predictor::Resolution& Predictor::cached_resolve(const std::string& type, Target t) const {
  std::lock_guard lock(cache_->mutex);
  const auto key = std::make_pair(type, t);
  auto it = cache_->resolutions.find(key);
  if (it == cache_->resolutions.end())
    it = cache_->resolutions.emplace(key, resolve(type, t)).first;
  return it->second;  // std::map nodes stay put
}

std::vector<KernelPrediction> Predictor::predict_kernels(std::span<const KernelInput> in) const {
  std::vector<KernelPrediction> out(in.size());
  // Models repeat kernels (ResNet-50: 73 kernels, 31 distinct): predict each distinct one once.
  std::vector<size_t> unique;                          // index into `in` of each distinct kernel
  std::vector<size_t> which(in.size());                // distinct kernel of each input
  std::map<std::string, std::vector<size_t>> by_type;  // type -> positions in `unique`
  for (size_t i = 0; i < in.size(); ++i) {
    out[i].name = in[i].name;
    out[i].type = in[i].type;
    out[i].config = in[i].config;
    auto& same = by_type[in[i].type];
    size_t u = unique.size();
    for (size_t cand : same) {
      if (in[unique[cand]].config == in[i].config) {
        u = cand;
        break;
      }
    }
    if (u == unique.size()) {
      unique.push_back(i);
      same.push_back(u);
    }
    which[i] = u;
  }
  // Features once per distinct kernel, in the bundle's feature set.
  std::vector<std::vector<float>> feats(unique.size());
  std::vector<Targets> pred(unique.size());
  std::vector<std::map<Target, std::string>> method(unique.size());
  std::vector<bool> fallback(unique.size(), false);
  // FLOPs and bytes once per distinct kernel (work bases and fallbacks of every target use them).
  std::vector<std::optional<KernelSizes>> sizes(unique.size());
  auto size_of = [&](size_t u) -> const KernelSizes& {
    if (!sizes[u]) sizes[u] = kernel_sizes(in[unique[u]].type, in[unique[u]].config);
    return *sizes[u];
  };
  for (Target t : kAllTargets) {
    std::map<size_t, std::vector<size_t>> groups;  // regressor index -> distinct kernels
    for (size_t u = 0; u < unique.size(); ++u) {
      const KernelInput& k = in[unique[u]];
      const Resolution& r = cached_resolve(k.type, t);
      method[u][t] = r.description;
      if (r.regressor != Resolution::kNone) {
        groups[r.regressor].push_back(u);
        if (!r.related.empty()) fallback[u] = true;
        continue;
      }
      if (r.family.empty()) continue;  // nothing can predict this target
      fallback[u] = true;
      const FallbackRates& rate = rates_.at(r.family);
      std::optional<double> flops = k.flops, bytes = k.bytes;
      try {
        const KernelSizes& z = size_of(u);
        flops = z.flops;
        bytes = z.bytes;
      } catch (const Error&) {
        if (!flops || !bytes) {
          fail("kernel '{}' ({}): cannot size it for the fallback from config {}", k.name, k.type,
               k.config.str());
        }
      }
      std::optional<double> per_mflop, per_mb;
      if (t == Target::kEnergy) {
        per_mflop = rate.energy_mj_per_mflop;
        per_mb = rate.energy_mj_per_mb;
      } else if (t == Target::kLatency) {
        per_mflop = rate.latency_ms_per_mflop;
        per_mb = rate.latency_ms_per_mb;
      } else {
        pred[u].set(t, *rate.power_mw);
        continue;
      }
      if (*flops > 0 && per_mflop) {
        pred[u].set(t, *per_mflop * *flops / 1e6);
      } else if (per_mb) {
        pred[u].set(t, *per_mb * *bytes / 1e6);
      }
    }
    for (const auto& [ri, us] : groups) {
      const RegressorEntry& reg = regressors_[ri];
      Matrix m(0, reg.feature_names.size());
      m.data.reserve(us.size() * m.cols);
      for (size_t u : us) {
        const KernelInput& k = in[unique[u]];
        if (feats[u].empty()) {
          try {
            append_features(k.type, k.config, info_.feature_set, feats[u]);
          } catch (const Error& e) {
            fail("kernel '{}': {}", k.name, e.what());
          }
        }
        m.append_row(feats[u]);
      }
      const auto v = reg.regressor().predict(m);
      for (size_t j = 0; j < us.size(); ++j) {
        double y = info_.log_target ? std::exp(v[j]) : v[j];
        if (reg.base) {
          const KernelSizes& z = size_of(us[j]);  // its features succeeded: it can be sized
          y *= reg.base->eval(z.flops / 1e6, z.bytes / 1e6);
        }
        pred[us[j]].set(t, y);
      }
    }
  }
  for (size_t i = 0; i < in.size(); ++i) {
    out[i].predicted = pred[which[i]];
    out[i].method = method[which[i]];
    out[i].fallback = fallback[which[i]];
  }
  return out;
}

ModelPrediction Predictor::predict(const std::vector<kernels::Kernel>& ks,
                                   const std::string& model_name, const graph::Graph* g) const {
  ModelPrediction mp;
  mp.model = model_name;
  mp.predictor = info_.name;
  mp.provenance = provenance();
  mp.device = info_.device;
  mp.training_energy_origin = info_.training.energy_origin;
  std::vector<KernelInput> inputs;
  inputs.reserve(ks.size());
  for (const auto& k : ks) {
    if (k.unknown()) {
      if (g) {
        for (size_t n : k.nodes) mp.unknown_ops.emplace_back(g->nodes[n].op_type, g->nodes[n].name);
      } else {
        mp.unknown_ops.emplace_back(k.type.substr(8), k.name);
      }
      continue;
    }
    inputs.push_back(KernelInput{k.name, k.type, k.config, k.flops, static_cast<double>(k.bytes)});
  }
  mp.kernels = predict_kernels(inputs);
  for (Target t : {Target::kEnergy, Target::kLatency}) {
    double sum = 0;
    std::vector<std::string> missing;
    for (const auto& k : mp.kernels) {
      const auto v = k.predicted.get(t);
      if (v)
        sum += *v;
      else
        missing.push_back(k.name);
    }
    if (missing.empty() && !mp.kernels.empty()) {
      mp.total.set(t, sum);
    } else if (!missing.empty()) {
      mp.warnings.push_back(fmt::format("no {} prediction for {} kernel(s) ({}...): no total",
                                        target_name(t), missing.size(), missing.front()));
    }
  }
  if (mp.total.energy_mj && mp.total.latency_ms && *mp.total.latency_ms > 0) {
    mp.total.power_mw = *mp.total.energy_mj / *mp.total.latency_ms * 1000.0;
  }
  for (auto& k : mp.kernels) {
    if (mp.total.energy_mj && *mp.total.energy_mj > 0)
      k.energy_share = *k.predicted.energy_mj / *mp.total.energy_mj;
    if (mp.total.latency_ms && *mp.total.latency_ms > 0)
      k.latency_share = *k.predicted.latency_ms / *mp.total.latency_ms;
    if (k.fallback && !mp.fallback_types.count(k.type)) {
      std::string how;
      for (const auto& [t, m] : k.method) {
        if (m == "regressor") continue;
        how += (how.empty() ? "" : "; ") + std::string(target_name(t)) + ": " + m;
      }
      mp.fallback_types[k.type] = how;
    }
  }
  if (!mp.unknown_ops.empty()) {
    mp.lower_bound = true;
    std::set<std::string> ops;
    for (const auto& [op, node] : mp.unknown_ops) ops.insert(op);
    std::string list;
    for (const auto& o : ops) list += (list.empty() ? "" : ", ") + o;
    mp.warnings.push_back(fmt::format(
        "{} node(s) with ops nnjoule does not know ({}) are excluded: the totals are a lower "
        "bound",
        mp.unknown_ops.size(), list));
  }
  return mp;
}

ModelPrediction Predictor::predict(const graph::Graph& g) const {
  return predict(kernels::detect_kernels(g, rules_), g.name, &g);
}

json ModelPrediction::to_json() const {
  json ks = json::array();
  for (const auto& k : kernels) {
    json cfg = json::object();
    for (const auto& [key, v] : k.config.items()) cfg[key] = v;
    json methods = json::object();
    for (const auto& [t, m] : k.method) methods[std::string(target_name(t))] = m;
    ks.push_back({{"name", k.name},
                  {"type", k.type},
                  {"config", cfg},
                  {"energy_mj", opt_json(k.predicted.energy_mj)},
                  {"latency_ms", opt_json(k.predicted.latency_ms)},
                  {"power_mw", opt_json(k.predicted.power_mw)},
                  {"energy_share", k.energy_share},
                  {"latency_share", k.latency_share},
                  {"fallback", k.fallback},
                  {"method", methods}});
  }
  json unknown = json::array();
  for (const auto& [op, node] : unknown_ops) unknown.push_back({{"op", op}, {"node", node}});
  json fb = json::object();
  for (const auto& [t, how] : fallback_types) fb[t] = how;
  return {{"model", model},
          {"origin", origin_name(provenance.origin)},
          {"provenance", provenance.label()},
          {"predictor", predictor},
          {"device",
           {{"name", device.name},
            {"runtime", device.runtime},
            {"threads", device.threads},
            {"meter", device.meter}}},
          {"training_energy_origin", training_energy_origin},
          {"total",
           {{"energy_mj", opt_json(total.energy_mj)},
            {"latency_ms", opt_json(total.latency_ms)},
            {"power_mw", opt_json(total.power_mw)},
            {"power_note", "average power: total energy / total latency"}}},
          {"lower_bound", lower_bound},
          {"kernels", ks},
          {"fallback_types", fb},
          {"unknown_ops", unknown},
          {"warnings", warnings}};
}

std::string ModelPrediction::render() const {
  const std::string label = provenance.label();
  std::string s =
      fmt::format("{}: {} for {} ({}, {} thread{})\n", model.empty() ? "kernels" : model, label,
                  device.name, device.runtime, device.threads, device.threads == 1 ? "" : "s");
  s += fmt::format("  trained on energy {}\n",
                   training_energy_origin.empty() ? std::string("(none)") : training_energy_origin);
  TextTable t({"#", "kernel", "type", "config", "energy_mj", "latency_ms", "power_mw", "energy %",
               "method"},
              {TextTable::Align::kRight, TextTable::Align::kLeft, TextTable::Align::kLeft,
               TextTable::Align::kLeft, TextTable::Align::kRight, TextTable::Align::kRight,
               TextTable::Align::kRight, TextTable::Align::kRight, TextTable::Align::kLeft});
  for (size_t i = 0; i < kernels.size(); ++i) {
    const auto& k = kernels[i];
    std::string how = k.fallback ? "fallback*" : "regressor";
    t.add_row({std::to_string(i + 1), k.name, k.type, k.config.str(),
               fmt_value(k.predicted.energy_mj), fmt_value(k.predicted.latency_ms),
               fmt_value(k.predicted.power_mw), fmt::format("{:.1f}", 100 * k.energy_share), how});
  }
  s += t.render();
  s += fmt::format("total energy_mj: {}   latency_ms: {}   average power_mw: {}   [{}{}]\n",
                   fmt_value(total.energy_mj), fmt_value(total.latency_ms),
                   fmt_value(total.power_mw), label, lower_bound ? ", lower bound" : "");
  for (const auto& [type, how] : fallback_types) s += fmt::format("* {}: {}\n", type, how);
  for (const auto& w : warnings) s += "warning: " + w + "\n";
  return s;
}

json Predictor::manifest() const {
  json types = json::object();
  for (const auto& r : regressors_) {
    json& t = types[r.type];
    if (t.is_null()) {
      t = {{"family", family_name(feature_family(r.type))},
           {"features", r.feature_names},
           {"models", json::object()}};
    }
    t["models"][std::string(target_name(r.target))] = {
        {"file", r.file},
        {"sha", r.sha},
        {"rows", r.rows},
        {"searched", r.searched},
        {"params", r.params.to_json()},
        {"cv", r.cv ? r.cv->to_json() : json(nullptr)},
        {"work_base", r.base ? r.base->to_json() : json(nullptr)}};
  }
  json rates = json::object();
  for (const auto& [k, r] : rates_) rates[k] = rates_json(r);
  const auto& tr = info_.training;
  json by_type = json::object();
  for (const auto& [k, n] : tr.rows_by_type) by_type[k] = n;
  return {{"format", kFormatName},
          {"format_version", info_.format_version},
          {"nnjoule_version", info_.nnjoule_version},
          {"name", info_.name},
          {"created", info_.created},
          {"device",
           {{"name", info_.device.name},
            {"runtime", info_.device.runtime},
            {"threads", info_.device.threads},
            {"meter", info_.device.meter}}},
          {"fusion_rules",
           {{"source", rules_.source()},
            {"patterns", rules_.patterns},
            {"rules", json::parse(rules_.to_json())}}},
          {"feature_set", feature_set_name(info_.feature_set)},
          {"mode", mode_name(info_.mode)},
          {"target_transform", info_.log_target ? "log" : "none"},
          {"kernel_types", types},
          {"fallback_rates", rates},
          {"training",
           {{"rows", tr.rows},
            {"hash", tr.hash},
            {"source", tr.source},
            {"rows_by_type", by_type},
            {"energy_origin", tr.energy_origin},
            {"latency_origin", tr.latency_origin}}}};
}

void Predictor::save(const fs::path& target) const {
  fs::path dir = target.lexically_normal();
  if (dir.filename().empty()) dir = dir.parent_path();
  if (dir.empty()) fail("predictor bundle path is empty");
  std::error_code ec;
  if (fs::exists(dir, ec)) {
    if (!fs::is_directory(dir, ec)) {
      fail("{}: exists and is not a directory; refusing to overwrite it", dir.string());
    }
    if (!fs::is_empty(dir, ec) && !fs::exists(dir / kManifest, ec)) {
      fail("{}: exists and is not a predictor bundle (no {}); refusing to overwrite it",
           dir.string(), kManifest);
    }
  }
  const fs::path parent = dir.has_parent_path() ? dir.parent_path() : fs::path(".");
  ensure_directory(parent);
  const std::string tag = fmt::format(
      "{:016x}",
      Rng(static_cast<uint64_t>(std::chrono::steady_clock::now().time_since_epoch().count()))
          .next());
  const fs::path tmp = parent / (dir.filename().string() + ".tmp-" + tag);
  ensure_directory(tmp);
  try {
    for (const auto& r : regressors_) write_file_atomic(tmp / r.file, r.regressor().to_json());
    write_file_atomic(tmp / kManifest, manifest().dump(2) + "\n");
    if (fs::exists(dir)) {
      const fs::path old = parent / (dir.filename().string() + ".old-" + tag);
      fs::rename(dir, old);
      fs::rename(tmp, dir);
      fs::remove_all(old, ec);
    } else {
      fs::rename(tmp, dir);
    }
  } catch (const fs::filesystem_error& e) {
    fs::remove_all(tmp, ec);
    fail("{}: cannot write the predictor bundle: {}", dir.string(), e.code().message());
  } catch (...) {
    fs::remove_all(tmp, ec);
    throw;
  }
}

Predictor Predictor::load(const fs::path& dir, Load mode) {
  const std::string d = dir.string();
  if (!fs::is_directory(dir)) fail("{}: no such predictor bundle (not a directory)", d);
  const fs::path mpath = dir / kManifest;
  const std::string src = mpath.string();
  if (!fs::exists(mpath)) fail("{}: not a predictor bundle (no {})", d, kManifest);
  json m;
  try {
    m = json::parse(read_file(mpath));
  } catch (const json::parse_error& e) {
    fail("{}: invalid JSON at byte {} (truncated or corrupt)", src, e.byte);
  }
  if (!m.is_object() || m.value("format", "") != kFormatName) {
    fail("{}: not a predictor bundle manifest (format is not \"{}\")", src, kFormatName);
  }
  Predictor p;
  try {
    BundleInfo& info = p.info_;
    info.format_version = m.at("format_version").get<int>();
    info.nnjoule_version = m.at("nnjoule_version").get<std::string>();
    if (info.format_version > kBundleFormatVersion) {
      fail(
          "{}: bundle format {} written by nnjoule {} is newer than this nnjoule {} reads "
          "(format {}); upgrade nnjoule",
          src, info.format_version, info.nnjoule_version, kVersion, kBundleFormatVersion);
    }
    if (info.format_version < 1) fail("{}: invalid format_version {}", src, info.format_version);
    if (parse_version(info.nnjoule_version, src) > parse_version(kVersion, "this build")) {
      fail("{}: written by nnjoule {}, newer than this nnjoule {}; upgrade nnjoule", src,
           info.nnjoule_version, kVersion);
    }
    info.name = m.at("name").get<std::string>();
    info.created = m.at("created").get<std::string>();
    const json& dev = m.at("device");
    info.device =
        DeviceInfo{dev.at("name").get<std::string>(), dev.at("runtime").get<std::string>(),
                   dev.at("threads").get<int>(), dev.at("meter").get<std::string>()};
    info.feature_set = parse_feature_set(m.at("feature_set").get<std::string>());
    info.mode = parse_mode(m.at("mode").get<std::string>());
    const std::string tt = m.at("target_transform").get<std::string>();
    if (tt != "log" && tt != "none") {
      fail("{}: target_transform '{}' (expected log or none)", src, tt);
    }
    info.log_target = tt == "log";
    const json& fr = m.at("fusion_rules");
    p.rules_ =
        kernels::FusionRules::from_json(fr.at("rules").dump(), fr.at("source").get<std::string>());
    p.rules_.patterns = fr.at("patterns").get<bool>();
    const json& tr = m.at("training");
    info.training.rows = tr.at("rows").get<size_t>();
    info.training.hash = tr.at("hash").get<std::string>();
    info.training.source = tr.at("source").get<std::string>();
    info.training.energy_origin = tr.at("energy_origin").get<std::string>();
    info.training.latency_origin = tr.at("latency_origin").get<std::string>();
    for (const auto& [k, n] : tr.at("rows_by_type").items())
      info.training.rows_by_type[k] = n.get<size_t>();
    for (const auto& [k, r] : m.at("fallback_rates").items()) p.rates_[k] = rates_from(r);
    for (const auto& [type, t] : m.at("kernel_types").items()) {
      if (!valid_type_name(type)) fail("{}: invalid kernel type name '{}'", src, type);
      const auto feats = t.at("features").get<std::vector<std::string>>();
      const auto expected = feature_names(type, info.feature_set);
      if (feats != expected) {
        fail(
            "{}: {} lists {} features, this nnjoule computes {} for the '{}' feature set "
            "(incompatible bundle)",
            src, type, feats.size(), expected.size(), feature_set_name(info.feature_set));
      }
      for (const auto& [tname, mj] : t.at("models").items()) {
        RegressorEntry e;
        e.type = type;
        e.target = parse_target(tname);
        e.feature_names = feats;
        e.file = mj.at("file").get<std::string>();
        if (e.file != model_file(type, e.target)) {
          fail("{}: {} {} model file '{}' (expected {})", src, type, tname, e.file,
               model_file(type, e.target));
        }
        e.rows = mj.at("rows").get<size_t>();
        e.searched = mj.at("searched").get<bool>();
        e.params = RegressorParams::from_json(mj.at("params"), src);
        if (!mj.at("cv").is_null()) e.cv = accuracy_from(mj.at("cv"));
        if (mj.contains("work_base") && !mj.at("work_base").is_null()) {
          e.base =
              WorkBase::from_json(mj.at("work_base"), fmt::format("{} {} {}", src, type, tname));
        }
        const fs::path mf = dir / e.file;
        if (!fs::exists(mf))
          fail("{}: missing (listed in {} for {} {})", mf.string(), kManifest, type, tname);
        const std::string text = read_file(mf);
        e.sha = mj.at("sha").get<std::string>();
        if (content_hash(text) != e.sha) {
          fail("{}: content does not match the hash in {} (file changed, truncated or corrupt)",
               mf.string(), kManifest);
        }
        const std::optional<size_t> declared = declared_features(text);
        if (!declared) fail("{}: not an XGBoost JSON model (no num_feature)", mf.string());
        if (*declared != feats.size()) {
          fail("{}: model has {} features, {} lists {} for {}", mf.string(), *declared, kManifest,
               feats.size(), type);
        }
        e.model = std::make_shared<LazyRegressor>(mf, e.sha, feats.size());
        if (mode == Load::kEager) e.model->get();
        p.regressors_.push_back(std::move(e));
      }
    }
  } catch (const json::exception& e) {
    fail("{}: missing or malformed field: {}", src, e.what());
  }
  return p;
}

namespace {

json kernel_json(const KernelPrediction& k) {
  json cfg = json::object();
  for (const auto& [key, v] : k.config.items()) cfg[key] = v;
  json methods = json::object();
  for (const auto& [t, m] : k.method) methods[std::string(target_name(t))] = m;
  return {{"name", k.name},
          {"type", k.type},
          {"config", cfg},
          {"energy_mj", opt_json(k.predicted.energy_mj)},
          {"latency_ms", opt_json(k.predicted.latency_ms)},
          {"power_mw", opt_json(k.predicted.power_mw)},
          {"fallback", k.fallback},
          {"method", methods}};
}

std::string fallback_notes(const std::vector<KernelPrediction>& ks) {
  std::map<std::string, std::string> fb;
  for (const auto& k : ks) {
    if (!k.fallback || fb.count(k.type)) continue;
    std::string how;
    for (const auto& [t, m] : k.method) {
      if (m == "regressor") continue;
      how += (how.empty() ? "" : "; ") + std::string(target_name(t)) + ": " + m;
    }
    fb[k.type] = how;
  }
  std::string s;
  for (const auto& [type, how] : fb) s += fmt::format("* {}: {}\n", type, how);
  return s;
}

}  // namespace

std::string render_kernel_predictions(const Predictor& p, const std::vector<KernelPrediction>& ks) {
  const auto& d = p.info().device;
  std::string s = fmt::format("kernels: {} for {} ({}, {} thread{}); trained on energy {}\n",
                              p.provenance().label(), d.name, d.runtime, d.threads,
                              d.threads == 1 ? "" : "s", p.info().training.energy_origin);
  using A = TextTable::Align;
  TextTable t({"name", "type", "config", "energy_mj", "latency_ms", "power_mw", "method"},
              {A::kLeft, A::kLeft, A::kLeft, A::kRight, A::kRight, A::kRight, A::kLeft});
  for (const auto& k : ks) {
    t.add_row({k.name, k.type, k.config.str(), fmt_value(k.predicted.energy_mj),
               fmt_value(k.predicted.latency_ms), fmt_value(k.predicted.power_mw),
               k.fallback ? "fallback*" : "regressor"});
  }
  s += t.render();
  s += fallback_notes(ks);
  return s;
}

json kernel_predictions_json(const Predictor& p, const std::vector<KernelPrediction>& ks) {
  json rows = json::array();
  for (const auto& k : ks) rows.push_back(kernel_json(k));
  const auto& d = p.info().device;
  return {{"origin", "predicted"},
          {"provenance", p.provenance().label()},
          {"predictor", p.name()},
          {"device",
           {{"name", d.name}, {"runtime", d.runtime}, {"threads", d.threads}, {"meter", d.meter}}},
          {"training_energy_origin", p.info().training.energy_origin},
          {"kernels", rows}};
}

std::string render_summary(const Predictor& p) {
  const BundleInfo& i = p.info();
  std::string s = fmt::format(
      "predictor {}: {} ({}, {} thread{}), {} regressors, {} features, log targets: {}\n", i.name,
      i.device.name, i.device.runtime, i.device.threads, i.device.threads == 1 ? "" : "s",
      mode_name(i.mode), feature_set_name(i.feature_set), i.log_target ? "yes" : "no");
  s += fmt::format("training data: {} rows from {} (hash {}); energy {}; latency {}\n",
                   i.training.rows, i.training.source, i.training.hash, i.training.energy_origin,
                   i.training.latency_origin);
  using A = TextTable::Align;
  TextTable t({"kernel type", "target", "rows", "CV RMSPE", "CV ±10%", "params"},
              {A::kLeft, A::kLeft, A::kRight, A::kRight, A::kRight, A::kLeft});
  for (const auto& r : p.regressors()) {
    t.add_row({r.type, std::string(target_name(r.target)), std::to_string(r.rows),
               r.cv ? fmt::format("{:.2f}%", r.cv->rmspe) : "-",
               r.cv ? fmt::format("{:.1f}%", 100 * r.cv->within10) : "-",
               r.params.str() + (r.searched ? " (searched)" : "")});
  }
  s += t.render();
  std::set<std::string> without;
  for (const auto& [type, n] : i.training.rows_by_type)
    if (!p.find(type, Target::kEnergy) && !p.find(type, Target::kLatency)) without.insert(type);
  for (const auto& type : without) {
    s += fmt::format("{}: {} rows, too few for a regressor; predicted by {}\n", type,
                     i.training.rows_by_type.at(type), p.method(type, Target::kLatency));
  }
  return s;
}

}  // namespace nnjoule::predict
