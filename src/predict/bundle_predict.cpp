// Predicting with a bundle: how each kernel type is predicted (its regressor, a related type's,
// or a fallback rate), per-kernel predictions, and a model's totals and warnings.
#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <map>
#include <set>
#include <tuple>

#include "bundle_detail.hpp"
#include "nnjoule/common/error.hpp"
#include "nnjoule/common/table.hpp"
#include "nnjoule/kernels/detect.hpp"
#include "nnjoule/predict/bundle.hpp"

namespace nnjoule::predict {

namespace {

using detail::fmt_feature;

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

}  // namespace

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
  // A related type: same feature family (so the same features), same data type, and the longest
  // shared run of leading ops (conv-bn-relu6 -> conv-bn-relu); ties go to the type with more
  // rows. An int8 kernel is never predicted by an fp32 regressor or rate, nor the reverse.
  const FeatureFamily fam = feature_family(type);
  const std::string dtype = kernels::key_dtype(type);
  const auto ops = split_ops(std::string(kernels::key_type(type)));
  const RegressorEntry* best = nullptr;
  size_t best_prefix = 0, best_index = 0;
  for (size_t i = 0; i < regressors_.size(); ++i) {
    const RegressorEntry& r = regressors_[i];
    if (r.target != t || feature_family(r.type) != fam || kernels::key_dtype(r.type) != dtype)
      continue;
    const auto rops = split_ops(std::string(kernels::key_type(r.type)));
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
  const std::string fname = kernels::kernel_key(family_name(fam), dtype);
  const std::string all = kernels::kernel_key("all", dtype);
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
  } else if (auto a = rates_.find(all); a != rates_.end() && has_rate(a->second)) {
    res.family = all;
  } else if (dtype != kernels::kFp32) {
    res.description = fmt::format(
        "none: the bundle has no {} {} data (no {} kernel rows in its training set; collect "
        "them with nnjoule collect kernels --dtype {})",
        dtype, target_name(t), dtype, dtype);
    return res;
  } else {
    res.description = fmt::format("none: the bundle has no {} data", target_name(t));
    return res;
  }
  const FallbackRates& r = rates_.at(res.family);
  const std::string fam_name(family_name(fam));
  const std::string who = (res.family == all ? std::string("all") : fam_name) +
                          (dtype == kernels::kFp32 ? "" : " " + dtype) + " kernels";
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

void Predictor::require_clock(std::span<const KernelInput> in) const {
  // Capacity is needed when some training row knew it (its range is not the empty [0, 0]).
  bool capacity = false;
  for (const auto& r : regressors_)
    for (size_t f = 0; f < r.feature_names.size() && f < r.feature_max.size(); ++f)
      capacity = capacity || (r.feature_names[f] == "CPU_CAPACITY" && r.feature_max[f] > 0);
  for (const auto& k : in) {
    if (k.context.cpu_mhz && (k.context.cpu_capacity || !capacity)) continue;
    fail(
        "kernel '{}': predictor '{}' was trained on kernels at several CPU clocks{} (feature set "
        "{}): give the {} to predict at (nnjoule predict --cpu-mhz MHZ{})",
        k.name, info_.name, capacity ? " and clusters" : "", feature_set_name(info_.feature_set),
        capacity ? "clock and the cluster" : "clock",
        capacity ? " --cluster NAME or --cpu-capacity N" : "");
  }
}

std::vector<KernelPrediction> Predictor::predict_kernels(std::span<const KernelInput> in) const {
  std::vector<KernelPrediction> out(in.size());
  if (uses_clock(info_.feature_set)) require_clock(in);
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
      const KernelContext& a = in[unique[cand]].context;
      if (in[unique[cand]].config == in[i].config &&
          a.model_weight_mb == in[i].context.model_weight_mb &&
          a.cpu_mhz == in[i].context.cpu_mhz && a.cpu_capacity == in[i].context.cpu_capacity) {
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
            append_features(k.type, k.config, info_.feature_set, feats[u], k.context);
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
          if (std::isnan(x) || (x >= reg.feature_min[f] && x <= reg.feature_max[f])) continue;
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
                                   const std::string& model_name, const graph::Graph* g,
                                   const KernelContext& where) const {
  ModelPrediction mp;
  mp.model = model_name;
  mp.predictor = info_.name;
  mp.provenance = provenance();
  mp.device = info_.device;
  mp.training_energy_origin = info_.training.energy_origin;
  std::vector<KernelInput> inputs;
  inputs.reserve(ks.size());
  double weights = 0;
  for (const auto& k : ks)
    weights += counted_weights(k.type, k.config, static_cast<double>(k.params));
  KernelContext context = model_context(weights);
  context.cpu_mhz = where.cpu_mhz;
  context.cpu_capacity = where.cpu_capacity;
  if (uses_clock(info_.feature_set)) {
    mp.cpu_mhz = where.cpu_mhz;
    mp.cpu_capacity = where.cpu_capacity;
  }
  for (const auto& k : ks) {
    if (k.unknown()) {
      if (g) {
        for (size_t n : k.nodes) mp.unknown_ops.emplace_back(g->nodes[n].op_type, g->nodes[n].name);
      } else {
        mp.unknown_ops.emplace_back(k.type.substr(8), k.name);
      }
      continue;
    }
    // The kernel's key picks its regressor: conv-relu@int8 for an int8 conv-relu.
    inputs.push_back(KernelInput{k.name, kernels::kernel_key(k), k.config, k.flops,
                                 static_cast<double>(k.bytes), context});
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
    // Types a target has no prediction for are footnoted with the fallbacks: why not (no int8
    // data, ...). Values refused as not finite get their own warning below.
    const bool unpredicted =
        !k.rejected && std::any_of(k.method.begin(), k.method.end(), [](const auto& m) {
          return m.first != Target::kPower && m.second.rfind("none: ", 0) == 0;
        });
    if ((k.fallback || unpredicted) && !mp.fallback_types.count(k.type)) {
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

ModelPrediction Predictor::predict(const graph::Graph& g, const KernelContext& where) const {
  return predict(kernels::detect_kernels(g, rules_), g.name, &g, where);
}

}  // namespace nnjoule::predict
