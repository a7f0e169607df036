// A measuring session from a user's meter settings: on a tree without sensors the estimate is
// chosen and labelled so, the device file's settings are kept, and the sampler runs until stop.
#include "nnjoule/collect/session.hpp"

#include <gtest/gtest.h>

#include "meter/fake_tree.hpp"
#include "support/test_support.hpp"

namespace nnjoule::collect {
namespace {

using nnjoule::testing::contains;
using nnjoule::testing::error_of;
using nnjoule::testing::FakeTree;

void cpus(const FakeTree& t) {
  t.write("/proc/stat", "cpu  100 0 0 5000 10 0 0 7 0 0\ncpu0 1 0 0 1 0 0 0 0 0 0\n");
  t.write("/proc/cpuinfo", "processor\t: 0\nmodel name\t: Cortex-A76\n");
  t.write("/sys/devices/system/cpu/online", "0\n");
}

TEST(Session, WithoutSensorsTheEstimateIsChosenAndLabelled) {
  FakeTree t;
  cpus(t);
  t.write("/etc/dev.json", R"({"estimate": {"idle_power_mw": 1500, "tdp_w": 6}})");
  MeterSetup setup;
  setup.root = t.root().string();
  setup.device_file = t.path("/etc/dev.json").string();
  Session s(setup);
  EXPECT_TRUE(s.sampler().running());
  EXPECT_EQ(s.provenance().origin, Origin::kEstimated);
  EXPECT_EQ(s.config().estimate.tdp_w, 6.0);
  EXPECT_EQ(s.context().sampler, &s.sampler());
  s.sampler().begin_window("w");
  const auto w = s.sampler().end_window("w");
  EXPECT_EQ(w.primary().provenance.origin, Origin::kEstimated);
  s.stop();
  EXPECT_FALSE(s.sampler().running());
}

TEST(Session, AMeterThatIsNotThereIsAnErrorNamingIt) {
  FakeTree t;
  cpus(t);
  MeterSetup setup;
  setup.root = t.root().string();
  setup.meters = {"rapl"};
  const std::string e = error_of([&] { Session s(setup); });
  EXPECT_TRUE(contains(e, "rapl")) << e;
}

TEST(Session, TheSetupBecomesDiscoveryOptions) {
  MeterSetup setup;
  setup.root = "/nowhere";
  setup.trace = "t.csv";
  setup.trace_start_epoch_s = 1.7e9;
  setup.trace_offset_s = -0.5;
  setup.allow_charging = true;
  const auto o = discover_options(setup);
  EXPECT_EQ(o.fs->root(), "/nowhere");
  EXPECT_EQ(o.config.trace.path, "t.csv");
  EXPECT_EQ(o.config.trace.start_epoch_s, 1.7e9);
  EXPECT_EQ(o.config.trace.offset_s, -0.5);
  EXPECT_TRUE(o.config.battery.allow_charging);
}

}  // namespace
}  // namespace nnjoule::collect
