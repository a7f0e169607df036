// Bad sensor files and traces: every one is refused with the file (and line) named, never read
// as a number prefix, a negative "measured" energy or a silently under-counted counter.
#include <gtest/gtest.h>

#include <cmath>

#include "meter/fake_tree.hpp"
#include "nnjoule/common/error.hpp"
#include "nnjoule/meter/discovery.hpp"
#include "nnjoule/meter/meters.hpp"
#include "nnjoule/meter/report.hpp"
#include "nnjoule/meter/sampler.hpp"
#include "support/test_support.hpp"

using namespace nnjoule;
using namespace nnjoule::meter;
using nnjoule::testing::error_of;
using nnjoule::testing::FakeTree;
using nnjoule::testing::FunctionMeter;
using nnjoule::testing::TempDir;

namespace {

const std::string kPc = "/sys/class/powercap/";

using nnjoule::testing::contains;

Finding only(std::vector<Finding> f) {
  EXPECT_EQ(f.size(), 1u);
  return f.at(0);
}

void rapl_zone(const FakeTree& t, const std::string& zone, const std::string& name,
               const std::string& energy_uj, const std::string& max_uj) {
  t.write(kPc + zone + "/name", name + "\n");
  t.write(kPc + zone + "/energy_uj", energy_uj + "\n");
  t.write(kPc + zone + "/max_energy_range_uj", max_uj + "\n");
}

}  // namespace

// ---- whole-field parsing of sysfs files ----

TEST(WholeField, SysfsIntegersRefuseTrailingGarbage) {
  FakeTree t;
  t.write("/sys/a", "1e6\n");
  t.write("/sys/b", "12abc\n");
  t.write("/sys/c", " 42\n");
  auto fs = t.fs();
  EXPECT_TRUE(contains(error_of([&] { fs->read_int("/sys/a"); }), "expected an integer, got '1e6'"))
      << error_of([&] { fs->read_int("/sys/a"); });
  EXPECT_FALSE(fs->try_read_int("/sys/b").has_value());
  EXPECT_EQ(fs->read_int("/sys/c"), 42);
  auto attr = fs->open("/sys/b");
  EXPECT_TRUE(contains(error_of([&] { attr->read_int(); }), "/sys/b: expected an integer"));
  EXPECT_FALSE(parse_int("1e6").has_value());
  EXPECT_FALSE(parse_double("2.5 W").has_value());
}

TEST(WholeField, RaplRangeWithAnExponentIsRefusedNotReadAsOne) {
  // "1e6" used to be read as 1 uJ: a counter range of 0.001 mJ and wraps counted at random.
  FakeTree t;
  rapl_zone(t, "intel-rapl:0", "package-0", "1000", "1e6");
  auto f = only(find_rapl(t.fs()));
  EXPECT_EQ(f.status, Finding::Status::kRefused);
  EXPECT_TRUE(contains(f.reason, "intel-rapl:0/max_energy_range_uj")) << f.reason;
  EXPECT_TRUE(contains(f.reason, "'1e6'")) << f.reason;
  EXPECT_FALSE(f.meter);
}

TEST(WholeField, RaplEnergyWithGarbageIsRefused) {
  FakeTree t;
  rapl_zone(t, "intel-rapl:0", "package-0", "1000uJ", "1000000");
  auto f = only(find_rapl(t.fs()));
  EXPECT_EQ(f.status, Finding::Status::kRefused);
  EXPECT_TRUE(contains(f.reason, "intel-rapl:0/energy_uj: expected an integer, got '1000uJ'"))
      << f.reason;
}

