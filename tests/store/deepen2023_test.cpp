// DeepEn2023 import: exact counts and values against the shared copy of the release, and bad
// inputs against small releases written here.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cmath>

#include "nnjoule/common/error.hpp"
#include "nnjoule/store/importers.hpp"
#include "support/test_support.hpp"

using namespace nnjoule;
using namespace nnjoule::store;
using nnjoule::testing::TempDir;
using nnjoule::testing::write_text;
using ::testing::HasSubstr;
using ::testing::Not;
namespace fs = std::filesystem;

namespace {

fs::path release() {
  const fs::path d = nnjoule::testing::shared_data();
  if (d.empty() || !fs::is_directory(d / "deepen2023")) return {};
  return d / "deepen2023";
}

#define REQUIRE_RELEASE()                                                            \
  if (release().empty()) {                                                           \
    GTEST_SKIP() << "DeepEn2023 release not found (../shared/data/deepen2023); set " \
                    "NNJOULE_TEST_DATA to run the import tests against it";          \
  }

const KernelRow& by_id(const std::vector<KernelRow>& rows, const std::string& type,
                       const std::string& id) {
  for (const auto& r : rows)
    if (r.kernel_type == type && r.source_id == id) return r;
  throw std::runtime_error("no row " + type + " " + id);
}

// A tiny release in DeepEn2023's layout.
void write_release(const fs::path& dir) {
  fs::create_directories(dir / "Kernel_energy");
  fs::create_directories(dir / "Kernel_power");
  fs::create_directories(dir / "Kernel_latency");
  fs::create_directories(dir / "kernel_config" / "FC");
  fs::create_directories(dir / "kernel_config" / "Relu");
  write_text(dir / "Kernel_energy" / "fc_energy.json",
             R"({"fc": {"A1": {"energy": "2.000"}, "A2": {"energy": "1.000"}}})");
  write_text(dir / "Kernel_power" / "fc_power.json",
             R"({"fc": {"A1": {"power": "2000.0"}, "A2": {"power": "1000.0"}}})");
  write_text(dir / "Kernel_latency" / "fc_latency.json",
             R"({"fc": {"A1": {"latency": "1.000"}, "A2": {"latency": "1.000"}}})");
  write_text(dir / "Kernel_energy" / "relu_energy.json", R"({"relu": {"B1": {"energy": "0.5"}}})");
  write_text(dir / "Kernel_power" / "relu_power.json", R"({"relu": {"B1": {"power": "1000"}}})");
  write_text(dir / "Kernel_latency" / "relu_latency.json",
             R"({"relu": {"B1": {"latency": "0.5"}}})");
  write_text(dir / "kernel_config" / "FC" / "fc_test.json",
             R"({"fc": {"A1": {"shapes": [[1280]], "config": {"CIN": 1280, "COUT": 1000}}}})");
  write_text(dir / "kernel_config" / "Relu" / "relu_test.json",
             R"({"relu": {"B1": {"shapes": [[7, 7, 32]], "config": {"HW": 7, "CIN": 32}}}})");
}

}  // namespace

