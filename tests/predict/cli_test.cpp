#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "nnjoule/store/store.hpp"
#include "predict/predict_support.hpp"
#include "support/test_support.hpp"

namespace nnjoule::predict {
namespace {

using nnjoule::testing::run_cli;
using nnjoule::testing::TempDir;
using nnjoule::testing::write_text;

// The synthetic dataset stored as one device's estimated kernel rows.
void fill(const std::filesystem::path& file) {
  store::Store s(file);
  const auto run = testing::begin_kernel_run(s, "cli-host");
  const int64_t dev = run.device_id, run_id = run.run_id;
  const auto rows =
      testing::kernel_rows(testing::synthetic_dataset(60, 20), run_id, dev, run.provenance);
  s.add_kernels(rows);
  s.end_run(run_id, "complete");
}

TEST(PredictCli, TrainPredictEvaluate) {
  TempDir tmp;
  const std::string db = (tmp / "db.sqlite").string();
  fill(db);
  const std::string bundle = (tmp / "host-bundle").string();
  auto r = run_cli({"train", "--db", db, "-o", bundle, "--cv-folds", "2", "--jobs", "1"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.out.find("conv-bn-relu"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("estimated (cpu-time model)"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("wrote predictor bundle"), std::string::npos);

  r = run_cli({"predict", "--zoo", "resnet18", "--predictor", bundle});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.out.find("predicted (host-bundle)"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("trained on energy estimated (cpu-time model)"), std::string::npos);
  EXPECT_NE(r.out.find("fallback*"), std::string::npos);  // add-relu, fc, ... have no regressor

  r = run_cli({"predict", "--zoo", "resnet18", "--predictor", bundle, "--json"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const auto j = nlohmann::json::parse(r.out);
  EXPECT_EQ(j["provenance"], "predicted (host-bundle)");
  EXPECT_GT(j["total"]["energy_mj"].get<double>(), 0);
  double sum = 0;
  for (const auto& k : j["kernels"]) sum += k["energy_mj"].get<double>();
  EXPECT_NEAR(sum, j["total"]["energy_mj"].get<double>(), 1e-9 * sum);

  write_text(tmp / "k.csv",
             "name,type,HW,CIN,COUT,KERNEL_SIZE,STRIDES,POOL_STRIDES\n"
             "a,conv-bn-relu,28,32,64,3,1,\n"
             "b,maxpool,56,64,,3,,2\n");
  r = run_cli({"predict", "--predictor", bundle, "--kernels", (tmp / "k.csv").string(), "--json"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const auto k = nlohmann::json::parse(r.out);
  ASSERT_EQ(k["kernels"].size(), 2u);
  EXPECT_EQ(k["kernels"][0]["method"]["energy_mj"], "regressor");
  EXPECT_EQ(k["provenance"], "predicted (host-bundle)");

  r = run_cli({"evaluate", "--predictor", bundle, "--db", db});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.out.find("all kernels"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("estimated (cpu-time model)"), std::string::npos) << r.out;

  r = run_cli({"evaluate", "--db", db, "--kernel-cv", "--folds", "3", "--json", "--export-folds",
               (tmp / "folds.json").string()});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const auto cv = nlohmann::json::parse(r.out);
  EXPECT_TRUE(cv["kernel_cv"]["types"].contains("conv-bn-relu"));
  EXPECT_TRUE(std::filesystem::exists(tmp / "folds.json"));
}

TEST(PredictCli, BadInputIsOneLineError) {
  TempDir tmp;
  auto r = run_cli({"predict", "--zoo", "resnet18", "--predictor", (tmp / "none").string()});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.err.find("nnjoule: error: "), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("no such predictor bundle"), std::string::npos) << r.err;
  r = run_cli({"predict", "--predictor", (tmp / "none").string()});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.err.find("exactly one of"), std::string::npos) << r.err;
  const std::string db = (tmp / "db.sqlite").string();
  fill(db);
  r = run_cli({"train", "--db", db, "--device", "phone", "-o", (tmp / "b").string()});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.err.find("no device matches 'phone'"), std::string::npos) << r.err;
  write_text(tmp / "bad.csv", "type,HW,CIN,COUT\nconv-bn-relu,28,32,64\n");
  ASSERT_EQ(run_cli({"train", "--db", db, "-o", (tmp / "b").string(), "--cv-folds", "0"}).exit_code,
            0);
  r = run_cli(
      {"predict", "--predictor", (tmp / "b").string(), "--kernels", (tmp / "bad.csv").string()});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.err.find("row1"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("KERNEL_SIZE"), std::string::npos) << r.err;
}

}  // namespace
}  // namespace nnjoule::predict
