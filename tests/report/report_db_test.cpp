// The report from a database nnjoule apps filled (a tiny suite measured with a fake meter).
#include <gtest/gtest.h>

#include "nnjoule/collect/apps.hpp"
#include "nnjoule/common/error.hpp"
#include "nnjoule/graph/builder.hpp"
#include "nnjoule/graph/onnx.hpp"
#include "nnjoule/meter/sampler.hpp"
#include "nnjoule/report/report.hpp"
#include "support/test_support.hpp"

namespace nnjoule::report {
namespace {
using nnjoule::testing::TempDir;

class ConstantMeter : public meter::Meter {
 public:
  ConstantMeter() { domains_ = {{"total", meter::Signal::kPower}}; }
  std::string kind() const override { return "constant"; }
  void read(double, std::span<double> out) override { out[0] = 4000; }
};

TEST(ReportFromDb, BreakdownTraceAndCli) {
  TempDir tmp;
  graph::GraphBuilder b("tiny", 3);
  auto x = b.relu(b.conv(b.input("input", {1, 3, 16, 16}), 8, 3, 2));
  graph::save_onnx(b.finish({b.fc(b.flatten(b.global_avgpool(x)), 10)}), tmp / "tiny.onnx");
  nnjoule::testing::write_text(tmp / "suite.json", R"({"name": "t", "delegates": ["CPU1", "NNAPI"],
      "models": [{"id": "m", "onnx": "tiny.onnx", "application": "classification"}]})");
  collect::SuiteRunOptions o;
  o.protocol.idle_s = 0.02;
  o.protocol.warmup_s = 0;
  o.protocol.min_window_s = 0.02;
  o.protocol.min_updates = 1;
  o.protocol.min_windows = 2;
  o.protocol.time_cap_s = 0.3;
  o.stage_protocol = o.protocol;
  o.trace_idle_s = 0.04;
  o.trace_run_s = 0.1;
  o.trace_step_s = 0.02;
  meter::SteadyClock clock;
  meter::Sampler sampler({std::make_shared<ConstantMeter>()}, clock);
  collect::Context ctx{&sampler, collect::real_sleeper(),
                       std::make_shared<const meter::SysFs>("/")};
  sampler.start();
  {
    store::Store db(tmp / "r.db");
    collect::run_suite(zoo::parse_suite_file(tmp / "suite.json"), db, ctx,
                       {Origin::kMeasured, "constant"}, o, "test", 8.0, "test");
  }
  sampler.stop();

  const auto page = load_report_input(tmp / "r.db", "");
  ASSERT_TRUE(page.breakdown.has_value());
  EXPECT_FALSE(page.breakdown->kernels.empty());
  EXPECT_EQ(page.breakdown->label, "measured (constant)");
  ASSERT_TRUE(page.trace.has_value());
  EXPECT_EQ(page.trace->label, "measured (constant)");
  for (const auto& s : page.trace->samples) EXPECT_NEAR(s.power_mw, 4000, 1e-6);
  EXPECT_NEAR(*page.scores.devices.at(0).pcs, 50.0, 1e-6);  // 100 x (1 - 4/8)
  EXPECT_TRUE(load_report_input(tmp / "r.db", "m/CPU1").trace.has_value());
  EXPECT_THROW(load_report_input(tmp / "r.db", "zz/CPU9"), Error);

  const auto r = nnjoule::testing::run_cli(
      {"report", "--db", (tmp / "r.db").string(), "-o", (tmp / "report.html").string()});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const auto html = nnjoule::testing::read_text(tmp / "report.html");
  EXPECT_NE(html.find("chart-trace"), std::string::npos);
  EXPECT_NE(html.find("chart-kernels"), std::string::npos);
  EXPECT_NE(html.find("not supported"), std::string::npos);  // m/NNAPI

  const auto s = nnjoule::testing::run_cli({"score", "--db", (tmp / "r.db").string()});
  ASSERT_EQ(s.exit_code, 0) << s.err;
  EXPECT_NE(s.out.find("measured (constant)"), std::string::npos);
  EXPECT_NE(s.out.find("50.00"), std::string::npos);
}

}  // namespace
}  // namespace nnjoule::report