TEST(WholeField, HwmonAndInaValuesWithUnitsAreRefused) {
  FakeTree t;
  t.write("/sys/class/hwmon/hwmon0/name", "amdgpu\n");
  t.write("/sys/class/hwmon/hwmon0/power1_average", "15000000 uW\n");
  t.write("/sys/class/hwmon/hwmon1/name", "ina3221\n");
  t.write("/sys/class/hwmon/hwmon1/in1_label", "VDD_IN\n");
  t.write("/sys/class/hwmon/hwmon1/in1_input", "5000\n");
  t.write("/sys/class/hwmon/hwmon1/curr1_input", "1.2e3\n");
  auto hw = find_hwmon(t.fs());
  ASSERT_EQ(hw.size(), 1u);
  EXPECT_EQ(hw[0].status, Finding::Status::kRefused);
  EXPECT_TRUE(contains(hw[0].reason, "power1_average: expected an integer, got '15000000 uW'"))
      << hw[0].reason;
  auto ina = only(find_ina(t.fs(), {}));
  EXPECT_EQ(ina.status, Finding::Status::kRefused);
  EXPECT_TRUE(contains(ina.reason, "curr1_input: expected an integer, got '1.2e3'")) << ina.reason;
}

TEST(WholeField, HwmonChannelNumberPastIntIsSkippedNotACrash) {
  // std::stoi threw std::out_of_range here: an internal error instead of a finding.
  FakeTree t;
  t.write("/sys/class/hwmon/hwmon0/name", "amdgpu\n");
  t.write("/sys/class/hwmon/hwmon0/power99999999999_average", "1000\n");
  t.write("/sys/class/hwmon/hwmon0/power1_average", "15000000\n");
  std::vector<Finding> hw;
  EXPECT_NO_THROW(hw = find_hwmon(t.fs()));
  ASSERT_EQ(hw.size(), 1u);
  ASSERT_EQ(hw[0].status, Finding::Status::kFound) << hw[0].reason;
  EXPECT_EQ(hw[0].meter->domains().size(), 1u);
}

TEST(WholeField, BatteryValuesWithGarbageAreRefused) {
  FakeTree t;
  const std::string b = "/sys/class/power_supply/BAT0/";
  t.write(b + "type", "Battery\n");
  t.write(b + "status", "Discharging\n");
  t.write(b + "voltage_now", "3800000\n");
  t.write(b + "current_now", "-5e5\n");
  auto f = only(find_battery(t.fs(), {}));
  EXPECT_EQ(f.status, Finding::Status::kRefused);
  EXPECT_TRUE(contains(f.reason, "current_now: expected an integer, got '-5e5'")) << f.reason;
}

TEST(WholeField, PerfCpumaskAndEventCodeAreParsedWhole) {
  FakeTree t;
  const std::string pmu = "/sys/bus/event_source/devices/power/";
  t.write(pmu + "type", "9\n");
  t.write(pmu + "cpumask", "0,x8\n");
  t.write(pmu + "events/energy-pkg", "event=0x02\n");
  t.write(pmu + "events/energy-pkg.scale", "2.3283064365386962890625e-10\n");
  t.write(pmu + "events/energy-pkg.unit", "Joules\n");
  struct NoPerf : PerfBackend {
    int open(uint32_t, uint64_t, int) override { return -ENOENT; }
    bool read(int, uint64_t&) override { return false; }
    void close(int) override {}
  };
  auto perf = std::make_shared<NoPerf>();
  auto f = only(find_perf(t.fs(), perf));
  EXPECT_EQ(f.status, Finding::Status::kRefused);
  EXPECT_TRUE(contains(f.reason, "power/cpumask: expected a CPU list")) << f.reason;
  t.write(pmu + "cpumask", "0\n");
  t.write(pmu + "events/energy-pkg", "event=0x02zz\n");
  f = only(find_perf(t.fs(), perf));
  EXPECT_EQ(f.status, Finding::Status::kRefused);
  EXPECT_TRUE(contains(f.reason, "bad event code in 'event=0x02zz'")) << f.reason;
  t.write(pmu + "events/energy-pkg", "event=0x02\n");
  t.write(pmu + "events/energy-pkg.scale", "2.3e-10J\n");
  f = only(find_perf(t.fs(), perf));
  EXPECT_EQ(f.status, Finding::Status::kRefused);
  EXPECT_TRUE(contains(f.reason, "energy-pkg.scale")) << f.reason;
}

