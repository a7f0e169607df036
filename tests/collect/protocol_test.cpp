#include <gtest/gtest.h>

#include <array>
#include <cmath>

#include "collect/sim.hpp"
#include "meter/fake_tree.hpp"
#include "nnjoule/collect/protocol.hpp"
#include "nnjoule/common/error.hpp"
#include "nnjoule/common/rng.hpp"
#include "nnjoule/graph/builder.hpp"
#include "nnjoule/meter/meters.hpp"

using namespace nnjoule;
using namespace nnjoule::collect;
using namespace nnjoule::meter;
using nnjoule::testing::FakeTree;
using nnjoule::testing::FunctionMeter;
using nnjoule::testing::Sim;

namespace {

ProtocolOptions quick() {
  ProtocolOptions o;
  o.idle_s = 0.2;
  o.warmup_runs = 3;
  o.warmup_s = 0.01;
  o.min_window_s = 0.1;
  o.min_updates = 10;
  o.threads = 1;
  return o;
}

}  // namespace

TEST(Protocol, ExactEnergyPerInferenceConvergesAtTheMinimumWindows) {
  // Every inference takes 2 ms and 10 mJ above the 1 W idle: 12 mJ in total.
  Sim sim;
  auto m = measure_workload(
      sim.ctx(),
      [&](int64_t n) {
        for (int64_t i = 0; i < n; ++i) sim.pass(0.002, 10);
      },
      "toy", quick());
  EXPECT_TRUE(m.converged);
  EXPECT_EQ(m.stop_reason, "ci target met");
  EXPECT_EQ(m.windows, 5);
  EXPECT_EQ(m.inferences_per_window, 50);  // 0.1 s / 2 ms
  EXPECT_EQ(m.inferences, 250);
  EXPECT_NEAR(*m.energy_per_inference_mj, 12.0, 1e-9);
  EXPECT_NEAR(*m.energy_ci95_mj, 0.0, 1e-9);
  EXPECT_NEAR(*m.dynamic_energy_per_inference_mj, 10.0, 1e-9);
  EXPECT_NEAR(*m.latency_ms, 2.0, 1e-9);
  EXPECT_NEAR(*m.idle_power_mw, 1000.0, 1e-9);
  EXPECT_NEAR(*m.idle_before_mw, 1000.0, 1e-9);
  EXPECT_NEAR(*m.idle_after_mw, 1000.0, 1e-9);
  EXPECT_NEAR(m.avg_power_mw, 6000.0, 1e-6);
  EXPECT_NEAR(m.energy_mj, 250 * 12.0, 1e-6);
  EXPECT_NEAR(*m.dynamic_energy_mj, 250 * 10.0, 1e-6);
  EXPECT_EQ(m.provenance.label(), "measured (sim)");
  EXPECT_EQ(m.kind, "model");
  EXPECT_EQ(m.device.cpu_model, "Test CPU");
  EXPECT_EQ(m.device.meter, "sim");
  EXPECT_EQ(m.device.threads, 1);
}

TEST(Protocol, NoisyEnergyRepeatsUntilTheCiTarget) {
  Sim sim;
  Rng rng(7);
  auto o = quick();
  o.ci_target = 0.01;
  auto m = measure_workload(
      sim.ctx(),
      [&](int64_t n) {
        for (int64_t i = 0; i < n; ++i) sim.pass(0.002, 10 + 4 * rng.normal());
      },
      "noisy", o);
  EXPECT_TRUE(m.converged);
  EXPECT_LE(*m.energy_ci95_rel, 0.01);
  EXPECT_GE(m.windows, 5);
  EXPECT_NEAR(*m.energy_per_inference_mj, 12.0, 3 * *m.energy_ci95_mj + 1e-9);
}

TEST(Protocol, TimeCapStopsAnUnconvergedRun) {
  Sim sim;
  Rng rng(3);
  auto o = quick();
  o.ci_target = 1e-6;
  o.time_cap_s = 1.0;
  auto m = measure_workload(
      sim.ctx(),
      [&](int64_t n) {
        for (int64_t i = 0; i < n; ++i) sim.pass(0.002, 10 + rng.normal());
      },
      "capped", o);
  EXPECT_FALSE(m.converged);
  EXPECT_EQ(m.stop_reason, "time cap");
  EXPECT_GE(m.windows, 9);
  EXPECT_LE(m.windows, 11);
  ASSERT_FALSE(m.notes.empty());
  EXPECT_NE(m.notes.back().find("stopped by time cap"), std::string::npos);
}

