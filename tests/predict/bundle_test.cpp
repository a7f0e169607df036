#include <gtest/gtest.h>

#include <openssl/evp.h>

#include <cmath>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <regex>

#include "nnjoule/common/error.hpp"
#include "nnjoule/common/io.hpp"
#include "nnjoule/predict/bundle.hpp"
#include "nnjoule/version.hpp"
#include "predict/predict_support.hpp"
#include "support/test_support.hpp"

namespace nnjoule::predict {
namespace {

namespace fs = std::filesystem;
using nnjoule::testing::read_text;
using nnjoule::testing::TempDir;
using nnjoule::testing::write_text;

TrainOptions fast_options() {
  TrainOptions o;
  o.cv_folds = 3;
  o.jobs = 1;
  RegressorParams p;
  p.n_estimators = 60;
  p.max_depth = 4;
  p.learning_rate = 0.2;
  o.overrides["conv-bn-relu"] = p;
  o.overrides["maxpool"] = p;
  return o;
}

const Predictor& trained() {
  static const Predictor p = Predictor::train(testing::synthetic_dataset(), fast_options(),
                                              kernels::FusionRules::xnnpack_default(), "unit");
  return p;
}

std::string error_of(const fs::path& dir) {
  try {
    Predictor::load(dir);
  } catch (const Error& e) {
    return e.what();
  } catch (const std::exception& e) {
    return std::string("not an nnjoule::Error: ") + e.what();
  }
  return "";
}

// Replaces the first match of `pattern` in `file`; false when there is none.
bool replace_first(const fs::path& file, const std::string& pattern, const std::string& with) {
  const std::string text = read_text(file);
  const std::regex re(pattern);
  if (!std::regex_search(text, re)) return false;
  write_text(file, std::regex_replace(text, re, with, std::regex_constants::format_first_only));
  return true;
}

std::string sha256(const std::string& data) {
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int n = 0;
  EXPECT_EQ(EVP_Digest(data.data(), data.size(), md, &n, EVP_sha256(), nullptr), 1);
  std::string hex;
  for (unsigned int i = 0; i < n; ++i) hex += fmt::format("{:02x}", md[i]);
  return hex;
}

// Records the current content of every file in the bundle's hashes, as someone editing a
// bundle by hand and fixing its manifest would: the content checks then pass and only the
// checks of the values themselves stand between the edit and a prediction.
void rehash(const fs::path& dir) {
  const fs::path mf = dir / "manifest.json";
  if (!fs::exists(mf)) return;
  auto m = nlohmann::json::parse(read_text(mf));
  for (auto& [name, entry] : m["files"].items()) {
    const std::string text = read_text(dir / name);
    entry["sha256"] = sha256(text);
    entry["bytes"] = text.size();
  }
  write_text(mf, m.dump(2));
}

// The same for a model file's hash in predictor.json, where bundles of the first format kept it.
void rehash_model(const fs::path& dir, const std::string& type, const std::string& target) {
  auto m = nlohmann::json::parse(read_text(dir / "predictor.json"));
  auto& entry = m["kernel_types"][type]["models"][target];
  if (entry.contains("sha")) {
    entry["sha"] = content_hash(read_text(dir / entry["file"].get<std::string>()));
    write_text(dir / "predictor.json", m.dump(2));
  }
  rehash(dir);
}

bool one_line(const std::string& e) {
  return !e.empty() && e.find('\n') == std::string::npos;
}

TEST(Bundle, RoundTripKeepsEverything) {
  TempDir tmp;
  const fs::path dir = tmp / "unit";
  trained().save(dir);
  EXPECT_TRUE(fs::exists(dir / "predictor.json"));
  EXPECT_TRUE(fs::exists(dir / "conv-bn-relu.energy_mj.json"));
  EXPECT_TRUE(fs::exists(dir / "maxpool.power_mw.json"));
  const Predictor back = Predictor::load(dir);
  EXPECT_EQ(back.name(), "unit");
  EXPECT_EQ(back.info().device.name, "test-device");
  EXPECT_EQ(back.info().device.runtime, "xnnpack");
  EXPECT_EQ(back.info().nnjoule_version, kVersion);
  EXPECT_EQ(back.info().training.rows, 150u);
  EXPECT_EQ(back.info().training.hash, testing::synthetic_dataset().hash());
  EXPECT_EQ(back.info().training.rows_by_type.at("conv-bn-relu"), 120u);
  EXPECT_EQ(back.info().training.energy_origin, "estimated (synthetic)");
  EXPECT_EQ(back.regressors().size(), 6u);  // 2 types x 3 targets
  for (const auto& r : back.regressors()) {
    ASSERT_TRUE(r.cv.has_value()) << r.type;
    EXPECT_GT(r.cv->n, 0u);
  }
  EXPECT_EQ(back.manifest(), trained().manifest());
  EXPECT_EQ(back.fusion_rules().rules(), trained().fusion_rules().rules());
  const KernelInput in[] = {
      {"a",
       "conv-bn-relu",
       {{"HW", 28}, {"CIN", 32}, {"COUT", 64}, {"KERNEL_SIZE", 3}, {"STRIDES", 1}},
       {},
       {}},
      {"b", "maxpool", {{"HW", 56}, {"CIN", 64}, {"KERNEL_SIZE", 3}, {"POOL_STRIDES", 2}}, {}, {}}};
  const auto p1 = trained().predict_kernels(in);
  const auto p2 = back.predict_kernels(in);
  for (size_t i = 0; i < 2; ++i) {
    EXPECT_EQ(p1[i].predicted.energy_mj, p2[i].predicted.energy_mj);
    EXPECT_EQ(p1[i].predicted.latency_ms, p2[i].predicted.latency_ms);
    EXPECT_EQ(p1[i].predicted.power_mw, p2[i].predicted.power_mw);
  }
  // Saving again over the bundle replaces it whole.
  back.save(dir);
  EXPECT_EQ(Predictor::load(dir).manifest(), back.manifest());
}

TEST(Bundle, TruncatedManifestIsRefused) {
  TempDir tmp;
  const fs::path dir = tmp / "b";
  trained().save(dir);
  const std::string m = read_text(dir / "predictor.json");
  write_text(dir / "predictor.json", m.substr(0, m.size() / 2));
  const std::string e = error_of(dir);
  EXPECT_NE(e.find("predictor.json"), std::string::npos) << e;
  EXPECT_NE(e.find("truncated"), std::string::npos) << e;
}

TEST(Bundle, MissingModelFileIsRefused) {
  TempDir tmp;
  const fs::path dir = tmp / "b";
  trained().save(dir);
  fs::remove(dir / "maxpool.latency_ms.json");
  const std::string e = error_of(dir);
  EXPECT_NE(e.find("maxpool.latency_ms.json: missing"), std::string::npos) << e;
}

TEST(Bundle, ChangedOrTruncatedModelFileIsRefused) {
  TempDir tmp;
  const fs::path dir = tmp / "b";
  trained().save(dir);
  const std::string m = read_text(dir / "conv-bn-relu.energy_mj.json");
  write_text(dir / "conv-bn-relu.energy_mj.json", m.substr(0, m.size() - 10));
  const std::string e = error_of(dir);
  EXPECT_NE(e.find("conv-bn-relu.energy_mj.json"), std::string::npos) << e;
  EXPECT_NE(e.find("does not match"), std::string::npos) << e;
}

TEST(Bundle, WrongFeatureCountIsRefused) {
  TempDir tmp;
  const fs::path dir = tmp / "b";
  trained().save(dir);
  // A maxpool model (8 features) in place of a conv model (10), with a matching hash.
  const std::string pool = read_text(dir / "maxpool.energy_mj.json");
  write_text(dir / "conv-bn-relu.energy_mj.json", pool);
  rehash_model(dir, "conv-bn-relu", "energy_mj");
  const std::string e = error_of(dir);
  EXPECT_NE(e.find("model has 8 features"), std::string::npos) << e;
  EXPECT_NE(e.find("10"), std::string::npos) << e;
}

TEST(Bundle, FeatureListFromAnotherVersionIsRefused) {
  TempDir tmp;
  const fs::path dir = tmp / "b";
  trained().save(dir);
  auto m = nlohmann::json::parse(read_text(dir / "predictor.json"));
  m["kernel_types"]["maxpool"]["features"].push_back("NEW_FEATURE");
  write_text(dir / "predictor.json", m.dump(2));
  rehash(dir);
  const std::string e = error_of(dir);
  EXPECT_NE(e.find("incompatible"), std::string::npos) << e;
}

TEST(Bundle, VersionsFromTheFutureAreRefused) {
  TempDir tmp;
  const fs::path dir = tmp / "b";
  trained().save(dir);
  const auto m = nlohmann::json::parse(read_text(dir / "predictor.json"));
  auto f = m;
  f["format_version"] = kBundleFormatVersion + 1;
  write_text(dir / "predictor.json", f.dump(2));
  rehash(dir);
  std::string e = error_of(dir);
  EXPECT_NE(e.find("newer"), std::string::npos) << e;
  EXPECT_NE(e.find("upgrade nnjoule"), std::string::npos) << e;
  auto v = m;
  v["nnjoule_version"] = "99.0.0";
  write_text(dir / "predictor.json", v.dump(2));
  rehash(dir);
  e = error_of(dir);
  EXPECT_NE(e.find("written by nnjoule 99.0.0"), std::string::npos) << e;
  auto missing = m;
  missing.erase("device");
  write_text(dir / "predictor.json", missing.dump(2));
  rehash(dir);
  e = error_of(dir);
  EXPECT_NE(e.find("device"), std::string::npos) << e;
  write_text(dir / "predictor.json", R"({"format": "something-else"})");
  rehash(dir);
  e = error_of(dir);
  EXPECT_NE(e.find("not a predictor bundle"), std::string::npos) << e;
  EXPECT_NE(error_of(tmp / "nowhere").find("no such predictor bundle"), std::string::npos);
}

TEST(Bundle, LazyLoadingParsesModelsOnFirstUseAndStillChecksThem) {
  TempDir tmp;
  const fs::path dir = tmp / "b";
  trained().save(dir);
  const Predictor lazy = Predictor::load(dir, Predictor::Load::kLazy);
  for (const auto& r : lazy.regressors()) EXPECT_FALSE(r.model->loaded()) << r.file;
  const KernelInput pool[] = {
      {"p", "maxpool", {{"HW", 56}, {"CIN", 64}, {"KERNEL_SIZE", 3}, {"POOL_STRIDES", 2}}, {}, {}}};
  const auto a = lazy.predict_kernels(pool);
  EXPECT_EQ(a[0].predicted.energy_mj, trained().predict_kernels(pool)[0].predicted.energy_mj);
  for (const auto& r : lazy.regressors()) EXPECT_EQ(r.model->loaded(), r.type == "maxpool");
  // A model file changed after loading is refused when it is first needed.
  write_text(dir / "conv-bn-relu.energy_mj.json", "{}");
  const KernelInput conv[] = {
      {"c",
       "conv-bn-relu",
       {{"HW", 28}, {"CIN", 32}, {"COUT", 64}, {"KERNEL_SIZE", 3}, {"STRIDES", 1}},
       {},
       {}}};
  try {
    lazy.predict_kernels(conv);
    FAIL();
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("conv-bn-relu.energy_mj.json: changed"), std::string::npos)
        << e.what();
  }
}

TEST(Bundle, SaveRefusesToOverwriteOtherDirectories) {
  TempDir tmp;
  const fs::path dir = tmp / "data";
  fs::create_directories(dir);
  write_text(dir / "precious.txt", "keep me");
  EXPECT_THROW(trained().save(dir), Error);
  EXPECT_EQ(read_text(dir / "precious.txt"), "keep me");
  write_text(tmp / "file", "x");
  EXPECT_THROW(trained().save(tmp / "file"), Error);
  // No temporary directories are left behind.
  size_t entries = 0;
  for ([[maybe_unused]] const auto& e : fs::directory_iterator(tmp.path())) ++entries;
  EXPECT_EQ(entries, 2u);
}

TEST(Bundle, ManifestListsEveryFileWithItsSha256AndTheVersion) {
  TempDir tmp;
  const fs::path dir = tmp / "unit";
  trained().save(dir);
  ASSERT_TRUE(fs::exists(dir / "manifest.json"));
  const auto m = nlohmann::json::parse(read_text(dir / "manifest.json"));
  EXPECT_EQ(m["nnjoule_version"], kVersion);
  EXPECT_EQ(m["algorithm"], "sha256");
  size_t files = 0;
  for (const auto& e : fs::directory_iterator(dir)) {
    const std::string name = e.path().filename().string();
    if (name == "manifest.json") continue;
    ++files;
    ASSERT_TRUE(m["files"].contains(name)) << name;
    const std::string text = read_text(e.path());
    EXPECT_EQ(m["files"][name]["sha256"], sha256(text)) << name;
    EXPECT_EQ(m["files"][name]["bytes"], text.size()) << name;
  }
  EXPECT_EQ(files, 7u);  // predictor.json and 2 types x 3 targets
  EXPECT_EQ(m["files"].size(), files);
}

TEST(Bundle, EditedFilesAreRefusedNamingTheFile) {
  TempDir tmp;
  const fs::path dir = tmp / "b";
  trained().save(dir);
  const std::string m = read_text(dir / "predictor.json");
  const std::string log = R"("target_transform": "log")";
  ASSERT_NE(m.find(log), std::string::npos);
  std::string edited = m;
  edited.replace(m.find(log), log.size(), R"("target_transform": "none")");
  write_text(dir / "predictor.json", edited);
  std::string e = error_of(dir);
  EXPECT_NE(e.find("predictor.json"), std::string::npos) << e;
  EXPECT_NE(e.find("SHA-256"), std::string::npos) << e;
  EXPECT_NE(e.find("manifest.json"), std::string::npos) << e;
  EXPECT_TRUE(one_line(e)) << e;
  write_text(dir / "predictor.json", m);
  EXPECT_EQ(error_of(dir), "");
  // One byte more in a model file, loaded lazily or not.
  const std::string pool = read_text(dir / "maxpool.power_mw.json");
  write_text(dir / "maxpool.power_mw.json", pool + " ");
  e = error_of(dir);
  EXPECT_NE(e.find("maxpool.power_mw.json"), std::string::npos) << e;
  EXPECT_NE(e.find("SHA-256"), std::string::npos) << e;
  EXPECT_THROW(Predictor::load(dir, Predictor::Load::kLazy), Error);
}

TEST(Bundle, MissingManifestAndUnlistedFilesAreRefused) {
  TempDir tmp;
  const fs::path dir = tmp / "b";
  trained().save(dir);
  const std::string manifest = read_text(dir / "manifest.json");
  fs::remove(dir / "manifest.json");
  std::string e = error_of(dir);
  EXPECT_NE(e.find("manifest.json"), std::string::npos) << e;
  EXPECT_NE(e.find("missing"), std::string::npos) << e;
  EXPECT_TRUE(one_line(e)) << e;
  write_text(dir / "manifest.json", manifest);
  EXPECT_EQ(error_of(dir), "");
  // A file the manifest does not list, added to the bundle.
  write_text(dir / "relu.energy_mj.json", "{}");
  e = error_of(dir);
  EXPECT_NE(e.find("relu.energy_mj.json"), std::string::npos) << e;
  EXPECT_NE(e.find("not listed in manifest.json"), std::string::npos) << e;
  fs::remove(dir / "relu.energy_mj.json");
  // A model file predictor.json names, left out of the manifest.
  auto m = nlohmann::json::parse(manifest);
  m["files"].erase("maxpool.energy_mj.json");
  write_text(dir / "manifest.json", m.dump(2));
  e = error_of(dir);
  EXPECT_NE(e.find("maxpool.energy_mj.json"), std::string::npos) << e;
  EXPECT_NE(e.find("not listed in manifest.json"), std::string::npos) << e;
  // A manifest entry that points outside the bundle.
  m = nlohmann::json::parse(manifest);
  m["files"]["../elsewhere.json"] = {{"sha256", sha256("")}, {"bytes", 0}};
  write_text(dir / "manifest.json", m.dump(2));
  e = error_of(dir);
  EXPECT_NE(e.find("../elsewhere.json"), std::string::npos) << e;
  EXPECT_TRUE(one_line(e)) << e;
}

TEST(Bundle, BundlesOfTheFirstFormatAreRefusedWithAdviceToRetrain) {
  TempDir tmp;
  const fs::path dir = tmp / "b";
  trained().save(dir);
  auto m = nlohmann::json::parse(read_text(dir / "predictor.json"));
  m["format_version"] = 1;
  write_text(dir / "predictor.json", m.dump(2));
  fs::remove(dir / "manifest.json");
  const std::string e = error_of(dir);
  EXPECT_NE(e.find("format 1"), std::string::npos) << e;
  EXPECT_NE(e.find("nnjoule train"), std::string::npos) << e;
  EXPECT_TRUE(one_line(e)) << e;
}

TEST(Bundle, NumbersOutOfRangeAreOneLineErrorsNamingFileAndField) {
  TempDir tmp;
  const fs::path dir = tmp / "b";
  trained().save(dir);
  ASSERT_TRUE(replace_first(dir / "predictor.json", R"("energy_mj_per_mflop": [-0-9.eE+]+)",
                            R"("energy_mj_per_mflop": 1e999)"));
  rehash(dir);
  const std::string e = error_of(dir);
  EXPECT_NE(e.find("predictor.json"), std::string::npos) << e;
  EXPECT_NE(e.find("energy_mj_per_mflop"), std::string::npos) << e;
  EXPECT_NE(e.find("1e999"), std::string::npos) << e;
  EXPECT_TRUE(one_line(e)) << e;
  EXPECT_EQ(e.find("not an nnjoule::Error"), std::string::npos) << e;
}

TEST(Bundle, AbsurdValuesAreRefusedEvenWhenTheHashesMatch) {
  using nlohmann::json;
  struct Case {
    std::string pointer;
    json value;
    std::string named;  // in the error
  };
  const std::vector<Case> cases = {
      {"/fallback_rates/all/energy_mj_per_mflop", -0.5, "fallback_rates.all.energy_mj_per_mflop"},
      {"/fallback_rates/pool/power_mw", 0, "fallback_rates.pool.power_mw"},
      {"/fallback_rates/all/rows", -3, "fallback_rates.all.rows"},
      {"/target_transform", "exp", "target_transform"},
      {"/device/threads", 0, "device.threads"},
      {"/training/rows", -3, "training.rows"},
      {"/kernel_types/maxpool/models/latency_ms/rows", "many", "models.latency_ms.rows"},
      {"/kernel_types/conv-bn-relu/models/energy_mj/work_base/per_mb", -1, "work_base"},
      {"/kernel_types/conv-bn-relu/models/energy_mj/work_base/floor", 0, "work_base"},
      {"/kernel_types/conv-bn-relu/models/energy_mj/cv/rmse", "x", "cv.rmse"},
      {"/kernel_types/conv-bn-relu/feature_ranges/HW", json::array({56, 7}), "feature_ranges"},
      {"/kernel_types/conv-bn-relu/feature_ranges/HW", json::array({7}), "feature_ranges"},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(c.pointer);
    TempDir tmp;
    const fs::path dir = tmp / "b";
    trained().save(dir);
    auto m = json::parse(read_text(dir / "predictor.json"));
    m[json::json_pointer(c.pointer)] = c.value;
    write_text(dir / "predictor.json", m.dump(2));
    rehash(dir);
    const std::string e = error_of(dir);
    EXPECT_NE(e.find("predictor.json"), std::string::npos) << e;
    EXPECT_NE(e.find(c.named), std::string::npos) << e;
    EXPECT_TRUE(one_line(e)) << e;
  }
}

TEST(Bundle, ModelFilesWithNumbersOutOfRangeAreOneLineErrorsNamingTheFile) {
  TempDir tmp;
  const fs::path dir = tmp / "b";
  trained().save(dir);
  ASSERT_TRUE(replace_first(dir / "maxpool.energy_mj.json", R"("split_conditions":\[[-0-9.eE+]+)",
                            R"("split_conditions":[1e999)"));
  rehash_model(dir, "maxpool", "energy_mj");
  const std::string e = error_of(dir);
  EXPECT_NE(e.find("maxpool.energy_mj.json"), std::string::npos) << e;
  EXPECT_NE(e.find("1e999"), std::string::npos) << e;
  EXPECT_TRUE(one_line(e)) << e;
}

TEST(Bundle, PredictionsThatAreNotPositiveAndFiniteAreNeverReported) {
  TempDir tmp;
  const fs::path dir = tmp / "b";
  trained().save(dir);
  // A model whose base score makes exp() overflow: the energy it predicts is infinite.
  ASSERT_TRUE(replace_first(dir / "conv-bn-relu.energy_mj.json", R"("base_score":"[^"]*")",
                            R"("base_score":"1E30")"));
  rehash_model(dir, "conv-bn-relu", "energy_mj");
  const Predictor p = Predictor::load(dir);
  const KernelInput in[] = {
      {"c",
       "conv-bn-relu",
       {{"HW", 28}, {"CIN", 32}, {"COUT", 64}, {"KERNEL_SIZE", 3}, {"STRIDES", 1}},
       {},
       {}}};
  const auto out = p.predict_kernels(in);
  EXPECT_FALSE(out[0].predicted.energy_mj.has_value()) << *out[0].predicted.energy_mj;
  EXPECT_NE(out[0].method.at(Target::kEnergy).find("conv-bn-relu.energy_mj.json"),
            std::string::npos)
      << out[0].method.at(Target::kEnergy);
  EXPECT_TRUE(out[0].predicted.latency_ms.has_value());
  // The table shows n/a; the note below it says why.
  const std::string text = render_kernel_predictions(p, out);
  const std::string table = text.substr(0, text.find("\n!"));
  EXPECT_EQ(table.find("inf"), std::string::npos) << text;
  EXPECT_NE(table.find("n/a"), std::string::npos) << text;
  EXPECT_NE(text.find("conv-bn-relu.energy_mj.json gave inf"), std::string::npos) << text;
}

// Every value of predictor.json replaced by another type, a negative, zero or a huge number,
// with the manifest fixed to match: the bundle is refused with one line naming predictor.json,
// or it loads and predicts nothing but positive finite numbers (or leaves a target out).
TEST(Bundle, AnyEditedValueIsRefusedOrHarmless) {
  using nlohmann::json;
  TempDir tmp;
  const fs::path dir = tmp / "b";
  trained().save(dir);
  const json original = json::parse(read_text(dir / "predictor.json"));
  std::vector<std::string> leaves;
  const json flat = original.flatten();
  for (const auto& [pointer, value] : flat.items()) leaves.push_back(pointer);
  ASSERT_GT(leaves.size(), 100u);
  const KernelInput in[] = {
      {"c",
       "conv-bn-relu",
       {{"HW", 28}, {"CIN", 32}, {"COUT", 64}, {"KERNEL_SIZE", 3}, {"STRIDES", 1}},
       {},
       {}},
      {"g", "global-avgpool", {{"HW", 7}, {"CIN", 64}}, {}, {}}};
  size_t refused = 0, loaded = 0;
  for (const auto& pointer : leaves) {
    for (const json& v : {json(nullptr), json("x"), json(-1), json(0), json(1e308)}) {
      json m = original;
      m[json::json_pointer(pointer)] = v;
      write_text(dir / "predictor.json", m.dump(2));
      rehash(dir);
      try {
        const Predictor p = Predictor::load(dir, Predictor::Load::kLazy);
        ++loaded;
        for (const auto& k : p.predict_kernels(in)) {
          for (Target t : kAllTargets) {
            const auto y = k.predicted.get(t);
            if (y) {
              EXPECT_TRUE(std::isfinite(*y) && *y > 0) << pointer << " = " << v << ": " << *y;
            }
          }
        }
      } catch (const Error& e) {
        ++refused;
        const std::string msg = e.what();
        EXPECT_TRUE(one_line(msg)) << pointer << " = " << v << ": " << msg;
        EXPECT_NE(msg.find("predictor.json"), std::string::npos) << pointer << ": " << msg;
      }
    }
  }
  EXPECT_GT(refused, loaded / 4);  // most edits are refused; names and CV figures may change
}

}  // namespace
}  // namespace nnjoule::predict
