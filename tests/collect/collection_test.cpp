// The collection loop against a test double of the runner: resume, interruption, stop
// requests, failing kernels, a full disk, progress output.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <set>
#include <sstream>

#include "nnjoule/collect/collection.hpp"
#include "nnjoule/common/error.hpp"
#include "nnjoule/zoo/zoo.hpp"
#include "support/test_support.hpp"

using namespace nnjoule;
using namespace nnjoule::store;
using namespace nnjoule::collect;
using nnjoule::testing::error_of;
using nnjoule::testing::TempDir;
using ::testing::HasSubstr;

namespace {

struct Killed {};  // stands for the process dying: not an error the loop may catch

class FakeRunner : public Runner {
 public:
  int calls = 0;
  int kill_after = -1;                                 // throw Killed on this call
  std::function<bool(const graph::Graph&)> fails_for;  // Error for these graphs

  Device device() override {
    Device d;
    d.name = "fake-board";
    d.cpu = "FakeCore";
    return d;
  }
  nlohmann::json key_settings() override { return {{"threads", 1}, {"meter", "fake"}}; }
  nlohmann::json run_settings() override {
    return {{"threads", 1}, {"meter", "fake"}, {"protocol", "test"}};
  }
  Provenance provenance() override { return {Origin::kEstimated, "fake meter"}; }
  int threads() override { return 1; }
  RunResult measure(const graph::Graph& g, const std::vector<kernels::Kernel>& ks,
                    bool breakdown) override {
    if (calls == kill_after) throw Killed{};
    ++calls;
    if (fails_for && fails_for(g)) fail("node '{}': the engine cannot run it", g.nodes[0].name);
    double flops = 0;
    for (const auto& k : ks) flops += k.flops;
    RunResult r;
    r.m.latency_ms = 1.0 + flops * 1e-9;
    r.m.power_mw = 2000;
    r.m.energy_mj = *r.m.latency_ms * 2.0;
    r.m.n = 10;
    r.m.provenance = provenance();
    r.measured_s = 0.001;
    if (breakdown) {
      for (size_t i = 0; i < ks.size(); ++i) r.kernel_latency_ms.push_back(0.01 * (i + 1));
    }
    return r;
  }
};

KernelCollectOptions small_plan() {
  KernelCollectOptions o;
  o.kernel_types = {"conv-bn-relu", "fc", "maxpool", "addrelu"};  // DeepEn2023 spelling too
  o.count = 12;
  o.floor = 2;
  o.seed = 5;
  o.prior_variants = 0;
  return o;
}

}  // namespace

// The default model families are 8 distinct zoo families, the ones docs/prediction.md's
// unseen-model table was measured on.
TEST(Collect, DefaultModelFamiliesAreEightZooFamilies) {
  const auto& f = default_model_families();
  EXPECT_EQ(f.size(), 8u);
  EXPECT_EQ(std::set<std::string>(f.begin(), f.end()).size(), f.size());
  const auto all = zoo::family_names();
  for (const auto& name : f) EXPECT_NE(std::find(all.begin(), all.end(), name), all.end()) << name;
  EXPECT_LT(f.size(), all.size());
}

