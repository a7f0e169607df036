#include <gtest/gtest.h>
#include <unistd.h>

#include <fmt/format.h>

#include "meter/fake_tree.hpp"
#include "nnjoule/common/error.hpp"
#include "nnjoule/meter/discovery.hpp"
#include "nnjoule/meter/meters.hpp"
#include "nnjoule/meter/sampler.hpp"
#include "support/test_support.hpp"

using namespace nnjoule;
using namespace nnjoule::meter;
using nnjoule::testing::error_of;
using nnjoule::testing::FakeTree;
using nnjoule::testing::TempDir;

namespace {

using nnjoule::testing::contains;

// A Monsoon PowerTool export, 1 kHz for 1 s, 4 V and a current ramp: P(t) = 400 + 4000 t mW.
std::string monsoon_ramp() {
  std::string s = "Time(ms),Main(mA),Main Voltage(V)\n";
  for (int k = 0; k <= 1000; ++k) s += fmt::format("{},{},4\n", k, 100 + k);
  return s;
}

// Integral of 400 + 4000 t over [a, b].
double ramp_mj(double a, double b) {
  return 400 * (b - a) + 2000 * (b * b - a * a);
}

}  // namespace

TEST(Trace, ParsesMonsoonExport) {
  auto tr = parse_trace_csv(monsoon_ramp(), "run.csv");
  ASSERT_EQ(tr.points.size(), 1001u);
  EXPECT_FALSE(tr.absolute_time);
  EXPECT_DOUBLE_EQ(tr.points[10].t_s, 0.010);
  EXPECT_DOUBLE_EQ(tr.points[10].power_mw, 440);
  EXPECT_EQ(tr.columns, "Time(ms), Main(mA) x Main Voltage(V)");
}

TEST(Trace, ParsesTimeAndPowerInWatts) {
  auto tr = parse_trace_csv("time (s);power [W]\n0;1.5\n0.5;2.5\n", "lab.csv");
  ASSERT_EQ(tr.points.size(), 2u);
  EXPECT_DOUBLE_EQ(tr.points[1].power_mw, 2500);
}

TEST(Trace, BadInputNamesFileLineAndColumn) {
  EXPECT_EQ(error_of([] {
              parse_trace_csv("Time(ms),Main(mA),Main Voltage(V)\n0,1,4\n1,abc,4\n", "m.csv");
            }),
            "m.csv:3: column 'Main(mA)': 'abc' is not a number");
  EXPECT_TRUE(contains(error_of([] { parse_trace_csv("t(s),power\n0,1\n", "p.csv"); }),
                       "column 'power' has no unit"));
  EXPECT_TRUE(contains(error_of([] { parse_trace_csv("t(s),P(mW)\n0,1\n0,2\n", "q.csv"); }),
                       "q.csv:3: time 0 is not after"));
  EXPECT_TRUE(contains(error_of([] { parse_trace_csv("a,b\n1,2\n", "r.csv"); }), "no time column"));
  EXPECT_TRUE(contains(error_of([] { parse_trace_csv("time(s),x(furlong)\n1,2\n", "s.csv"); }),
                       "no power column"));
  EXPECT_TRUE(contains(
      error_of([] { parse_trace_csv("Time(ms),Main(mA),Main Voltage(V)\n0,1\n", "u.csv"); }),
      "u.csv:2: expected 3 columns, got 2"));
}

TEST(Trace, WindowsAlignByOffset) {
  TempDir dir;
  nnjoule::testing::write_text(dir / "run.csv", monsoon_ramp());
  TraceConfig cfg;
  cfg.path = dir / "run.csv";
  cfg.offset_s = 10;  // the trace started 10 s into the sampler's timeline
  auto f = find_trace(cfg);
  ASSERT_EQ(f[0].status, Finding::Status::kFound);
  EXPECT_NEAR(f[0].meter->known_update_period_s().value(), 0.001, 1e-12);
  ManualClock clock;
  Sampler s({f[0].meter}, clock);
  s.begin_window("a", 10.2);
  s.begin_window("b", 10.2505);  // between samples: interpolated
  auto a = s.end_window("a", 10.7);
  auto b = s.end_window("b", 10.9);
  EXPECT_NEAR(a.primary().energy_mj, ramp_mj(0.2, 0.7), 1e-9);
  EXPECT_NEAR(b.primary().energy_mj, ramp_mj(0.2505, 0.9), 1e-9);
  EXPECT_EQ(a.primary().provenance.label(), "measured (trace)");
  s.begin_window("late", 10.5);
  EXPECT_TRUE(contains(error_of([&] { s.end_window("late", 11.5); }), "not covered by the trace"));
}