TEST(WholeField, ProcStatFieldsAreParsedWhole) {
  EXPECT_TRUE(contains(error_of([] { parse_cpu_ticks("cpu  100 0 5x 5000 0 0 0\n", "stat"); }),
                       "stat: 'cpu' line, field 3: expected an integer, got '5x'"))
      << error_of([] { parse_cpu_ticks("cpu  100 0 5x 5000 0 0 0\n", "stat"); });
  EXPECT_THROW(parse_cpu_ticks("cpu  1.5 2 3 4 5 6 7\n", "stat"), Error);
  EXPECT_EQ(parse_cpu_ticks("cpu  1 2 3 4 5 6 7\n", "stat").total, 28);
}

TEST(WholeField, MalformedOnlineListFallsBackToCpuinfo) {
  FakeTree t;
  t.write("/sys/devices/system/cpu/online", "0-3,junk\n");
  t.write("/proc/cpuinfo", "processor\t: 0\nprocessor\t: 1\n");
  EXPECT_EQ(online_cpus(*t.fs()), 2);
  EXPECT_EQ(parse_cpu_list("0-3,8"), (std::vector<int>{0, 1, 2, 3, 8}));
  EXPECT_FALSE(parse_cpu_list("0-3,junk").has_value());
  EXPECT_FALSE(parse_cpu_list("3-1").has_value());
  EXPECT_FALSE(parse_cpu_list("0-99999999999").has_value());
}

// ---- power traces ----

TEST(TraceSamples, NegativePowerIsRefusedNamingTheLine) {
  EXPECT_EQ(error_of([] { parse_trace_csv("t(s),P(W)\n0,1.5\n0.1,-0.25\n", "neg.csv"); }),
            "neg.csv:3: column 'P(W)': -0.25 is negative (a power trace holds the power drawn; "
            "check the monitor's sign convention or offset)");
  EXPECT_TRUE(contains(error_of([] {
                         parse_trace_csv("Time(ms),Main(mA),Main Voltage(V)\n0,10,4\n1,-3,4\n",
                                         "m.csv");
                       }),
                       "m.csv:3: column 'Main(mA)': -3 is negative"));
  EXPECT_TRUE(contains(
      error_of([] { parse_trace_csv("Time(ms),Main(mA),Main Voltage(V)\n0,10,-4\n", "v.csv"); }),
      "v.csv:2: column 'Main Voltage(V)': -4 is negative"));
  // Zero and negative zero are power a monitor can read.
  EXPECT_EQ(parse_trace_csv("t(s),P(W)\n0,0\n1,-0\n", "z.csv").points.size(), 2u);
}

TEST(TraceSamples, NonFiniteSamplesAreRefused) {
  EXPECT_TRUE(contains(error_of([] { parse_trace_csv("t(s),P(W)\n0,1\n1,nan\n", "n.csv"); }),
                       "n.csv:3: column 'P(W)': 'nan' is not a number"));
  EXPECT_TRUE(contains(error_of([] { parse_trace_csv("t(s),P(W)\n0,1\n1,inf\n", "i.csv"); }),
                       "i.csv:3: column 'P(W)': 'inf' is not a number"));
  // Finite in the file, infinite once scaled to mW.
  EXPECT_TRUE(contains(error_of([] { parse_trace_csv("t(s),P(W)\n0,1e306\n", "o.csv"); }),
                       "o.csv:2: column 'P(W)': 1e306 W is out of range"));
  EXPECT_TRUE(contains(error_of([] { parse_trace_csv("t(s),P(W)\n0,1.5W\n", "u.csv"); }),
                       "u.csv:2: column 'P(W)': '1.5W' is not a number"));
}

TEST(TraceSamples, NegativeTraceNeverYieldsANegativeMeasuredEnergy) {
  TempDir dir;
  nnjoule::testing::write_text(dir / "neg.csv", "t(s),P(W)\n0,-2\n1,-2\n2,-2\n");
  TraceConfig cfg;
  cfg.path = dir / "neg.csv";
  EXPECT_TRUE(contains(error_of([&] { find_trace(cfg); }), "neg.csv:2: column 'P(W)': -2"));
}

