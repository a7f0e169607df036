#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "support/test_support.hpp"

using nnjoule::testing::run_cli;

TEST(ZooCli, ListJsonHasEveryFamilyWithCountedNumbers) {
  const auto r = run_cli({"zoo", "list", "--json"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const auto j = nlohmann::json::parse(r.out);
  EXPECT_EQ(j["counts"]["origin"], "counted");
  EXPECT_FALSE(j["counts"]["fusion_rules"].get<std::string>().empty());
  ASSERT_EQ(j["families"].size(), 18u);
  bool found = false;
  for (const auto& f : j["families"]) {
    for (const char* key : {"name", "title", "source", "default_resolution", "min_resolution",
                            "kernel_sizes", "resolutions", "parameters", "flops", "kernels"}) {
      EXPECT_TRUE(f.contains(key)) << key;
    }
    EXPECT_GT(f["flops"].get<double>(), 0);
    if (f["name"] == "resnet18") {
      found = true;
      EXPECT_EQ(f["parameters"], 11689512);
      EXPECT_EQ(f["kernels"], 32);  // 28 conv/add kernels, max pool, GAP, flatten, fc
    }
  }
  EXPECT_TRUE(found);
}

TEST(ZooCli, ListTextSaysWhereTheNumbersComeFrom) {
  const auto r = run_cli({"zoo", "list"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.out.find("mobilenetv3large"), std::string::npos);
  EXPECT_NE(r.out.find("counted"), std::string::npos);
}

TEST(ZooCli, HelpEverywhere) {
  for (const auto& args :
       std::vector<std::vector<std::string>>{{"zoo", "--help"}, {"zoo", "list", "--help"}}) {
    const auto r = run_cli(args);
    EXPECT_EQ(r.exit_code, 0) << args.back();
    EXPECT_NE(r.out.find("Usage"), std::string::npos) << r.out;
  }
}
