// The nn-Meter benchmark dataset (jsonl of IR graphs and per-device latencies) imported into a
// dataset file.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "nnjoule/common/error.hpp"
#include "nnjoule/store/importers.hpp"
#include "support/nnmeter_ir_graphs.hpp"
#include "support/test_support.hpp"

using namespace nnjoule;
using namespace nnjoule::store;
using nlohmann::json;
using nnjoule::testing::error_of;
using nnjoule::testing::TempDir;
using nnjoule::testing::tf_graph;
using ::testing::HasSubstr;

TEST(NnMeterImport, StoresModelsAndLatenciesAndReportsBadLines) {
  TempDir tmp;
  const auto file = tmp / "mobilenets.jsonl";
  const json g = tf_graph();
  std::string text;
  text += json{{"id", "m0"},
               {"graph", g},
               {"cortexA76cpu_tflite21", 12.5},
               {"adreno640gpu_tflite21", 3.25},
               {"adreno630gpu_tflite21", nullptr},
               {"myriadvpu_openvino2019r2", 7.0}}
              .dump() +
          "\n";
  text += "{this is not json\n";
  text += json{{"id", "m1"}, {"cortexA76cpu_tflite21", 1.0}}.dump() + "\n";
  json g2 = g;
  g2["fc/MatMul"]["attr"]["output_shape"] = {{1, 20}};  // another model: 20 classes
  g2["fc/BiasAdd"]["attr"]["output_shape"] = {{1, 20}};
  g2["softmax"]["attr"]["output_shape"] = {{1, 20}};
  text += json{{"id", "m2"}, {"graph", g2}, {"cortexA76cpu_tflite21", 13.0}}.dump() + "\n";
  nnjoule::testing::write_text(file, text);

  Store s(tmp / "d.db");
  const auto report = import_nnmeter(s, file);
  EXPECT_EQ(report.records, 4);
  EXPECT_EQ(report.models, 2);
  EXPECT_EQ(report.measurements, 4);
  ASSERT_EQ(report.errors.size(), 2u);
  EXPECT_THAT(report.errors[0], HasSubstr(file.string() + ":2: invalid JSON"));
  EXPECT_THAT(report.errors[1], HasSubstr(file.string() + ":3: missing key 'graph'"));
  EXPECT_EQ(report.by_device.at("cortexA76cpu_tflite21"), 2);

  const auto models = s.models();
  ASSERT_EQ(models.size(), 2u);
  EXPECT_EQ(models[0].name, "m0");
  EXPECT_EQ(models[0].family, "mobilenets");
  EXPECT_EQ(models[0].hash_kind, "nnmeter-ir");
  EXPECT_EQ(models[0].resolution, 32);
  EXPECT_EQ(models[0].kernels.size(), 15u);
  EXPECT_EQ(models[0].kernels[0].type, "conv-bn-relu6");
  EXPECT_EQ(models[1].kernels.back().type, "softmax");

  const auto rows = s.model_measurements();
  ASSERT_EQ(rows.size(), 4u);
  std::map<std::string, double> by_device;
  for (const auto& r : rows) {
    EXPECT_EQ(r.m.provenance.label(), "imported (nn-Meter)");
    EXPECT_FALSE(r.m.energy_mj.has_value());  // nn-Meter has latency only
    EXPECT_TRUE(r.kernel_latency_ms.empty());
    if (r.model_id == models[0].id) by_device[s.device(r.device_id).name] = *r.m.latency_ms;
  }
  EXPECT_DOUBLE_EQ(by_device.at("Google Pixel 4"), 12.5);
  EXPECT_DOUBLE_EQ(by_device.at("Xiaomi Mi 9"), 3.25);
  EXPECT_DOUBLE_EQ(by_device.at("Intel Movidius NCS2"), 7.0);
  EXPECT_EQ(by_device.size(), 3u);  // the null latency is no row

  // Importing again stores nothing twice.
  const auto again = import_nnmeter(s, file);
  EXPECT_EQ(again.measurements, 0);
  EXPECT_EQ(again.already_stored, 4);
  EXPECT_EQ(s.model_measurements().size(), 4u);
}

TEST(NnMeterImport, CliReportsAndFails) {
  TempDir tmp;
  const auto file = tmp / "x.jsonl";
  nnjoule::testing::write_text(
      file, json{{"id", "a"}, {"graph", tf_graph()}, {"cortexA76cpu_tflite21", 2.0}}.dump() + "\n" +
                json{{"id", "b"}, {"graph", 5}}.dump() + "\n");
  const auto r = nnjoule::testing::run_cli(
      {"import", "nnmeter", file.string(), "--db", (tmp / "d.db").string()});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_THAT(r.out, HasSubstr("1 latency rows stored"));
  EXPECT_THAT(r.err, HasSubstr("nnjoule: error: " + file.string() +
                               ":2: graph: the graph must be an object"));
  const auto missing = nnjoule::testing::run_cli(
      {"import", "nnmeter", (tmp / "none.jsonl").string(), "--db", (tmp / "d.db").string()});
  EXPECT_EQ(missing.exit_code, 1);
  EXPECT_THAT(missing.err, HasSubstr("none.jsonl: no such file"));
}
