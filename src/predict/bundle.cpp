#include "nnjoule/predict/bundle.hpp"

#include <fmt/format.h>
#include <openssl/evp.h>

#include <algorithm>
#include <cctype>
#include <chrono>
#include <cmath>
#include <ctime>
#include <limits>
#include <nlohmann/json.hpp>
#include <set>
#include <tuple>

#include "json_read.hpp"
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

using detail::Field;

constexpr const char* kManifest = "predictor.json";
constexpr const char* kFormatName = "nnjoule-predictor";
// The list of every other file of a bundle with its SHA-256.
constexpr const char* kFiles = "manifest.json";
constexpr const char* kFilesFormat = "nnjoule-predictor-manifest";

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

json rates_json(const FallbackRates& r) {
  return {{"rows", r.rows},
          {"energy_mj_per_mflop", opt_json(r.energy_mj_per_mflop)},
          {"latency_ms_per_mflop", opt_json(r.latency_ms_per_mflop)},
          {"energy_mj_per_mb", opt_json(r.energy_mj_per_mb)},
          {"latency_ms_per_mb", opt_json(r.latency_ms_per_mb)},
          {"power_mw", opt_json(r.power_mw)}};
}

FallbackRates rates_from(const Field& f) {
  FallbackRates r;
  r.rows = f.at("rows").count();
  r.energy_mj_per_mflop = f.optional_positive("energy_mj_per_mflop");
  r.latency_ms_per_mflop = f.optional_positive("latency_ms_per_mflop");
  r.energy_mj_per_mb = f.optional_positive("energy_mj_per_mb");
  r.latency_ms_per_mb = f.optional_positive("latency_ms_per_mb");
  r.power_mw = f.optional_positive("power_mw");
  const bool any = r.energy_mj_per_mflop || r.latency_ms_per_mflop || r.energy_mj_per_mb ||
                   r.latency_ms_per_mb || r.power_mw;
  if (any && r.rows == 0) f.at("rows").bad("rates from 0 rows");
  return r;
}

Accuracy accuracy_from(const Field& f) {
  Accuracy a;
  a.n = f.at("n").count();
  a.rmse = f.at("rmse").non_negative();
  a.rmspe = f.at("rmspe_pct").non_negative();
  a.mape = f.at("mape_pct").non_negative();
  a.within5 = f.at("within_5pct").share();
  a.within10 = f.at("within_10pct").share();
  a.within15 = f.at("within_15pct").share();
  return a;
}

// A name manifest.json may list: a plain file inside the bundle directory.
bool valid_file_name(const std::string& n) {
  if (n.empty() || n.size() > 255 || n.front() == '.') return false;
  return std::all_of(n.begin(), n.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' ||
           c == '-' || c == '_';
  });
}

bool is_hex_sha256(const std::string& s) {
  return s.size() == 64 && std::all_of(s.begin(), s.end(), [](char c) {
           return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f');
         });
}

struct FileEntry {
  std::string sha256;
  size_t bytes = 0;
};

// Checks a file's content against its manifest entry; throws Error naming the file.
void verify_file(const fs::path& path, const std::string& text, const FileEntry& e) {
  if (text.size() != e.bytes || sha256_hex(text) != e.sha256) {
    fail(
        "{}: content does not match its SHA-256 in {} ({} bytes, {} lists {}: file changed, "
        "truncated or corrupt)",
        path.string(), kFiles, text.size(), kFiles, e.bytes);
  }
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

// A feature value as a config reads: whole numbers without decimals (HW=300, not 300.0).
std::string fmt_feature(double v) {
  if (std::isfinite(v) && v == std::floor(v) && std::fabs(v) < 1e15)
    return fmt::format("{:.0f}", v);
  return format_number(v);
}

}  // namespace