TEST(Protocol, WindowsSpanKUpdatesOfASlowMeter) {
  // A meter updating every 0.5 s: 10 updates need 5 s windows, not the 0.1 s minimum.
  Sim sim(0.5);
  auto m = measure_workload(
      sim.ctx(),
      [&](int64_t n) {
        for (int64_t i = 0; i < n; ++i) sim.pass(0.002, 10);
      },
      "slow", quick());
  EXPECT_NEAR(m.window_target_ms, 5000, 1e-9);
  EXPECT_EQ(m.inferences_per_window, 2500);
  EXPECT_NEAR(*m.energy_per_inference_mj, 12.0, 1e-9);
}

TEST(Protocol, ShortWindowsAreDiscardedAndResized) {
  // Warm-up inferences are 10x slower than the later ones (caches, lazy setup), so the window
  // sized from them is too short.
  Sim sim;
  int64_t calls = 0;
  auto m = measure_workload(
      sim.ctx(),
      [&](int64_t n) {
        for (int64_t i = 0; i < n; ++i) sim.pass(calls++ < 3 ? 0.02 : 0.002, 10);
      },
      "jit", quick());
  EXPECT_TRUE(m.converged);
  EXPECT_NEAR(*m.energy_per_inference_mj, 12.0, 1e-9);
  bool noted = false;
  for (const auto& n : m.notes)
    noted = noted || n.find("discarded and resized") != std::string::npos;
  EXPECT_TRUE(noted);
  EXPECT_GE(m.window_target_ms, 100);
}

TEST(Protocol, CommandRunReportsExitCodeAndDynamicEnergy) {
  Sim sim;
  auto m = measure_run(
      sim.ctx(),
      [&] {
        sim.pass(1.5, 3000);  // 1.5 s, 3 J above idle
        return CommandResult{3, 0.75};
      },
      "app --flag", quick());
  EXPECT_EQ(m.kind, "command");
  EXPECT_EQ(*m.exit_code, 3);
  EXPECT_NEAR(*m.cpu_time_ms, 750, 1e-9);
  EXPECT_NEAR(m.duration_ms, 1500, 1e-9);
  EXPECT_NEAR(m.energy_mj, 4500, 1e-9);
  EXPECT_NEAR(m.avg_power_mw, 3000, 1e-9);
  EXPECT_NEAR(*m.idle_power_mw, 1000, 1e-9);
  EXPECT_NEAR(*m.dynamic_energy_mj, 3000, 1e-9);
  EXPECT_FALSE(m.energy_per_inference_mj.has_value());
  EXPECT_NE(m.notes.back().find("exited with status 3"), std::string::npos);
}

// Seen on an H200 through NVML: 82 W idle before a load, 117 W for seconds after it, so an
// idle command's dynamic energy came out at -6.9 J with nothing to say it was noise.
TEST(Protocol, IdleBaselineDriftBoundsDynamicEnergyAndIsReported) {
  for (const double work_mj : {0.0, 3000.0}) {
    Sim sim;
    auto m = measure_run(
        sim.ctx(),
        [&] {
          sim.pass(1.5, work_mj);
          sim.idle_mw = 1400;  // tail power after the work
          return CommandResult{0, 0.1};
        },
        "tail", quick());
    ASSERT_TRUE(m.dynamic_energy_drift_mj.has_value());
    EXPECT_NEAR(*m.idle_before_mw, 1000, 1e-6);
    EXPECT_NEAR(*m.idle_after_mw, 1400, 1e-6);
    EXPECT_NEAR(*m.dynamic_energy_drift_mj, 200 * 1.5, 1e-6);
    EXPECT_NEAR(*m.dynamic_energy_mj, work_mj - 300, 1e-6);
    auto has_note = [&](const std::string& s) {
      for (const auto& n : m.notes)
        if (n.find(s) != std::string::npos) return true;
      return false;
    };
    EXPECT_TRUE(has_note("mW) by 33%: the device had not returned to idle")) << m.notes.size();
    EXPECT_EQ(has_note("not distinguishable from idle"), work_mj == 0);
    const auto text = format_measurement(m);
    EXPECT_NE(text.find("+/- 300.0 mJ (idle drift)"), std::string::npos) << text;
    EXPECT_EQ(text.find("indistinguishable from idle") != std::string::npos, work_mj == 0) << text;
    const auto back = measurement_from_json(to_json(m));
    EXPECT_NEAR(*back.dynamic_energy_drift_mj, 300, 1e-6);
  }
  // A steady baseline: no band to report, no notes.
  Sim sim;
  auto m = measure_run(
      sim.ctx(),
      [&] {
        sim.pass(1.5, 3000);
        return CommandResult{0, 0.1};
      },
      "steady", quick());
  EXPECT_NEAR(*m.dynamic_energy_drift_mj, 0, 1e-6);
  for (const auto& n : m.notes) EXPECT_EQ(n.find("idle"), std::string::npos) << n;
  // Below idle beyond the band (the H200's idle `sleep 2`: -451 mJ against +/- 438 mJ) is noise
  // as well, never a negative cost presented as a result.
  Sim below;
  auto b = measure_run(
      below.ctx(),
      [&] {
        below.pass(1.5, -300);
        return CommandResult{0, 0.1};
      },
      "below", quick());
  EXPECT_NEAR(*b.dynamic_energy_mj, -300, 1e-6);
  EXPECT_NE(format_measurement(b).find("indistinguishable from idle"), std::string::npos);
  EXPECT_NE(b.notes.back().find("not distinguishable from idle"), std::string::npos);
}