TEST(TraceSamples, NonFiniteAlignmentIsRefused) {
  TempDir dir;
  nnjoule::testing::write_text(dir / "ok.csv", "t(s),P(W)\n0,2\n1,2\n");
  TraceConfig cfg;
  cfg.path = dir / "ok.csv";
  cfg.offset_s = std::nan("");
  EXPECT_TRUE(contains(error_of([&] { find_trace(cfg); }), "trace offset"))
      << error_of([&] { find_trace(cfg); });
  cfg.offset_s = 0;
  cfg.start_epoch_s = INFINITY;
  EXPECT_TRUE(contains(error_of([&] { find_trace(cfg); }), "trace start"))
      << error_of([&] { find_trace(cfg); });
}

// ---- RAPL counters that wrap faster than the sampler polls ----

namespace {

// A 1 J-range style zone with a power limit: constraint files as the powercap driver writes them.
void limit(const FakeTree& t, const std::string& zone, int n, const std::string& what,
           const std::string& uw) {
  t.write(kPc + zone + "/constraint_" + std::to_string(n) + "_" + what, uw + "\n");
}

}  // namespace

TEST(RaplWrap, CounterWrappingFasterThanAnyPollIsRefused) {
  // A 10 mJ range at up to 50 W wraps every 0.2 ms: no poll rate catches every wrap, and the
  // energy would come out a fraction of the truth (8x less at 0.9 ms between polls).
  FakeTree t;
  rapl_zone(t, "intel-rapl:0", "package-0", "0", "10000");
  limit(t, "intel-rapl:0", 0, "power_limit_uw", "15000000");
  limit(t, "intel-rapl:0", 0, "max_power_uw", "50000000");
  auto f = only(find_rapl(t.fs()));
  EXPECT_EQ(f.status, Finding::Status::kRefused) << f.reason;
  for (const char* part : {"intel-rapl:0/max_energy_range_uj", "wraps every 0.2 ms", "50 W",
                           "constraint_0_max_power_uw", "--meter perf"})
    EXPECT_TRUE(contains(f.reason, part)) << part << " missing in: " << f.reason;
  EXPECT_EQ(f.reason.find('\n'), std::string::npos);
}

TEST(RaplWrap, FastWrappingCounterIsPolledFasterAndCountsEveryWrap) {
  // A 2 J range at up to 4 kW wraps every 0.5 ms: polled every 0.125 ms (4 polls per wrap)
  // instead of the usual 1 ms. The workload draws 3 kW: 3 J per ms, more than the range.
  FakeTree t;
  const long long range = 2000000, uj_per_step = 375000;  // 3 kW x 0.125 ms
  rapl_zone(t, "intel-rapl:0", "package-0", "0", std::to_string(range));
  limit(t, "intel-rapl:0", 0, "power_limit_uw", "4000000000");
  auto f = only(find_rapl(t.fs()));
  ASSERT_EQ(f.status, Finding::Status::kFound) << f.reason;
  ManualClock clock;
  Sampler s({f.meter}, clock);
  s.begin_window("w", 0);
  const int steps = 80;  // 10 ms
  for (int k = 1; k <= steps; ++k) {
    t.write(kPc + "intel-rapl:0/energy_uj", (uj_per_step * k) % range);
    s.step(k * 0.000125);
  }
  auto w = s.end_window("w", steps * 0.000125);
  EXPECT_NEAR(w.primary().energy_mj, 30000.0, 1e-6);  // 3 kW x 10 ms
  EXPECT_EQ(w.primary().domains[0].wraps, 15);
  // Where the faster polling comes from is said, by discovery and by the sampler.
  EXPECT_TRUE(contains(f.reason, "package-0")) << f.reason;
  EXPECT_TRUE(contains(f.reason, "wraps every 0.5 ms")) << f.reason;
  EXPECT_TRUE(contains(f.reason, "polled every 0.125 ms")) << f.reason;
  EXPECT_NEAR(s.stats(0).interval_s, 0.000125, 1e-12);
  EXPECT_TRUE(contains(s.stats(0).polling_note, "polled every 0.125 ms"))
      << s.stats(0).polling_note;
}