TEST(Trace, WindowsAlignByWallClock) {
  TempDir dir;
  nnjoule::testing::write_text(dir / "run.csv", monsoon_ramp());
  TraceConfig cfg;
  cfg.path = dir / "run.csv";
  cfg.start_epoch_s = 1700000000.0 - 0.25;  // the monitor started 0.25 s before the sampler
  auto f = find_trace(cfg);
  ManualClock clock(0, 1700000000.0);
  Sampler s({f[0].meter}, clock);
  s.begin_window("w", 0.0);
  auto w = s.end_window("w", 0.5);
  EXPECT_NEAR(w.primary().energy_mj, ramp_mj(0.25, 0.75), 1e-9);
}

TEST(Trace, AbsoluteEpochTimestamps) {
  TempDir dir;
  nnjoule::testing::write_text(dir / "abs.csv",
                               "timestamp,power(W)\n1700000010,2\n1700000011,2\n1700000012,4\n");
  TraceConfig cfg;
  cfg.path = dir / "abs.csv";
  auto f = find_trace(cfg);
  ManualClock clock(0, 1700000000.0);
  Sampler s({f[0].meter}, clock);
  s.begin_window("w", 10.5);
  auto w = s.end_window("w", 12.0);
  EXPECT_NEAR(w.primary().energy_mj, 1000 + 3000, 1e-6);  // 0.5 s at 2 W, then 2 -> 4 W over 1 s
}

TEST(Trace, NoFileIsNotUsedAndABadFileIsAnError) {
  EXPECT_EQ(find_trace({})[0].status, Finding::Status::kNotUsed);
  TraceConfig cfg;
  cfg.path = "/nonexistent/trace.csv";
  EXPECT_THROW(find_trace(cfg), Error);
}

// ---- estimate ----

namespace {
void proc(const FakeTree& t, long long busy_user,
          const std::string& model = "Intel(R) Xeon(R) Processor") {
  t.write("/proc/stat",
          fmt::format("cpu  {} 0 0 5000 10 0 0 7 0 0\ncpu0 1 0 0 1 0 0 0 0 0 0\n", busy_user));
  t.write("/proc/cpuinfo", "processor\t: 0\nmodel name\t: " + model +
                               "\n\nprocessor\t: 1\nmodel name\t: " + model + "\n");
  t.write("/sys/devices/system/cpu/online", "0-1\n");
}
}  // namespace

TEST(Estimate, IdlePlusBusyCoresAndLabelledEstimated) {
  FakeTree t;
  proc(t, 100);
  EstimateConfig cfg;
  cfg.idle_power_mw = 1000;
  cfg.busy_core_power_mw = 2000;
  auto f = find_estimate(t.fs(), cfg);
  ASSERT_EQ(f[0].status, Finding::Status::kFound) << f[0].reason;
  EXPECT_EQ(f[0].meter->provenance().label(), "estimated (cpu-time model)");
  EXPECT_EQ(f[0].meter->provenance().origin, Origin::kEstimated);
  ManualClock clock;
  Sampler s({f[0].meter}, clock);
  s.begin_window("w", 0);
  // One core busy for the whole 2 s window: 2 s of CPU time = 2 x CLK_TCK jiffies.
  const long tck = sysconf(_SC_CLK_TCK);
  proc(t, 100 + 2 * tck);
  auto w = s.end_window("w", 2);
  EXPECT_NEAR(w.primary().energy_mj, 1000 * 2 + 2000 * 2, 1e-6);
  EXPECT_EQ(w.primary().provenance.label(), "estimated (cpu-time model)");
  EXPECT_NE(w.primary().provenance.label().find("estimated"), std::string::npos);
  // Its resolution is one tick of one busy core, declared, not the polling interval times the
  // idle power that a probe would see step by step.
  const auto st = s.stats(0);
  ASSERT_EQ(st.resolution.size(), 1u);
  EXPECT_TRUE(st.resolution_known.at(0));
  EXPECT_NEAR(*st.resolution[0], 2000.0 / static_cast<double>(tck), 1e-9);
}

TEST(Estimate, DefaultIsStatedWhenTheCpuIsUnknown) {
  auto m = estimate_model("Intel(R) Xeon(R) Processor", 2, {});
  EXPECT_TRUE(
      contains(m.basis, "default 15 W package: no TDP known for 'Intel(R) Xeon(R) Processor'"))
      << m.basis;
  EXPECT_DOUBLE_EQ(m.idle_power_mw, 3000);
  EXPECT_DOUBLE_EQ(m.busy_core_power_mw, 6000);
}