// Another process holding the CPU (CPU pressure) or the hypervisor stealing it shows in
// /proc/pressure/cpu and /proc/stat: such windows are measured again, and when the limit of
// re-measured windows is reached the result is kept and marked disturbed.
TEST(Protocol, DisturbedWindowsAreMeasuredAgainThenFlagged) {
  for (const int disturbed_calls : {2, 100}) {
    Sim sim;
    int64_t pressure_us = 0, steal = 0, total = 1000;
    auto write_load = [&] {
      sim.tree.write("/proc/pressure/cpu",
                     fmt::format("some avg10=0.00 avg60=0.00 avg300=0.00 total={}\n"
                                 "full avg10=0.00 avg60=0.00 avg300=0.00 total=0\n",
                                 pressure_us));
      sim.tree.write("/proc/stat",
                     fmt::format("cpu  {} 0 0 {} 0 0 0 {} 0 0\n", total / 2, total / 2, steal));
    };
    write_load();
    int window_calls = 0;
    auto o = quick();
    o.max_disturbed = 3;
    auto m = measure_workload(
        sim.ctx(),
        [&](int64_t n) {
          for (int64_t i = 0; i < n; ++i) sim.pass(0.002, 10);
          total += 200 * n;  // the machine's ticks over the window (any consistent count)
          if (n > 1 && window_calls++ < disturbed_calls) {
            if (window_calls % 2)
              pressure_us += static_cast<int64_t>(0.5 * 0.002 * 1e6 * n);  // 50% of the window
            else
              steal += 20 * n;  // 10% of the machine's ticks
          }
          write_load();
        },
        "toy", o);
    if (disturbed_calls == 2) {
      EXPECT_EQ(m.disturbed_windows, 2);
      EXPECT_FALSE(m.disturbed);
      EXPECT_NEAR(*m.max_cpu_pressure_share, 0, 1e-12);
      EXPECT_NEAR(*m.max_steal_share, 0, 1e-12);
      EXPECT_NEAR(*m.energy_per_inference_mj, 12.0, 1e-9);  // the kept windows are clean
    } else {
      EXPECT_EQ(m.disturbed_windows, 3);
      EXPECT_TRUE(m.disturbed);
      EXPECT_NEAR(*m.max_cpu_pressure_share, 0.5, 1e-6);
      EXPECT_NEAR(*m.max_steal_share, 0.1, 1e-6);
      bool noted = false;
      for (const auto& n : m.notes)
        noted = noted || n.rfind("disturbed: windows with steal", 0) == 0;
      EXPECT_TRUE(noted);
      const auto back = measurement_from_json(to_json(m));
      EXPECT_TRUE(back.disturbed);
      EXPECT_EQ(back.disturbed_windows, 3);
    }
    bool again = false;
    for (const auto& n : m.notes)
      again = again || n.find("measured again: steal above 5%") != std::string::npos;
    EXPECT_TRUE(again);
  }
}