TEST(DeepEn2023, ImportsEveryMeasuredIdWithExactCounts) {
  REQUIRE_RELEASE();
  TempDir tmp;
  Store s(tmp / "d.db");
  const auto report = import_deepen2023(s, release());
  EXPECT_TRUE(report.errors.empty()) << report.errors.front();
  EXPECT_EQ(report.rows, 1446);
  EXPECT_EQ(report.with_config, 734);
  EXPECT_EQ(report.without_config, 712);
  EXPECT_EQ(report.stored, 1446);
  EXPECT_EQ(report.flagged, 41);
  EXPECT_TRUE(report.incomplete.empty());
  EXPECT_TRUE(report.unfeatured.empty()) << report.unfeatured.front();
  // rows / with config, per type, as the release has them (names in nnjoule's spelling).
  const std::map<std::string, std::pair<int64_t, int64_t>> expected = {
      {"add", {24, 14}},      {"add-relu", {14, 14}},       {"avgpool", {28, 28}},
      {"bn", {14, 14}},       {"bn-relu", {100, 100}},      {"channelshuffle", {14, 14}},
      {"concat", {142, 100}}, {"conv-bn-relu", {720, 299}}, {"dwconv-bn-relu", {242, 50}},
      {"fc", {24, 9}},        {"global-avgpool", {8, 8}},   {"hswish", {14, 14}},
      {"maxpool", {28, 28}},  {"relu", {46, 14}},           {"se", {14, 14}},
      {"split", {14, 14}}};
  ASSERT_EQ(report.by_type.size(), expected.size());
  for (const auto& [type, counts] : expected) {
    EXPECT_EQ(report.by_type.at(type).rows, counts.first) << type;
    EXPECT_EQ(report.by_type.at(type).with_config, counts.second) << type;
  }
  EXPECT_EQ(report.unmeasured_configs.at("conv-bn-relu6"), 9);

  const auto rows = s.kernels();
  ASSERT_EQ(rows.size(), 1446u);
  const Device d = s.device(rows[0].device_id);
  EXPECT_EQ(d.name, "Huawei P40 Pro");
  EXPECT_EQ(d.soc, "Kirin 990 5G");
  EXPECT_EQ(d.cpu, "Cortex-A76");
  EXPECT_EQ(s.runs().at(0).provenance.label(), "imported (DeepEn2023)");

  int64_t conv_with_config = 0, clean = 0;
  for (const auto& r : rows) {
    EXPECT_EQ(r.m.provenance.label(), "imported (DeepEn2023)");
    EXPECT_EQ(r.threads, 1);
    ASSERT_TRUE(r.m.energy_mj && r.m.power_mw && r.m.latency_ms);
    if (r.m.flags.empty()) {
      // energy (mJ) = power (mW) x latency (ms) / 1000, within the release's 3-decimal rounding.
      EXPECT_NEAR(*r.m.energy_mj, *r.m.power_mw * *r.m.latency_ms / 1000.0, 0.00051)
          << r.kernel_type << " " << r.source_id;
      ++clean;
    }
    if (r.kernel_type == "conv-bn-relu" && r.config) {
      ++conv_with_config;
      for (const char* key : {"HW", "CIN", "COUT", "KERNEL_SIZE", "STRIDES"})
        EXPECT_GT(r.config->get(key), 0) << r.source_id;
      EXPECT_EQ(r.config->items().size(), 5u);
      ASSERT_TRUE(r.flops.has_value());
      const auto& c = *r.config;
      // 2 x MACs of the conv (same padding) plus batch-norm and ReLU, per output value.
      const int64_t hout = (c.get("HW") + c.get("STRIDES") - 1) / c.get("STRIDES");
      EXPECT_GE(*r.flops, 2.0 * hout * hout * c.get("COUT") * c.get("CIN") * c.get("KERNEL_SIZE") *
                              c.get("KERNEL_SIZE"))
          << r.source_id;
    }
    if (!r.config) {
      EXPECT_FALSE(r.flops.has_value());  // no config, no features
    }
  }
  EXPECT_EQ(conv_with_config, 299);
  EXPECT_EQ(clean, 1446 - 41);

  // Values exactly as released.
  const auto& big = by_id(rows, "conv-bn-relu", "8EAWXW");
  EXPECT_DOUBLE_EQ(*big.m.energy_mj, 316.436);
  EXPECT_DOUBLE_EQ(*big.m.power_mw, 1874.8845129496412);
  EXPECT_DOUBLE_EQ(*big.m.latency_ms, 168.776);
  EXPECT_EQ(big.config->str(), "HW=224 CIN=64 COUT=64 KERNEL_SIZE=3 STRIDES=1");
  EXPECT_EQ(big.input_shapes, std::vector<graph::Shape>({{1, 64, 224, 224}}));
  EXPECT_EQ(big.output_shapes, std::vector<graph::Shape>({{1, 64, 224, 224}}));
  EXPECT_EQ(big.key, "deepen2023/conv-bn-relu/8EAWXW");

  // Concat: absent inputs (written as CIN3=0, CIN4=0) dropped, NS added; raw config kept.
  const auto& cat = by_id(rows, "concat", "T2OWXR");
  EXPECT_EQ(cat.config->str(), "HW=14 CIN1=144 CIN2=135 NS=2");
  EXPECT_EQ(cat.source_config["CIN4"], 0);
  EXPECT_EQ(cat.input_shapes, std::vector<graph::Shape>({{1, 144, 14, 14}, {1, 135, 14, 14}}));
  // Pools: STRIDES (equal to POOL_STRIDES everywhere) dropped.
  EXPECT_EQ(by_id(rows, "maxpool", "I8V4DL").config->str(),
            "HW=224 CIN=64 KERNEL_SIZE=2 POOL_STRIDES=2");
  EXPECT_DOUBLE_EQ(*by_id(rows, "add-relu", "CVYSEU").m.energy_mj, 1.306);

  // The glitched concat power is kept and flagged, never dropped.
  const auto& glitch = by_id(rows, "concat", "JAWP59");
  EXPECT_EQ(glitch.m.flags, std::vector<std::string>{"implausible_power"});
  EXPECT_DOUBLE_EQ(*glitch.m.power_mw, 2141324.3144062967);
  EXPECT_EQ(s.kernels({.exclude_flagged = true}).size(), 1446u - 41u);
  EXPECT_EQ(
      s.kernels({.kernel_type = "concat", .require_config = true, .exclude_flagged = true}).size(),
      99u);
  // 40 conv-bn-relu rows whose latency is in seconds: energy != power x latency / 1000.
  int64_t mismatch = 0;
  for (const auto& f : report.flags) mismatch += f.find("energy_mismatch") != std::string::npos;
  EXPECT_EQ(mismatch, 40);
  EXPECT_EQ(by_id(rows, "conv-bn-relu", "DRB3XM").m.flags,
            std::vector<std::string>{"energy_mismatch"});

  // Importing again stores nothing twice.
  const auto again = import_deepen2023(s, release());
  EXPECT_EQ(again.stored, 0);
  EXPECT_EQ(again.already_stored, 1446);
  EXPECT_EQ(s.kernels().size(), 1446u);
}

