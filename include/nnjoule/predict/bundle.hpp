#pragma once
// A predictor bundle: a directory with predictor.json (device, runtime, threads, meter, fusion
// rules, kernel types, feature lists and training ranges, training-data summary and hash, CV
// metrics, fallback rates, nnjoule version), one XGBoost JSON model per kernel type and target,
// and manifest.json (the SHA-256 of every other file and the nnjoule version that wrote them).
// Predicting a model: kernels -> per-kernel predictions -> sums, each kernel's contribution
// listed, kernels outside the training range of their regressor flagged as extrapolated.
#include <filesystem>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "nnjoule/common/provenance.hpp"
#include "nnjoule/graph/graph.hpp"
#include "nnjoule/kernels/fusion.hpp"
#include "nnjoule/kernels/kernel.hpp"
#include "nnjoule/predict/dataset.hpp"
#include "nnjoule/predict/train.hpp"

namespace nnjoule::predict {

// 2: manifest.json with SHA-256 file hashes, feature ranges, concat features of any input
// count. Bundles of format 1 are refused with the advice to retrain (docs/prediction.md).
inline constexpr int kBundleFormatVersion = 2;

// Lowercase hex SHA-256 (OpenSSL EVP) of `data`: the hash manifest.json records per file.
std::string sha256_hex(std::string_view data);

// Device-wide rates for kernel types without a regressor: medians over the training rows of
// one feature family, or of all rows.
struct FallbackRates {
  size_t rows = 0;
  std::optional<double> energy_mj_per_mflop, latency_ms_per_mflop;  // rows with FLOPs
  std::optional<double> energy_mj_per_mb, latency_ms_per_mb;        // all rows, per MB moved
  std::optional<double> power_mw;
};

struct TrainingSummary {
  size_t rows = 0;
  std::string hash;    // KernelDataset::hash()
  std::string source;  // database file, release directory
  std::map<std::string, size_t> rows_by_type;
  std::string energy_origin;   // "imported (deepen2023)", "estimated (cpu-time model)", ...
  std::string latency_origin;  // "measured (...)", "imported (deepen2023)"
};

struct BundleInfo {
  std::string name;
  int format_version = kBundleFormatVersion;
  std::string nnjoule_version;
  std::string created;  // UTC, ISO 8601
  DeviceInfo device;
  FeatureSet feature_set = FeatureSet::kFull;
  Mode mode = Mode::kBoosted;
  bool log_target = true;
  TrainingSummary training;
};

// One kernel to predict. flops / bytes are used by the per-FLOP fallback when the config alone
// cannot give them (kernels detected in a graph carry their own counts).
struct KernelInput {
  std::string name;
  std::string type;
  kernels::KernelConfig config;
  std::optional<double> flops, bytes;
  KernelContext context;  // the model around it (defaults: the kernel alone)
};

// A feature of a kernel outside the range [min, max] of the training rows of the regressor
// that predicted it.
struct OutOfRange {
  std::string feature;
  double value = 0, min = 0, max = 0;
};

struct KernelPrediction {
  std::string name, type;
  kernels::KernelConfig config;
  Targets predicted;                     // a target is absent when nothing can predict it
  std::map<Target, std::string> method;  // "regressor", "fallback: ...", "none: ..." per target
  bool fallback = false;                 // some target came from a fallback
  // Some feature lies outside the training range of a regressor used: the trees extrapolate.
  bool extrapolated = false;
  std::vector<OutOfRange> out_of_range;
  // Some regressor gave a value that is not a positive finite number: that target is left out.
  bool rejected = false;
  double energy_share = 0, latency_share = 0;  // of the model total (0..1)
};

struct ModelPrediction {
  std::string model;
  std::string predictor;  // bundle name
  Provenance provenance;  // predicted (bundle name)
  DeviceInfo device;
  std::string training_energy_origin;
  std::vector<KernelPrediction> kernels;
  Targets total;  // energy and latency summed; power = energy / latency
  std::optional<double> cpu_mhz, cpu_capacity;        // where it was predicted at (clock bundles)
  std::map<std::string, std::string> fallback_types;  // type -> how it was predicted
  std::vector<std::pair<std::string, std::string>> unknown_ops;  // (op type, node), excluded
  bool lower_bound = false;  // unknown ops were left out of the totals
  size_t extrapolated_kernels = 0;
  std::vector<std::string> warnings;

  nlohmann::json to_json() const;
  std::string render() const;  // table for the terminal, every number labelled
};

// A regressor held in memory, or read from its bundle file on first use: XGBoost parses its JSON
// models slowly (~50 ms per MB), and a model needs only the kernel types it contains.
class LazyRegressor {
 public:
  explicit LazyRegressor(Regressor r);
  LazyRegressor(std::filesystem::path path, std::string sha, size_t n_features);
  // Thread-safe. Throws Error naming the file when it changed since the bundle was loaded (its
  // SHA-256 differs), or it is not a valid XGBoost JSON model, or its feature count is not the
  // expected one.
  const Regressor& get() const;
  bool loaded() const;

