// The pipeline's layering, read from the include lines: a stage includes only stages before it
// (DESIGN.md: common, graph, kernels, zoo, exec, meter, store, predict, collect, score, report,
// cli), and the store and predict, which run no model, include neither the engine nor meters.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <map>
#include <regex>
#include <set>
#include <string>
#include <vector>

namespace {

namespace fs = std::filesystem;

const std::vector<std::string> kOrder = {"common", "graph",   "kernels", "zoo",   "exec",   "meter",
                                         "store",  "predict", "collect", "score", "report", "cli"};
// Stages that may not include another although it comes before them.
const std::map<std::string, std::set<std::string>> kForbidden = {
    {"store", {"exec", "meter"}},
    {"predict", {"exec", "meter"}},
};

int rank(const std::string& stage) {
  for (size_t i = 0; i < kOrder.size(); ++i)
    if (kOrder[i] == stage) return static_cast<int>(i);
  return -1;
}

// Every (file, included stage) of a stage's sources and public headers.
std::vector<std::pair<std::string, std::string>> includes_of(const fs::path& root,
                                                             const std::string& stage) {
  static const std::regex line(R"(^\s*#\s*include\s*"nnjoule/([a-z_]+)/)");
  std::vector<std::pair<std::string, std::string>> out;
  for (const fs::path& dir : {root / "src" / stage, root / "include" / "nnjoule" / stage}) {
    if (!fs::is_directory(dir)) continue;
    for (const auto& e : fs::recursive_directory_iterator(dir)) {
      if (!e.is_regular_file()) continue;
      std::ifstream in(e.path());
      std::string l;
      std::smatch m;
      while (std::getline(in, l))
        if (std::regex_search(l, m, line)) out.emplace_back(e.path().string(), m[1].str());
    }
  }
  return out;
}

TEST(IncludeOrder, EveryStageIncludesOnlyStagesBeforeIt) {
  const fs::path root = NNJOULE_SOURCE_DIR;
  // Every folder of src/ is a stage of the order (a new stage must be placed in it).
  for (const auto& e : fs::directory_iterator(root / "src")) {
    if (e.is_directory()) {
      EXPECT_GE(rank(e.path().filename().string()), 0)
          << e.path() << " is not in the pipeline order of this test and DESIGN.md";
    }
  }
  size_t seen = 0;
  for (const auto& stage : kOrder) {
    for (const auto& [file, other] : includes_of(root, stage)) {
      ++seen;
      ASSERT_GE(rank(other), 0) << file << " includes nnjoule/" << other << ", not a stage";
      EXPECT_LE(rank(other), rank(stage)) << file << " (stage " << stage << ") includes nnjoule/"
                                          << other << ", a stage after it in the pipeline";
      const auto f = kForbidden.find(stage);
      EXPECT_FALSE(f != kForbidden.end() && f->second.count(other))
          << file << ": the " << stage << " stage runs no model but includes nnjoule/" << other;
    }
  }
  EXPECT_GT(seen, 100u);  // the include lines were found at all
}

}  // namespace
