#pragma once
// One XGBoost regressor (C API): gradient-boosted trees by default, or a random forest
// (num_parallel_tree trees in one round, row and column subsampling) for parity with the
// nn-Meter / DeepEn2023 predictors. Models are saved in XGBoost's JSON format.
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

namespace nnjoule::predict {

// Row-major float matrix.
struct Matrix {
  size_t rows = 0;
  size_t cols = 0;
  std::vector<float> data;

  Matrix() = default;
  Matrix(size_t r, size_t c) : rows(r), cols(c), data(r * c) {}
  std::span<const float> row(size_t i) const { return {data.data() + i * cols, cols}; }
  void append_row(std::span<const float> r);
  Matrix select(std::span<const size_t> rows_idx) const;
};

enum class Mode { kBoosted, kForest };
std::string_view mode_name(Mode m);
Mode parse_mode(std::string_view name);  // "boosted" | "forest"

struct RegressorParams {
  Mode mode = Mode::kBoosted;
  int n_estimators = 400;       // boosting rounds, or trees of the forest
  int max_depth = 6;
  double learning_rate = 0.05;  // eta; the forest uses 1
  double subsample = 0.8;       // row share per tree
  double colsample = 1.0;       // feature share per split (colsample_bynode)
  double min_child_weight = 1;  // rows per leaf with squared error
  double reg_lambda = 1;        // L2 on leaf weights; the forest uses 0
  int threads = 1;              // XGBoost threads per booster
  uint64_t seed = 0;

  nlohmann::json to_json() const;
  static RegressorParams from_json(const nlohmann::json& j, const std::string& source);
  std::string str() const;  // "boosted rounds=400 depth=6 eta=0.05 ..."
};

// Not for static storage: XGBoost frees per-thread caches at thread exit, and a booster freed
// after that (during static destruction) reads freed memory.
class Regressor {
 public:
  Regressor();
  ~Regressor();
  Regressor(Regressor&&) noexcept;
  Regressor& operator=(Regressor&&) noexcept;
  Regressor(const Regressor&) = delete;
  Regressor& operator=(const Regressor&) = delete;

  // Fits y on X; throws Error on empty data, mismatched sizes or non-finite values.
  static Regressor train(const Matrix& x, std::span<const float> y, const RegressorParams& p);
  // XGBoost JSON model; throws Error naming `source` when it is not a valid model.
  static Regressor from_json(std::string_view text, const std::string& source);
  std::string to_json() const;

  size_t num_features() const;
  // One prediction per row of x; x.cols must equal num_features().
  std::vector<double> predict(const Matrix& x) const;
  double predict_one(std::span<const float> row) const;

  bool empty() const { return handle_ == nullptr; }

 private:
  void* handle_ = nullptr;  // BoosterHandle
};

}  // namespace nnjoule::predict