TEST(Collect, MeasuresThePlanAndResumes) {
  TempDir tmp;
  Store s(tmp / "d.db");
  FakeRunner runner;
  std::atomic<bool> stop{false};
  const auto plan = plan_kernels(runner, small_plan());
  ASSERT_EQ(plan.size(), 12u);
  std::map<std::string, int> per_type;
  for (const auto& p : plan) per_type[p.type]++;
  EXPECT_EQ(per_type.size(), 4u);
  EXPECT_GE(per_type["add-relu"], 2);
  EXPECT_GT(per_type["conv-bn-relu"], per_type["fc"]);  // conv occurs more often in the zoo

  const auto report = collect_kernels(s, runner, small_plan(), stop);
  EXPECT_EQ(report.measured, 12);
  EXPECT_EQ(report.failed, 0);
  EXPECT_FALSE(report.interrupted);
  const auto rows = s.kernels();
  ASSERT_EQ(rows.size(), 12u);
  for (size_t i = 0; i < rows.size(); ++i) {
    EXPECT_EQ(rows[i].key, plan[i].key);
    EXPECT_EQ(*rows[i].config, plan[i].config);
    EXPECT_EQ(rows[i].m.provenance.label(), "estimated (fake meter)");
    EXPECT_GT(*rows[i].flops, 0);
    EXPECT_EQ(rows[i].threads, 1);
  }
  EXPECT_EQ(s.runs().at(0).status, "complete");
  EXPECT_EQ(s.runs().at(0).settings["protocol"], "test");

  // Running it again measures nothing and leaves no empty run behind.
  FakeRunner again;
  const auto second = collect_kernels(s, again, small_plan(), stop);
  EXPECT_EQ(second.measured, 0);
  EXPECT_EQ(second.skipped, 12);
  EXPECT_EQ(again.calls, 0);
  EXPECT_EQ(s.runs().size(), 1u);
  EXPECT_EQ(s.kernels().size(), 12u);
}

// The process dies between measurements: what was stored stays, a re-run does the rest.
TEST(Collect, ResumesAfterAnInterruption) {
  TempDir tmp;
  std::atomic<bool> stop{false};
  {
    Store s(tmp / "d.db");
    FakeRunner dying;
    dying.kill_after = 5;
    EXPECT_THROW(collect_kernels(s, dying, small_plan(), stop), Killed);
    EXPECT_EQ(s.kernels().size(), 5u);
  }
  Store s(tmp / "d.db");
  // The exception unwound through the loop, which marked the run; a real kill leaves it
  // "running". Either way the rows are what counts.
  EXPECT_EQ(s.runs().at(0).status, "failed");
  FakeRunner runner;
  const auto report = collect_kernels(s, runner, small_plan(), stop);
  EXPECT_EQ(report.skipped, 5);
  EXPECT_EQ(report.measured, 7);
  EXPECT_EQ(runner.calls, 7);
  const auto rows = s.kernels();
  ASSERT_EQ(rows.size(), 12u);
  std::set<std::string> keys;
  for (const auto& r : rows) keys.insert(r.key);
  EXPECT_EQ(keys.size(), 12u);
}

TEST(Collect, StopRequestEndsAfterTheMeasurementInFlight) {
  TempDir tmp;
  Store s(tmp / "d.db");
  FakeRunner runner;
  std::atomic<bool> stop{false};
  const auto report = collect_kernels(s, runner, small_plan(), stop, [&](const Progress& p) {
    if (p.measured == 3) stop = true;  // as the SIGINT handler does
  });
  EXPECT_TRUE(report.interrupted);
  EXPECT_EQ(report.measured, 3);
  EXPECT_EQ(s.kernels().size(), 3u);
  EXPECT_EQ(s.runs().at(0).status, "interrupted");
  EXPECT_THAT(report.to_text(), HasSubstr("run the same command again to resume"));
}

TEST(Collect, FailingKernelsAreReportedAndTheRestStored) {
  TempDir tmp;
  Store s(tmp / "d.db");
  FakeRunner runner;
  runner.fails_for = [](const graph::Graph& g) { return g.nodes[0].op_type == "Gemm"; };
  std::atomic<bool> stop{false};
  std::ostringstream out;
  ProgressPrinter printer(out, false);
  const auto report = collect_kernels(s, runner, small_plan(), stop, std::ref(printer));
  const auto plan = plan_kernels(runner, small_plan());
  int64_t fcs = 0;
  for (const auto& p : plan) fcs += p.type == "fc";
  EXPECT_EQ(report.failed, fcs);
  EXPECT_EQ(report.measured, 12 - fcs);
  ASSERT_FALSE(report.failures.empty());
  EXPECT_THAT(report.failures[0], HasSubstr("fc CIN="));
  EXPECT_THAT(report.failures[0], HasSubstr("the engine cannot run it"));
  EXPECT_EQ(static_cast<int64_t>(s.kernels().size()), 12 - fcs);
  EXPECT_THAT(out.str(), HasSubstr("/12] fc CIN="));
  EXPECT_THAT(out.str(), HasSubstr(": failed: node '"));
  EXPECT_THAT(out.str(), HasSubstr("ms, "));
  EXPECT_THAT(out.str(), HasSubstr("(estimated (fake meter))"));
}

