// Names are bytes: a model whose graph, node and tensor names are not UTF-8 goes through
// every command that shows names, text and JSON, as valid output; paths that are not
// regular files are refused instead of blocking.
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <nlohmann/json.hpp>

#include "nnjoule/common/text.hpp"
#include "nnjoule/graph/builder.hpp"
#include "nnjoule/graph/onnx.hpp"
#include "support/test_support.hpp"

using namespace nnjoule;
using namespace nnjoule::graph;
using nnjoule::testing::run_cli;
using nnjoule::testing::TempDir;

namespace {

const std::string kBad = "bad\xff\xfe\xc0\x80name\x01";

Graph badly_named() {
  GraphBuilder b("g", 5);
  auto x = b.input("x", {1, 3, 8, 8});
  auto y = b.relu(b.conv(x, 4, 3, 1));
  Graph g = b.finish({b.fc(b.flatten(b.global_avgpool(y)), 3)});
  g.name = kBad;
  for (size_t i = 0; i < g.nodes.size(); ++i) g.nodes[i].name = kBad + std::to_string(i);
  return g;
}

}  // namespace

TEST(TextBytes, PrintableEscapesControlAndInvalidUtf8Only) {
  EXPECT_EQ(printable("plain ±µ €"), "plain ±µ €");
  EXPECT_EQ(printable("a\nb\xff"), "a\\x0ab\\xff");
  EXPECT_EQ(printable("\xc0\x80"), "\\xc0\\x80");           // overlong NUL
  EXPECT_EQ(printable("\xed\xa0\x80"), "\\xed\\xa0\\x80");  // a surrogate
  EXPECT_EQ(printable("\xe2\x82"), "\\xe2\\x82");           // truncated
  EXPECT_TRUE(is_valid_utf8(printable(kBad)));
  EXPECT_FALSE(is_valid_utf8(kBad));
  const nlohmann::json j = {{"name", kBad}};
  EXPECT_NO_THROW(nlohmann::json::parse(json_text(j)));
}

TEST(TextBytes, CommandsShowNamesThatAreNotUtf8) {
  TempDir tmp;
  const auto model = (tmp / "bytes.onnx").string();
  save_onnx(badly_named(), model);
  const std::vector<std::vector<std::string>> commands = {
      {"inspect", model},
      {"inspect", model, "--json"},
      {"run", model, "--runs", "2", "--warmup", "1", "--per-kernel"},
      {"run", model, "--runs", "2", "--warmup", "1", "--per-kernel", "--json"},
      {"run", model, "--runs", "2", "--warmup", "0", "--standalone", "--json"},
  };
  for (const auto& args : commands) {
    const auto r = run_cli(args);
    const std::string what = args[0] + (args.back() == "--json" ? " --json" : "");
    ASSERT_EQ(r.exit_code, 0) << what << ": " << r.err;
    EXPECT_TRUE(is_valid_utf8(r.out)) << what;
    EXPECT_TRUE(is_valid_utf8(r.err)) << what;
    if (args.back() == "--json") {
      EXPECT_NO_THROW(nlohmann::json::parse(r.out)) << what;
    }
  }
}

TEST(TextBytes, PathsThatAreNotRegularFilesAreRefused) {
  TempDir tmp;
  const auto fifo = (tmp / "pipe.onnx").string();
  ASSERT_EQ(mkfifo(fifo.c_str(), 0600), 0);
  // A reader opening the FIFO would block forever: the command must refuse it first.
  auto r = run_cli({"inspect", fifo});
  EXPECT_TRUE(one_error_line(r, "is a FIFO (named pipe), expected a regular file")) << r.err;
  r = run_cli({"run", "/dev/zero"});
  EXPECT_TRUE(one_error_line(r, "/dev/zero: is a character device")) << r.err;
  r = run_cli({"run", tmp.path().string()});
  EXPECT_TRUE(one_error_line(r, "is a directory")) << r.err;
  save_onnx(badly_named(), tmp / "m.onnx");
  r = run_cli({"run", (tmp / "m.onnx").string(), "--input", "/dev/zero"});
  EXPECT_TRUE(one_error_line(r, "/dev/zero: is a character device")) << r.err;
}

TEST(TextBytes, ThreadCountsBeyondTheMachineAreRefused) {
  TempDir tmp;
  save_onnx(badly_named(), tmp / "m.onnx");
  const auto r = run_cli({"run", (tmp / "m.onnx").string(), "--threads", "100000"});
  EXPECT_TRUE(one_error_line(r, "threads is more than this machine runs: at most")) << r.err;
}
