#include "nnjoule/collect/adaptive.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <set>

#include "nnjoule/common/error.hpp"
#include "nnjoule/common/rng.hpp"
#include "nnjoule/common/table.hpp"
#include "nnjoule/predict/store_adapter.hpp"
#include "nnjoule/zoo/sampling.hpp"

namespace nnjoule::collect {

using namespace predict;  // adaptive sampling asks the predictor where it is unsure

using nlohmann::json;

namespace {

// The largest out-of-fold relative error of a sample over its targets.
double worst_error(const KernelSample& s, const Targets& pred) {
  double worst = -1;
  for (Target t : kAllTargets) {
    const auto y = s.targets.get(t), p = pred.get(t);
    if (y && p && *y > 0) worst = std::max(worst, std::fabs(*p - *y) / *y);
  }
  return worst;
}

}  // namespace

Predictor build_predictor(store::Store& db, Runner& runner, const AdaptiveOptions& o,
                          const kernels::FusionRules& rules, const std::string& name,
                          const std::atomic<bool>& stop, const ProgressFn& progress,
                          AdaptiveReport& report) {
  if (o.rounds < 0) fail("build-predictor: rounds must not be negative");
  if (o.cv_folds < 2) fail("build-predictor: needs at least 2 CV folds to find the worst kernels");
  KernelCollectOptions ko;
  ko.kernel_types = o.kernel_types;
  ko.count = o.prior_count;
  ko.floor = o.prior_floor;
  ko.prior_variants = o.prior_variants;
  ko.seed = o.seed;
  ko.command = o.command;
  report.collections.push_back(collect_kernels(db, runner, ko, stop, progress));
  if (report.collections.back().interrupted) {
    report.interrupted = true;
    fail(
        "build-predictor: stopped during the prior sample; measurements so far are stored "
        "(run again to resume)");
  }
  const store::Device device = db.device(db.ensure_device(runner.device()));
  StoreReadOptions ro;
  ro.model_kernels = false;  // kernels measured on their own, as the samplers made them
  ro.threads = runner.threads();
  std::set<std::string> types(o.kernel_types.begin(), o.kernel_types.end());
  auto read = [&] {
    KernelDataset ds = read_kernel_dataset(db, device, ro);
    if (!types.empty()) {
      std::erase_if(ds.samples, [&](const KernelSample& s) { return !types.count(s.type); });
    }
    return ds;
  };
  const json key_settings = runner.key_settings();
  for (int round = 0; round <= o.rounds; ++round) {
    const KernelDataset ds = read();
    KernelCvOptions cvo;
    cvo.folds = o.cv_folds;
    cvo.seed = hash_mix(o.seed, static_cast<uint64_t>(round));
    cvo.train = o.train;
    AdaptiveRound r;
    r.round = round;
    r.rows = ds.samples.size();
    r.cv = kernel_cross_validation(ds, cvo);
    report.energy_origin = ds.device.meter;
    if (round == o.rounds) {
      report.rounds.push_back(std::move(r));
      break;
    }
    // The worst-predicted kernels of each type, beyond the threshold.
    std::map<std::string, std::vector<std::pair<double, size_t>>> worst;
    for (size_t i = 0; i < ds.samples.size(); ++i) {
      if (r.cv.fold[i] < 0) continue;
      const double e = worst_error(ds.samples[i], r.cv.predicted[i]);
      if (e > o.error_threshold) worst[ds.samples[i].type].push_back({e, i});
    }
    std::vector<KernelPlanItem> plan;
    std::set<std::string> keys;
    for (auto& [type, list] : worst) {
      std::sort(list.begin(), list.end(), std::greater<>());
      const size_t n =
          std::min(list.size(), static_cast<size_t>(std::max<int64_t>(0, o.worst_per_type)));
      for (size_t j = 0; j < n; ++j) {
        const KernelSample& s = ds.samples[list[j].second];
        ++r.refined;
        const uint64_t seed = hash_mix(hash_mix(o.seed, static_cast<uint64_t>(round) + 1),
                                       hash_string(s.type + " " + s.config.str()));
        for (const auto& z : zoo::sample_around(s.type, s.config, o.samples_per_kernel, seed)) {
          const std::string key = store::kernel_key(z.type, z.config, key_settings);
          if (keys.insert(key).second) plan.push_back({z.type, z.config, key});
        }
      }
    }
    r.new_samples = static_cast<int64_t>(plan.size());
    report.rounds.push_back(std::move(r));
    if (plan.empty()) break;  // every kernel within the threshold (or nothing to refine)
    report.collections.push_back(
        collect_kernel_plan(db, runner, plan, o.command, o.seed, stop, progress));
    if (report.collections.back().interrupted) {
      report.interrupted = true;
      break;
    }
  }
  TrainOptions final = o.train;
  final.cv_folds = o.cv_folds;
  // The bundle learns from every row of this device: the sampled kernels of every type and the
  // kernels timed inside measured models (collect models), which are what it will predict.
  StoreReadOptions all = ro;
  all.model_kernels = true;
  return Predictor::train(read_kernel_dataset(db, device, all), final, rules, name);
}

std::string AdaptiveReport::to_text() const {
  using A = TextTable::Align;
  TextTable t(
      {"round", "rows", "latency RMSPE", "latency ±10%", "energy RMSPE", "energy ±10%",
       "refined kernels", "new samples"},
      {A::kRight, A::kRight, A::kRight, A::kRight, A::kRight, A::kRight, A::kRight, A::kRight});
  auto cell = [](const std::map<Target, Accuracy>& m, Target tg, bool share) {
    auto it = m.find(tg);
    if (it == m.end()) return std::string("-");
    return share ? fmt::format("{:.1f}%", 100 * it->second.within10)
                 : fmt::format("{:.2f}%", it->second.rmspe);
  };
  for (const auto& r : rounds) {
    t.add_row(
        {std::to_string(r.round), std::to_string(r.rows),
         cell(r.cv.overall, Target::kLatency, false), cell(r.cv.overall, Target::kLatency, true),
         cell(r.cv.overall, Target::kEnergy, false), cell(r.cv.overall, Target::kEnergy, true),
         std::to_string(r.refined), std::to_string(r.new_samples)});
  }
  std::string s = fmt::format(
      "adaptive kernel sampling: out-of-fold accuracy of all kernels per round (energy: {})\n",
      energy_origin.empty() ? "none" : energy_origin);
  s += t.render();
  if (!rounds.empty()) {
    s += "last round, per kernel type:\n" + render_table(rounds.back().cv);
  }
  if (interrupted) s += "interrupted: measurements so far are stored; run again to resume\n";
  return s;
}

json AdaptiveReport::to_json() const {
  json rs = json::array();
  for (const auto& r : rounds) {
    rs.push_back({{"round", r.round},
                  {"rows", r.rows},
                  {"refined", r.refined},
                  {"new_samples", r.new_samples},
                  {"cv", predict::to_json(r.cv)}});
  }
  json cs = json::array();
  for (const auto& c : collections) cs.push_back(c.to_json());
  return {{"rounds", rs},
          {"collections", cs},
          {"interrupted", interrupted},
          {"energy_origin", energy_origin}};
}

}  // namespace nnjoule::collect