TEST(Collect, FullDiskStopsTheCollectionAndKeepsWhatIsStored) {
  TempDir tmp;
  { Store s(tmp / "d.db"); }
  Store::Options o;
  o.max_pages = 13;
  Store s(tmp / "d.db", o);
  FakeRunner runner;
  std::atomic<bool> stop{false};
  KernelCollectOptions many = small_plan();
  many.count = 400;
  const std::string err = error_of([&] { collect_kernels(s, runner, many, stop); });
  EXPECT_THAT(err, HasSubstr("full"));
  const auto stored = s.kernels().size();
  EXPECT_GT(stored, 0u);
  EXPECT_LT(stored, 400u);
  // Without the cap the same command resumes.
  Store roomy(tmp / "d.db");
  const auto report = collect_kernels(roomy, runner, many, stop);
  EXPECT_EQ(static_cast<size_t>(report.skipped), stored);
  EXPECT_EQ(roomy.kernels().size(), static_cast<size_t>(report.planned));
}

TEST(Collect, UnknownKernelTypeIsAClearError) {
  FakeRunner runner;
  KernelCollectOptions o = small_plan();
  o.kernel_types = {"conv-bn-relu", "warp-drive"};
  EXPECT_THAT(error_of([&] { plan_kernels(runner, o); }),
              HasSubstr("kernel type 'warp-drive' occurs nowhere in the zoo"));
}

TEST(Collect, ModelsWithBreakdownNeverMeasuredTwice) {
  TempDir tmp;
  Store s(tmp / "d.db");
  FakeRunner runner;
  std::atomic<bool> stop{false};
  ModelCollectOptions o;
  o.families = {"resnet18", "mobilenetv2"};
  o.variants = 1;
  o.seed = 2;
  const auto report = collect_models(s, runner, o, stop);
  EXPECT_EQ(report.planned, 4);
  EXPECT_EQ(report.measured, 4);
  const auto models = s.models();
  ASSERT_EQ(models.size(), 4u);
  EXPECT_EQ(models[0].name, "resnet18");
  EXPECT_EQ(models[1].name, "resnet18-v2-0");
  EXPECT_EQ(models[1].variant, 0);
  EXPECT_EQ(models[0].hash_kind, "onnx");
  EXPECT_EQ(models[0].hash.size(), 16u);
  const auto rows = s.model_measurements();
  ASSERT_EQ(rows.size(), 4u);
  for (const auto& r : rows) {
    const Model m = s.model(r.model_id);
    ASSERT_EQ(r.kernel_latency_ms.size(), m.kernels.size());
    EXPECT_DOUBLE_EQ(*r.kernel_latency_ms[0], 0.01);
  }
  FakeRunner again;
  const auto second = collect_models(s, again, o, stop);
  EXPECT_EQ(second.skipped, 4);
  EXPECT_EQ(again.calls, 0);
  EXPECT_THAT(error_of([&] {
                ModelCollectOptions bad = o;
                bad.families = {"lenet"};
                collect_models(s, runner, bad, stop);
              }),
              HasSubstr("unknown model family 'lenet'"));
}

