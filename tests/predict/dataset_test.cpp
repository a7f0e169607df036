#include <gtest/gtest.h>

#include <filesystem>

#include "nnjoule/common/error.hpp"
#include "nnjoule/predict/dataset.hpp"
#include "predict/predict_support.hpp"
#include "support/test_support.hpp"

namespace nnjoule::predict {
namespace {

namespace fs = std::filesystem;
using nnjoule::testing::error_of;
using nnjoule::testing::TempDir;
using nnjoule::testing::write_text;

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

}  // namespace
}  // namespace nnjoule::predict
