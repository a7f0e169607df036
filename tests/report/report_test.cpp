#include "nnjoule/report/report.hpp"

#include <gtest/gtest.h>

#include <cstdlib>
#include <regex>

#include "support/test_support.hpp"

namespace nnjoule::report {
namespace {
using nnjoule::testing::TempDir;

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
  r.predicted = {{"a", 10, 10.5, "estimated (cpu-time model)", "predicted (bundle)"},
                 {"b", 20, 25, "estimated (cpu-time model)", "predicted (bundle)"}};
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

// Loads the page in headless Chromium and returns the status the page's script wrote.
std::string chromium_status(const std::filesystem::path& html) {
  TempDir profile;
  const auto dom = profile / "dom.html";
  const std::string cmd =
      "chromium --headless --no-sandbox --disable-gpu --disable-background-networking "
      "--disable-component-update --disable-sync --no-first-run --user-data-dir='" +
      (profile / "p").string() + "' --virtual-time-budget=15000 --dump-dom 'file://" +
      html.string() + "' > '" + dom.string() + "' 2> '" + (profile / "err").string() + "'";
  if (std::system(cmd.c_str()) != 0) {
    return "chromium failed: " + nnjoule::testing::read_text(profile / "err");
  }
  const auto text = nnjoule::testing::read_text(dom);
  std::smatch m;
  if (!std::regex_search(text, m, std::regex("id=\"nnjoule-status\" data-status=\"([^\"]*)\""))) {
    return "no status element in the DOM";
  }
  return m[1];
}

bool have_chromium() {
  return std::system("command -v chromium > /dev/null 2>&1") == 0;
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
