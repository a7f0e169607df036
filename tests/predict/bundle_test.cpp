#include <gtest/gtest.h>

#include <filesystem>
#include <nlohmann/json.hpp>

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
  }
  return "";
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
  auto m = nlohmann::json::parse(read_text(dir / "predictor.json"));
  m["kernel_types"]["conv-bn-relu"]["models"]["energy_mj"]["sha"] = content_hash(pool);
  write_text(dir / "predictor.json", m.dump(2));
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
  std::string e = error_of(dir);
  EXPECT_NE(e.find("newer"), std::string::npos) << e;
  EXPECT_NE(e.find("upgrade nnjoule"), std::string::npos) << e;
  auto v = m;
  v["nnjoule_version"] = "99.0.0";
  write_text(dir / "predictor.json", v.dump(2));
  e = error_of(dir);
  EXPECT_NE(e.find("written by nnjoule 99.0.0"), std::string::npos) << e;
  auto missing = m;
  missing.erase("device");
  write_text(dir / "predictor.json", missing.dump(2));
  e = error_of(dir);
  EXPECT_NE(e.find("device"), std::string::npos) << e;
  write_text(dir / "predictor.json", R"({"format": "something-else"})");
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

}  // namespace
}  // namespace nnjoule::predict
