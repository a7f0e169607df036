#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "nnjoule/graph/builder.hpp"
#include "nnjoule/graph/onnx.hpp"
#include "nnjoule/store/store.hpp"
#include "nnjoule/zoo/zoo.hpp"
#include "predict/predict_support.hpp"
#include "support/test_support.hpp"

namespace nnjoule::predict {
namespace {

using nnjoule::testing::run_cli;
using nnjoule::testing::TempDir;
using nnjoule::testing::write_text;

// The synthetic dataset stored as one device's estimated kernel rows.
void fill(const std::filesystem::path& file, bool with_concat = false) {
  store::Store s(file);
  const auto run = testing::begin_kernel_run(s, "cli-host");
  const int64_t dev = run.device_id, run_id = run.run_id;
  KernelDataset ds = testing::synthetic_dataset(60, 20);
  if (with_concat) {
    for (auto& k : testing::concat_samples(40)) ds.samples.push_back(std::move(k));
  }
  const auto rows = testing::kernel_rows(ds, run_id, dev, run.provenance);
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

  // A variant as collect models measured it (resolution drawn) and at the default side.
  for (const bool sampled : {false, true}) {
    std::vector<std::string> args = {"predict", "--zoo", "mobilenetv2", "--variant", "1",
                                     "--seed",  "0",     "--predictor", bundle,      "--json"};
    if (sampled) args.push_back("--sample-resolution");
    const auto v = run_cli(args);
    ASSERT_EQ(v.exit_code, 0) << v.err;
    const auto side = zoo::resolved_resolution(
        {.family = "mobilenetv2", .variant = 1, .sample_resolution = sampled});
    EXPECT_EQ(nlohmann::json::parse(v.out)["kernels"][0]["config"]["HW"], side) << v.out;
  }

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

// A model as PyTorch exports DenseNet: a Concat of one input and a Concat of six.
TEST(PredictCli, ConcatOfOneAndOfManyInputsFromOnnx) {
  TempDir tmp;
  const std::string db = (tmp / "db.sqlite").string();
  fill(db, true);
  const std::string bundle = (tmp / "b").string();
  auto r = run_cli({"train", "--db", db, "-o", bundle, "--cv-folds", "0", "--jobs", "1"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  graph::GraphBuilder b("concats", 5);
  const std::string x = b.input("input", {1, 16, 14, 14});
  const std::string a = b.relu(b.bn(b.conv(x, 16, 3, 1)));
  const std::string one = b.concat({a});
  std::vector<std::string> branches = {one};
  for (int i = 0; i < 5; ++i) branches.push_back(b.relu(b.bn(b.conv(one, 16, 1, 1))));
  const std::string six = b.concat(branches);
  graph::save_onnx(b.finish({b.relu(b.bn(b.conv(six, 16, 1, 1)))}), tmp / "concats.onnx");
  const std::string model = (tmp / "concats.onnx").string();
  r = run_cli({"predict", model, "--predictor", bundle, "--json"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const auto j = nlohmann::json::parse(r.out);
  std::vector<nlohmann::json> concats;
  for (const auto& k : j["kernels"])
    if (k["type"] == "concat") concats.push_back(k);
  ASSERT_EQ(concats.size(), 2u) << r.out;
  EXPECT_EQ(concats[0]["config"]["NS"], 1);
  EXPECT_EQ(concats[1]["config"]["NS"], 6);
  for (const auto& k : concats) {
    EXPECT_EQ(k["method"]["energy_mj"], "regressor") << k.dump();
    EXPECT_GT(k["energy_mj"].get<double>(), 0) << k.dump();
  }
  EXPECT_TRUE(j.contains("extrapolated_kernels")) << r.out;
  r = run_cli({"predict", model, "--predictor", bundle});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.out.find("concat"), std::string::npos) << r.out;
}

TEST(PredictCli, KernelsFarOutsideTheTrainingDataAreFlagged) {
  TempDir tmp;
  const std::string db = (tmp / "db.sqlite").string();
  fill(db);
  const std::string bundle = (tmp / "b").string();
  ASSERT_EQ(
      run_cli({"train", "--db", db, "-o", bundle, "--cv-folds", "0", "--jobs", "1"}).exit_code, 0);
  write_text(tmp / "k.csv",
             "name,type,HW,CIN,COUT,KERNEL_SIZE,STRIDES\n"
             "usual,conv-bn-relu,28,32,64,3,1\n"
             "huge,conv-bn-relu,100000,32,64,3,1\n");
  const std::string csv = (tmp / "k.csv").string();
  auto r = run_cli({"predict", "--predictor", bundle, "--kernels", csv});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.out.find("extrapolated"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("HW=100000"), std::string::npos) << r.out;
  r = run_cli({"predict", "--predictor", bundle, "--kernels", csv, "--json"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const auto j = nlohmann::json::parse(r.out);
  EXPECT_FALSE(j["kernels"][0].value("extrapolated", true));
  EXPECT_TRUE(j["kernels"][1].value("extrapolated", false));
  EXPECT_EQ(j.value("extrapolated_kernels", -1), 1);
}

TEST(PredictCli, EditedBundleIsOneErrorLine) {
  TempDir tmp;
  const std::string db = (tmp / "db.sqlite").string();
  fill(db);
  const std::string bundle = (tmp / "b").string();
  ASSERT_EQ(
      run_cli({"train", "--db", db, "-o", bundle, "--cv-folds", "0", "--jobs", "1"}).exit_code, 0);
  const auto file = std::filesystem::path(bundle) / "predictor.json";
  std::string m = nnjoule::testing::read_text(file);
  const std::string key = "\"rows\": ";
  const size_t at = m.find(key);
  ASSERT_NE(at, std::string::npos);
  m.insert(at + key.size(), "1e999, \"was\": ");
  write_text(file, m);
  const auto r = run_cli({"predict", "--zoo", "resnet18", "--predictor", bundle});
  EXPECT_TRUE(nnjoule::testing::one_error_line(r, "predictor.json")) << r.err;
  EXPECT_EQ(r.err.find("internal error"), std::string::npos) << r.err;
}

}  // namespace
}  // namespace nnjoule::predict
