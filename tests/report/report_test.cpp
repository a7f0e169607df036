#include "nnjoule/report/report.hpp"

#include <gtest/gtest.h>

#include "report/report_support.hpp"
#include "support/test_support.hpp"

namespace nnjoule::report {
namespace {
using nnjoule::testing::TempDir;
using testing::chromium_status;
using testing::have_chromium;

score::AppResult result(const std::string& device, const std::string& model, double apc, double eci,
                        Origin origin = Origin::kEstimated) {
  return {device, {model, "CPU1"}, apc, eci, std::nullopt, {origin, "cpu-time model"}};
}

ReportInput sample_input() {
  score::ScoreInput in;
  in.devices = {{.name = "host <a>", .tdp_w = 15, .tdp_source = "--tdp", .price = 800},
                {.name = "board", .tdp_w = 10, .tdp_source = "--tdp", .price = 300}};
  in.results = {result("host <a>", "m1", 5, 0.2), result("host <a>", "m2", 6, 0.5),
                result("board", "m1", 3, 0.3)};
  in.configs = {{"m1", "CPU1"}, {"m2", "CPU1"}, {"m3", "CPU1"}};
  in.unsupported[{"host <a>", "m3/CPU1"}] = "INT8 not supported";
  ReportInput r;
  r.title = "test </script> report";
  r.source = "test.db";
  r.scores = score::compute_scores(in);
  auto point = [](std::string model, double mj, double pred_mj, std::optional<double> ms,
                  std::optional<double> pred_ms) {
    return PredictedPoint{.model = std::move(model),
                          .measured_mj = mj,
                          .predicted_mj = pred_mj,
                          .measured_ms = ms,
                          .predicted_ms = pred_ms,
                          .measured_label = "estimated (cpu-time model)",
                          .latency_label = "measured (clock)",
                          .predicted_label = "predicted (bundle)"};
  };
  r.predicted = {point("a", 10, 10.5, 4, 4.1), point("b", 20, 25, std::nullopt, std::nullopt)};
  r.breakdown =
      KernelBreakdown{"m1/CPU1 on host", "estimated (cpu-time model)", "latency share", {}};
  for (int i = 0; i < 25; ++i) {
    r.breakdown->kernels.push_back(
        {"k" + std::to_string(i), i % 2 ? "conv" : "dwconv", 0.1 * i, 0.2 * i});
  }
  r.trace = PowerTrace{"m1/CPU1 on host", "estimated (cpu-time model)", {}};
  for (int i = 0; i < 40; ++i)
    r.trace->samples.push_back({0.05 * i, 1000.0 + 100 * (i % 7), i < 10 ? "idle" : "run"});
  return r;
}

TEST(Report, SelfContainedAndLabelled) {
  const auto html = render_html(sample_input());
  // Offline: no external script, stylesheet or font.
  EXPECT_EQ(html.find("<script src"), std::string::npos);
  EXPECT_EQ(html.find("<link"), std::string::npos);
  EXPECT_NE(html.find("vegaEmbed"), std::string::npos);
  EXPECT_GT(html.size(), 500000u);  // the libraries are inlined
  EXPECT_NE(html.find("host &lt;a&gt;"), std::string::npos);
  EXPECT_EQ(html.find("test </script> report"), std::string::npos);
  EXPECT_NE(html.find("estimated (cpu-time model)"), std::string::npos);
  EXPECT_NE(html.find("predicted (bundle)"), std::string::npos);
  // Energy of both points; latency only where it was measured and predicted.
  EXPECT_NE(html.find("1 of 2 models within ±10%"), std::string::npos);
  EXPECT_NE(html.find("1 of 1 models within ±10%"), std::string::npos);
  EXPECT_NE(html.find("chart-predicted-latency"), std::string::npos);
  EXPECT_NE(html.find("measured (clock)"), std::string::npos);
  EXPECT_NE(html.find("not supported"), std::string::npos);
  EXPECT_NE(html.find("Bubble size: price"), std::string::npos);
}

TEST(Report, RendersInHeadlessChromiumWithoutScriptErrors) {
  ASSERT_TRUE(have_chromium()) << "chromium is not installed (scripts/install-deps.sh installs it)";
  TempDir tmp;
  write_html(sample_input(), tmp / "report.html");
  EXPECT_EQ(chromium_status(tmp / "report.html"), "ok");

  // Without optional sections too.
  auto bare = sample_input();
  bare.predicted.clear();
  bare.breakdown.reset();
  bare.trace.reset();
  write_html(bare, tmp / "bare.html");
  EXPECT_EQ(chromium_status(tmp / "bare.html"), "ok");
}

TEST(Report, TheChromiumCheckCatchesAScriptError) {
  ASSERT_TRUE(have_chromium()) << "chromium is not installed (scripts/install-deps.sh installs it)";
  TempDir tmp;
  auto html = render_html(sample_input());
  html.replace(html.rfind("</body>"), 7, "<script>undefinedFunction();</script></body>");
  nnjoule::testing::write_text(tmp / "broken.html", html);
  const auto status = chromium_status(tmp / "broken.html");
  EXPECT_EQ(status.rfind("error: ", 0), 0u) << status;
  EXPECT_NE(status.find("undefinedFunction"), std::string::npos) << status;
}

}  // namespace
}  // namespace nnjoule::report
