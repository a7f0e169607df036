// Training a predictor: regressors for every kernel type with enough rows (train.cpp), their
// training ranges, and the fallback rates.
#include <fmt/format.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <ctime>
#include <limits>
#include <map>
#include <memory>
#include <set>
#include <tuple>

#include "bundle_detail.hpp"
#include "nnjoule/common/error.hpp"
#include "nnjoule/common/stats.hpp"
#include "nnjoule/predict/bundle.hpp"
#include "nnjoule/version.hpp"

namespace nnjoule::predict {

namespace {

using detail::model_file;
using detail::valid_type_name;

std::string utc_now() {
  const std::time_t t = std::chrono::system_clock::to_time_t(std::chrono::system_clock::now());
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
  return buf;
}

}  // namespace

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
    // Rates per data type: an int8 kernel without a regressor never takes fp32 rates.
    const std::string dtype = kernels::key_dtype(s.type);
    for (const std::string& key : {kernels::kernel_key(family_name(feature_family(s.type)), dtype),
                                   kernels::kernel_key("all", dtype)}) {
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

Predictor Predictor::train(const KernelDataset& ds, const TrainOptions& requested,
                           const kernels::FusionRules& rules, const std::string& name) {
  if (ds.samples.empty()) fail("{}: no kernel samples to train on", ds.source);
  TrainOptions o = requested;
  o.feature_set = ds.resolve(o.feature_set);
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
                   [&] { append_features(type, s.config, o.feature_set, row, s.context); });
      if (low.empty()) {
        low.assign(row.size(), std::numeric_limits<float>::quiet_NaN());
        high = low;
      }
      for (size_t i = 0; i < row.size(); ++i) {
        if (std::isnan(row[i])) continue;  // a missing value (an unknown clock) has no range
        low[i] = std::isnan(low[i]) ? row[i] : std::min(low[i], row[i]);
        high[i] = std::isnan(high[i]) ? row[i] : std::max(high[i], row[i]);
      }
    }
    // A feature no row knew: an empty range [0, 0], so any known value is flagged as outside.
    for (size_t i = 0; i < low.size(); ++i)
      if (std::isnan(low[i])) low[i] = high[i] = 0;
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

}  // namespace nnjoule::predict