TEST(DeepEn2023, CliPrintsCountsAndFlags) {
  REQUIRE_RELEASE();
  TempDir tmp;
  const auto r = nnjoule::testing::run_cli(
      {"import", "deepen2023", release().string(), "--db", (tmp / "d.db").string()});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_THAT(r.out, HasSubstr("total           1446          734       41    1446"));
  EXPECT_THAT(r.out, HasSubstr("concat JAWP59: power 2141324.3144062967 mW outside 300..4000 mW"));
  EXPECT_THAT(r.out, HasSubstr("712 rows have no config"));
  const auto info = nnjoule::testing::run_cli({"db", "info", (tmp / "d.db").string(), "--json"});
  ASSERT_EQ(info.exit_code, 0) << info.err;
  const auto j = nlohmann::json::parse(info.out);
  EXPECT_EQ(j["tables"]["kernel_measurements"], 1446);
  EXPECT_EQ(j["devices"][0]["kernels_with_config"], 734);
  EXPECT_EQ(j["devices"][0]["kernels_flagged"], 41);
  EXPECT_EQ(j["devices"][0]["kernels_by_type"]["conv-bn-relu"], 720);
  EXPECT_EQ(j["devices"][0]["rows_by_origin"]["imported (DeepEn2023)"], 1446);
}

