#include <gtest/gtest.h>

#include <cmath>

#include "meter/fake_tree.hpp"
#include "nnjoule/common/error.hpp"
#include "nnjoule/meter/sampler.hpp"

using namespace nnjoule;
using namespace nnjoule::meter;
using nnjoule::testing::FunctionMeter;

namespace {

std::shared_ptr<FunctionMeter> power_meter(FunctionMeter::Fn fn, std::string name = "p") {
  return std::make_shared<FunctionMeter>(name,
                                         std::vector<Domain>{{"rail", Signal::kPower, 0, true, ""}},
                                         std::vector<FunctionMeter::Fn>{std::move(fn)});
}

std::shared_ptr<FunctionMeter> counter_meter(FunctionMeter::Fn fn, double wrap_mj = 0) {
  return std::make_shared<FunctionMeter>(
      "c", std::vector<Domain>{{"pkg", Signal::kEnergy, wrap_mj, true, ""}},
      std::vector<FunctionMeter::Fn>{std::move(fn)});
}

// Steps the sampler every `dt_ms` milliseconds of manual time from a to b (inclusive).
void drive(Sampler& s, int from_ms, int to_ms, int dt_ms = 1) {
  for (int k = from_ms; k <= to_ms; k += dt_ms) s.step(k / 1000.0);
}

}  // namespace

TEST(Sampler, TrapezoidIsExactForALinearRamp) {
  // p(t) = 1000 + 500 t mW; over [0.1, 0.9] s the integral is 800 + 250 (0.81 - 0.01) = 1000 mJ.
  ManualClock clock;
  Sampler s({power_meter([](double t) { return 1000 + 500 * t; })}, clock);
  drive(s, 0, 100, 10);
  s.begin_window("w", 0.1);
  drive(s, 100, 900, 10);
  auto w = s.end_window("w", 0.9);
  EXPECT_NEAR(w.primary().energy_mj, 1000.0, 1e-9);
  EXPECT_NEAR(w.duration_ms, 800.0, 1e-9);
  EXPECT_NEAR(w.primary().avg_power_mw, 1250.0, 1e-9);
  EXPECT_EQ(w.primary().provenance.label(), "measured (p)");
}

TEST(Sampler, TrapezoidIsExactForPiecewiseLinearPowerSampledAtItsKinks) {
  // 2 W until 0.3 s, ramp to 5 W at 0.5 s, back to 2 W at 0.7 s, then flat.
  auto p = [](double t) {
    if (t <= 0.3) return 2000.0;
    if (t <= 0.5) return 2000.0 + (t - 0.3) / 0.2 * 3000.0;
    if (t <= 0.7) return 5000.0 - (t - 0.5) / 0.2 * 3000.0;
    return 2000.0;
  };
  ManualClock clock;
  Sampler s({power_meter(p)}, clock);
  s.begin_window("w", 0.0);
  drive(s, 0, 1000, 50);
  auto w = s.end_window("w", 1.0);
  // 2 W x 1 s + a triangle of height 3 W and base 0.4 s.
  EXPECT_NEAR(w.primary().energy_mj, 2000.0 + 0.5 * 0.4 * 3000.0, 1e-9);
}

TEST(Sampler, CounterWindowsAreDifferencesAtTheEdges) {
  ManualClock clock;
  Sampler s({counter_meter([](double t) { return 250.0 + 3000.0 * t; })}, clock);
  s.begin_window("w", 0.25);
  s.step(0.5);
  auto w = s.end_window("w", 1.25);
  EXPECT_NEAR(w.primary().energy_mj, 3000.0, 1e-9);
  EXPECT_NEAR(w.primary().avg_power_mw, 3000.0, 1e-9);
  EXPECT_EQ(w.primary().reads, 3);
}

TEST(Sampler, NestedAndOverlappingWindows) {
  ManualClock clock;
  Sampler s({counter_meter([](double t) { return 1000.0 * t; })}, clock);
  s.begin_window("outer", 0);
  s.begin_window("a", 1);
  s.begin_window("inner", 1.5);
  auto inner = s.end_window("inner", 2);
  s.begin_window("b", 2.5);
  auto a = s.end_window("a", 3);  // overlaps b
  auto b = s.end_window("b", 4);
  auto outer = s.end_window("outer", 5);
  EXPECT_NEAR(inner.primary().energy_mj, 500, 1e-9);
  EXPECT_NEAR(a.primary().energy_mj, 2000, 1e-9);
  EXPECT_NEAR(b.primary().energy_mj, 1500, 1e-9);
  EXPECT_NEAR(outer.primary().energy_mj, 5000, 1e-9);
  EXPECT_EQ(a.name, "a");
  EXPECT_NEAR(b.begin_s, 2.5, 1e-12);
  EXPECT_NEAR(b.end_s, 4, 1e-12);
}

TEST(Sampler, WindowNameErrors) {
  ManualClock clock;
  Sampler s({counter_meter([](double t) { return t; })}, clock);
  s.begin_window("x", 0);
  EXPECT_THROW(s.begin_window("x", 1), Error);
  EXPECT_THROW(s.end_window("y", 1), Error);
  s.end_window("x", 1);
  EXPECT_THROW(s.end_window("x", 2), Error);
}