// A phone's governor moves the clock while a model runs: each cluster's clock is read at the
// start and end of every kept window and its range reported, with the governor and the
// temperatures at the end.
TEST(Protocol, ClusterClocksAfterEveryWindowAndTemperatureAtTheEnd) {
  Sim sim;
  sim.tree.write("/sys/devices/system/cpu/online", "0-1\n");
  for (int c = 0; c < 2; ++c) {
    const std::string d = "/sys/devices/system/cpu/cpu" + std::to_string(c) + "/cpufreq/";
    sim.tree.write(d + "related_cpus", std::to_string(c) + "\n");
    sim.tree.write(d + "cpuinfo_max_freq", c == 0 ? 1800000 : 2800000);
    sim.tree.write(d + "scaling_cur_freq", 1000000);
    sim.tree.write(d + "scaling_governor", "schedutil\n");
    sim.tree.write("/sys/devices/system/cpu/cpu" + std::to_string(c) + "/cpu_capacity",
                   c == 0 ? 400 : 1024);
  }
  sim.tree.write("/sys/class/thermal/thermal_zone0/type", "cpu-thermal\n");
  sim.tree.write("/sys/class/thermal/thermal_zone0/temp", 41000);
  long long khz = 1000000;
  auto m = measure_workload(
      sim.ctx(),
      [&](int64_t n) {
        for (int64_t i = 0; i < n; ++i) sim.pass(0.002, 10);
        khz += 100000;  // the governor ramps the big cluster up
        sim.tree.write("/sys/devices/system/cpu/cpu1/cpufreq/scaling_cur_freq", khz);
        // ... and a power daemon switches its governor while the model runs
        sim.tree.write("/sys/devices/system/cpu/cpu1/cpufreq/scaling_governor", "performance\n");
        sim.tree.write("/sys/class/thermal/thermal_zone0/temp", 41000 + (khz - 1000000) / 100);
      },
      "toy", quick());
  ASSERT_EQ(m.device.clusters.size(), 2u);
  ASSERT_EQ(m.window_clocks.size(), 2u);
  EXPECT_EQ(m.window_clocks[0].cluster, "little");
  EXPECT_DOUBLE_EQ(*m.window_clocks[0].min_mhz, 1000);
  EXPECT_DOUBLE_EQ(*m.window_clocks[0].max_mhz, 1000);
  EXPECT_EQ(m.window_clocks[1].cluster, "big");
  // Each kept window ramps the clock by 100 MHz, and the first one's start is in the range
  // too: one step more than the windows' ends alone would span.
  EXPECT_DOUBLE_EQ(*m.window_clocks[1].max_mhz - *m.window_clocks[1].min_mhz, 100.0 * m.windows);
  EXPECT_EQ(m.window_clocks[0].governor_end, "schedutil");
  EXPECT_EQ(m.window_clocks[1].governor_end, "performance");
  ASSERT_EQ(m.temperatures_end.size(), 1u);
  EXPECT_GT(m.temperatures_end[0].celsius, m.device.temperatures.at(0).celsius);
  const auto text = format_measurement(m);
  EXPECT_NE(text.find("clock at the start and end of each window: little 1000-1000 MHz; big "),
            std::string::npos)
      << text;
  EXPECT_NE(text.find("governor changed during the measurement: big schedutil -> performance;"),
            std::string::npos)
      << text;
  EXPECT_NE(text.find("temperature at the end: cpu-thermal"), std::string::npos) << text;
  const auto back = measurement_from_json(to_json(m));
  ASSERT_EQ(back.window_clocks.size(), 2u);
  EXPECT_EQ(back.window_clocks[1].max_mhz, m.window_clocks[1].max_mhz);
  EXPECT_EQ(back.window_clocks[1].governor_end, "performance");
  EXPECT_EQ(back.device.clusters.size(), 2u);
  EXPECT_EQ(back.temperatures_end.size(), 1u);
}

TEST(Protocol, NoIdleBaselineMeansDynamicEnergyUnknown) {
  Sim sim;
  auto o = quick();
  o.idle_s = 0;
  auto m = measure_run(
      sim.ctx(),
      [&] {
        sim.pass(1, 0);
        return CommandResult{};
      },
      "x", o);
  EXPECT_FALSE(m.idle_power_mw.has_value());
  EXPECT_FALSE(m.dynamic_energy_mj.has_value());
}

TEST(Protocol, BadOptionsAreErrors) {
  Sim sim;
  auto o = quick();
  o.ci_target = 0;
  EXPECT_THROW(measure_workload(
                   sim.ctx(), [](int64_t) {}, "x", o),
               Error);
  o = quick();
  o.min_windows = 1;
  EXPECT_THROW(measure_workload(
                   sim.ctx(), [](int64_t) {}, "x", o),
               Error);
}

