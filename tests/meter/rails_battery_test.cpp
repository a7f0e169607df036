#include <gtest/gtest.h>

#include "meter/fake_tree.hpp"
#include "nnjoule/common/error.hpp"
#include "nnjoule/meter/meters.hpp"
#include "nnjoule/meter/sampler.hpp"
#include "support/test_support.hpp"

using namespace nnjoule;
using namespace nnjoule::meter;
using nnjoule::testing::FakeTree;

namespace {

using nnjoule::testing::contains;

// A modern INA3221 hwmon channel: bus voltage (mV) and current (mA).
void ina_channel(const FakeTree& t, const std::string& hwmon, int n, const std::string& label,
                 long long mv, long long ma) {
  const std::string d = "/sys/class/hwmon/" + hwmon + "/";
  const std::string s = std::to_string(n);
  t.write(d + "in" + s + "_label", label + "\n");
  t.write(d + "in" + s + "_input", mv);
  t.write(d + "curr" + s + "_input", ma);
}

// Energy of each domain and the total over a 2 s window at constant readings.
EnergyWindow two_seconds(const std::shared_ptr<Meter>& m) {
  ManualClock clock;
  Sampler s({m}, clock);
  s.begin_window("w", 0);
  s.step(1);
  return s.end_window("w", 2);
}

}  // namespace

TEST(Ina, ModernLayoutWithTotalRailCountsOnlyTheTotal) {
  // Jetson Orin Nano: VDD_IN carries the other two rails.
  FakeTree t;
  t.write("/sys/class/hwmon/hwmon0/name", "coretemp\n");
  t.write("/sys/class/hwmon/hwmon1/name", "ina3221\n");
  ina_channel(t, "hwmon1", 1, "VDD_IN", 5000, 1200);
  ina_channel(t, "hwmon1", 2, "VDD_CPU_GPU_CV", 5000, 400);
  ina_channel(t, "hwmon1", 3, "VDD_SOC", 5000, 300);
  t.write("/sys/class/hwmon/hwmon1/in4_input", 12);  // shunt voltage: no current partner
  auto f = find_ina(t.fs(), {});
  ASSERT_EQ(f.size(), 1u);
  ASSERT_EQ(f[0].status, Finding::Status::kFound) << f[0].reason;
  EXPECT_TRUE(contains(f[0].reason, "total = VDD_IN")) << f[0].reason;
  const auto& d = f[0].meter->domains();
  ASSERT_EQ(d.size(), 3u);
  EXPECT_TRUE(d[0].in_total);
  EXPECT_FALSE(d[1].in_total);
  EXPECT_EQ(d[1].note, "inside VDD_IN");
  auto w = two_seconds(f[0].meter);
  EXPECT_NEAR(w.primary().energy_mj, 12000, 1e-9);  // 6 W x 2 s, not the 9.5 W sum
  EXPECT_NEAR(w.primary().domains[1].energy_mj, 4000, 1e-9);
}

TEST(Ina, ModernLayoutWithoutTotalRailSums) {
  FakeTree t;
  t.write("/sys/class/hwmon/hwmon0/name", "ina3221\n");
  ina_channel(t, "hwmon0", 1, "VDD_GPU", 1000, 2000);
  ina_channel(t, "hwmon0", 2, "VDD_CPU", 1000, 1000);
  ina_channel(t, "hwmon0", 3, "VDD_SOC", 1000, 500);
  t.write("/sys/class/hwmon/hwmon0/in3_enable", 0);  // a disabled channel is skipped
  auto f = find_ina(t.fs(), {});
  ASSERT_EQ(f[0].status, Finding::Status::kFound) << f[0].reason;
  ASSERT_EQ(f[0].meter->domains().size(), 2u);
  auto w = two_seconds(f[0].meter);
  EXPECT_NEAR(w.primary().energy_mj, 6000, 1e-9);
}

TEST(Ina, ConfiguredTotalRail) {
  FakeTree t;
  t.write("/sys/class/hwmon/hwmon0/name", "ina3221\n");
  ina_channel(t, "hwmon0", 1, "VIN_SYS_5V0", 5000, 2000);
  ina_channel(t, "hwmon0", 2, "VDD_GPU_SOC", 1000, 1000);
  auto f = find_ina(t.fs(), {"vin_sys_5v0"});
  ASSERT_EQ(f[0].status, Finding::Status::kFound);
  EXPECT_TRUE(f[0].meter->domains()[0].in_total);
  EXPECT_FALSE(f[0].meter->domains()[1].in_total);
  auto bad = find_ina(t.fs(), {"VDD_IN"});
  EXPECT_EQ(bad[0].status, Finding::Status::kRefused);
  EXPECT_TRUE(contains(bad[0].reason, "'VDD_IN' (ina.total_rail) is not among the rails"));
}

