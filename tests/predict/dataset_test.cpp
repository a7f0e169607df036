#include <gtest/gtest.h>

#include <filesystem>

#include "nnjoule/common/error.hpp"
#include "nnjoule/predict/dataset.hpp"
#include "predict/predict_support.hpp"
#include "support/test_support.hpp"

namespace nnjoule::predict {
namespace {

namespace fs = std::filesystem;
using nnjoule::testing::TempDir;
using nnjoule::testing::write_text;

std::string error_of(const std::function<void()>& f) {
  try {
    f();
  } catch (const Error& e) {
    return e.what();
  }
  return "";
}

TEST(KernelCsv, ParsesTypesNamesAndConfigColumns) {
  const auto rows = parse_kernel_csv(
      "name,type,HW,CIN,COUT,KERNEL_SIZE,STRIDES\n"
      "stem,conv-bn-relu,224,3,32,3,2\n"
      "\n"
      "\"res, add\",addrelu,56,64,,,\n",
      "k.csv");
  ASSERT_EQ(rows.size(), 2u);
  EXPECT_EQ(rows[0].name, "stem");
  EXPECT_EQ(rows[0].type, "conv-bn-relu");
  EXPECT_EQ(rows[0].config.str(), "HW=224 CIN=3 COUT=32 KERNEL_SIZE=3 STRIDES=2");
  EXPECT_EQ(rows[1].name, "res, add");
  EXPECT_EQ(rows[1].type, "add-relu");  // nn-Meter spelling mapped
  EXPECT_EQ(rows[1].config.str(), "HW=56 CIN=64");
  const auto unnamed = parse_kernel_csv("kernel,HW,CIN\nrelu,7,8\n", "u.csv");
  EXPECT_EQ(unnamed[0].name, "row1");
}

TEST(KernelCsv, ErrorsNameFileLineAndColumn) {
  EXPECT_NE(error_of([] { parse_kernel_csv("HW,CIN\n7,8\n", "a.csv"); }).find("no 'type' column"),
            std::string::npos);
  const std::string e = error_of([] { parse_kernel_csv("type,HW,CIN\nrelu,7,x8\n", "b.csv"); });
  EXPECT_NE(e.find("b.csv:2"), std::string::npos) << e;
  EXPECT_NE(e.find("CIN"), std::string::npos) << e;
  EXPECT_NE(error_of([] { parse_kernel_csv("type,HW\nrelu,7,8\n", "c.csv"); }).find("c.csv:2"),
            std::string::npos);
  EXPECT_NE(error_of([] { parse_kernel_csv("", "d.csv"); }).find("empty"), std::string::npos);
  EXPECT_NE(error_of([] { parse_kernel_csv("type,HW,HW\n", "e.csv"); }).find("twice"),
            std::string::npos);
  EXPECT_NE(error_of([] { parse_kernel_csv("type,HW\n", "f.csv"); }).find("no kernel rows"),
            std::string::npos);
}

TEST(Dataset, HashIgnoresOrderButSeesValues) {
  KernelDataset a = testing::synthetic_dataset(20, 5);
  KernelDataset b = a;
  std::reverse(b.samples.begin(), b.samples.end());
  EXPECT_EQ(a.hash(), b.hash());
  *b.samples[0].targets.energy_mj *= 1.01;
  EXPECT_NE(a.hash(), b.hash());
  EXPECT_EQ(a.types(), (std::vector<std::string>{"conv-bn-relu", "maxpool"}));
}

// A tiny release in DeepEn2023's layout.
void write_release(const fs::path& d, const std::string& energy = R"("1.5")") {
  fs::create_directories(d / "Kernel_energy");
  fs::create_directories(d / "Kernel_latency");
  fs::create_directories(d / "Kernel_power");
  fs::create_directories(d / "kernel_config" / "Addrelu");
  write_text(d / "Kernel_energy" / "addrelu_energy.json",
             R"({"addrelu": {"A1": {"energy": )" + energy +
                 R"(}, "A2": {"energy": "2.0"}, "NOCFG": {"energy": "9"}}})");
  write_text(d / "Kernel_latency" / "addrelu_latency.json",
             R"({"addrelu": {"A1": {"latency": "1.0"}, "A2": {"latency": "1.25"}}})");
  write_text(d / "Kernel_power" / "addrelu_power.json",
             R"({"addrelu": {"A1": {"power": "1500"}, "A2": {"power": "1600"}}})");
  write_text(d / "kernel_config" / "Addrelu" / "addrelu_test.json",
             R"({"addrelu": {"A1": {"config": {"HW": 14, "CIN": 30}},
                             "A2": {"config": {"HW": 28, "CIN": 16}}}})");
}

TEST(DeepEn2023, ReadsAReleaseDirectory) {
  TempDir tmp;
  write_release(tmp.path());
  const KernelDataset ds = read_deepen2023(tmp.path());
  ASSERT_EQ(ds.samples.size(), 2u);  // NOCFG has no config
  EXPECT_EQ(ds.samples[0].type, "add-relu");
  EXPECT_EQ(ds.samples[0].id, "A1");
  EXPECT_EQ(ds.samples[0].config.str(), "HW=14 CIN=30");
  EXPECT_DOUBLE_EQ(*ds.samples[0].targets.energy_mj, 1.5);
  EXPECT_DOUBLE_EQ(*ds.samples[1].targets.latency_ms, 1.25);
  EXPECT_DOUBLE_EQ(*ds.samples[1].targets.power_mw, 1600);
  EXPECT_EQ(ds.samples[0].energy_origin.label(), "imported (deepen2023)");
}

TEST(DeepEn2023, MalformedFilesAreNamed) {
  TempDir tmp;
  write_release(tmp.path(), R"("one point five")");
  std::string e = error_of([&] { read_deepen2023(tmp.path()); });
  EXPECT_NE(e.find("addrelu_energy.json"), std::string::npos) << e;
  EXPECT_NE(e.find("A1"), std::string::npos) << e;
  write_release(tmp.path());
  write_text(tmp / "Kernel_power" / "addrelu_power.json", "{\"addrelu\": {");
  e = error_of([&] { read_deepen2023(tmp.path()); });
  EXPECT_NE(e.find("addrelu_power.json: invalid JSON"), std::string::npos) << e;
  EXPECT_NE(error_of([&] { read_deepen2023(tmp / "missing"); }).find("not a DeepEn2023"),
            std::string::npos);
}

TEST(DeepEn2023, SharedReleaseHasTheDocumentedRows) {
  const fs::path d = nnjoule::testing::shared_data() / "deepen2023";
  if (nnjoule::testing::shared_data().empty() || !fs::exists(d)) {
    GTEST_SKIP() << "shared DeepEn2023 data not present";
  }
  const KernelDataset ds = read_deepen2023(d);
  std::map<std::string, size_t> n;
  for (const auto& s : ds.samples) n[s.type]++;
  EXPECT_GE(n["conv-bn-relu"], 250u);
  EXPECT_GE(n["dwconv-bn-relu"], 40u);
  for (const auto& s : ds.samples) {
    ASSERT_TRUE(s.targets.energy_mj && s.targets.latency_ms && s.targets.power_mw) << s.id;
    // energy = power x latency / 1000 in the release
    EXPECT_NEAR(*s.targets.energy_mj, *s.targets.power_mw * *s.targets.latency_ms / 1000,
                0.02 * *s.targets.energy_mj + 0.002)
        << s.type << " " << s.id;
  }
}

}  // namespace
}  // namespace nnjoule::predict