TEST(Command, ExitCodesSignalsAndMissingCommands) {
  EXPECT_EQ(run_command({"true"}).exit_code, 0);
  EXPECT_EQ(run_command({"sh", "-c", "exit 7"}).exit_code, 7);
  EXPECT_EQ(run_command({"sh", "-c", "kill -TERM $$"}).exit_code, 128 + 15);
  int started = 0;
  double cpu = -1;
  CommandHooks h;
  h.on_start = [&](int pid) { started = pid; };
  h.on_exit = [&](double c) { cpu = c; };
  run_command({"true"}, h);
  EXPECT_GT(started, 0);
  EXPECT_GE(cpu, 0);
  try {
    run_command({"/nonexistent/nnjoule-no-such-command"});
    FAIL() << "expected an error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("cannot run '/nonexistent/nnjoule-no-such-command'"),
              std::string::npos);
  }
}

TEST(ProcessCpu, ReadsProcStatUntilTheExitRusage) {
  FakeTree t;
  auto cpu = std::make_shared<ProcessCpu>(t.fs());
  EXPECT_EQ(cpu->seconds(), 0);
  const long tck = sysconf(_SC_CLK_TCK);
  // comm with a space and a parenthesis; utime 2 s, stime 1 s, cutime 0.5 s, cstime 0.5 s.
  t.write("/proc/42/stat",
          fmt::format("42 (my (app)) R 1 42 42 0 -1 0 0 0 0 0 {} {} {} {} 20 0 1 0\n", 2 * tck, tck,
                      tck / 2, tck / 2));
  cpu->attach(42);
  EXPECT_NEAR(cpu->seconds(), 4.0, 1e-9);
  cpu->finish(4.25);
  t.write("/proc/42/stat", "garbage");
  EXPECT_NEAR(cpu->seconds(), 4.25, 1e-9);
  auto fn = ProcessCpu::source(cpu);
  EXPECT_NEAR(fn(), 4.25, 1e-9);
}

TEST(DeviceState, ReadsCpufreqThermalAndSaysWhatIsMissing) {
  FakeTree t;
  t.write("/proc/cpuinfo", "processor\t: 0\nmodel name\t: Fake 8-core\nprocessor\t: 1\n");
  t.write("/sys/devices/system/cpu/online", "0-1\n");
  t.write("/proc/sys/kernel/osrelease", "6.1.0-test\n");
  for (int c = 0; c < 2; ++c) {
    const std::string d = fmt::format("/sys/devices/system/cpu/cpu{}/cpufreq/", c);
    t.write(d + "scaling_governor", c == 0 ? "performance\n" : "schedutil\n");
    t.write(d + "scaling_cur_freq", 1800000 + c * 100000);
    t.write(d + "scaling_min_freq", 600000);
    t.write(d + "scaling_max_freq", 2400000);
  }
  t.write("/sys/class/thermal/thermal_zone0/type", "cpu-thermal\n");
  t.write("/sys/class/thermal/thermal_zone0/temp", 48250);
  // cpu0's caches as Linux lists them (a Cortex-A76 core of a phone: 64K L1d, 512K L2, 4M L3),
  // and one whose size cannot be read: left out, not a zero.
  const std::string cache = "/sys/devices/system/cpu/cpu0/cache/index";
  const std::vector<std::array<std::string, 4>> caches = {{"1", "Data", "64K", ""},
                                                          {"1", "Instruction", "64K", ""},
                                                          {"2", "Unified", "512K", ""},
                                                          {"3", "Unified", "4M", "0-7"},
                                                          {"2", "Unified", "big", ""}};
  for (size_t i = 0; i < caches.size(); ++i) {
    const auto& [level, type, size, shared] = caches[i];
    const std::string dir = cache + std::to_string(i) + "/";
    t.write(dir + "level", level + "\n");
    t.write(dir + "type", type + "\n");
    t.write(dir + "size", size + "\n");
    if (!shared.empty()) t.write(dir + "shared_cpu_list", shared + "\n");
  }
  auto d = read_device_state(*t.fs(), 4, {});
  EXPECT_EQ(d.cpu_model, "Fake 8-core");
  EXPECT_EQ(d.logical_cores, 2);
  EXPECT_EQ(d.kernel, "6.1.0-test");
  EXPECT_EQ(d.governor, "mixed: performance schedutil");
  ASSERT_EQ(d.cpus.size(), 2u);
  EXPECT_DOUBLE_EQ(*d.cpus[1].cur_mhz, 1900);
  EXPECT_DOUBLE_EQ(*d.cpus[0].max_mhz, 2400);
  ASSERT_EQ(d.temperatures.size(), 1u);
  EXPECT_DOUBLE_EQ(d.temperatures[0].celsius, 48.25);
  EXPECT_EQ(d.threads, 4);
  EXPECT_TRUE(d.notes.empty());
  EXPECT_EQ(d.caches_source, "sysfs");
  ASSERT_EQ(d.caches.size(), 4u);
  EXPECT_EQ(d.caches[0].bytes, 64 * 1024);
  EXPECT_EQ(d.caches[2].level, 2);
  EXPECT_EQ(d.caches[2].bytes, 512 * 1024);
  EXPECT_EQ(d.caches[3].bytes, 4 * 1024 * 1024);
  EXPECT_EQ(d.caches[3].shared_cpus, "0-7");

  FakeTree bare;
  auto b = read_device_state(*bare.fs(), 0, {});
  EXPECT_EQ(b.governor, "unknown (no cpufreq)");
  EXPECT_EQ(b.cpu_model, "unknown");
  EXPECT_EQ(b.notes.size(), 4u);  // kernel, cpufreq, thermal, caches (a fake root: no sysconf)
  EXPECT_TRUE(b.caches.empty());
  EXPECT_EQ(b.caches_source, "");
}