TEST(Collect, RepeatedModelsRoundRobinEachARowOfItsOwn) {
  TempDir tmp;
  Store s(tmp / "d.db");
  FakeRunner runner;
  std::atomic<bool> stop{false};
  ModelCollectOptions o;
  o.families = {"resnet18", "mobilenetv2"};
  o.variants = 0;
  o.repeats = 3;
  std::vector<std::string> order;
  const auto report = collect_models(s, runner, o, stop, [&](const Progress& p) {
    if (p.status == "measured") order.push_back(p.label);
  });
  EXPECT_EQ(report.planned, 6);
  EXPECT_EQ(report.measured, 6);
  // Pass-major: every model once, then again.
  EXPECT_EQ(order, (std::vector<std::string>{"resnet18", "mobilenetv2", "resnet18 (repeat 2)",
                                             "mobilenetv2 (repeat 2)", "resnet18 (repeat 3)",
                                             "mobilenetv2 (repeat 3)"}));
  EXPECT_EQ(s.models().size(), 2u);  // one model row each, named without the repeat
  EXPECT_EQ(s.models()[0].name, "resnet18");
  const auto rows = s.model_measurements();
  ASSERT_EQ(rows.size(), 6u);
  std::set<std::string> keys;
  for (const auto& r : rows) keys.insert(r.key);
  EXPECT_EQ(keys.size(), 6u);
  // Resumed: nothing measured twice; a larger --repeat measures only the new passes.
  FakeRunner again;
  EXPECT_EQ(collect_models(s, again, o, stop).skipped, 6);
  EXPECT_EQ(again.calls, 0);
  o.repeats = 4;
  EXPECT_EQ(collect_models(s, again, o, stop).measured, 2);
  o.repeats = 0;
  EXPECT_THAT(error_of([&] { collect_models(s, again, o, stop); }),
              HasSubstr("--repeat must be between 1 and 1000 (got 0)"));
}

TEST(Collect, ProgressBarOnATerminal) {
  std::ostringstream out;
  ProgressPrinter printer(out, true);
  Progress p;
  p.index = 3;
  p.total = 10;
  p.measured = 2;
  p.skipped = 1;
  p.label = "fc CIN=8 COUT=4";
  p.status = "measured";
  p.elapsed_s = 30;
  p.measuring_s = 30;
  printer(p);
  printer.finish();
  const std::string s = out.str();
  EXPECT_THAT(s, HasSubstr("\r\033[K[#######................."));
  EXPECT_THAT(s, HasSubstr("3/10 4.0/min ETA 1m45s (1 stored) fc CIN=8 COUT=4"));
  EXPECT_EQ(s.back(), '\n');
  EXPECT_EQ(format_duration(3725), "1h02m");
  EXPECT_EQ(format_duration(2.34), "2.3s");
}

// --dtype int8: each single-kernel model is quantized, its int8 kernel measured and stored as
// int8 under the detected type (batch norm folded into the conv); fp32 rows of the same configs
// are other rows (other keys), and fp32 keys are what they were before dtypes.
TEST(Collect, Int8KernelsAreQuantizedModelsStoredWithTheirDtype) {
  TempDir tmp;
  Store s(tmp / "d.db");
  KernelCollectOptions o = small_plan();
  o.kernel_types = {"conv-bn-relu", "fc", "maxpool"};
  o.count = 6;
  std::atomic<bool> stop{false};
  FakeRunner fp32;
  const auto plan = plan_kernels(fp32, o);
  EXPECT_EQ(plan[0].key, kernel_key(plan[0].type, plan[0].config, fp32.key_settings()));
  EXPECT_EQ(collect_kernels(s, fp32, o, stop).measured, 6);

  o.dtype = "int8";
  FakeRunner int8;
  int quantized_graphs = 0;
  int8.fails_for = [&](const graph::Graph& g) {
    quantized_graphs += std::any_of(g.nodes.begin(), g.nodes.end(), [](const graph::Node& n) {
      return n.op_type == "QuantizeLinear";
    });
    return false;
  };
  const auto report = collect_kernels(s, int8, o, stop);
  EXPECT_EQ(report.measured, 6) << report.to_text();
  EXPECT_EQ(quantized_graphs, 6);
  const auto rows = s.kernels();
  ASSERT_EQ(rows.size(), 12u);
  std::set<std::string> int8_types;
  for (const auto& r : rows) {
    if (r.dtype == "int8") int8_types.insert(r.kernel_type);
  }
  EXPECT_EQ(int8_types, (std::set<std::string>{"conv-relu", "fc", "maxpool"}));
  EXPECT_EQ(
      std::count_if(rows.begin(), rows.end(), [](const auto& r) { return r.dtype == "fp32"; }), 6);
}
