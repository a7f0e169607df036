#include "nnjoule/predict/regressor.hpp"

#include <fmt/format.h>
#include <xgboost/c_api.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <mutex>
#include <nlohmann/json.hpp>
#include <tuple>

#include "json_read.hpp"
#include "nnjoule/common/error.hpp"
#include "nnjoule/common/parse.hpp"

namespace nnjoule::predict {

using nlohmann::json;

void Matrix::append_row(std::span<const float> r) {
  if (rows == 0 && cols == 0) cols = r.size();
  if (r.size() != cols) fail("matrix row has {} values, expected {}", r.size(), cols);
  data.insert(data.end(), r.begin(), r.end());
  ++rows;
}

Matrix Matrix::select(std::span<const size_t> idx) const {
  Matrix m(idx.size(), cols);
  for (size_t i = 0; i < idx.size(); ++i) {
    std::copy_n(data.begin() + static_cast<std::ptrdiff_t>(idx[i] * cols), cols,
                m.data.begin() + static_cast<std::ptrdiff_t>(i * cols));
  }
  return m;
}

std::string_view mode_name(Mode m) {
  return m == Mode::kBoosted ? "boosted" : "forest";
}

Mode parse_mode(std::string_view name) {
  if (name == "boosted") return Mode::kBoosted;
  if (name == "forest") return Mode::kForest;
  fail("unknown regressor mode '{}' (expected boosted or forest)", name);
}

json RegressorParams::to_json() const {
  return json{{"mode", mode_name(mode)},
              {"n_estimators", n_estimators},
              {"max_depth", max_depth},
              {"learning_rate", learning_rate},
              {"subsample", subsample},
              {"colsample", colsample},
              {"min_child_weight", min_child_weight},
              {"reg_lambda", reg_lambda},
              {"seed", seed}};
}

RegressorParams RegressorParams::from_json(const json& j, const std::string& source) {
  if (!j.is_object()) fail("{}: regressor params must be an object", source);
  RegressorParams p;
  try {
    p.mode = with_context(source, [&] { return parse_mode(j.at("mode").get<std::string>()); });
    p.n_estimators = j.at("n_estimators").get<int>();
    p.max_depth = j.at("max_depth").get<int>();
    p.learning_rate = j.at("learning_rate").get<double>();
    p.subsample = j.at("subsample").get<double>();
    p.colsample = j.at("colsample").get<double>();
    p.min_child_weight = j.at("min_child_weight").get<double>();
    p.reg_lambda = j.at("reg_lambda").get<double>();
    p.seed = j.at("seed").get<uint64_t>();
  } catch (const json::exception& e) {
    fail("{}: bad regressor params: {}", source, e.what());
  }
  if (p.n_estimators < 1 || p.max_depth < 1 || !(p.learning_rate > 0) || !(p.subsample > 0) ||
      p.subsample > 1 || !(p.colsample > 0) || p.colsample > 1 || p.min_child_weight < 0 ||
      p.reg_lambda < 0) {
    fail("{}: regressor params out of range: {}", source, p.str());
  }
  return p;
}

std::string RegressorParams::str() const {
  return fmt::format("{} trees={} depth={} eta={} subsample={} colsample={} min_child={} lambda={}",
                     mode_name(mode), n_estimators, max_depth, learning_rate, subsample, colsample,
                     min_child_weight, reg_lambda);
}

namespace {

void quiet_xgboost() {
  static std::once_flag once;
  std::call_once(once, [] { XGBSetGlobalConfig(R"({"verbosity": 0})"); });
}

// XGBoost's messages carry a timestamp, the source line and a stack trace; keep the reason.
std::string last_error() {
  std::string e = XGBGetLastError();
  const auto nl = e.find('\n');
  if (nl != std::string::npos) e.resize(nl);
  if (e.rfind('[', 0) == 0) {  // "[hh:mm:ss] file.cc:123: reason"
    const auto rb = e.find("] ");
    const auto colon = rb == std::string::npos ? rb : e.find(": ", rb + 2);
    if (colon != std::string::npos) e = e.substr(colon + 2);
  }
  return e;
}

void check(int rc, const char* what) {
  if (rc != 0) fail("xgboost {}: {}", what, last_error());
}

struct DMatrix {
  DMatrixHandle h = nullptr;
  ~DMatrix() {
    if (h) XGDMatrixFree(h);
  }
};

std::string num(double v) {
  return fmt::format("{:.17g}", v);
}

// Owns a booster for the duration of a call.
struct Booster {
  BoosterHandle h = nullptr;
  ~Booster() {
    if (h) XGBoosterFree(h);
  }
};

}  // namespace

Regressor Regressor::train(const Matrix& x, std::span<const float> y, const RegressorParams& p) {
  quiet_xgboost();
  if (x.rows == 0 || x.cols == 0) fail("cannot train a regressor on no data");
  if (y.size() != x.rows) fail("{} labels for {} rows", y.size(), x.rows);
  double mean = 0;
  for (float v : y) {
    if (!std::isfinite(v)) fail("training label is not finite");
    mean += v;
  }
  mean /= static_cast<double>(y.size());
  // NaN is a missing value (an unknown CPU clock), which XGBoost learns a direction for.
  for (float v : x.data) {
    if (std::isinf(v)) fail("training feature is infinite");
  }
  DMatrix d;
  check(XGDMatrixCreateFromMat(x.data.data(), x.rows, x.cols, NAN, &d.h), "matrix");
  check(XGDMatrixSetFloatInfo(d.h, "label", y.data(), y.size()), "labels");
  Booster b;
  check(XGBoosterCreate(&d.h, 1, &b.h), "create");
  const bool forest = p.mode == Mode::kForest;
  const std::pair<const char*, std::string> params[] = {
      {"objective", "reg:squarederror"},
      {"tree_method", "hist"},
      {"nthread", std::to_string(std::max(1, p.threads))},
      {"seed", std::to_string(p.seed % 2147483647)},
      {"base_score", num(mean)},
      {"max_depth", std::to_string(p.max_depth)},
      {"eta", num(forest ? 1.0 : p.learning_rate)},
      {"subsample", num(p.subsample)},
      {"colsample_bynode", num(p.colsample)},
      {"min_child_weight", num(p.min_child_weight)},
      {"lambda", num(forest ? 0.0 : p.reg_lambda)},
      {"num_parallel_tree", std::to_string(forest ? p.n_estimators : 1)},
  };
  for (const auto& [k, v] : params) check(XGBoosterSetParam(b.h, k, v.c_str()), k);
  const int rounds = forest ? 1 : p.n_estimators;
  for (int i = 0; i < rounds; ++i) check(XGBoosterUpdateOneIter(b.h, i, d.h), "training");
  bst_ulong len = 0;
  const char* buf = nullptr;
  check(XGBoosterSaveModelToBuffer(b.h, R"({"format": "json"})", &len, &buf), "save");
  return from_json(std::string_view(buf, len), "trained model");
}

Regressor Regressor::from_json(std::string_view text, const std::string& source) {
  const json j = detail::parse_json(text, source);
  Regressor r;
  try {
    const json& learner = j.at("learner");
    const json& mp = learner.at("learner_model_param");
    const auto nf = parse_integer(mp.at("num_feature").get<std::string>());
    const auto bs = parse_number(mp.at("base_score").get<std::string>());
    if (!nf || *nf < 0) fail("{}: num_feature is not a count", source);
    if (!bs) fail("{}: base_score is not a number", source);
    r.n_features_ = static_cast<size_t>(*nf);
    r.base_score_ = static_cast<float>(*bs);
    if (!std::isfinite(r.base_score_)) {
      fail("{}: base_score {} is not a finite number", source, r.base_score_);
    }
    if (mp.value("num_class", "0") != "0" || mp.value("num_target", "1") != "1") {
      fail("{}: a multi-output model; nnjoule expects one regression output", source);
    }
    const std::string objective = learner.at("objective").at("name").get<std::string>();
    if (objective != "reg:squarederror") {
      fail("{}: objective '{}' (expected reg:squarederror)", source, objective);
    }
    const json& gb = learner.at("gradient_booster");
    if (gb.at("name").get<std::string>() != "gbtree") {
      fail("{}: booster '{}' (expected gbtree)", source, gb.at("name").get<std::string>());
    }
    for (const json& t : gb.at("model").at("trees")) {
      const auto left = t.at("left_children").get<std::vector<int32_t>>();
      const auto right = t.at("right_children").get<std::vector<int32_t>>();
      const auto feat = t.at("split_indices").get<std::vector<int64_t>>();
      const auto cond = t.at("split_conditions").get<std::vector<double>>();
      const auto dleft = t.at("default_left").get<std::vector<int>>();
      const auto& stype = t.at("split_type");
      const size_t n = left.size();
      if (n == 0 || right.size() != n || feat.size() != n || cond.size() != n ||
          dleft.size() != n) {
        fail("{}: tree {} has arrays of different lengths", source, r.roots_.size());
      }
      for (const auto& st : stype) {
        if (st.get<int>() != 0) fail("{}: categorical splits are not supported", source);
      }
      const auto base = static_cast<int32_t>(r.nodes_.size());
      r.roots_.push_back(static_cast<uint32_t>(base));
      for (size_t i = 0; i < n; ++i) {
        const bool leaf = left[i] == -1;
        // A threshold or leaf value a float cannot hold would turn into inf.
        if (!(std::fabs(cond[i]) <= std::numeric_limits<float>::max())) {
          fail("{}: tree {} node {}: value {} is out of range for a float", source,
               r.roots_.size() - 1, i, cond[i]);
        }
        if (!leaf && (left[i] <= static_cast<int32_t>(i) || right[i] <= static_cast<int32_t>(i) ||
                      left[i] >= static_cast<int32_t>(n) || right[i] >= static_cast<int32_t>(n) ||
                      feat[i] < 0 || static_cast<size_t>(feat[i]) >= r.n_features_)) {
          fail("{}: tree {} node {} is malformed", source, r.roots_.size() - 1, i);
        }
        r.nodes_.push_back(Node{leaf ? -1 : base + left[i], leaf ? -1 : base + right[i],
                                static_cast<uint32_t>(leaf ? 0 : feat[i]),
                                static_cast<float>(cond[i]), dleft[i] != 0});
      }
    }
  } catch (const json::exception& e) {
    fail("{}: not an XGBoost JSON model ({})", source, e.what());
  } catch (const std::logic_error& e) {  // stoul / stof
    fail("{}: not an XGBoost JSON model (bad number: {})", source, e.what());
  }
  if (r.roots_.empty()) fail("{}: the model has no trees", source);
  r.json_ = std::string(text);
  r.build_complete();
  return r;
}

void Regressor::build_complete() {
  constexpr int kMaxDepth = 10;
  // Depth of every tree; give up on deep ones (forests grow to depth 50 and more).
  int depth = 0;
  for (uint32_t root : roots_) {
    std::vector<std::pair<int32_t, int>> stack = {{static_cast<int32_t>(root), 0}};
    while (!stack.empty()) {
      const auto [n, d] = stack.back();
      stack.pop_back();
      if (d > kMaxDepth) return;
      depth = std::max(depth, d);
      if (nodes_[static_cast<size_t>(n)].left >= 0) {
        stack.push_back({nodes_[static_cast<size_t>(n)].left, d + 1});
        stack.push_back({nodes_[static_cast<size_t>(n)].right, d + 1});
      }
    }
  }
  const size_t internal = (size_t{1} << depth) - 1, leaves = size_t{1} << depth;
  cfeature_.assign(roots_.size() * internal, 0);
  cthreshold_.assign(roots_.size() * internal, INFINITY);  // always left
  cleaf_.assign(roots_.size() * leaves, 0.f);
  for (size_t t = 0; t < roots_.size(); ++t) {
    uint32_t* feat = cfeature_.data() + t * internal;
    float* thr = cthreshold_.data() + t * internal;
    float* leaf = cleaf_.data() + t * leaves;
    // (xgboost node, heap position, depth)
    std::vector<std::tuple<int32_t, size_t, int>> stack = {{static_cast<int32_t>(roots_[t]), 0, 0}};
    while (!stack.empty()) {
      const auto [n, pos, d] = stack.back();
      stack.pop_back();
      const Node& node = nodes_[static_cast<size_t>(n)];
      if (node.left < 0) {
        // A leaf at depth d: its always-left chain ends at the leftmost bottom position.
        size_t p = pos;
        for (int k = d; k < depth; ++k) p = 2 * p + 1;
        leaf[p - internal] = node.value;
        continue;
      }
      feat[pos] = node.feature;
      thr[pos] = node.value;
      stack.push_back({node.left, 2 * pos + 1, d + 1});
      stack.push_back({node.right, 2 * pos + 2, d + 1});
    }
  }
  depth_ = depth;
}

std::vector<double> Regressor::predict(const Matrix& x) const {
  if (x.rows > 0 && x.cols != n_features_) {
    fail("regressor expects {} features, got {}", n_features_, x.cols);
  }
  // Tree by tree over all rows: each tree's nodes stay in L1 while every row walks it (row by
  // row, a 500-tree model streams ~100 KB per row). Same float sums as predict_one.
  std::vector<float> sum(x.rows, base_score_);
  // Missing values need XGBoost's default directions: the node walk.
  const bool missing =
      std::any_of(x.data.begin(), x.data.end(), [](float v) { return std::isnan(v); });
  if (!cleaf_.empty() && !missing) {
    const size_t internal = (size_t{1} << depth_) - 1, leaves = size_t{1} << depth_;
    for (size_t t = 0; t < roots_.size(); ++t) {
      const uint32_t* feat = cfeature_.data() + t * internal;
      const float* thr = cthreshold_.data() + t * internal;
      const float* leaf = cleaf_.data() + t * leaves;
      for (size_t r = 0; r < x.rows; ++r) {
        const float* row = x.data.data() + r * x.cols;
        size_t p = 0;
        for (int d = 0; d < depth_; ++d) p = 2 * p + 1 + (row[feat[p]] >= thr[p] ? 1 : 0);
        sum[r] += leaf[p - internal];
      }
    }
    return std::vector<double>(sum.begin(), sum.end());
  }
  const Node* nodes = nodes_.data();
  for (uint32_t root : roots_) {
    for (size_t r = 0; r < x.rows; ++r) {
      const float* row = x.data.data() + r * x.cols;
      const Node* n = nodes + root;
      while (n->left >= 0) {
        const float v = row[n->feature];
        const bool go_left = std::isnan(v) ? n->default_left : v < n->value;
        n = nodes + (go_left ? n->left : n->right);
      }
      sum[r] += n->value;
    }
  }
  return std::vector<double>(sum.begin(), sum.end());
}

double Regressor::predict_one(std::span<const float> row) const {
  if (row.size() != n_features_)
    fail("regressor expects {} features, got {}", n_features_, row.size());
  // Summed in float from the base score, tree by tree, as XGBoost does.
  float sum = base_score_;
  const Node* nodes = nodes_.data();
  for (uint32_t root : roots_) {
    const Node* n = nodes + root;
    while (n->left >= 0) {
      const float v = row[n->feature];
      const bool go_left = std::isnan(v) ? n->default_left : v < n->value;
      n = nodes + (go_left ? n->left : n->right);
    }
    sum += n->value;
  }
  return sum;
}

std::vector<double> xgboost_predict(const std::string& model_json, const Matrix& x) {
  quiet_xgboost();
  Booster b;
  check(XGBoosterCreate(nullptr, 0, &b.h), "create");
  check(XGBoosterLoadModelFromBuffer(b.h, model_json.data(), model_json.size()), "load");
  check(XGBoosterSetParam(b.h, "nthread", "1"), "nthread");
  if (x.rows == 0) return {};
  const std::string array =
      fmt::format(R"({{"data": [{}, true], "shape": [{}, {}], "typestr": "<f4", "version": 3}})",
                  reinterpret_cast<uintptr_t>(x.data.data()), x.rows, x.cols);
  static const char* config =
      R"({"type": 0, "training": false, "iteration_begin": 0, "iteration_end": 0,)"
      R"( "strict_shape": false, "cache_id": 0, "missing": NaN})";
  const bst_ulong* shape = nullptr;
  bst_ulong dim = 0;
  const float* out = nullptr;
  check(XGBoosterPredictFromDense(b.h, array.c_str(), config, nullptr, &shape, &dim, &out),
        "predict");
  return std::vector<double>(out, out + x.rows);
}

}  // namespace nnjoule::predict
