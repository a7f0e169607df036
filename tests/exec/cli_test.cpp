// nnjoule run: output, JSON, raw input/output files, and one-line errors.
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <cstring>
#include <fstream>

#include "nnjoule/graph/builder.hpp"
#include "nnjoule/graph/onnx.hpp"
#include "support.hpp"
#include "support/test_support.hpp"

using namespace nnjoule;
using namespace nnjoule::graph;
using nnjoule::testing::run_cli;
using nnjoule::testing::TempDir;

namespace {

Graph net() {
  GraphBuilder b("cli-net", 3);
  auto x = b.input("x", {1, 3, 12, 12});
  auto y = b.relu(b.bn(b.conv(x, 8, 3, 1)));
  y = b.add(y, b.conv(y, 8, 1, 1));
  return b.finish({b.fc(b.flatten(b.global_avgpool(y)), 5), y});
}

}  // namespace

TEST(ExecCli, RunsAndReportsMeasuredLatency) {
  TempDir tmp;
  const auto model = tmp / "net.onnx";
  save_onnx(net(), model);
  auto r = run_cli({"run", model.string(), "--runs", "3", "--warmup", "1", "--per-kernel"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.out.find("latency_ms, measured (wall clock, steady_clock), 3 runs after 1 warm-up"),
            std::string::npos)
      << r.out;
  EXPECT_NE(r.out.find("per kernel, measured"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("conv-bn-relu"), std::string::npos) << r.out;

  r = run_cli({"run", model.string(), "--runs", "4", "--warmup", "0", "--threads", "2", "--json",
               "--standalone"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const auto j = nlohmann::json::parse(r.out);
  EXPECT_EQ(j["threads"], 2);
  EXPECT_EQ(j["latency_ms"]["n"], 4);
  EXPECT_EQ(j["latency_ms"]["provenance"], "measured (wall clock, steady_clock)");
  EXPECT_EQ(j["samples_ms"].size(), 4u);
  EXPECT_GT(j["latency_ms"]["median"].get<double>(), 0.0);
  ASSERT_TRUE(j["kernels"].is_array());
  EXPECT_GT(j["whole_over_standalone"].get<double>(), 0.0);
  for (const auto& k : j["kernels"]) {
    EXPECT_TRUE(k.contains("latency_ms") || k.contains("note")) << k.dump();
  }
}

// The outputs written after one run, after warm-up and several runs, per kernel and on two
// threads are the reference's; on one thread they are the same bits whatever the run count.
TEST(ExecCli, RawInputAndOutputFilesMatchTheReferenceOnEveryRun) {
  TempDir tmp;
  const Graph g = net();
  const auto model = tmp / "net.onnx";
  save_onnx(g, model);
  const auto in = exec::random_tensor(g.shape("x"), 9);
  exec::write_raw_tensor(tmp / "x.bin", in);
  const auto ref = exec::run_reference(g, {in});
  const std::vector<std::vector<std::string>> modes = {
      {"--runs", "1", "--warmup", "0", "--cpus", "0"},
      {"--runs", "3", "--warmup", "1"},
      {"--runs", "10", "--warmup", "2", "--per-kernel"},
      {"--runs", "4", "--warmup", "1", "--threads", "2"}};
  std::vector<std::vector<exec::Tensor>> outs;
  for (const auto& mode : modes) {
    std::vector<std::string> args = {"run",
                                     model.string(),
                                     "--input",
                                     (tmp / "x.bin").string(),
                                     "--output",
                                     (tmp / "y0.bin").string(),
                                     (tmp / "y1.bin").string()};
    args.insert(args.end(), mode.begin(), mode.end());
    auto r = run_cli(args);
    ASSERT_EQ(r.exit_code, 0) << r.err;
    outs.emplace_back();
    for (size_t k = 0; k < 2; ++k) {
      outs.back().push_back(
          exec::read_raw_tensor(tmp / ("y" + std::to_string(k) + ".bin"), ref[k].shape, "output"));
      EXPECT_LE(exec::relative_error(outs.back()[k], ref[k]), exec::testing::kTolerance)
          << k << " " << mode[1] << " runs";
    }
  }
  EXPECT_TRUE(exec::testing::bit_identical(outs[0], outs[1])) << "--runs 3 differs from --runs 1";
  EXPECT_TRUE(exec::testing::bit_identical(outs[0], outs[2])) << "--runs 10 differs from --runs 1";
}

TEST(ExecCli, BadInputIsOneLine) {
  TempDir tmp;
  const auto model = tmp / "net.onnx";
  save_onnx(net(), model);
  nnjoule::testing::write_text(tmp / "short.bin", std::string(100, '\0'));
  auto r = run_cli({"run", model.string(), "--input", (tmp / "short.bin").string()});
  EXPECT_TRUE(one_error_line(r, "has 100 bytes; input 'x' [1,3,12,12] needs 1728 bytes")) << r.err;

  r = run_cli({"run", model.string(), "--output", "a.bin", "b.bin", "c.bin"});
  EXPECT_TRUE(one_error_line(r, "3 --output files given")) << r.err;

  r = run_cli({"run", model.string(), "--cpus", "100000"});
  EXPECT_TRUE(one_error_line(r, "cpu 100000 is not available")) << r.err;

  r = run_cli({"run", (tmp / "missing.onnx").string()});
  EXPECT_TRUE(one_error_line(r, "missing.onnx")) << r.err;

  // A model whose activations cannot fit: refused before anything is allocated.
  GraphBuilder b("huge", 1);
  auto x = b.input("x", {1, 3, 60000, 60000});
  save_onnx(b.finish({b.conv(x, 3, 1, 1)}), tmp / "huge.onnx");
  r = run_cli({"run", (tmp / "huge.onnx").string()});
  EXPECT_TRUE(one_error_line(r, "of activations in the planned arena")) << r.err;

  // Integer inputs (token ids) are not something the engine runs.
  GraphBuilder e("ids", 2);
  auto table = e.weight({10, 4}, 4, "table");
  auto ids = e.int_input("ids", {3});
  save_onnx(e.finish({e.gather(table, ids, 0)}), tmp / "ids.onnx");
  r = run_cli({"run", (tmp / "ids.onnx").string()});
  EXPECT_TRUE(one_error_line(r, "input 'ids' is int64")) << r.err;
}