TEST(RaplWrap, SubzoneWithoutLimitsUsesItsPackageAndDramAnAssumedCeiling) {
  FakeTree t;
  rapl_zone(t, "intel-rapl:0", "package-0", "0", "262143328850");
  limit(t, "intel-rapl:0", 0, "power_limit_uw", "15000000");
  limit(t, "intel-rapl:0", 1, "power_limit_uw", "25000000");
  limit(t, "intel-rapl:0", 2, "max_power_uw", "0");  // 0: not given
  rapl_zone(t, "intel-rapl:0:0", "core", "0", "262143328850");
  rapl_zone(t, "intel-rapl:0:1", "dram", "0", "262143328850");
  auto f = only(find_rapl(t.fs()));
  ASSERT_EQ(f.status, Finding::Status::kFound) << f.reason;
  const auto& d = f.meter->domains();
  ASSERT_EQ(d.size(), 3u);
  EXPECT_DOUBLE_EQ(d[0].max_power_mw, 25000);
  EXPECT_EQ(d[0].max_power_source, "constraint_1_power_limit_uw");
  EXPECT_DOUBLE_EQ(d[1].max_power_mw, 25000);  // inside the package
  EXPECT_TRUE(contains(d[1].max_power_source, "package-0")) << d[1].max_power_source;
  EXPECT_GT(d[2].max_power_mw, 25000);  // dram sits outside the package: the assumed ceiling
  EXPECT_TRUE(contains(d[2].max_power_source, "assumed")) << d[2].max_power_source;
  EXPECT_TRUE(f.reason.empty()) << f.reason;  // usual polling: nothing to say
}

TEST(RaplWrap, MalformedPowerLimitIsRefused) {
  FakeTree t;
  rapl_zone(t, "intel-rapl:0", "package-0", "0", "262143328850");
  limit(t, "intel-rapl:0", 0, "power_limit_uw", "15 W");
  auto f = only(find_rapl(t.fs()));
  EXPECT_EQ(f.status, Finding::Status::kRefused);
  EXPECT_TRUE(contains(f.reason, "constraint_0_power_limit_uw: expected an integer, got '15 W'"))
      << f.reason;
}

TEST(RaplWrap, SamplerRefusesAWindowWhosePollsCameTooFarApart) {
  // A counter that may draw up to 4 kW into a 2 J range, read 1 ms apart (the sampler asked for
  // 0.125 ms): up to 4 J may have passed, so a wrap may be missing. The window says so instead
  // of returning a third of the energy.
  auto m = std::make_shared<FunctionMeter>(
      "c", std::vector<Domain>{{"pkg", Signal::kEnergy, 2000, true, "", 4000000, "test limit"}},
      std::vector<FunctionMeter::Fn>{[](double t) { return std::fmod(3e6 * t, 2000.0); }});
  ManualClock clock;
  Sampler s({m}, clock);
  s.begin_window("w", 0);
  for (int k = 1; k <= 10; ++k) s.step(k * 0.001);
  const std::string err = error_of([&] { s.end_window("w", 0.011); });
  for (const char* part : {"c: counter 'pkg'", "1 ms apart", "4000 W", "test limit", "wrap"})
    EXPECT_TRUE(contains(err, part)) << part << " missing in: " << err;
}

TEST(RaplWrap, SamplerRefusesACounterNoPollRateCanFollow) {
  auto m = std::make_shared<FunctionMeter>(
      "c", std::vector<Domain>{{"pkg", Signal::kEnergy, 10, true, "", 50000, "test limit"}},
      std::vector<FunctionMeter::Fn>{[](double) { return 0.0; }});
  ManualClock clock;
  const std::string err = error_of([&] { Sampler s({m}, clock); });
  EXPECT_TRUE(contains(err, "c: counter 'pkg' wraps every 0.2 ms")) << err;
}