TEST(Ina, OldIioLayoutWithTotalRail) {
  // L4T 4.9 (Jetson Nano): in_power mW per rail, POM_5V_IN is the module input.
  FakeTree t;
  const std::string d = "/sys/bus/i2c/drivers/ina3221x/6-0040/iio:device0/";
  t.write(d + "rail_name_0", "POM_5V_IN\n");
  t.write(d + "in_power0_input", 4000);
  t.write(d + "rail_name_1", "POM_5V_GPU\n");
  t.write(d + "in_power1_input", 1000);
  t.write(d + "rail_name_2", "POM_5V_CPU\n");
  t.write(d + "in_power2_input", 800);
  auto f = find_ina(t.fs(), {});
  ASSERT_EQ(f[0].status, Finding::Status::kFound) << f[0].reason;
  ASSERT_EQ(f[0].meter->domains().size(), 3u);
  auto w = two_seconds(f[0].meter);
  EXPECT_NEAR(w.primary().energy_mj, 8000, 1e-9);
}

TEST(Ina, OldIioLayoutWithoutTotalRailSumsVoltageTimesCurrent) {
  FakeTree t;
  const std::string d = "/sys/bus/i2c/drivers/ina3221x/1-0040/iio:device0/";
  t.write(d + "rail_name_0", "VDD_SYS_GPU\n");
  t.write(d + "in_voltage0_input", 5000);
  t.write(d + "in_current0_input", 200);
  t.write(d + "rail_name_1", "VDD_SYS_CPU\n");
  t.write(d + "in_power1_input", 500);
  auto f = find_ina(t.fs(), {});
  ASSERT_EQ(f[0].status, Finding::Status::kFound) << f[0].reason;
  std::vector<double> v(2);
  f[0].meter->read(0, v);
  EXPECT_DOUBLE_EQ(v[0], 1000);  // 5000 mV x 200 mA
  EXPECT_DOUBLE_EQ(v[1], 500);
  EXPECT_TRUE(f[0].meter->domains()[0].in_total);
  EXPECT_TRUE(f[0].meter->domains()[1].in_total);
}

TEST(Ina, Ina238PrefersItsEnergyCounter) {
  FakeTree t;
  const std::string d = "/sys/class/hwmon/hwmon3/";
  t.write(d + "name", "ina238\n");
  t.write(d + "in1_input", 12000);
  t.write(d + "curr1_input", 250);
  t.write(d + "power1_input", 3000000);   // uW
  t.write(d + "energy1_input", 5000000);  // uJ
  auto f = find_ina(t.fs(), {});
  ASSERT_EQ(f[0].status, Finding::Status::kFound) << f[0].reason;
  const auto& dom = f[0].meter->domains();
  ASSERT_EQ(dom.size(), 1u);
  EXPECT_EQ(dom[0].signal, Signal::kEnergy);
  EXPECT_EQ(dom[0].name, "ina238/ch1");
  std::vector<double> v(1);
  f[0].meter->read(0, v);
  EXPECT_DOUBLE_EQ(v[0], 5000);  // mJ
  t.write(d + "energy1_input", 7000000);
  f[0].meter->read(0, v);
  EXPECT_DOUBLE_EQ(v[0], 7000);
}

TEST(Ina, NoneSaysWhereItLooked) {
  FakeTree t;
  auto f = find_ina(t.fs(), {});
  EXPECT_EQ(f[0].status, Finding::Status::kNotFound);
  EXPECT_TRUE(contains(f[0].reason, "/sys/class/hwmon")) << f[0].reason;
}

TEST(Hwmon, OtherPowerSensorsAreOneMeterEach) {
  FakeTree t;
  t.write("/sys/class/hwmon/hwmon0/name", "coretemp\n");
  t.write("/sys/class/hwmon/hwmon0/temp1_input", 45000);
  t.write("/sys/class/hwmon/hwmon4/name", "amdgpu\n");
  t.write("/sys/class/hwmon/hwmon4/power1_average", 15000000);
  t.write("/sys/class/hwmon/hwmon4/power1_label", "PPT\n");
  auto f = find_hwmon(t.fs());
  ASSERT_EQ(f.size(), 1u);
  ASSERT_EQ(f[0].status, Finding::Status::kFound);
  EXPECT_EQ(f[0].name, "hwmon:amdgpu");
  EXPECT_EQ(f[0].meter->name(), "hwmon:amdgpu");
  EXPECT_EQ(f[0].meter->domains()[0].name, "PPT");
  std::vector<double> v(1);
  f[0].meter->read(0, v);
  EXPECT_DOUBLE_EQ(v[0], 15000);
}

// ---- battery gauge ----

namespace {
void battery(const FakeTree& t, const std::string& status, long long ua, long long uv) {
  const std::string d = "/sys/class/power_supply/battery/";
  t.write(d + "type", "Battery\n");
  t.write(d + "status", status + "\n");
  t.write(d + "current_now", ua);
  t.write(d + "voltage_now", uv);
  t.write("/sys/class/power_supply/usb/type", "USB\n");
  t.write("/sys/class/power_supply/usb/online", 0);
}
}  // namespace