std::string sha256_hex(std::string_view data) {
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int n = 0;
  if (EVP_Digest(data.data(), data.size(), md, &n, EVP_sha256(), nullptr) != 1) {
    fail("SHA-256: OpenSSL's EVP_Digest failed");
  }
  std::string hex;
  hex.reserve(2 * n);
  for (unsigned int i = 0; i < n; ++i) hex += fmt::format("{:02x}", md[i]);
  return hex;
}

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
  if (sha256_hex(text) != sha_) {
    fail("{}: changed since its bundle was loaded (SHA-256 differs from {})", path_.string(),
         kFiles);
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
  // The range of every feature over a type's training rows (rows with a target trained).
  std::map<std::string, std::pair<std::vector<float>, std::vector<float>>> ranges;
  auto range_of = [&](const std::string& type) -> const auto& {
    auto it = ranges.find(type);
    if (it != ranges.end()) return it->second;
    auto& [low, high] = ranges[type];
    std::vector<float> row;
    for (const auto& s : ds.samples) {
      if (s.type != type) continue;
      if (std::none_of(o.targets.begin(), o.targets.end(),
                       [&](Target x) { return s.targets.get(x).has_value(); })) {
        continue;
      }
      row.clear();
      with_context(fmt::format("{}: sample {}", ds.source, s.id),
                   [&] { append_features(type, s.config, o.feature_set, row); });
      if (low.empty()) {
        low = row;
        high = row;
      }
      for (size_t i = 0; i < row.size(); ++i) {
        low[i] = std::min(low[i], row[i]);
        high[i] = std::max(high[i], row[i]);
      }
    }
    return ranges[type];
  };
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
    e.sha = sha256_hex(tr.regressor.to_json());
    e.base = tr.base;
    std::tie(e.feature_min, e.feature_max) = range_of(tr.type);
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
  std::vector<bool> fallback(unique.size(), false), rejected(unique.size(), false);
  std::vector<std::vector<OutOfRange>> outside(unique.size());
  std::vector<std::vector<std::string_view>> range_checked(unique.size());  // regressor types
  // A value is reported only when it is a positive finite number (an edited or damaged bundle
  // can give inf or a negative energy): otherwise the target is left out, saying why.
  auto accept = [&](size_t u, Target t, double y, const std::string& from) {
    if (std::isfinite(y) && y > 0) {
      pred[u].set(t, y);
      return;
    }
    rejected[u] = true;
    method[u][t] = fmt::format("none: {} gave {}, not a positive finite {} (left out)", from,
                               format_number(y), target_name(t));
  };
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
        accept(u, t, *rate.power_mw, "the fallback rate");
        continue;
      }
      if (*flops > 0 && per_mflop) {
        accept(u, t, *per_mflop * *flops / 1e6, "the fallback rate");
      } else if (per_mb) {
        accept(u, t, *per_mb * *bytes / 1e6, "the fallback rate");
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
        // Outside the range of the rows this type's regressor was trained on: extrapolation.
        auto& checked = range_checked[u];
        if (reg.feature_min.size() != feats[u].size() ||
            std::find(checked.begin(), checked.end(), reg.type) != checked.end()) {
          continue;
        }
        checked.push_back(reg.type);
        for (size_t f = 0; f < feats[u].size(); ++f) {
          const float x = feats[u][f];
          if (x >= reg.feature_min[f] && x <= reg.feature_max[f]) continue;
          auto& o = outside[u];
          if (std::none_of(o.begin(), o.end(), [&](const OutOfRange& r) {
                return r.feature == reg.feature_names[f];
              })) {
            o.push_back({reg.feature_names[f], x, reg.feature_min[f], reg.feature_max[f]});
          }
        }
      }
      const auto v = reg.regressor().predict(m);
      for (size_t j = 0; j < us.size(); ++j) {
        double y = info_.log_target ? std::exp(v[j]) : v[j];
        if (reg.base) {
          const KernelSizes& z = size_of(us[j]);  // its features succeeded: it can be sized
          y *= reg.base->eval(z.flops / 1e6, z.bytes / 1e6);
        }
        accept(us[j], t, y, reg.file);
      }
    }
  }
  for (size_t i = 0; i < in.size(); ++i) {
    out[i].predicted = pred[which[i]];
    out[i].method = method[which[i]];
    out[i].fallback = fallback[which[i]];
    out[i].rejected = rejected[which[i]];
    out[i].out_of_range = outside[which[i]];
    out[i].extrapolated = !out[i].out_of_range.empty();
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
  try {
    mp.kernels = predict_kernels(inputs);
  } catch (const Error& e) {
    fail("model '{}': {}", model_name, e.what());
  }
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
  const KernelPrediction* first = nullptr;
  for (const auto& k : mp.kernels) {
    if (!k.extrapolated) continue;
    ++mp.extrapolated_kernels;
    if (!first) first = &k;
  }
  if (first) {
    const OutOfRange& o = first->out_of_range.front();
    mp.warnings.push_back(fmt::format(
        "{} of {} kernels extrapolated: a feature outside the training range of the regressor "
        "that predicted them (first: '{}' {}={}, trained {}..{})",
        mp.extrapolated_kernels, mp.kernels.size(), first->name, o.feature, fmt_feature(o.value),
        fmt_feature(o.min), fmt_feature(o.max)));
  }
  // Values refused as not positive and finite, by type and target: (count, first kernel, why).
  std::map<std::pair<std::string, Target>, std::tuple<size_t, std::string, std::string>> refused;
  for (const auto& k : mp.kernels) {
    if (!k.rejected) continue;
    for (const auto& [t, m] : k.method) {
      if (m.rfind("none: ", 0) != 0 || m.find("(left out)") == std::string::npos) continue;
      auto it = refused.try_emplace({k.type, t}, 0, k.name, m).first;
      ++std::get<0>(it->second);
    }
  }
  for (const auto& [key, r] : refused) {
    mp.warnings.push_back(fmt::format("{} of {} {} kernel(s) left out (first: '{}': {})",
                                      target_name(key.second), std::get<0>(r), key.first,
                                      std::get<1>(r), std::get<2>(r)));
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

namespace {

json kernel_json(const KernelPrediction& k) {
  json cfg = json::object();
  for (const auto& [key, v] : k.config.items()) cfg[key] = v;
  json methods = json::object();
  for (const auto& [t, m] : k.method) methods[std::string(target_name(t))] = m;
  json outside = json::array();
  for (const auto& o : k.out_of_range) {
    outside.push_back({{"feature", o.feature}, {"value", o.value}, {"min", o.min}, {"max", o.max}});
  }
  return {{"name", k.name},
          {"type", k.type},
          {"config", cfg},
          {"energy_mj", opt_json(k.predicted.energy_mj)},
          {"latency_ms", opt_json(k.predicted.latency_ms)},
          {"power_mw", opt_json(k.predicted.power_mw)},
          {"fallback", k.fallback},
          {"extrapolated", k.extrapolated},
          {"out_of_range", outside},
          {"rejected", k.rejected},
          {"method", methods}};
}

// The method column: how the kernel was predicted, and whether the trees extrapolated.
std::string method_cell(const KernelPrediction& k) {
  std::string s = k.rejected ? "left out!" : k.fallback ? "fallback*" : "regressor";
  if (k.extrapolated) s += ", extrapolated";
  return s;
}

std::string out_of_range_text(const KernelPrediction& k) {
  std::string s;
  for (const auto& o : k.out_of_range) {
    s += fmt::format("{}{}={} (trained {}..{})", s.empty() ? "" : ", ", o.feature,
                     fmt_feature(o.value), fmt_feature(o.min), fmt_feature(o.max));
  }
  return s;
}

}  // namespace

json ModelPrediction::to_json() const {
  json ks = json::array();
  for (const auto& k : kernels) {
    json j = kernel_json(k);
    j["energy_share"] = k.energy_share;
    j["latency_share"] = k.latency_share;
    ks.push_back(std::move(j));
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
          {"extrapolated_kernels", extrapolated_kernels},
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
    t.add_row({std::to_string(i + 1), k.name, k.type, k.config.str(),
               fmt_value(k.predicted.energy_mj), fmt_value(k.predicted.latency_ms),
               fmt_value(k.predicted.power_mw), fmt::format("{:.1f}", 100 * k.energy_share),
               method_cell(k)});
  }
  s += t.render();
  s += fmt::format("total energy_mj: {}   latency_ms: {}   average power_mw: {}   [{}{}{}]\n",
                   fmt_value(total.energy_mj), fmt_value(total.latency_ms),
                   fmt_value(total.power_mw), label, lower_bound ? ", lower bound" : "",
                   extrapolated_kernels ? fmt::format(", {} of {} kernels extrapolated",
                                                      extrapolated_kernels, kernels.size())
                                        : std::string());
  for (const auto& [type, how] : fallback_types) s += fmt::format("* {}: {}\n", type, how);
  for (const auto& w : warnings) s += "warning: " + w + "\n";
  return s;
}

json Predictor::manifest() const {
  json types = json::object();
  for (const auto& r : regressors_) {
    json& t = types[r.type];
    if (t.is_null()) {
      json ranges = json::object();
      for (size_t i = 0; i < r.feature_names.size() && i < r.feature_min.size(); ++i) {
        ranges[r.feature_names[i]] = {r.feature_min[i], r.feature_max[i]};
      }
      t = {{"family", family_name(feature_family(r.type))},
           {"features", r.feature_names},
           {"feature_ranges", ranges},
           {"models", json::object()}};
    }
    t["models"][std::string(target_name(r.target))] = {
        {"file", r.file},
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
    // Every file with its SHA-256 and size, and the nnjoule that wrote them: manifest.json.
    json files = json::object();
    auto write = [&](const std::string& name, const std::string& text) {
      write_file_atomic(tmp / name, text);
      files[name] = {{"sha256", sha256_hex(text)}, {"bytes", text.size()}};
    };
    for (const auto& r : regressors_) write(r.file, r.regressor().to_json());
    write(kManifest, manifest().dump(2) + "\n");
    const json list = {{"format", kFilesFormat},
                       {"format_version", kBundleFormatVersion},
                       {"nnjoule_version", kVersion},
                       {"algorithm", "sha256"},
                       {"files", files}};
    write_file_atomic(tmp / kFiles, list.dump(2) + "\n");
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

namespace {

// manifest.json: the SHA-256 and size of every file of the bundle. Throws Error naming the file
// and the field.
std::map<std::string, FileEntry> read_file_list(const fs::path& path) {
  const std::string src = path.string();
  const json j = detail::parse_json(read_file(path), src);
  const Field root(j, src);
  if (!j.is_object() || !j.contains("format") || !j["format"].is_string() ||
      j["format"].get<std::string>() != kFilesFormat) {
    fail("{}: not a predictor bundle manifest (format is not \"{}\")", src, kFilesFormat);
  }
  const std::string version = root.at("nnjoule_version").text();
  if (parse_version(version, src) > parse_version(kVersion, "this build")) {
    fail("{}: written by nnjoule {}, newer than this nnjoule {}; upgrade nnjoule", src, version,
         kVersion);
  }
  const Field algorithm = root.at("algorithm");
  if (algorithm.text() != "sha256") algorithm.bad("expected \"sha256\"");
  std::map<std::string, FileEntry> files;
  for (const auto& [name, f] : root.at("files").members()) {
    if (!valid_file_name(name)) {
      f.bad(fmt::format("'{}' is not the name of a file inside the bundle", name));
    }
    FileEntry e;
    const Field sha = f.at("sha256");
    e.sha256 = sha.text();
    if (!is_hex_sha256(e.sha256)) sha.bad("expected 64 lowercase hex digits");
    e.bytes = f.at("bytes").count();
    files[name] = e;
  }
  if (!files.count(kManifest)) {
    fail("{}: {} is not listed (every file of a bundle is)", src, kManifest);
  }
  return files;
}

}  // namespace

Predictor Predictor::load(const fs::path& dir, Load mode) {
  const std::string d = dir.string();
  std::error_code ec;  // the checks below report what they find, not a filesystem error
  if (!fs::is_directory(dir, ec)) fail("{}: no such predictor bundle (not a directory)", d);
  const fs::path mpath = dir / kManifest;
  const std::string src = mpath.string();
  if (!fs::exists(mpath, ec)) fail("{}: not a predictor bundle (no {})", d, kManifest);
  const std::string text = read_file(mpath);
  // The file list first: a predictor.json that changed since it was written is named as such.
  const fs::path lpath = dir / kFiles;
  std::optional<std::map<std::string, FileEntry>> files;
  if (fs::exists(lpath, ec)) {
    files = read_file_list(lpath);
    verify_file(mpath, text, files->at(kManifest));
  }
  const json m = detail::parse_json(text, src);
  if (!m.is_object() || !m.contains("format") || !m["format"].is_string() ||
      m["format"].get<std::string>() != kFormatName) {
    fail("{}: not a predictor bundle manifest (format is not \"{}\")", src, kFormatName);
  }
  const Field root(m, src);
  Predictor p;
  BundleInfo& info = p.info_;
  info.format_version = static_cast<int>(root.at("format_version").integer(1, 1000000));
  info.nnjoule_version = root.at("nnjoule_version").text();
  if (info.format_version > kBundleFormatVersion) {
    fail(
        "{}: bundle format {} written by nnjoule {} is newer than this nnjoule {} reads "
        "(format {}); upgrade nnjoule",
        src, info.format_version, info.nnjoule_version, kVersion, kBundleFormatVersion);
  }
  if (parse_version(info.nnjoule_version, src) > parse_version(kVersion, "this build")) {
    fail("{}: written by nnjoule {}, newer than this nnjoule {}; upgrade nnjoule", src,
         info.nnjoule_version, kVersion);
  }
  if (info.format_version < kBundleFormatVersion) {
    fail(
        "{}: bundle format {} (nnjoule {}) has no SHA-256 manifest of its files and no training "
        "ranges, and its concat features differ; retrain it with this nnjoule (nnjoule train or "
        "nnjoule build-predictor)",
        src, info.format_version, info.nnjoule_version);
  }
  if (!files) {
    fail(
        "{}: missing: a bundle of format {} lists every file with its SHA-256 there (the bundle "
        "is incomplete or was edited)",
        lpath.string(), info.format_version);
  }
  // A JSON file nobody listed: added after the bundle was written.
  for (fs::directory_iterator it(dir, ec), end; !ec && it != end; it.increment(ec)) {
    const std::string name = it->path().filename().string();
    if (it->path().extension() == ".json" && name != kFiles && !files->count(name)) {
      fail("{}: not listed in {} (a file added to the bundle after it was written)",
           it->path().string(), kFiles);
    }
  }
  if (ec) fail("{}: cannot list the bundle's files ({})", d, ec.message());
  info.name = root.at("name").text();
  info.created = root.at("created").text();
  const Field dev = root.at("device");
  info.device =
      DeviceInfo{dev.at("name").text(), dev.at("runtime").text(),
                 static_cast<int>(dev.at("threads").integer(1, 65536)), dev.at("meter").text()};
  const Field fs_field = root.at("feature_set");
  info.feature_set =
      with_context(fs_field.where(), [&] { return parse_feature_set(fs_field.text()); });
  const Field mode_field = root.at("mode");
  info.mode = with_context(mode_field.where(), [&] { return parse_mode(mode_field.text()); });
  const Field tt = root.at("target_transform");
  const std::string transform = tt.text();
  if (transform != "log" && transform != "none") {
    tt.bad(fmt::format("'{}' (expected log or none)", transform));
  }
  info.log_target = transform == "log";
  const Field fr = root.at("fusion_rules");
  const Field rules = fr.at("rules");
  p.rules_ = with_context(rules.where(), [&] {
    return kernels::FusionRules::from_json(rules.value().dump(), fr.at("source").text());
  });
  p.rules_.patterns = fr.at("patterns").boolean();
  const Field tr = root.at("training");
  info.training.rows = tr.at("rows").count();
  info.training.hash = tr.at("hash").text();
  info.training.source = tr.at("source").text();
  info.training.energy_origin = tr.at("energy_origin").text();
  info.training.latency_origin = tr.at("latency_origin").text();
  for (const auto& [k, n] : tr.at("rows_by_type").members()) {
    if (!valid_type_name(k)) n.bad(fmt::format("invalid kernel type name '{}'", k));
    info.training.rows_by_type[k] = n.count();
  }
  for (const auto& [k, r] : root.at("fallback_rates").members()) {
    static const std::set<std::string> families = {"conv", "dwconv", "fc",    "pool", "concat",
                                                   "add",  "matmul", "other", "all"};
    if (!families.count(k)) r.bad(fmt::format("'{}' is not a feature family or \"all\"", k));
    p.rates_[k] = rates_from(r);
  }
  for (const auto& [type, t] : root.at("kernel_types").members()) {
    if (!valid_type_name(type)) t.bad(fmt::format("invalid kernel type name '{}'", type));
    const Field family = t.at("family");
    if (family.text() != family_name(feature_family(type))) {
      family.bad(fmt::format("'{}' (this nnjoule puts {} in family {})", family.text(), type,
                             family_name(feature_family(type))));
    }
    const auto feats = t.at("features").strings();
    const auto expected = feature_names(type, info.feature_set);
    if (feats != expected) {
      fail(
          "{}: {} lists {} features, this nnjoule computes {} for the '{}' feature set "
          "(incompatible bundle)",
          src, type, feats.size(), expected.size(), feature_set_name(info.feature_set));
    }
    // The training range of every feature: [min, max], finite, min <= max, all listed.
    const Field ranges = t.at("feature_ranges");
    std::vector<float> lo(feats.size()), hi(feats.size());
    std::vector<bool> seen(feats.size(), false);
    for (const auto& [name, r] : ranges.members()) {
      const auto at = std::find(feats.begin(), feats.end(), name);
      if (at == feats.end()) r.bad(fmt::format("'{}' is not a feature of {}", name, type));
      const auto pair = r.elements();
      if (pair.size() != 2) r.bad("expected [min, max]");
      const double a = pair[0].number(), b = pair[1].number();
      if (a > b) r.bad(fmt::format("min {} above max {}", a, b));
      if (std::fabs(a) > std::numeric_limits<float>::max() ||
          std::fabs(b) > std::numeric_limits<float>::max()) {
        r.bad("out of range for a float");
      }
      const auto i = static_cast<size_t>(at - feats.begin());
      lo[i] = static_cast<float>(a);
      hi[i] = static_cast<float>(b);
      seen[i] = true;
    }
    for (size_t i = 0; i < feats.size(); ++i) {
      if (!seen[i]) ranges.bad(fmt::format("no range for feature {}", feats[i]));
    }
    for (const auto& [tname, mj] : t.at("models").members()) {
      RegressorEntry e;
      e.type = type;
      const std::string& target_name = tname;  // clang 14 cannot capture a structured binding
      e.target = with_context(mj.where(), [&] { return parse_target(target_name); });
      e.feature_names = feats;
      e.feature_min = lo;
      e.feature_max = hi;
      const Field file = mj.at("file");
      e.file = file.text();
      if (e.file != model_file(type, e.target)) {
        file.bad(fmt::format("'{}' (expected {})", e.file, model_file(type, e.target)));
      }
      e.rows = mj.at("rows").count();
      if (e.rows == 0) mj.at("rows").bad("a regressor trained on 0 rows");
      e.searched = mj.at("searched").boolean();
      const Field params = mj.at("params");
      e.params = RegressorParams::from_json(params.value(), params.where());
      if (mj.has("cv")) e.cv = accuracy_from(mj.at("cv"));
      if (mj.has("work_base")) {
        const Field wb = mj.at("work_base");
        e.base = WorkBase::from_json(wb.value(), wb.where());
      }
      if (p.find(type, e.target)) mj.bad("listed twice");
      const fs::path mf = dir / e.file;
      const auto listed = files->find(e.file);
      if (listed == files->end()) {
        fail("{}: not listed in {} (every model file of a bundle is)", mf.string(), kFiles);
      }
      if (!fs::exists(mf, ec)) fail("{}: missing (listed in {})", mf.string(), kFiles);
      const std::string model = read_file(mf);
      verify_file(mf, model, listed->second);
      e.sha = listed->second.sha256;
      const std::optional<size_t> declared = declared_features(model);
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
  // Listed files nothing above read must still be there, unchanged.
  for (const auto& [name, entry] : *files) {
    if (name == kManifest) continue;
    const std::string& listed = name;  // clang 14 cannot capture a structured binding
    if (std::any_of(p.regressors_.begin(), p.regressors_.end(),
                    [&](const RegressorEntry& r) { return r.file == listed; })) {
      continue;
    }
    const fs::path f = dir / name;
    if (!fs::exists(f, ec)) fail("{}: missing (listed in {})", f.string(), kFiles);
    verify_file(f, read_file(f), entry);
  }
  return p;
}

namespace {

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
  size_t extrapolated = 0;
  for (const auto& k : ks) {
    t.add_row({k.name, k.type, k.config.str(), fmt_value(k.predicted.energy_mj),
               fmt_value(k.predicted.latency_ms), fmt_value(k.predicted.power_mw), method_cell(k)});
    extrapolated += k.extrapolated;
  }
  s += t.render();
  s += fallback_notes(ks);
  if (extrapolated > 0) {
    s += fmt::format(
        "{} of {} kernels extrapolated (a feature outside the training range of the regressor "
        "that predicted them):\n",
        extrapolated, ks.size());
    for (const auto& k : ks)
      if (k.extrapolated) s += fmt::format("  {}: {}\n", k.name, out_of_range_text(k));
  }
  for (const auto& k : ks) {
    if (!k.rejected) continue;
    for (const auto& [target, m] : k.method) {
      if (m.rfind("none: ", 0) == 0 && m.find("(left out)") != std::string::npos) {
        s += fmt::format("! {} {}: {}\n", k.name, target_name(target), m);
      }
    }
  }
  return s;
}

json kernel_predictions_json(const Predictor& p, const std::vector<KernelPrediction>& ks) {
  json rows = json::array();
  size_t extrapolated = 0;
  for (const auto& k : ks) {
    rows.push_back(kernel_json(k));
    extrapolated += k.extrapolated;
  }
  const auto& d = p.info().device;
  return {{"origin", "predicted"},
          {"provenance", p.provenance().label()},
          {"predictor", p.name()},
          {"device",
           {{"name", d.name}, {"runtime", d.runtime}, {"threads", d.threads}, {"meter", d.meter}}},
          {"training_energy_origin", p.info().training.energy_origin},
          {"extrapolated_kernels", extrapolated},
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