TEST(Measurement, JsonRoundTripsAndMissingFieldsAreErrors) {
  Sim sim;
  auto m = measure_workload(
      sim.ctx(),
      [&](int64_t n) {
        for (int64_t i = 0; i < n; ++i) sim.pass(0.002, 10);
      },
      "toy", quick());
  const auto j = to_json(m);
  EXPECT_EQ(j["provenance"]["label"], "measured (sim)");
  EXPECT_EQ(j["exit_code"], nullptr);
  const auto back = measurement_from_json(j);
  EXPECT_EQ(to_json(back), j);
  auto broken = j;
  broken.erase("energy_mj");
  try {
    measurement_from_json(broken);
    FAIL() << "expected an error";
  } catch (const Error& e) {
    EXPECT_EQ(std::string(e.what()), "measurement: missing field 'energy_mj'");
  }
  broken = j;
  broken["device"]["threads"] = "four";
  EXPECT_THROW(measurement_from_json(broken), Error);
  const std::string text = format_measurement(m);
  EXPECT_NE(text.find("energy / inference"), std::string::npos);
  EXPECT_NE(text.find("measured (sim)"), std::string::npos);
}

TEST(Protocol, ModelOnTheEngineWithAConstantRail) {
  // Real engine, real clock: only relations that hold whatever the timing are checked.
  graph::GraphBuilder b("tiny", 1);
  auto x = b.input("x", {1, 3, 16, 16});
  auto y = b.relu(b.conv(x, 8, 3));
  const auto g = b.finish({b.global_avgpool(y)});
  auto rail = std::make_shared<FunctionMeter>(
      "rail", std::vector<Domain>{{"VDD_IN", Signal::kPower, 0, true, ""}},
      std::vector<FunctionMeter::Fn>{[](double) { return 5000.0; }});
  SteadyClock clock;
  Sampler sampler({rail}, clock);
  FakeTree tree;
  Context ctx{&sampler, real_sleeper(), tree.fs()};
  ProtocolOptions o;
  o.idle_s = 0.01;
  o.warmup_s = 0.01;
  o.min_window_s = 0.01;
  o.time_cap_s = 2;
  sampler.start();
  auto m = measure_model(ctx, g, "tiny", ModelOptions{.threads = 1, .cpus = {}, .seed = 1}, o);
  sampler.stop();
  EXPECT_EQ(m.kind, "model");
  EXPECT_GE(m.windows, 2);
  EXPECT_GE(m.inferences, static_cast<int64_t>(m.windows));
  EXPECT_GT(*m.latency_ms, 0);
  // A constant 5 W: every inference costs 5 W x its latency, and the idle power is 5 W.
  EXPECT_NEAR(*m.energy_per_inference_mj, 5.0 * *m.latency_ms, 1e-6 * *m.energy_per_inference_mj);
  EXPECT_NEAR(*m.idle_power_mw, 5000, 1e-6);
  EXPECT_NEAR(*m.dynamic_energy_per_inference_mj, 0, 1e-6);
  EXPECT_EQ(m.device.threads, 1);
  EXPECT_THROW(measure_model(ctx, g, "tiny", ModelOptions{.threads = 0}, o), Error);
}
