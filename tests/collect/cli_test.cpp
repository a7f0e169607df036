#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "meter/fake_tree.hpp"
#include "nnjoule/graph/builder.hpp"
#include "nnjoule/graph/onnx.hpp"
#include "support/test_support.hpp"

using nnjoule::testing::FakeTree;
using nnjoule::testing::run_cli;

namespace {

// A machine with no sensor but a /proc: only the estimate can work.
void bare_machine(const FakeTree& t) {
  t.write("/proc/stat", "cpu  100 0 50 5000 0 0 0 0 0 0\n");
  t.write("/proc/cpuinfo", "processor\t: 0\nmodel name\t: Test CPU\n");
  t.write("/sys/devices/system/cpu/online", "0\n");
}

void ina_board(const FakeTree& t) {
  t.write("/sys/class/hwmon/hwmon0/name", "ina3221\n");
  t.write("/sys/class/hwmon/hwmon0/in1_label", "VDD_IN\n");
  t.write("/sys/class/hwmon/hwmon0/in1_input", "5000\n");
  t.write("/sys/class/hwmon/hwmon0/curr1_input", "1000\n");
  t.write("/sys/class/hwmon/hwmon0/in2_label", "VDD_CPU_GPU_CV\n");
  t.write("/sys/class/hwmon/hwmon0/in2_input", "5000\n");
  t.write("/sys/class/hwmon/hwmon0/curr2_input", "300\n");
}

}  // namespace