TEST(Estimate, TableByModelName) {
  auto u = estimate_model("11th Gen Intel(R) Core(TM) i7-1185G7 @ 3.00GHz", 8, {});
  EXPECT_TRUE(contains(u.basis, "Intel Core U-series")) << u.basis;
  EXPECT_DOUBLE_EQ(u.idle_power_mw + 8 * u.busy_core_power_mw, 15000);
  auto pi = estimate_model("Raspberry Pi 4 Model B Rev 1.4", 4, {});
  EXPECT_DOUBLE_EQ(pi.idle_power_mw, 2700);
  EXPECT_DOUBLE_EQ(pi.busy_core_power_mw, (6400 - 2700) / 4.0);
  EstimateConfig tdp;
  tdp.tdp_w = 35;
  auto d = estimate_model("Raspberry Pi 4 Model B Rev 1.4", 4, tdp);
  EXPECT_TRUE(contains(d.basis, "TDP 35 W (device file)"));
  EXPECT_DOUBLE_EQ(d.idle_power_mw, 7000);
}

TEST(Estimate, CpuModelFromBoardWhenCpuinfoIsGeneric) {
  FakeTree t;
  t.write("/proc/cpuinfo", "processor\t: 0\nmodel name\t: ARMv8 Processor rev 1 (v8l)\n");
  t.write("/proc/device-tree/model", std::string("NVIDIA Jetson Orin Nano Developer Kit") + '\0');
  EXPECT_EQ(cpu_model_name(*t.fs()), "NVIDIA Jetson Orin Nano Developer Kit");
  EXPECT_EQ(online_cpus(*t.fs()), 1);
}

TEST(ProcStat, OtherBusyCoresBetweenTwoReads) {
  FakeTree t;
  t.write("/proc/stat", "cpu  100 0 0 5000 10 0 0 7 0 0\ncpu0 1 0 0 1 0 0 0 0 0 0\n");
  double waited = 0;
  const auto busy = other_busy_cores(*t.fs(), 2, 0.5, [&](double s) {
    waited = s;  // 60 busy and 30 idle ticks pass: two thirds of 2 CPUs
    t.write("/proc/stat", "cpu  150 0 5 5030 10 0 5 7 0 0\ncpu0 1 0 0 1 0 0 0 0 0 0\n");
  });
  EXPECT_EQ(waited, 0.5);
  ASSERT_TRUE(busy.has_value());
  EXPECT_NEAR(*busy, 60.0 / 90.0 * 2, 1e-12);
  const CpuTicks ticks = parse_cpu_ticks("cpu  1 2 3 4 5 6 7 8\n", "stat");
  EXPECT_EQ(ticks.busy, 1 + 2 + 3 + 6 + 7);
  EXPECT_EQ(ticks.total, 28);
  EXPECT_THROW(parse_cpu_ticks("cpu  1 2 3\n", "stat"), Error);
  t.write("/proc/stat", "intr 1 2 3\n");  // unreadable: no answer rather than a wrong one
  EXPECT_FALSE(other_busy_cores(*t.fs(), 2, 0.5, [](double) {}).has_value());
}

TEST(Estimate, MalformedProcStatRefuses) {
  FakeTree t;
  t.write("/proc/stat", "intr 1 2 3\n");
  auto f = find_estimate(t.fs(), {});
  EXPECT_EQ(f[0].status, Finding::Status::kRefused);
}

// ---- device file ----

TEST(DeviceFile, ReadsEverySection) {
  TempDir dir;
  nnjoule::testing::write_text(dir / "dev.json", R"({
    "estimate": {"idle_power_mw": 1500, "busy_core_power_mw": 900},
    "battery": {"sign": "negative-discharge", "allow_charging": true, "supply": "bms"},
    "ina": {"total_rail": "VIN_SYS_5V0"},
    "trace": {"path": "run.csv", "start_epoch_s": 1700000000.5}
  })");
  auto c = load_device_file(dir / "dev.json");
  EXPECT_EQ(*c.estimate.idle_power_mw, 1500);
  EXPECT_EQ(c.battery.sign, CurrentSign::kNegativeDischarge);
  EXPECT_TRUE(c.battery.allow_charging);
  EXPECT_EQ(c.battery.supply, "bms");
  EXPECT_EQ(c.ina.total_rail, "VIN_SYS_5V0");
  EXPECT_EQ(c.trace.path, dir.path() / "run.csv");
  EXPECT_EQ(*c.trace.start_epoch_s, 1700000000.5);
}

TEST(DeviceFile, ErrorsNameTheField) {
  TempDir dir;
  nnjoule::testing::write_text(dir / "a.json", R"({"estimate": {"idle_mw": 1}})");
  EXPECT_TRUE(contains(error_of([&] { load_device_file(dir / "a.json"); }),
                       "unknown field 'estimate.idle_mw'"));
  nnjoule::testing::write_text(dir / "b.json", R"({"battery": {"sign": "up"}})");
  EXPECT_TRUE(
      contains(error_of([&] { load_device_file(dir / "b.json"); }), "'battery.sign' is 'up'"));
  nnjoule::testing::write_text(dir / "c.json", R"({"estimate": {"tdp_w": "15"}})");
  EXPECT_TRUE(contains(error_of([&] { load_device_file(dir / "c.json"); }),
                       "'estimate.tdp_w' must be a number"));
  nnjoule::testing::write_text(dir / "d.json", "{");
  EXPECT_TRUE(contains(error_of([&] { load_device_file(dir / "d.json"); }), "invalid JSON"));
}