TEST(DeepEn2023, SmallRelease) {
  TempDir tmp;
  write_release(tmp / "rel");
  Store s(tmp / "d.db");
  const auto report = import_deepen2023(s, tmp / "rel");
  EXPECT_TRUE(report.errors.empty());
  EXPECT_EQ(report.rows, 3);
  EXPECT_EQ(report.with_config, 2);
  const auto rows = s.kernels({.kernel_type = "fc"});
  ASSERT_EQ(rows.size(), 2u);
  EXPECT_EQ(rows[0].config->str(), "CIN=1280 COUT=1000");
  EXPECT_DOUBLE_EQ(*rows[0].flops, 2.0 * 1280 * 1000 + 1000);  // multiply-adds and the bias
  EXPECT_EQ(rows[0].params, 1281000);
  EXPECT_FALSE(rows[1].config.has_value());
  EXPECT_EQ(s.kernels({.require_config = true}).size(), 2u);
}

TEST(DeepEn2023, MalformedFilesAreNamedAndTheRestImported) {
  TempDir tmp;
  const auto dir = tmp / "rel";
  write_release(dir);
  write_text(dir / "Kernel_power" / "relu_power.json", R"({"relu": {"B1": {"power": )");
  write_text(dir / "Kernel_latency" / "fc_latency.json",
             R"({"fc": {"A1": {"latency": "fast"}, "A2": {"latency": "1.000"}}})");
  write_text(dir / "kernel_config" / "FC" / "fc_test.json",
             R"({"fc": {"A2": {"config": {"CIN": "big"}}}})");
  Store s(tmp / "d.db");
  const auto report = import_deepen2023(s, dir);
  ASSERT_EQ(report.errors.size(), 3u);
  EXPECT_THAT(report.errors[0],
              HasSubstr((dir / "Kernel_power" / "relu_power.json").string() + ": invalid JSON"));
  EXPECT_THAT(report.errors[1], HasSubstr((dir / "Kernel_latency" / "fc_latency.json").string() +
                                          ": fc/A1: 'latency': 'fast' is not a number"));
  EXPECT_THAT(report.errors[2],
              HasSubstr("fc_test.json: fc/A2: config key 'CIN' must be an integer"));
  // fc A2 is complete (stored, without its broken config); fc A1 and relu B1 lack a value.
  EXPECT_EQ(report.stored, 1);
  EXPECT_EQ(report.incomplete.size(), 2u);
  const auto rows = s.kernels();
  ASSERT_EQ(rows.size(), 1u);
  EXPECT_EQ(rows[0].source_id, "A2");
  EXPECT_FALSE(rows[0].config.has_value());

  // The command lists every problem and exits 1.
  const auto r = nnjoule::testing::run_cli(
      {"import", "deepen2023", dir.string(), "--db", (tmp / "cli.db").string()});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_THAT(r.err, HasSubstr("relu_power.json: invalid JSON"));
  EXPECT_THAT(r.err, HasSubstr("3 problem(s) in the input"));
}

TEST(DeepEn2023, AnOverflowingNumberIsAProblemOfThatFileNotAnInternalError) {
  TempDir tmp;
  const auto dir = tmp / "rel";
  write_release(dir);
  write_text(dir / "Kernel_power" / "relu_power.json", R"({"relu": {"B1": {"power": 1e999}}})");
  const auto r = nnjoule::testing::run_cli(
      {"import", "deepen2023", dir.string(), "--db", (tmp / "cli.db").string()});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_THAT(r.err, HasSubstr("relu_power.json: number 1e999 at byte 31 in field relu.B1.power "
                               "is out of range"));
  EXPECT_THAT(r.err, Not(HasSubstr("internal error")));
}

TEST(DeepEn2023, NotARelease) {
  TempDir tmp;
  fs::create_directories(tmp / "empty");
  Store s(tmp / "d.db");
  EXPECT_THROW(
      {
        try {
          import_deepen2023(s, tmp / "empty");
        } catch (const Error& e) {
          EXPECT_THAT(e.what(), HasSubstr("not a DeepEn2023 release (no Kernel_energy/"));
          throw;
        }
      },
      Error);
  EXPECT_TRUE(s.kernels().empty());
  EXPECT_TRUE(s.devices().empty());
}
