// Application suites run by collect, stored, and read back as score input.
#include <gtest/gtest.h>

#include "nnjoule/collect/apps.hpp"

#include "nnjoule/common/error.hpp"
#include "nnjoule/graph/builder.hpp"
#include "nnjoule/graph/onnx.hpp"
#include "nnjoule/meter/sampler.hpp"
#include "nnjoule/score/input.hpp"
#include "nnjoule/store/store.hpp"
#include "nnjoule/zoo/processing.hpp"
#include "support/test_support.hpp"

namespace nnjoule::score {
namespace {
using namespace nnjoule::collect;
using namespace nnjoule::zoo;
using nnjoule::testing::TempDir;
using nnjoule::testing::write_text;

// A sensor that always reads 5 W: energies are then 5 W x time, whatever the machine.
class ConstantMeter : public meter::Meter {
 public:
  ConstantMeter() { domains_ = {{"total", meter::Signal::kPower}}; }
  std::string kind() const override { return "constant"; }
  void read(double, std::span<double> out) override { out[0] = 5000; }
};

SuiteRunOptions tiny_options() {
  SuiteRunOptions o;
  o.protocol.idle_s = 0.05;
  o.protocol.warmup_runs = 1;
  o.protocol.warmup_s = 0;
  o.protocol.min_window_s = 0.02;
  o.protocol.min_updates = 1;
  o.protocol.min_windows = 2;
  o.protocol.time_cap_s = 0.5;
  o.stage_protocol = o.protocol;
  o.stage_protocol.idle_s = 0;
  o.trace_idle_s = 0.05;
  o.trace_run_s = 0.1;
  o.trace_step_s = 0.02;
  return o;
}

graph::Graph tiny_classifier() {
  graph::GraphBuilder b("tiny", 3);
  auto x = b.relu(b.conv(b.input("input", {1, 3, 16, 16}), 8, 3, 2));
  return b.finish({b.fc(b.flatten(b.global_avgpool(x)), 10)});
}

TEST(Pipeline, BuiltinApplicationsRunEndToEnd) {
  const auto suite = builtin_suite("deepen2023");
  // Detection (SSD decoding + NMS), classification and speech on generated inputs.
  for (const char* id : {"DNN1", "DNN7", "DNN12"}) {
    Pipeline p(suite.entry(id), 1, 0);
    p.run_once();
    EXPECT_FALSE(p.result().empty()) << id;
  }
  Pipeline speech(suite.entry("DNN12"), 1, 0);
  speech.run_once();
  EXPECT_NE(speech.result().find("of 12"), std::string::npos) << speech.result();
  Pipeline det(suite.entry("DNN1"), 1, 0);
  det.run_once();
  EXPECT_NE(det.result().find("detections"), std::string::npos) << det.result();
  // INT8: the SSD through the zoo's quantizer, decoded the same way.
  Pipeline q(suite.entry("DNN2"), 1, 0);
  q.run_once();
  EXPECT_NE(q.result().find("detections"), std::string::npos) << q.result();
}

TEST(Pipeline, UserOnnxModelWithAnImageFile) {
  TempDir tmp;
  graph::save_onnx(tiny_classifier(), tmp / "tiny.onnx");
  write_text(tmp / "in.ppm", encode_ppm(generate_image(40, 30, 1)));
  write_text(tmp / "suite.json", R"({"name": "t", "delegates": ["CPU1"], "models": [
      {"id": "m", "onnx": "tiny.onnx", "application": "classification",
       "pre": {"input": "in.ppm"}, "post": {"top_k": 3}},
      {"id": "s", "onnx": "tiny.onnx", "application": "segmentation"}]})");
  const auto suite = parse_suite_file(tmp / "suite.json");
  Pipeline p(suite.entry("m"), 1, 0);
  p.run_once();
  EXPECT_NE(p.result().find("of 10"), std::string::npos) << p.result();
  // A classifier's [1,10] output is no segmentation mask: the error names the entry.
  try {
    Pipeline bad(suite.entry("s"), 1, 0);
    FAIL();
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("suite entry 's' (segmentation): output [1,10]"),
              std::string::npos)
        << e.what();
  }
  write_text(tmp / "in.ppm", "P6 40 30 255\nshort");
  try {
    Pipeline bad(suite.entry("m"), 1, 0);
    FAIL();
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("in.ppm: PPM truncated"), std::string::npos) << e.what();
  }
}

