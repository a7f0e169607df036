#include "nnjoule/zoo/sampling.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cctype>
#include <cmath>
#include <set>

#include "nnjoule/common/error.hpp"
#include "nnjoule/common/rng.hpp"
#include "nnjoule/kernels/detect.hpp"
#include "nnjoule/zoo/kernel_models.hpp"
#include "nnjoule/zoo/zoo.hpp"

namespace nnjoule::zoo {
namespace {

const KernelModelType* model_type(const std::string& type) {
  for (const auto& t : kernel_model_types())
    if (t.name == type) return &t;
  return nullptr;
}

bool buildable_keys(const KernelModelType& t, const kernels::KernelConfig& c) {
  for (const auto& [k, v] : c.items()) {
    if (std::find(t.required.begin(), t.required.end(), k) == t.required.end() &&
        std::find(t.optional.begin(), t.optional.end(), k) == t.optional.end()) {
      return false;
    }
  }
  for (const auto& k : t.required)
    if (!c.has(k)) return false;
  return true;
}

// Whether the single-kernel builder makes this config and detection sees one kernel of `type`.
bool valid(const std::string& type, const kernels::KernelConfig& c) {
  try {
    const graph::Graph g = build_kernel_model(type, c, 0, false);
    const auto ks = kernels::detect_kernels(g);
    return ks.size() == 1 && ks[0].type == type;
  } catch (const Error&) {
    return false;
  }
}

int64_t round_multiple(double v, int64_t m) {
  return std::max<int64_t>(m, static_cast<int64_t>(std::llround(v / static_cast<double>(m))) * m);
}

// Snaps re-drawn channel counts to what the builder accepts: whole, positive, and divisible
// where the kernel splits channels into groups or parts.
void snap(const std::string& type, kernels::KernelConfig& c) {
  const auto items = c.items();
  for (const auto& [k, v] : items) {
    if (is_channel_key(type, k)) c.set(k, std::max<int64_t>(1, v));
  }
  auto multiple_of = [&](const char* key, int64_t m) {
    if (m > 1 && c.has(key)) c.set(key, round_multiple(static_cast<double>(c.get(key)), m));
  };
  if (c.has("GROUPS")) {
    multiple_of("CIN", c.get("GROUPS"));
    multiple_of("COUT", c.get("GROUPS"));
  }
  if (type == "split") multiple_of("CIN", c.get_or("NS", 2));
  if (type == "se" && c.has("CMID") && c.get("CMID") > c.get("CIN")) c.set("CMID", c.get("CIN"));
}

// Draws each channel key as factor(C) x C, then snaps.
template <typename Factor>
kernels::KernelConfig redraw(const std::string& type, const kernels::KernelConfig& base,
                             Factor&& factor) {
  kernels::KernelConfig c;
  for (const auto& [k, v] : base.items()) {
    c.set(k, is_channel_key(type, k)
                 ? static_cast<int64_t>(std::llround(factor() * static_cast<double>(v)))
                 : v);
  }
  snap(type, c);
  return c;
}

template <typename Draw>
std::vector<KernelSample> distinct(const std::string& type, int64_t n, Draw&& draw) {
  std::vector<KernelSample> out;
  std::set<std::vector<std::pair<std::string, int64_t>>> seen;
  const int64_t attempts = 50 * std::max<int64_t>(n, 1) + 100;
  for (int64_t a = 0; a < attempts && static_cast<int64_t>(out.size()) < n; ++a) {
    kernels::KernelConfig c = draw();
    if (seen.count(c.items())) continue;
    if (!valid(type, c)) continue;
    seen.insert(c.items());
    out.push_back({type, std::move(c)});
  }
  return out;
}

}  // namespace

bool is_channel_key(const std::string& type, const std::string& key) {
  if (key == "CIN" || key == "COUT" || key == "CMID") return true;
  if (key.size() == 4 && key.rfind("CIN", 0) == 0 &&
      std::isdigit(static_cast<unsigned char>(key[3])))
    return true;
  return type == "matmul" && (key == "M" || key == "K" || key == "N");
}

ConfigPrior build_prior(const PriorOptions& options) {
  ConfigPrior prior;
  std::vector<std::string> names = options.families.empty() ? family_names() : options.families;
  for (const auto& f : names) {
    family(f);  // names the known families when `f` is not one
    for (int64_t v = -1; v < options.variants; ++v) {
      ModelSpec spec;
      spec.family = f;
      spec.variant = v;
      spec.seed = options.seed;
      spec.materialize_weights = false;
      spec.sample_resolution = v >= 0;
      const graph::Graph g = build_model(spec);
      ++prior.models;
      for (const auto& k : kernels::detect_kernels(g)) {
        prior.occurrences[k.type]++;
        const KernelModelType* t = model_type(k.type);
        if (!t) continue;
        if (!buildable_keys(*t, k.config)) {
          prior.unbuildable[k.type]++;
          continue;
        }
        prior.configs[k.type].push_back(k.config);
      }
    }
  }
  return prior;
}

std::map<std::string, int64_t> allocate_samples(const ConfigPrior& prior,
                                                const std::vector<std::string>& types,
                                                int64_t total, int64_t floor) {
  std::vector<std::string> ts = types;
  if (ts.empty()) {
    for (const auto& [t, configs] : prior.configs) ts.push_back(t);
  }
  for (const auto& t : ts) {
    if (!prior.configs.count(t)) {
      std::vector<std::string> known;
      for (const auto& [k, v] : prior.configs) known.push_back(k);
      fail(
          "kernel type '{}' occurs nowhere in the zoo, so there is no prior to sample it from "
          "(samplable: {})",
          t, fmt::join(known, ", "));
    }
  }
  std::map<std::string, int64_t> out;
  if (ts.empty()) return out;
  floor = std::max<int64_t>(floor, 0);
  const int64_t base = floor * static_cast<int64_t>(ts.size());
  const int64_t extra = std::max<int64_t>(total - base, 0);
  double occ_total = 0;
  for (const auto& t : ts) occ_total += static_cast<double>(prior.occurrences.at(t));
  // Largest remainder: the shares above the floor sum to exactly `extra`.
  std::vector<std::pair<double, std::string>> remainders;
  int64_t given = 0;
  for (const auto& t : ts) {
    const double share =
        static_cast<double>(extra) * static_cast<double>(prior.occurrences.at(t)) / occ_total;
    const auto whole = static_cast<int64_t>(std::floor(share));
    out[t] = floor + whole;
    given += whole;
    remainders.emplace_back(share - static_cast<double>(whole), t);
  }
  std::stable_sort(remainders.begin(), remainders.end(),
                   [](const auto& a, const auto& b) { return a.first > b.first; });
  for (size_t i = 0; given < extra; ++i, ++given) out[remainders[i % remainders.size()].second]++;
  return out;
}

std::vector<KernelSample> sample_prior(const ConfigPrior& prior, const std::string& type, int64_t n,
                                       uint64_t seed) {
  auto it = prior.configs.find(type);
  if (it == prior.configs.end() || it->second.empty()) {
    fail("kernel type '{}' has no configs in the prior", type);
  }
  const auto& pool = it->second;
  Rng rng = Rng(seed).fork(hash_string(type));
  return distinct(type, n, [&] {
    const auto& base =
        pool[static_cast<size_t>(rng.uniform_int(0, static_cast<int64_t>(pool.size()) - 1))];
    // Half the samples are configs the zoo's models really run; the others re-draw their
    // channels log-uniformly in [C/1.5, 1.5C] around them.
    if (rng.uniform() < 0.5) return base;
    return redraw(type, base, [&] { return std::exp(rng.uniform(-std::log(1.5), std::log(1.5))); });
  });
}

std::vector<KernelSample> sample_collection(const ConfigPrior& prior,
                                            const std::vector<std::string>& types, int64_t total,
                                            int64_t floor, uint64_t seed) {
  std::vector<KernelSample> out;
  for (const auto& [type, n] : allocate_samples(prior, types, total, floor)) {
    auto s = sample_prior(prior, type, n, seed);
    out.insert(out.end(), std::make_move_iterator(s.begin()), std::make_move_iterator(s.end()));
  }
  return out;
}

std::vector<KernelSample> sample_around(const std::string& type,
                                        const kernels::KernelConfig& config, int64_t n,
                                        uint64_t seed) {
  if (!model_type(type)) fail("unknown kernel type '{}'", type);
  bool channels = false;
  for (const auto& [k, v] : config.items()) {
    channels = channels || is_channel_key(type, k);
    if (is_channel_key(type, k) && v <= 0)
      fail("kernel '{}': config {}={} must be positive", type, k, v);
  }
  if (!channels) fail("kernel '{}' ({}) has no channel counts to re-draw", type, config.str());
  Rng rng = Rng(seed).fork(hash_string(type + " " + config.str()));
  return distinct(type, n, [&] {
    kernels::KernelConfig c;
    for (const auto& [k, v] : config.items()) {
      if (!is_channel_key(type, k)) {
        c.set(k, v);
        continue;
      }
      const auto lo = static_cast<int64_t>(std::ceil(0.4 * static_cast<double>(v)));
      const auto hi = static_cast<int64_t>(std::floor(1.2 * static_cast<double>(v)));
      c.set(k, rng.uniform_int(std::max<int64_t>(1, lo), std::max<int64_t>(1, hi)));
    }
    snap(type, c);
    return c;
  });
}

}  // namespace nnjoule::zoo