TEST(RaplWrap, MetersReportSaysHowTheCounterIsPolled) {
  FakeTree t;
  rapl_zone(t, "intel-rapl:0", "package-0", "0", "2000000");
  limit(t, "intel-rapl:0", 0, "power_limit_uw", "4000000000");
  rapl_zone(t, "intel-rapl:1", "package-1", "0", "10000");
  auto found = find_rapl(t.fs());
  ASSERT_EQ(found.size(), 1u);
  // package-1 has no limit: the assumed ceiling makes its 10 mJ range unfollowable.
  EXPECT_EQ(found[0].status, Finding::Status::kRefused);
  EXPECT_TRUE(contains(found[0].reason, "intel-rapl:1/max_energy_range_uj")) << found[0].reason;
  EXPECT_TRUE(contains(found[0].reason, "assumed")) << found[0].reason;
  const std::string text = format_meters(found, {std::nullopt}, 0.1);
  EXPECT_TRUE(contains(text, "rapl: refused: ")) << text;
  EXPECT_TRUE(contains(text, "wraps every")) << text;
}

TEST(DeviceFileNumbers, OverflowingNumberIsBadInputNotAnInternalError) {
  // nlohmann throws out_of_range (not parse_error) for 1e400: it escaped as an internal error.
  TempDir dir;
  nnjoule::testing::write_text(dir / "dev.json", R"({"estimate": {"tdp_w": 1e400}})");
  const std::string err = error_of([&] { load_device_file(dir / "dev.json"); });
  EXPECT_TRUE(
      contains(err, "dev.json: number 1e400 at byte 28 in field estimate.tdp_w is out of range"))
      << err;
  EXPECT_TRUE(contains(err, "1e400")) << err;
}

// ---- the command line ----

TEST(MeterCli, NumbersOnTheCommandLineAreWholeAndPlausible) {
  FakeTree t;
  t.write("/proc/stat", "cpu  100 0 50 5000 0 0 0 0 0 0\n");
  using nnjoule::testing::one_error_line;
  using nnjoule::testing::run_cli;
  const std::string root = t.root().string();
  // CLI11's own range check called "5x" out of range and printed DBL_MAX in full.
  auto r = run_cli({"meters", "--root", root, "--probe-ms", "5x"});
  EXPECT_TRUE(one_error_line(r, "--probe-ms: '5x' is not a number")) << r.err;
  r = run_cli({"meters", "--root", root, "--probe-ms", "inf"});
  EXPECT_TRUE(one_error_line(r, "--probe-ms: 'inf' is not a number")) << r.err;
  r = run_cli({"meters", "--root", root, "--probe-ms", "1e9"});
  EXPECT_TRUE(one_error_line(r, "--probe-ms: 1e9 ms is outside 0 to 600000 ms")) << r.err;
  r = run_cli({"measure", "--root", root, "--idle", "-1", "--", "true"});
  EXPECT_TRUE(one_error_line(r, "--idle: -1 s is outside 0 to 3600 s")) << r.err;
  r = run_cli({"measure", "--root", root, "--trace-offset", "nan", "--", "true"});
  EXPECT_TRUE(one_error_line(r, "--trace-offset: 'nan' is not a number")) << r.err;
}

TEST(MeterCli, NegativeTraceIsOneErrorLine) {
  FakeTree t;
  t.write("/proc/stat", "cpu  100 0 50 5000 0 0 0 0 0 0\n");
  TempDir dir;
  nnjoule::testing::write_text(dir / "neg.csv", "t(s),P(W)\n0,1\n1,-2\n");
  auto r = nnjoule::testing::run_cli({"measure", "--root", t.root().string(), "--meter", "trace",
                                      "--trace", (dir / "neg.csv").string(), "--", "true"});
  EXPECT_TRUE(nnjoule::testing::one_error_line(r, "neg.csv:3: column 'P(W)': -2 is negative"))
      << r.err;
}

TEST(MeterCli, MetersSaysWhenACounterWrapsTooFast) {
  FakeTree t;
  t.write("/proc/stat", "cpu  100 0 50 5000 0 0 0 0 0 0\n");
  rapl_zone(t, "intel-rapl:0", "package-0", "0", "10000");
  t.write(kPc + "intel-rapl:0/constraint_0_max_power_uw", "50000000\n");
  auto r = nnjoule::testing::run_cli({"meters", "--root", t.root().string(), "--probe-ms", "20"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_TRUE(contains(r.out, "rapl: refused: ")) << r.out;
  EXPECT_TRUE(contains(r.out, "wraps every 0.2 ms at up to 50 W (constraint_0_max_power_uw)"))
      << r.out;
}