TEST(SuiteRun, StoresResultsResumesAndScores) {
  TempDir tmp;
  graph::save_onnx(tiny_classifier(), tmp / "tiny.onnx");
  write_text(tmp / "suite.json", R"({"name": "t", "delegates": ["CPU1", "CPU2", "GPU"], "models": [
      {"id": "m", "onnx": "tiny.onnx", "application": "classification"},
      {"id": "q", "builtin": "mobilenetv1", "precision": "int8"}]})");
  const auto suite = parse_suite_file(tmp / "suite.json");

  meter::SteadyClock clock;
  meter::Sampler sampler({std::make_shared<ConstantMeter>()}, clock);
  collect::Context ctx{&sampler, collect::real_sleeper(),
                       std::make_shared<const meter::SysFs>("/")};
  const Provenance prov{Origin::kMeasured, "constant"};
  sampler.start();
  SuiteRun run, again;
  {
    store::Store db(tmp / "r.db");
    run = run_suite(suite, db, ctx, prov, tiny_options(), "test", 20.0, "test");
    again = run_suite(suite, db, ctx, prov, tiny_options(), "test", 20.0, "test");
  }
  sampler.stop();
  ASSERT_EQ(run.results.size(), 6u);
  int measured = 0, unsupported = 0;
  for (const auto& r : run.results) {
    if (!r.unsupported.empty()) {
      ++unsupported;
      continue;
    }
    ++measured;
    EXPECT_NEAR(r.whole.avg_power_mw, 5000, 1e-6);
    ASSERT_EQ(r.stages.size(), 3u);
    EXPECT_FALSE(r.kernels.empty());
    EXPECT_FALSE(r.trace.empty());
  }
  EXPECT_EQ(measured, 4);  // m and the INT8 q on CPU1 and CPU2
  EXPECT_EQ(unsupported, 2);
  for (const auto& r : again.results) {
    if (r.unsupported.empty()) {
      EXPECT_EQ(r.skipped, "already stored for this device");
    }
  }

  const auto in = load_score_input(store::Store(tmp / "r.db", {.read_only = true}));
  ASSERT_EQ(in.devices.size(), 1u);
  EXPECT_EQ(in.devices[0].tdp_w, 20.0);
  EXPECT_EQ(in.configs.size(), 6u);
  EXPECT_EQ(in.unsupported.size(), 2u);
  ASSERT_EQ(in.results.size(), 4u);
  EXPECT_NEAR(in.results[0].apc_w, 5.0, 1e-9);
  EXPECT_EQ(in.results[0].provenance.label(), "measured (constant)");
  const auto rep = compute_scores(in);
  EXPECT_NEAR(*rep.devices[0].pcs, 75.0, 1e-6);  // 100 x (1 - 5/20)
  EXPECT_EQ(rep.devices[0].missing.size(), 2u);
  EXPECT_NE(render_text(rep).find("not supported"), std::string::npos);
}

TEST(SuiteRun, EmptyDatabaseIsAnError) {
  TempDir tmp;
  { store::Store db(tmp / "e.db"); }
  try {
    load_score_input(store::Store(tmp / "e.db", {.read_only = true}));
    FAIL();
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("no application measurements"), std::string::npos);
  }
}

// `collect` and `bench` once described this machine differently (runtime, OS spelling), so one
// machine became two device rows and its kernel dataset and its scores never met. (The time
// cap leaves room for a 0.4 s window on a loaded machine.)
TEST(SuiteRun, CollectAndBenchOnOneMachineShareOneDeviceRow) {
  TempDir tmp;
  const std::string db = (tmp / "d.db").string();
  graph::save_onnx(tiny_classifier(), tmp / "tiny.onnx");
  write_text(tmp / "suite.json", R"({"name": "t", "delegates": ["CPU1"], "models": [
      {"id": "m", "onnx": "tiny.onnx", "application": "classification"}]})");
  const auto c = nnjoule::testing::run_cli(
      {"collect", "kernels", "--db", db, "--kernels", "fc", "--count", "1", "--floor", "1",
       "--profile", "quick", "--idle", "0", "--meter", "estimate", "--prior-variants", "0"});
  ASSERT_EQ(c.exit_code, 0) << c.err;
  const auto b = nnjoule::testing::run_cli({"apps", "--suite", (tmp / "suite.json").string(),
                                            "--db", db, "--threads", "1", "--idle", "0",
                                            "--time-cap", "5", "--meter", "estimate"});
  ASSERT_EQ(b.exit_code, 0) << b.err;
  store::Store s(db, store::Store::Options{.read_only = true});
  const auto devices = s.devices();
  ASSERT_EQ(devices.size(), 1u);
  EXPECT_FALSE(s.kernels().empty());
  EXPECT_FALSE(s.applications().empty());
}

}  // namespace
}  // namespace nnjoule::score
