#include "nnjoule/zoo/zoo.hpp"

#include <fmt/format.h>

#include <algorithm>

#include "net.hpp"
#include "nnjoule/common/error.hpp"
#include "nnjoule/common/rng.hpp"

namespace nnjoule::zoo {
namespace {

const std::vector<detail::FamilyDef>& defs() {
  static const std::vector<detail::FamilyDef> d = [] {
    std::vector<detail::FamilyDef> v;
    detail::register_classic(v);
    detail::register_mobile(v);
    return v;
  }();
  return d;
}

const detail::FamilyDef& find_def(const std::string& name) {
  for (const auto& d : defs())
    if (d.info.name == name) return d;
  fail("unknown model family '{}' (known: {})", name, fmt::join(family_names(), ", "));
}

// Streams of the seed that must not disturb each other: resolution, channel/kernel draws,
// weights.
constexpr uint64_t kResolutionStream = 0x7265736f6c;  // "resol"
constexpr uint64_t kWeightStream = 0x7765696768;      // "weigh"

}  // namespace

// Renames a node output everywhere it appears: the builder names tensors after their node.
void detail::rename_tensor(graph::Graph& g, const std::string& from, const std::string& to) {
  if (from == to) return;
  for (auto& n : g.nodes) {
    for (auto& t : n.inputs)
      if (t == from) t = to;
    for (auto& t : n.outputs)
      if (t == from) t = to;
  }
  for (auto& t : g.outputs)
    if (t == from) t = to;
  auto node = g.values.extract(from);
  node.key() = to;
  g.values.insert(std::move(node));
}

const std::vector<FamilyInfo>& families() {
  static const std::vector<FamilyInfo> f = [] {
    std::vector<FamilyInfo> v;
    for (const auto& d : defs()) v.push_back(d.info);
    return v;
  }();
  return f;
}

const FamilyInfo& family(const std::string& name) {
  return find_def(name).info;
}

std::vector<std::string> family_names() {
  std::vector<std::string> names;
  for (const auto& d : defs()) names.push_back(d.info.name);
  return names;
}

std::string model_name(const ModelSpec& spec) {
  if (spec.variant < 0) return spec.family;
  return fmt::format("{}-v{}-{}", spec.family, spec.seed, spec.variant);
}

int64_t resolved_resolution(const ModelSpec& spec) {
  const FamilyInfo& f = family(spec.family);
  if (spec.sample_resolution) {
    if (spec.variant < 0) {
      fail("{}: sampling the resolution needs a variant (the base model has one resolution)",
           spec.family);
    }
    if (spec.resolution != 0) {
      fail("{}: give either a resolution ({}) or resolution sampling, not both", spec.family,
           spec.resolution);
    }
    Rng rng(hash_mix(hash_mix(hash_mix(hash_string(spec.family), spec.seed),
                              static_cast<uint64_t>(spec.variant)),
                     kResolutionStream));
    return f.resolutions[static_cast<size_t>(
        rng.uniform_int(0, static_cast<int64_t>(f.resolutions.size()) - 1))];
  }
  if (spec.resolution < 0) fail("{}: resolution {} is negative", spec.family, spec.resolution);
  return spec.resolution == 0 ? f.default_resolution : spec.resolution;
}

graph::Graph build_model(const ModelSpec& spec) {
  const detail::FamilyDef& def = find_def(spec.family);
  const int64_t r = resolved_resolution(spec);
  if (r < def.info.min_resolution) {
    fail("{}: resolution {} is below the family's minimum {}", spec.family, r,
         def.info.min_resolution);
  }
  const std::string name = model_name(spec);
  Variation variation;
  uint64_t weight_seed = spec.seed;
  if (spec.variant >= 0) {
    variation = Variation(spec.family, def.info.kernel_sizes, spec.seed, spec.variant);
    weight_seed = hash_mix(hash_mix(spec.seed, static_cast<uint64_t>(spec.variant)), kWeightStream);
  }
  graph::GraphBuilder b(name, weight_seed, spec.materialize_weights);
  detail::Net net{b, variation, spec.family};
  const auto input = b.input("input", {1, 3, r, r});
  return with_context(fmt::format("{} at resolution {}", name, r), [&] {
    const std::string logits = def.build(net, input);
    graph::Graph g = b.finish({logits});
    detail::rename_tensor(g, logits, "output");
    return g;
  });
}

int64_t trainable_parameters(const graph::Graph& g) {
  int64_t running_stats = 0;
  for (const auto& n : g.nodes) {
    if (n.op_type != "BatchNormalization") continue;
    for (size_t i = 3; i < n.inputs.size() && i < 5; ++i)
      if (g.is_constant(n.inputs[i])) running_stats += g.constant(n.inputs[i]).size();
  }
  return g.parameter_count() - running_stats;
}

}  // namespace nnjoule::zoo