 private:
  mutable std::mutex mutex_;
  mutable std::optional<Regressor> regressor_;
  std::filesystem::path path_;
  std::string sha_;
  size_t n_features_ = 0;
};

struct RegressorEntry {
  std::string type;
  Target target;
  std::vector<std::string> feature_names;
  RegressorParams params;
  bool searched = false;
  size_t rows = 0;
  std::optional<Accuracy> cv;
  std::string file;              // "<type>.<target>.json"
  std::string sha;               // SHA-256 of the model's JSON (recorded in manifest.json)
  std::optional<WorkBase> base;  // the trees predict y / base (energy, latency)
  // Range of every feature over the training rows of the type: outside it, extrapolation.
  std::vector<float> feature_min, feature_max;
  std::shared_ptr<LazyRegressor> model;

  const Regressor& regressor() const { return model->get(); }
};

class Predictor {
 public:
  // Trains regressors for every type with enough rows and the fallback rates.
  static Predictor train(const KernelDataset& ds, const TrainOptions& o,
                         const kernels::FusionRules& rules, const std::string& name);
  // A bundle is untrusted input. Checks manifest.json (every file listed with its SHA-256,
  // none missing, changed or added), every field of predictor.json (types, ranges: positive
  // finite fallback rates, a known target transform, ...), that every model file declares the
  // listed feature count; throws Error with one line naming the file (and field) at fault.
  // Bundles of format 1 (no manifest) are refused with the advice to retrain.
  // Eager loading also parses every model with XGBoost; lazy loading parses a model on first
  // use (what `nnjoule predict` does: a model needs a few of the kernel types).
  enum class Load { kEager, kLazy };
  static Predictor load(const std::filesystem::path& dir, Load mode = Load::kEager);
  // Writes a new directory beside the target and swaps it in, so an old bundle is replaced
  // whole or not at all; manifest.json lists every file with its SHA-256. Refuses to overwrite
  // a directory that is not a predictor bundle.
  void save(const std::filesystem::path& dir) const;

  const BundleInfo& info() const { return info_; }
  const std::string& name() const { return info_.name; }
  void set_name(std::string name) { info_.name = std::move(name); }
  Provenance provenance() const { return {Origin::kPredicted, info_.name}; }
  const kernels::FusionRules& fusion_rules() const { return rules_; }
  const std::vector<RegressorEntry>& regressors() const { return regressors_; }
  const std::map<std::string, FallbackRates>& fallback_rates() const { return rates_; }
  const RegressorEntry* find(const std::string& type, Target t) const;
  // How `type` is predicted for `t`: "regressor", or the fallback's description.
  std::string method(const std::string& type, Target t) const;

  std::vector<KernelPrediction> predict_kernels(std::span<const KernelInput> in) const;
  // Unknown kernels (unknown:<Op>) are excluded, listed and make the total a lower bound.
  // Errors name the model and the kernel (its first node).
  // `where`: the CPU clock and capacity to predict at (its cpu_mhz / cpu_capacity; the model
  // weights come from the kernels); a bundle whose feature set uses the clock (full+clock)
  // throws Error saying what to give when they are missing.
  ModelPrediction predict(const std::vector<kernels::Kernel>& kernels,
                          const std::string& model_name, const graph::Graph* g = nullptr,
                          const KernelContext& where = {}) const;
  // Detects kernels with the bundle's fusion rules first.
  ModelPrediction predict(const graph::Graph& g, const KernelContext& where = {}) const;

  nlohmann::json manifest() const;  // predictor.json

 private:
  struct Resolution {
    static constexpr size_t kNone = static_cast<size_t>(-1);
    size_t regressor = kNone;  // index into regressors_: the type's own or a related type's
    std::string related;       // type whose regressor stands in
    std::string family;        // rate fallback: family key of rates_
    std::string description;
  };
  Resolution resolve(const std::string& type, Target t) const;
  // A clock bundle predicts only where the clock (and, when its rows knew one, the capacity)
  // is given: throws Error naming the kernel and the options otherwise.
  void require_clock(std::span<const KernelInput> in) const;
  const Resolution& cached_resolve(const std::string& type, Target t) const;
  struct Cache {
    std::mutex mutex;
    std::map<std::pair<std::string, Target>, Resolution> resolutions;
  };
  std::unique_ptr<Cache> cache_ = std::make_unique<Cache>();

  BundleInfo info_;
  kernels::FusionRules rules_ = kernels::FusionRules::xnnpack_default();
  std::vector<RegressorEntry> regressors_;
  std::map<std::string, FallbackRates> rates_;  // by feature family name, and "all"
};

// A batch of kernel predictions (nnjoule predict --kernels) as a table and as JSON.
std::string render_kernel_predictions(const Predictor& p, const std::vector<KernelPrediction>& k);
nlohmann::json kernel_predictions_json(const Predictor& p, const std::vector<KernelPrediction>& k);
// What a bundle holds: regressors with their CV accuracy, fallback rates, training data.
std::string render_summary(const Predictor& p);

// Fallback rates of a dataset (exposed for tests).
std::map<std::string, FallbackRates> compute_fallback_rates(const KernelDataset& ds);

}  // namespace nnjoule::predict
