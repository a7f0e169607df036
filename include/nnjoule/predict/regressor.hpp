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
  int n_estimators = 400;  // boosting rounds, or trees of the forest
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

// A trained tree ensemble. XGBoost trains it and defines its file format (XGBoost JSON); the
// trees are then evaluated from flat arrays here, because XGBoost's own prediction costs
// 30-100 us per call whatever the batch (a model needs ~15 calls) and its JSON loader ~50 ms
// per MB. tests/predict/regressor_test.cpp checks both give the same predictions.
class Regressor {
 public:
  // Fits y on X; throws Error on empty data, mismatched sizes or non-finite values.
  static Regressor train(const Matrix& x, std::span<const float> y, const RegressorParams& p);
  // XGBoost JSON model (gbtree, numerical splits); throws Error naming `source` when it is not.
  static Regressor from_json(std::string_view text, const std::string& source);
  const std::string& to_json() const { return json_; }

  size_t num_features() const { return n_features_; }
  size_t num_trees() const { return roots_.size(); }
  // One prediction per row of x; x.cols must equal num_features().
  std::vector<double> predict(const Matrix& x) const;
  double predict_one(std::span<const float> row) const;

 private:
  struct Node {
    int32_t left;  // -1 for a leaf
    int32_t right;
    uint32_t feature;
    float value;  // split threshold (go left when x < value), or the leaf value
    bool default_left;
  };
  std::string json_;
  size_t n_features_ = 0;
  float base_score_ = 0;
  std::vector<Node> nodes_;      // every tree's nodes, children as absolute indices
  std::vector<uint32_t> roots_;  // root node of each tree
  // Shallow ensembles (the boosted defaults) are also laid out as complete binary trees of
  // depth `depth_`: a row walks exactly depth_ levels without a branch to mispredict (a leaf
  // above the bottom becomes a chain of always-left nodes). Empty for deep forests.
  void build_complete();
  int depth_ = 0;
  std::vector<uint32_t> cfeature_;  // per tree 2^depth - 1 internal nodes, heap order
  std::vector<float> cthreshold_;
  std::vector<float> cleaf_;  // per tree 2^depth leaves
};

// XGBoost's own prediction for a model's JSON (for tests and the benchmark's baseline).
std::vector<double> xgboost_predict(const std::string& model_json, const Matrix& x);

}  // namespace nnjoule::predict
