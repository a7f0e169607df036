#include "nnjoule/predict/regressor.hpp"

#include <fmt/format.h>
#include <xgboost/c_api.h>

#include <cmath>
#include <mutex>
#include <nlohmann/json.hpp>

#include "nnjoule/common/error.hpp"

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

std::string_view mode_name(Mode m) { return m == Mode::kBoosted ? "boosted" : "forest"; }

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
    p.mode = parse_mode(j.at("mode").get<std::string>());
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
                     mode_name(mode), n_estimators, max_depth, learning_rate, subsample,
                     colsample, min_child_weight, reg_lambda);
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

std::string num(double v) { return fmt::format("{:.17g}", v); }

}  // namespace

Regressor::Regressor() { quiet_xgboost(); }

Regressor::~Regressor() {
  if (handle_) XGBoosterFree(handle_);
}

Regressor::Regressor(Regressor&& o) noexcept : handle_(o.handle_) { o.handle_ = nullptr; }

Regressor& Regressor::operator=(Regressor&& o) noexcept {
  if (this != &o) {
    if (handle_) XGBoosterFree(handle_);
    handle_ = o.handle_;
    o.handle_ = nullptr;
  }
  return *this;
}

Regressor Regressor::train(const Matrix& x, std::span<const float> y, const RegressorParams& p) {
  if (x.rows == 0 || x.cols == 0) fail("cannot train a regressor on no data");
  if (y.size() != x.rows) fail("{} labels for {} rows", y.size(), x.rows);
  double mean = 0;
  for (float v : y) {
    if (!std::isfinite(v)) fail("training label is not finite");
    mean += v;
  }
  mean /= static_cast<double>(y.size());
  for (float v : x.data) {
    if (!std::isfinite(v)) fail("training feature is not finite");
  }
  Regressor r;
  DMatrix d;
  check(XGDMatrixCreateFromMat(x.data.data(), x.rows, x.cols, NAN, &d.h), "matrix");
  check(XGDMatrixSetFloatInfo(d.h, "label", y.data(), y.size()), "labels");
  BoosterHandle b = nullptr;
  check(XGBoosterCreate(&d.h, 1, &b), "create");
  r.handle_ = b;
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
  for (const auto& [k, v] : params) check(XGBoosterSetParam(b, k, v.c_str()), k);
  const int rounds = forest ? 1 : p.n_estimators;
  for (int i = 0; i < rounds; ++i) check(XGBoosterUpdateOneIter(b, i, d.h), "training");
  // Prediction is one row at a time or a small batch: threads only add overhead.
  check(XGBoosterSetParam(b, "nthread", "1"), "nthread");
  return r;
}

Regressor Regressor::from_json(std::string_view text, const std::string& source) {
  Regressor r;
  // Parsing the model twice would double the load time; cheap checks give the clear messages.
  const auto first = text.find_first_not_of(" \t\r\n");
  const auto last = text.find_last_not_of(" \t\r\n");
  if (first == std::string_view::npos || text[first] != '{') {
    fail("{}: not an XGBoost JSON model", source);
  }
  if (text[last] != '}') fail("{}: truncated or corrupt model (JSON does not end)", source);
  if (text.find("\"learner\"") == std::string_view::npos) {
    fail("{}: not an XGBoost JSON model (no learner)", source);
  }
  BoosterHandle b = nullptr;
  check(XGBoosterCreate(nullptr, 0, &b), "create");
  r.handle_ = b;
  if (XGBoosterLoadModelFromBuffer(b, text.data(), text.size()) != 0) {
    fail("{}: XGBoost cannot load the model: {}", source, last_error());
  }
  check(XGBoosterSetParam(b, "nthread", "1"), "nthread");
  return r;
}

std::string Regressor::to_json() const {
  if (!handle_) fail("regressor is empty");
  bst_ulong len = 0;
  const char* buf = nullptr;
  check(XGBoosterSaveModelToBuffer(handle_, R"({"format": "json"})", &len, &buf), "save");
  return std::string(buf, len);
}

size_t Regressor::num_features() const {
  if (!handle_) fail("regressor is empty");
  bst_ulong n = 0;
  check(XGBoosterGetNumFeature(handle_, &n), "feature count");
  return n;
}

std::vector<double> Regressor::predict(const Matrix& x) const {
  if (!handle_) fail("regressor is empty");
  if (x.rows == 0) return {};
  const size_t nf = num_features();
  if (x.cols != nf) fail("regressor expects {} features, got {}", nf, x.cols);
  const std::string array = fmt::format(
      R"({{"data": [{}, true], "shape": [{}, {}], "typestr": "<f4", "version": 3}})",
      reinterpret_cast<uintptr_t>(x.data.data()), x.rows, x.cols);
  static const char* config =
      R"({"type": 0, "training": false, "iteration_begin": 0, "iteration_end": 0,)"
      R"( "strict_shape": false, "cache_id": 0, "missing": NaN})";
  const bst_ulong* shape = nullptr;
  bst_ulong dim = 0;
  const float* out = nullptr;
  check(XGBoosterPredictFromDense(handle_, array.c_str(), config, nullptr, &shape, &dim, &out),
        "predict");
  return std::vector<double>(out, out + x.rows);
}

double Regressor::predict_one(std::span<const float> row) const {
  Matrix m(1, row.size());
  std::copy(row.begin(), row.end(), m.data.begin());
  return predict(m)[0];
}

}  // namespace nnjoule::predict
