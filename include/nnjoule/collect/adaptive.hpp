#pragma once
// Building a predictor for the machine nnjoule runs on, the way nn-Meter builds its kernel
// predictors: measure kernels sampled from the zoo's config prior, train, find the kernels the
// regressors predict worst (out-of-fold), measure fine-grained samples around them, retrain.
#include <atomic>
#include <string>
#include <vector>

#include "nnjoule/collect/collection.hpp"
#include "nnjoule/predict/bundle.hpp"
#include "nnjoule/predict/evaluate.hpp"

namespace nnjoule::collect {

struct AdaptiveOptions {
  std::vector<std::string> kernel_types;  // empty: every type of the zoo's prior
  int64_t prior_count = 400;              // prior samples in all
  int64_t prior_floor = 5;                // at least this many per type
  int prior_variants = 4;                 // zoo variants per family behind the prior
  int rounds = 1;                         // fine-grained rounds
  double error_threshold = 0.10;          // out-of-fold relative error that calls for more data
  int64_t worst_per_type = 8;             // kernels per type refined per round, worst first
  int64_t samples_per_kernel = 4;         // fine-grained samples around each of them
  int cv_folds = 5;
  predict::TrainOptions train;
  uint64_t seed = 0;
  std::string command;
};

struct AdaptiveRound {
  int round = 0;               // 0: after the prior sample
  size_t rows = 0;             // kernel rows trained on
  int64_t refined = 0;         // kernels that got fine-grained samples after this round
  int64_t new_samples = 0;     // samples planned around them
  predict::KernelCvResult cv;  // out-of-fold accuracy at this round
};

struct AdaptiveReport {
  std::vector<AdaptiveRound> rounds;
  std::vector<CollectReport> collections;
  bool interrupted = false;
  std::string energy_origin;  // what the device's energy rows are (measured / estimated)

  std::string to_text() const;
  nlohmann::json to_json() const;
};

// Measures with `runner` into `db`, trains, refines and returns the final predictor (trained
// on everything, CV metrics included). Resumable: what is stored is not measured again.
predict::Predictor build_predictor(store::Store& db, Runner& runner, const AdaptiveOptions& o,
                                   const kernels::FusionRules& rules, const std::string& name,
                                   const std::atomic<bool>& stop, const ProgressFn& progress,
                                   AdaptiveReport& report);

}  // namespace nnjoule::collect