TEST(Battery, DischargingWithNegativeCurrentConvention) {
  FakeTree t;
  battery(t, "Discharging", -500000, 4000000);
  auto f = find_battery(t.fs(), {});
  ASSERT_EQ(f[0].status, Finding::Status::kFound) << f[0].reason;
  EXPECT_TRUE(contains(f[0].reason, "negative while discharging (detected)")) << f[0].reason;
  std::vector<double> v(1);
  f[0].meter->read(0, v);
  EXPECT_DOUBLE_EQ(v[0], 2000);  // 4 V x 0.5 A
}

TEST(Battery, DischargingWithPositiveCurrentConvention) {
  FakeTree t;
  battery(t, "Discharging", 250000, 3800000);
  auto f = find_battery(t.fs(), {});
  ASSERT_EQ(f[0].status, Finding::Status::kFound) << f[0].reason;
  EXPECT_TRUE(contains(f[0].reason, "positive while discharging (detected)"));
  std::vector<double> v(1);
  f[0].meter->read(0, v);
  EXPECT_DOUBLE_EQ(v[0], 950);
}

TEST(Battery, ChargingIsRefusedUnlessAllowed) {
  FakeTree t;
  battery(t, "Charging", 800000, 4200000);
  auto f = find_battery(t.fs(), {});
  EXPECT_EQ(f[0].status, Finding::Status::kRefused);
  EXPECT_TRUE(contains(f[0].reason, "status 'Charging'")) << f[0].reason;
  EXPECT_TRUE(contains(f[0].reason, "unplug")) << f[0].reason;
  // Allowed, the sign cannot be detected while charging: it must be configured.
  BatteryConfig allow;
  allow.allow_charging = true;
  auto g = find_battery(t.fs(), allow);
  EXPECT_EQ(g[0].status, Finding::Status::kRefused);
  EXPECT_TRUE(contains(g[0].reason, "battery.sign")) << g[0].reason;
  allow.sign = CurrentSign::kNegativeDischarge;
  auto h = find_battery(t.fs(), allow);
  ASSERT_EQ(h[0].status, Finding::Status::kFound) << h[0].reason;
}

TEST(Battery, ChargerOnlineIsRefusedEvenIfStatusLags) {
  FakeTree t;
  battery(t, "Discharging", -500000, 4000000);
  t.write("/sys/class/power_supply/usb/online", 1);
  auto f = find_battery(t.fs(), {});
  EXPECT_EQ(f[0].status, Finding::Status::kRefused);
  EXPECT_TRUE(contains(f[0].reason, "charger usb online")) << f[0].reason;
}

TEST(Battery, ChargerPluggedMidMeasurementFailsTheWindow) {
  FakeTree t;
  battery(t, "Discharging", -500000, 4000000);
  auto f = find_battery(t.fs(), {});
  ASSERT_EQ(f[0].status, Finding::Status::kFound);
  ManualClock clock;
  Sampler s({f[0].meter}, clock);
  s.begin_window("w", 0);
  t.write("/sys/class/power_supply/battery/status", "Charging\n");
  s.step(0.5);
  try {
    s.end_window("w", 1);
    FAIL() << "expected an error";
  } catch (const Error& e) {
    EXPECT_TRUE(contains(e.what(), "became 'Charging' during the measurement")) << e.what();
  }
}

TEST(Battery, SlowGaugePeriodIsMeasured) {
  // The gauge publishes a new current every 1.5 s; the sampler is offered a step every ms.
  FakeTree t;
  battery(t, "Discharging", -500000, 4000000);
  auto f = find_battery(t.fs(), {});
  ASSERT_EQ(f[0].status, Finding::Status::kFound);
  ManualClock clock;
  Sampler s({f[0].meter}, clock);
  for (int k = 0; k <= 12000; ++k) {
    if (k % 1500 == 0) t.write("/sys/class/power_supply/battery/current_now", -500000 - k);
    s.step(k / 1000.0);
  }
  auto st = s.stats(0);
  ASSERT_TRUE(st.update_period_s.has_value());
  EXPECT_NEAR(*st.update_period_s, 1.5, 0.1);
  EXPECT_LT(st.reads, 1000);  // it backed off instead of reading every millisecond
}

TEST(Battery, LaptopPowerNow) {
  FakeTree t;
  t.write("/sys/class/power_supply/BAT0/type", "Battery\n");
  t.write("/sys/class/power_supply/BAT0/status", "Discharging\n");
  t.write("/sys/class/power_supply/BAT0/power_now", 8500000);
  t.write("/sys/class/power_supply/AC/type", "Mains\n");
  t.write("/sys/class/power_supply/AC/online", 0);
  auto f = find_battery(t.fs(), {});
  ASSERT_EQ(f[0].status, Finding::Status::kFound) << f[0].reason;
  std::vector<double> v(1);
  f[0].meter->read(0, v);
  EXPECT_DOUBLE_EQ(v[0], 8500);
}

TEST(Battery, NoBatteryIsNotFound) {
  FakeTree t;
  t.write("/sys/class/power_supply/AC/type", "Mains\n");
  auto f = find_battery(t.fs(), {});
  EXPECT_EQ(f[0].status, Finding::Status::kNotFound);
}