TEST(Cli, MetersListsEveryKindWithReasons) {
  FakeTree t;
  bare_machine(t);
  ina_board(t);
  auto r = run_cli({"meters", "--root", t.root().string(), "--json", "--probe-ms", "30"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  auto j = nlohmann::json::parse(r.out);
  std::map<std::string, std::string> status;
  for (const auto& m : j["meters"]) status[m["kind"]] = m["status"];
  EXPECT_EQ(status["ina"], "found");
  EXPECT_EQ(status["estimate"], "found");
  EXPECT_EQ(status["rapl"], "not found");
  EXPECT_EQ(status["trace"], "not used");
  for (const char* k : {"perf", "nvml", "hwmon", "battery"}) EXPECT_EQ(status[k], "not found") << k;
  for (const auto& m : j["meters"]) {
    if (m["kind"] != "ina") continue;
    EXPECT_EQ(m["provenance"]["label"], "measured (ina)");
    ASSERT_EQ(m["domains"].size(), 2u);
    EXPECT_EQ(m["domains"][0]["name"], "VDD_IN");
    EXPECT_EQ(m["domains"][0]["readable"], true);
    EXPECT_EQ(m["domains"][1]["in_total"], false);
  }
  auto text = run_cli({"meters", "--root", t.root().string(), "--probe-ms", "30"});
  ASSERT_EQ(text.exit_code, 0) << text.err;
  EXPECT_NE(text.out.find("rapl: not found: "), std::string::npos) << text.out;
  EXPECT_NE(text.out.find("estimated (cpu-time model)"), std::string::npos);
}

TEST(Cli, MeasureACommandWithTheEstimate) {
  FakeTree t;
  bare_machine(t);
  auto r = run_cli({"measure", "--root", t.root().string(), "--idle", "0.05", "--json", "--", "sh",
                    "-c", "echo hello; exit 3"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  auto j = nlohmann::json::parse(r.out);  // the command's stdout went to stderr
  EXPECT_EQ(j["exit_code"], 3);
  EXPECT_EQ(j["kind"], "command");
  EXPECT_EQ(j["workload"], "sh -c echo hello; exit 3");
  EXPECT_EQ(j["provenance"]["label"], "estimated (cpu-time model)");
  EXPECT_GT(j["duration_ms"].get<double>(), 0);
  EXPECT_FALSE(j["idle_power_mw"].is_null());
  EXPECT_FALSE(j["dynamic_energy_mj"].is_null());
  EXPECT_EQ(j["device"]["cpu_model"], "Test CPU");
  EXPECT_NE(r.err.find("hello"), std::string::npos);
  bool noted = false;
  for (const auto& n : j["notes"])
    noted = noted || n.get<std::string>().find("estimated (cpu-time model), not measured") !=
                         std::string::npos;
  EXPECT_TRUE(noted);
}

TEST(Cli, MeasureWithABoardRail) {
  FakeTree t;
  bare_machine(t);
  ina_board(t);
  auto r =
      run_cli({"measure", "--root", t.root().string(), "--idle", "0.05", "--json", "--", "true"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  auto j = nlohmann::json::parse(r.out);
  EXPECT_EQ(j["meter"], "ina");
  EXPECT_EQ(j["provenance"]["label"], "measured (ina)");
  EXPECT_NEAR(j["avg_power_mw"].get<double>(), 5000, 1e-6);  // VDD_IN only, never the sum
  EXPECT_NEAR(j["idle_power_mw"].get<double>(), 5000, 1e-6);
}

TEST(Cli, MeasureErrors) {
  FakeTree t;
  bare_machine(t);
  auto none = run_cli({"measure", "--root", t.root().string()});
  EXPECT_EQ(none.exit_code, 1);
  EXPECT_NE(none.err.find("nnjoule: error: measure: nothing to measure"), std::string::npos);
  auto missing =
      run_cli({"measure", "--root", t.root().string(), "--idle", "0", "--", "/nonexistent/cmd"});
  EXPECT_EQ(missing.exit_code, 1);
  EXPECT_NE(missing.err.find("nnjoule: error: cannot run '/nonexistent/cmd'"), std::string::npos)
      << missing.err;
  auto rapl = run_cli({"measure", "--root", t.root().string(), "--meter", "rapl", "--", "true"});
  EXPECT_EQ(rapl.exit_code, 1);
  EXPECT_NE(rapl.err.find("nnjoule: error: meter 'rapl' is not available: "), std::string::npos)
      << rapl.err;
}

TEST(Cli, MeasureModelOptionsAndBadModels) {
  FakeTree t;
  bare_machine(t);
  nnjoule::testing::TempDir dir;
  auto cmd_threads =
      run_cli({"measure", "--root", t.root().string(), "--threads", "2", "--", "true"});
  EXPECT_EQ(cmd_threads.exit_code, 1);
  EXPECT_NE(cmd_threads.err.find("--threads and --cpus apply to a model"), std::string::npos);
  nnjoule::testing::write_text(dir / "bad.onnx", "not a model");
  auto bad = run_cli({"measure", (dir / "bad.onnx").string(), "--root", t.root().string()});
  EXPECT_EQ(bad.exit_code, 1);
  EXPECT_NE(bad.err.find("nnjoule: error: "), std::string::npos) << bad.err;
  EXPECT_NE(bad.err.find("bad.onnx"), std::string::npos) << bad.err;
}

TEST(Cli, MeasureAModelRunsTheProtocol) {
  FakeTree t;
  bare_machine(t);
  ina_board(t);
  nnjoule::testing::TempDir dir;
  nnjoule::graph::GraphBuilder b("tiny", 1);
  auto x = b.input("x", {1, 3, 16, 16});
  auto y = b.relu(b.conv(x, 8, 3));
  nnjoule::graph::save_onnx(b.finish({b.global_avgpool(y)}), dir / "tiny.onnx");
  auto r = run_cli({"measure", (dir / "tiny.onnx").string(), "--root", t.root().string(), "--idle",
                    "0.02", "--min-window", "0.01", "--time-cap", "2", "--threads", "1", "--json"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  auto j = nlohmann::json::parse(r.out);
  EXPECT_EQ(j["kind"], "model");
  EXPECT_EQ(j["provenance"]["label"], "measured (ina)");
  EXPECT_GE(j["windows"].get<int>(), 2);
  EXPECT_GE(j["inferences"].get<int64_t>(), j["windows"].get<int64_t>());
  EXPECT_GT(j["latency_ms"].get<double>(), 0);
  // A constant 5 W rail: every inference costs 5 W x its latency.
  EXPECT_NEAR(j["energy_per_inference_mj"].get<double>(), 5.0 * j["latency_ms"].get<double>(),
              1e-6 * j["energy_per_inference_mj"].get<double>());
  EXPECT_EQ(j["device"]["threads"], 1);
  EXPECT_EQ(j["exit_code"], nullptr);
  auto text = run_cli({"measure", (dir / "tiny.onnx").string(), "--root", t.root().string(),
                       "--idle", "0", "--min-window", "0.01", "--time-cap", "1"});
  ASSERT_EQ(text.exit_code, 0) << text.err;
  EXPECT_NE(text.out.find("energy / inference"), std::string::npos) << text.out;
  EXPECT_NE(text.out.find("measured (ina)"), std::string::npos);
}