TEST(Sampler, TimeNeverRunsBackwards) {
  ManualClock clock;
  Sampler s({counter_meter([](double t) { return 1000 * t; })}, clock);
  s.begin_window("w", 2.0);
  s.step(1.0);  // clamped to 2.0: no negative interval
  auto w = s.end_window("w", 3.0);
  EXPECT_NEAR(w.primary().energy_mj, 1000, 1e-9);
}

TEST(Sampler, TotalCountsOnlyTotalDomains) {
  auto m = std::make_shared<FunctionMeter>(
      "board",
      std::vector<Domain>{{"VDD_IN", Signal::kPower, 0, true, ""},
                          {"VDD_CPU", Signal::kPower, 0, false, "inside VDD_IN"}},
      std::vector<FunctionMeter::Fn>{[](double) { return 5000.0; }, [](double) { return 2000.0; }});
  ManualClock clock;
  Sampler s({m}, clock);
  s.begin_window("w", 0);
  auto w = s.end_window("w", 2);
  EXPECT_NEAR(w.primary().energy_mj, 10000, 1e-9);
  ASSERT_EQ(w.primary().domains.size(), 2u);
  EXPECT_NEAR(w.primary().domains[1].energy_mj, 4000, 1e-9);
  EXPECT_FALSE(w.primary().domains[1].in_total);
}

TEST(Sampler, MeasuresASampleAndHoldUpdatePeriodAndPollsAtHalfOfIt) {
  // The sensor publishes a new value every 20 ms; the sampler is offered a step every 1 ms.
  auto m = power_meter([](double t) { return 1000.0 + std::floor(std::llround(t * 1000) / 20); });
  ManualClock clock;
  Sampler s({m}, clock);
  drive(s, 0, 400);
  auto st = s.stats(0);
  ASSERT_TRUE(st.update_period_s.has_value());
  EXPECT_NEAR(*st.update_period_s, 0.020, 1e-9);
  EXPECT_FALSE(st.period_is_upper_bound);
  EXPECT_NEAR(st.interval_s, 0.010, 1e-12);
  // Once adapted, about 1 read per 10 ms (a step late when rounding puts the due time just
  // past a step) instead of 1 per ms.
  const int before = m->reads;
  drive(s, 401, 600);
  EXPECT_LE(m->reads - before, 21);
  EXPECT_GE(m->reads - before, 15);
}

TEST(Sampler, FastSensorGivesAnUpperBoundAtTheMinimumInterval) {
  ManualClock clock;
  Sampler s({power_meter([](double t) { return 1000.0 + t * 1e6; })}, clock);
  drive(s, 0, 50);
  auto st = s.stats(0);
  ASSERT_TRUE(st.update_period_s.has_value());
  EXPECT_TRUE(st.period_is_upper_bound);
  EXPECT_NEAR(*st.update_period_s, 0.001, 1e-12);
}

TEST(Sampler, SlowSensorBacksOffThenMeasuresItsPeriod) {
  // A battery gauge updating once a second.
  auto m = power_meter(
      [](double t) { return 2000.0 + 10.0 * std::floor(std::llround(t * 1000) / 1000); });
  ManualClock clock;
  Sampler s({m}, clock);
  drive(s, 0, 8000);
  auto st = s.stats(0);
  ASSERT_TRUE(st.update_period_s.has_value());
  EXPECT_NEAR(*st.update_period_s, 1.0, 0.07);
  // Far fewer reads than the 8001 steps offered.
  EXPECT_LT(m->reads, 600);
}

TEST(Sampler, CounterPollingFollowsTheWrapPeriod) {
  // 50 W into a 1 J counter wraps every 20 ms: polls must come at least 4 times faster.
  auto m = counter_meter([](double t) { return std::fmod(50000.0 * t, 1000.0); }, 1000.0);
  ManualClock clock;
  Sampler s({m}, clock);
  drive(s, 0, 100);
  EXPECT_LE(s.stats(0).interval_s, 0.020 / 4 + 1e-12);
  EXPECT_NEAR(s.stats(0).max_power_mw, 50000, 1e-6);
}

TEST(Sampler, CounterGoingBackwardsWithoutRangeIsAnError) {
  ManualClock clock;
  Sampler s({counter_meter([](double t) { return t < 1 ? 500.0 : 100.0; })}, clock);
  s.begin_window("w", 0);
  s.step(1.5);
  try {
    s.end_window("w", 2);
    FAIL() << "expected an error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("went backwards"), std::string::npos) << e.what();
  }
}

TEST(Sampler, ReadFailureSurfacesAtTheWindowEdge) {
  auto m = counter_meter([](double t) -> double {
    if (t > 1) throw Error("/sys/x/energy_uj: read failed (No such device)");
    return t;
  });
  ManualClock clock;
  Sampler s({m}, clock);
  s.begin_window("w", 0);
  s.step(1.5);
  EXPECT_THROW(s.end_window("w", 2), Error);
}

TEST(Sampler, ThreadSamplesOnTheSteadyClock) {
  // The real thread: only structure is checked (reads happened, the window closes), no timing.
  SteadyClock clock;
  auto m = power_meter([](double) { return 1500.0; });
  Sampler s({m}, clock);
  s.start();
  s.begin_window("w");
  while (m->reads < 3) std::this_thread::yield();
  auto w = s.end_window("w");
  s.stop();
  EXPECT_GT(w.duration_ms, 0);
  EXPECT_NEAR(w.primary().avg_power_mw, 1500.0, 1e-6);
  EXPECT_GE(s.thread_cpu_s(), 0.0);
}