// ---- discovery and selection ----

TEST(Discovery, EveryKindReportsAndTheEstimateIsTheFallback) {
  FakeTree t;
  proc(t, 100);
  DiscoverOptions o;
  o.fs = t.fs();
  o.nvml = [](std::string* why) -> std::shared_ptr<NvmlApi> {
    *why = "no driver";
    return nullptr;
  };
  auto found = discover_meters(o);
  std::set<std::string> kinds;
  for (const auto& f : found) kinds.insert(f.kind);
  EXPECT_EQ(kinds, (std::set<std::string>{"rapl", "perf", "nvml", "ina", "hwmon", "battery",
                                          "trace", "estimate"}));
  auto sel = select_meters(found, {});
  ASSERT_EQ(sel.meters.size(), 1u);
  EXPECT_EQ(sel.meters[0]->kind(), "estimate");
  ASSERT_EQ(sel.notes.size(), 1u);
  EXPECT_TRUE(contains(sel.notes[0], "estimated (cpu-time model), not measured"));
  EXPECT_TRUE(contains(error_of([&] { select_meters(found, {"rapl"}); }),
                       "meter 'rapl' is not available: "));
  EXPECT_TRUE(contains(error_of([&] { select_meters(found, {"joulescope"}); }),
                       "unknown meter 'joulescope'"));
  EXPECT_EQ(select_meters(found, {"estimate"}).meters.at(0)->kind(), "estimate");
}

TEST(Discovery, AutoPrefersTheBoardRailAndKeepsOthers) {
  FakeTree t;
  proc(t, 100);
  t.write("/sys/class/hwmon/hwmon0/name", "ina3221\n");
  t.write("/sys/class/hwmon/hwmon0/in1_label", "VDD_IN\n");
  t.write("/sys/class/hwmon/hwmon0/in1_input", 5000);
  t.write("/sys/class/hwmon/hwmon0/curr1_input", 1000);
  t.write("/sys/class/powercap/intel-rapl:0/name", "package-0\n");
  t.write("/sys/class/powercap/intel-rapl:0/energy_uj", 5);
  t.write("/sys/class/powercap/intel-rapl:0/max_energy_range_uj", 1000000);
  DiscoverOptions o;
  o.fs = t.fs();
  o.nvml = [](std::string*) -> std::shared_ptr<NvmlApi> { return nullptr; };
  auto found = discover_meters(o);
  // The fake RAPL counter never advances: skipped with the reason, the rail stays.
  auto sel = select_meters(found, {}, 0.02);
  ASSERT_EQ(sel.meters.size(), 1u);
  EXPECT_EQ(sel.meters[0]->kind(), "ina");
  ASSERT_EQ(sel.notes.size(), 1u);
  EXPECT_TRUE(contains(sel.notes[0], "rapl: the energy counter did not advance")) << sel.notes[0];
}

TEST(Estimate, TdpClassesByModelName) {
  auto label = [](const std::string& model) { return estimate_model(model, 4, {}).basis; };
  EXPECT_TRUE(contains(label("Intel(R) Core(TM) i5-8250U CPU @ 1.60GHz"), "Intel Core U-series"));
  EXPECT_TRUE(contains(label("12th Gen Intel(R) Core(TM) i7-12700H"), "Intel Core H-series"));
  EXPECT_TRUE(contains(label("Intel(R) Core(TM) i9-9900K CPU @ 3.60GHz"), "K-series"));
  EXPECT_TRUE(contains(label("Intel(R) Core(TM) i7-4790 CPU @ 3.60GHz"), "Intel Core desktop"));
  EXPECT_TRUE(contains(label("Intel(R) Core(TM) Ultra 7 155H"), "Intel Core Ultra H-series"));
  EXPECT_TRUE(contains(label("AMD Ryzen 7 5800U with Radeon Graphics"), "AMD Ryzen U-series"));
  EXPECT_TRUE(contains(label("AMD Ryzen 9 7945HX with Radeon Graphics"), "AMD Ryzen H-series"));
  EXPECT_TRUE(contains(label("AMD Ryzen 5 5600X 6-Core Processor"), "AMD Ryzen desktop"));
  EXPECT_TRUE(contains(label("NVIDIA Jetson Orin Nano Developer Kit"), "Jetson Orin Nano"));
  EXPECT_TRUE(contains(label("AMD EPYC 7763 64-Core Processor"), "no TDP known"));
}
