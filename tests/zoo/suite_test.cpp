#include "nnjoule/zoo/suite.hpp"

#include <gtest/gtest.h>

#include "nnjoule/common/error.hpp"
#include "support/test_support.hpp"

namespace nnjoule::zoo {
namespace {
using nnjoule::testing::TempDir;
using nnjoule::testing::write_text;

std::string parse_error(const std::string& json) {
  try {
    parse_suite_json(json, "suite.json");
  } catch (const Error& e) {
    return e.what();
  }
  return "(no error)";
}

TEST(Suite, BuiltinDeepen2023) {
  const auto s = builtin_suite("deepen2023");
  ASSERT_EQ(s.entries.size(), 12u);
  EXPECT_EQ(s.entries[0].id, "DNN1");
  EXPECT_EQ(s.entries[0].builtin, "ssd-mobilenetv2-300");
  EXPECT_EQ(s.entries[10].application, Application::kQuestionAnswering);
  EXPECT_EQ(s.configs().size(), 48u);
  // FP32 and INT8 entries on CPU delegates run; GPU and NNAPI are listed as unsupported.
  EXPECT_EQ(s.unsupported_reason({"DNN1", "CPU4"}), "");
  EXPECT_EQ(s.unsupported_reason({"DNN2", "CPU1"}), "");
  EXPECT_EQ(s.entry("DNN8").precision, "int8");
  EXPECT_NE(s.unsupported_reason({"DNN1", "GPU"}).find("not supported on this runtime"),
            std::string::npos);
  int runnable = 0;
  for (const auto& c : s.configs()) runnable += s.unsupported_reason(c).empty();
  EXPECT_EQ(runnable, 24);  // 12 models (8 FP32, 4 INT8) x CPU1/CPU4
  EXPECT_THROW(builtin_suite("other"), Error);
  EXPECT_THROW(s.entry("DNN13"), Error);
}

TEST(Suite, WithThreadsReplacesCpuDelegates) {
  const auto s = with_threads(builtin_suite("deepen2023"), {2});
  ASSERT_EQ(s.delegates.size(), 3u);
  EXPECT_EQ(s.delegates[0].name, "CPU2");
  EXPECT_EQ(s.delegates[0].threads, 2);
  EXPECT_EQ(s.delegates[1].name, "GPU");
  EXPECT_THROW(with_threads(s, {0}), Error);
  EXPECT_THROW(with_threads(s, {1, 1}), Error);
}

TEST(Suite, ParsesAUserSuiteWithRelativePaths) {
  TempDir tmp;
  write_text(tmp / "net.onnx", "not parsed here");
  write_text(tmp / "cat.ppm", "P3 1 1 255 0 0 0");
  write_text(tmp / "suite.json", R"({
    "name": "mine",
    "delegates": ["CPU1", {"name": "big", "threads": 2}, "NNAPI"],
    "models": [
      {"id": "cls", "onnx": "net.onnx", "application": "classification",
       "pre": {"mean": [0.5, 0.5, 0.5], "std": [0.5, 0.5, 0.5], "input": "cat.ppm"},
       "post": {"top_k": 3}},
      {"id": "det", "builtin": "ssd-mobilenetv2-300", "precision": "int8",
       "post": {"score_threshold": 0.4, "iou_threshold": 0.6}}
    ]})");
  const auto s = load_suite((tmp / "suite.json").string());
  EXPECT_EQ(s.name, "mine");
  ASSERT_EQ(s.entries.size(), 2u);
  EXPECT_EQ(s.entries[0].onnx, tmp / "net.onnx");
  EXPECT_EQ(s.entries[0].pre.input, tmp / "cat.ppm");
  EXPECT_FLOAT_EQ(s.entries[0].pre.mean[1], 0.5f);
  EXPECT_EQ(s.entries[0].post.top_k, 3);
  EXPECT_EQ(s.entries[1].application, Application::kDetection);
  EXPECT_FLOAT_EQ(s.entries[1].post.iou_threshold, 0.6f);
  EXPECT_EQ(s.entries[1].precision, "int8");
  EXPECT_TRUE(s.entries[1].unsupported.empty());
  ASSERT_EQ(s.delegates.size(), 3u);
  EXPECT_EQ(s.delegates[1].threads, 2);
  EXPECT_FALSE(s.delegates[2].unsupported.empty());
  EXPECT_EQ(s.configs().size(), 6u);
}

TEST(Suite, ErrorsNameTheFileAndTheField) {
  EXPECT_NE(parse_error("{").find("suite.json: invalid JSON"), std::string::npos);
  EXPECT_NE(
      parse_error(R"({"models": [], "delegates": ["CPU1"]})").find("suite.json: name: missing"),
      std::string::npos);
  const std::string head = R"({"name": "x", "delegates": ["CPU1"], "models": [)";
  EXPECT_NE(parse_error(head + R"({"id": "a", "builtin": "nope"}]})")
                .find("suite.json: models[0].builtin: unknown suite model 'nope'"),
            std::string::npos);
  EXPECT_NE(parse_error(head + R"({"id": "a"}]})").find("models[0]: give exactly one of"),
            std::string::npos);
  EXPECT_NE(parse_error(head + R"({"id": "a", "builtin": "mobilenetv1", "colour": 1}]})")
                .find("models[0].colour: unknown field"),
            std::string::npos);
  EXPECT_NE(parse_error(
                head +
                R"({"id": "a", "builtin": "mobilenetv1"}, {"id": "a", "builtin": "mobilenetv1"}]})")
                .find("models[1].id: model 'a' listed twice"),
            std::string::npos);
  EXPECT_NE(
      parse_error(head + R"({"id": "a", "onnx": "/nonexistent/m.onnx", "application": "speech"}]})")
          .find("models[0].onnx: file '/nonexistent/m.onnx' not found"),
      std::string::npos);
  EXPECT_NE(
      parse_error(head + R"({"id": "a", "builtin": "mobilenetv1", "pre": {"std": [1, 0, 1]}}]})")
          .find("models[0].pre.std[1]: must be positive"),
      std::string::npos);
  EXPECT_NE(
      parse_error(head + R"({"id": "a", "builtin": "mobilenetv1", "application": "speech"}]})")
          .find("models[0].application: 'speech' does not match"),
      std::string::npos);
  EXPECT_NE(parse_error(head + R"({"id": "a", "builtin": "mobilenetv1", "precision": "fp16"}]})")
                .find("models[0].precision: expected 'fp32' or 'int8'"),
            std::string::npos);
  EXPECT_NE(parse_error(head + R"({"id": "a", "builtin": "mobilenetv1", "post": {"top_k": "5"}}]})")
                .find("models[0].post.top_k: expected an integer, got string"),
            std::string::npos);
  EXPECT_NE(
      parse_error(
          R"({"name": "x", "delegates": ["TPU"], "models": [{"id": "a", "builtin": "mobilenetv1"}]})")
          .find("suite.json: delegates[0]: unknown delegate 'TPU'"),
      std::string::npos);
  EXPECT_NE(
      parse_error(R"({"name": "x", "delegates": [{"name": "c", "threads": 0}], "models": []})")
          .find("delegates[0].threads: must be at least 1"),
      std::string::npos);
}

TEST(Suite, LoadSuiteNamesWhatItCannotFind) {
  try {
    load_suite("/nonexistent/suite.json");
    FAIL();
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("neither a built-in suite"), std::string::npos);
  }
}

}  // namespace
}  // namespace nnjoule::zoo
