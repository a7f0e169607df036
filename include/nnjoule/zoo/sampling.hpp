#pragma once
// Kernel config sampling for dataset collection. The prior is the empirical distribution of
// kernel configs across every zoo family and its variants (what nn-Meter derived from 24 real
// models, here from our own zoo): a sample is an observed config with its channel counts
// re-drawn around the observed value and snapped to values the single-kernel builder accepts.
// Fine-grained sampling re-draws only the channels of a given config, in [0.4C, 1.2C], for
// adaptive training around configs a predictor gets wrong. Everything is seeded.
#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "nnjoule/kernels/kernel.hpp"

namespace nnjoule::zoo {

struct PriorOptions {
  std::vector<std::string> families;  // empty: every family
  int variants = 8;                   // seeded variants per family, besides the base model
  uint64_t seed = 0;
};

struct ConfigPrior {
  // Per kernel type: every config observed, once per occurrence (so frequent configs weigh
  // more), restricted to types and keys build_kernel_model accepts.
  std::map<std::string, std::vector<kernels::KernelConfig>> configs;
  // Kernel occurrences per type across the models (all detected kernels, samplable or not).
  std::map<std::string, int64_t> occurrences;
  // Observed configs left out because the builder cannot make them (non-square inputs,
  // dilation, ...), per type.
  std::map<std::string, int64_t> unbuildable;
  int64_t models = 0;
};

// Builds every family (shape-only weights) and its variants, detects kernels and collects
// their configs.
ConfigPrior build_prior(const PriorOptions& options = {});

// How many samples each type gets: proportional to its occurrences in the zoo, at least
// `floor` each, for the given types (empty: every samplable type of the prior). The counts sum
// to max(total, floor x types). Throws Error naming a type the prior has no config of.
std::map<std::string, int64_t> allocate_samples(const ConfigPrior& prior,
                                                const std::vector<std::string>& types,
                                                int64_t total, int64_t floor);

struct KernelSample {
  std::string type;
  kernels::KernelConfig config;
};

// `n` distinct configs of `type` from the prior (fewer when the prior cannot give that many
// distinct ones). Deterministic for (prior, type, n, seed).
std::vector<KernelSample> sample_prior(const ConfigPrior& prior, const std::string& type, int64_t n,
                                       uint64_t seed);

// The samples of a whole collection: allocate_samples, then sample_prior per type; ordered
// type by type as the allocation lists them.
std::vector<KernelSample> sample_collection(const ConfigPrior& prior,
                                            const std::vector<std::string>& types, int64_t total,
                                            int64_t floor, uint64_t seed);

// `n` distinct configs around `config`: every key kept but the channel counts (CIN, COUT,
// CIN1.., CMID, ...), each re-drawn uniformly in [0.4C, 1.2C] and snapped to valid values.
std::vector<KernelSample> sample_around(const std::string& type,
                                        const kernels::KernelConfig& config, int64_t n,
                                        uint64_t seed);

// Whether `key` counts channels (re-drawn by the samplers) for `type`.
bool is_channel_key(const std::string& type, const std::string& key);

}  // namespace nnjoule::zoo
