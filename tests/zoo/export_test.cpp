#include <gtest/gtest.h>

#include <algorithm>
#include <filesystem>
#include <nlohmann/json.hpp>

#include "nnjoule/common/error.hpp"
#include "nnjoule/common/io.hpp"
#include "nnjoule/graph/onnx.hpp"
#include "nnjoule/kernels/detect.hpp"
#include "nnjoule/zoo/export.hpp"
#include "nnjoule/zoo/zoo.hpp"
#include "support/test_support.hpp"

using namespace nnjoule;
using nnjoule::testing::run_cli;
using nnjoule::testing::TempDir;
using nnjoule::testing::write_text;
namespace fs = std::filesystem;

namespace {

std::vector<std::pair<std::string, std::string>> kernel_list(const graph::Graph& g) {
  std::vector<std::pair<std::string, std::string>> out;
  for (const auto& k : kernels::detect_kernels(g)) out.emplace_back(k.type, k.config.str());
  return out;
}

}  // namespace

TEST(ZooExport, EveryFamilyExportsReimportsAndKeepsItsKernels) {
  for (const auto& f : zoo::families()) {
    SCOPED_TRACE(f.name);
    // A small input keeps AlexNet's and VGG's classifiers small; the structure is the same.
    const int64_t r = std::max<int64_t>(f.min_resolution, 64);
    const graph::Graph g = zoo::build_model({.family = f.name, .resolution = r, .seed = 1});
    const graph::Graph back = graph::load_onnx_bytes(graph::to_onnx_bytes(g), f.name + ".onnx");
    EXPECT_EQ(back.inputs, std::vector<std::string>{"input"});
    EXPECT_EQ(back.outputs, std::vector<std::string>{"output"});
    EXPECT_EQ(back.shape("output"), (graph::Shape{1, 1000}));
    EXPECT_EQ(zoo::trainable_parameters(back), zoo::trainable_parameters(g));
    const auto before = kernel_list(g);
    EXPECT_EQ(kernel_list(back), before);
    EXPECT_TRUE(kernels::summarize(back, kernels::detect_kernels(back)).unknown_ops.empty());
  }
}

TEST(ZooExport, VariantsReimportWithTheirKernels) {
  for (const char* f : {"mobilenetv2", "shufflenetv2", "mobilenetv3large", "resnet50"}) {
    const graph::Graph g =
        zoo::build_model({.family = f, .resolution = 96, .variant = 3, .seed = 8});
    const graph::Graph back = graph::load_onnx_bytes(graph::to_onnx_bytes(g), g.name);
    EXPECT_EQ(kernel_list(back), kernel_list(g)) << f;
  }
}

TEST(ZooExport, WritesFilesAndAManifestThatMerges) {
  TempDir dir;
  const auto models = zoo::export_models({.families = {"mobilenetv3small"},
                                          .variants = 2,
                                          .seed = 5,
                                          .resolution = 96,
                                          .dir = dir.path()});
  ASSERT_EQ(models.size(), 2u);
  EXPECT_EQ(models[0].name, "mobilenetv3small-v5-0");
  for (const auto& m : models) {
    const fs::path file = dir / m.file;
    ASSERT_TRUE(fs::exists(file)) << file;
    EXPECT_EQ(m.content_hash, content_hash(read_file(file)));
    const graph::Graph g = graph::load_onnx(file);
    EXPECT_EQ(g.shape("input"), (graph::Shape{1, 3, 96, 96}));
    EXPECT_EQ(zoo::trainable_parameters(g), m.counts.parameters);
  }
  // Deterministic: the same request writes the same bytes.
  const auto again = zoo::export_models({.families = {"mobilenetv3small"},
                                         .variants = 2,
                                         .seed = 5,
                                         .resolution = 96,
                                         .dir = dir.path()});
  EXPECT_EQ(again[1].content_hash, models[1].content_hash);
  // A second family merges into the manifest.
  zoo::export_models({.families = {"squeezenet"}, .resolution = 64, .dir = dir.path()});
  const auto j = nlohmann::json::parse(read_file(dir / "manifest.json"));
  EXPECT_EQ(j["version"], 1);
  EXPECT_EQ(j["counts"]["origin"], "counted");
  ASSERT_EQ(j["models"].size(), 3u);
  EXPECT_EQ(j["models"][2]["name"], "squeezenet");
  EXPECT_EQ(j["models"][2]["variant"], -1);
  EXPECT_EQ(j["models"][2]["resolution"], 64);
  EXPECT_EQ(j["models"][0]["content_hash"], models[0].content_hash);
}

TEST(ZooExport, BadRequestsWriteNothing) {
  TempDir dir;
  EXPECT_THROW(
      zoo::export_models({.families = {"vgg16", "resnet18"}, .resolution = 256, .dir = dir.path()}),
      Error);
  EXPECT_THROW(
      zoo::export_models({.families = {"resnet18"}, .sample_resolution = true, .dir = dir.path()}),
      Error);
  EXPECT_TRUE(fs::is_empty(dir.path()));
  write_text(dir / "manifest.json", "{ not json");
  try {
    zoo::export_models({.families = {"resnet18"}, .dir = dir.path()});
    FAIL() << "no error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("manifest.json"), std::string::npos) << e.what();
  }
  EXPECT_FALSE(fs::exists(dir / "resnet18.onnx"));
  EXPECT_EQ(read_file(dir / "manifest.json"), "{ not json");
}

TEST(ZooCli, ExportJsonAndFiles) {
  TempDir dir;
  const auto r = run_cli({"zoo", "export", "mnasnet", "--variants", "2", "--seed", "3",
                          "--sample-resolution", "-o", dir.path().string(), "--json"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const auto j = nlohmann::json::parse(r.out);
  ASSERT_EQ(j["models"].size(), 2u);
  EXPECT_EQ(j["counts"]["origin"], "counted");
  for (const auto& m : j["models"]) {
    EXPECT_TRUE(fs::exists(dir / m["file"].get<std::string>()));
    EXPECT_EQ(m["family"], "mnasnet");
    EXPECT_EQ(m["seed"], 3);
  }
  EXPECT_TRUE(fs::exists(dir / "manifest.json"));
}

TEST(ZooCli, ExportErrorsAreOneLine) {
  TempDir dir;
  auto r = run_cli({"zoo", "export", "resnet99", "-o", dir.path().string()});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_EQ(r.err.rfind("nnjoule: error: unknown model family 'resnet99'", 0), 0u) << r.err;
  r = run_cli({"zoo", "export", "vgg11", "--resolution", "256", "-o", dir.path().string()});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.err.find("8x8"), std::string::npos) << r.err;
  r = run_cli({"zoo", "export", "vgg11", "--sample-resolution", "-o", dir.path().string()});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.err.find("--variants"), std::string::npos) << r.err;
  EXPECT_TRUE(fs::is_empty(dir.path()));
  r = run_cli({"zoo", "export", "--help"});
  EXPECT_EQ(r.exit_code, 0);
  EXPECT_NE(r.out.find("--variants"), std::string::npos);
}
