// --pin-freq on fake CPU trees: the clusters of the affinity held at one clock while a workload
// runs, the previous limits written back afterwards (also after a throw) in an order the kernel
// accepts, and every refusal a one-line error naming the file.
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <set>

#include "collect/cpu_trees.hpp"
#include "collect/sim.hpp"
#include "meter/fake_tree.hpp"
#include "nnjoule/collect/clusters.hpp"
#include "nnjoule/collect/measurement.hpp"
#include "nnjoule/collect/pinning.hpp"
#include "nnjoule/collect/protocol.hpp"
#include "nnjoule/common/error.hpp"
#include "support/test_support.hpp"

using namespace nnjoule;
using namespace nnjoule::collect;
using nnjoule::testing::error_of;
using nnjoule::testing::FakeTree;
using nnjoule::testing::pixel4_like;
using ::testing::Contains;
using ::testing::ElementsAre;
using ::testing::HasSubstr;

namespace {

const std::string kCpu = "/sys/devices/system/cpu/cpu";

long long khz(const FakeTree& t, int cpu, const std::string& file) {
  return *t.fs()->try_read_int(kCpu + std::to_string(cpu) + "/cpufreq/" + file);
}

// Writes as the cpufreq core does: a minimum above the current maximum (or a maximum below
// the current minimum) is refused with EINVAL, so a wrong write order fails. Files listed in
// `denied` refuse every write with EACCES, as they do for a user that is not root.
class KernelLikeSysFs : public meter::SysFs {
 public:
  explicit KernelLikeSysFs(std::filesystem::path root, std::set<std::string> denied = {})
      : SysFs(std::move(root)), denied_(std::move(denied)) {}
  int write(std::string_view rel, std::string_view text) const override {
    const std::string r(rel);
    if (denied_.count(r)) return EACCES;
    const auto v = meter::parse_int(text);
    const std::string dir = r.substr(0, r.rfind('/'));
    if (v && r.ends_with("scaling_min_freq") && *v > *try_read_int(dir + "/scaling_max_freq"))
      return EINVAL;
    if (v && r.ends_with("scaling_max_freq") && *v < *try_read_int(dir + "/scaling_min_freq"))
      return EINVAL;
    writes.push_back(r.substr(r.rfind('/') + 1) + "=" + std::string(text));
    return SysFs::write(rel, text);
  }
  mutable std::vector<std::string> writes;

 private:
  std::set<std::string> denied_;
};

}  // namespace

TEST(Pinning, BigClustersAtMaxThenRestoredInAnOrderTheKernelAccepts) {
  FakeTree t;
  pixel4_like(t);
  // The governor had lowered the big cluster's ceiling (a thermal or battery policy).
  t.write(kCpu + "4/cpufreq/scaling_max_freq", 1401600);
  auto fs = std::make_shared<KernelLikeSysFs>(t.root());
  {
    ClockPin pin(fs, "max", resolve_cpus(*fs, "big"));
    ASSERT_EQ(pin.pinned().size(), 2u);  // big and prime; the little cluster is not touched
    EXPECT_EQ(pin.pinned()[0].cluster, "big");
    EXPECT_THAT(pin.pinned()[0].cpus, ElementsAre(4, 5, 6));
    EXPECT_DOUBLE_EQ(pin.pinned()[0].mhz, 2419.2);
    EXPECT_DOUBLE_EQ(*pin.pinned()[0].saved_max_mhz, 1401.6);
    EXPECT_EQ(pin.pinned()[0].method, "scaling_min_freq = scaling_max_freq");
    EXPECT_EQ(pin.pinned()[1].cluster, "prime");
    EXPECT_EQ(khz(t, 4, "scaling_min_freq"), 2419200);
    EXPECT_EQ(khz(t, 4, "scaling_max_freq"), 2419200);
    EXPECT_EQ(khz(t, 7, "scaling_min_freq"), 2841600);
    EXPECT_EQ(khz(t, 0, "scaling_min_freq"), 300000);
    EXPECT_EQ(khz(t, 0, "scaling_max_freq"), 1785600);
    EXPECT_FALSE(pin.pinned()[0].restored);
    // Raising: the maximum first.
    EXPECT_THAT(std::vector<std::string>(fs->writes.begin(), fs->writes.begin() + 2),
                ElementsAre("scaling_max_freq=2419200", "scaling_min_freq=2419200"));
    fs->writes.clear();
    EXPECT_TRUE(pin.restore().empty());
    EXPECT_TRUE(pin.pinned()[0].restored);
    EXPECT_TRUE(pin.pinned()[1].restored);
    // Lowering back: the minimum first.
    EXPECT_THAT(std::vector<std::string>(fs->writes.begin(), fs->writes.begin() + 2),
                ElementsAre("scaling_min_freq=710400", "scaling_max_freq=1401600"));
  }
  EXPECT_EQ(khz(t, 4, "scaling_min_freq"), 710400);
  EXPECT_EQ(khz(t, 4, "scaling_max_freq"), 1401600);
  EXPECT_EQ(khz(t, 7, "scaling_min_freq"), 825600);
  EXPECT_EQ(khz(t, 7, "scaling_max_freq"), 2841600);
}

TEST(Pinning, MinimumAndAMhzSnappedToAnAvailableClock) {
  FakeTree t;
  pixel4_like(t);
  auto fs = std::make_shared<KernelLikeSysFs>(t.root());
  {
    ClockPin pin(fs, "min", {0});
    ASSERT_EQ(pin.pinned().size(), 1u);
    EXPECT_EQ(pin.pinned()[0].cluster, "little");
    EXPECT_EQ(khz(t, 0, "scaling_max_freq"), 300000);
    // The minimum is already there: only the maximum is written.
    EXPECT_THAT(fs->writes, ElementsAre("scaling_max_freq=300000"));
  }
  EXPECT_EQ(khz(t, 0, "scaling_max_freq"), 1785600);
  {
    // 2000 MHz is no step of the A76 cluster: the nearest available one, 2016 MHz, is pinned.
    ClockPin pin(fs, "2000", {4});
    ASSERT_EQ(pin.pinned().size(), 1u);
    EXPECT_EQ(pin.pinned()[0].requested, "2000");
    EXPECT_DOUBLE_EQ(pin.pinned()[0].mhz, 2016);
    EXPECT_EQ(khz(t, 4, "scaling_min_freq"), 2016000);
    EXPECT_EQ(khz(t, 4, "scaling_max_freq"), 2016000);
  }
  EXPECT_EQ(khz(t, 4, "scaling_min_freq"), 710400);
}

TEST(Pinning, TheMeasurementRecordsThePinnedClockAndTheWorkloadRunsAtIt) {
  nnjoule::testing::Sim sim;
  pixel4_like(sim.tree);
  Context ctx = sim.ctx();
  auto pin = std::make_unique<ClockPin>(ctx.fs, "max", std::vector<int>{4, 5, 6});
  ctx.pinned = pin->pinned();
  ProtocolOptions o;
  o.idle_s = 0.05;
  o.warmup_s = 0.01;
  o.min_window_s = 0.05;
  o.min_updates = 0;
  std::set<long long> seen;  // the big cluster's limits whenever the workload ran
  Measurement m = measure_workload(
      ctx,
      [&](int64_t n) {
        seen.insert(khz(sim.tree, 4, "scaling_min_freq"));
        seen.insert(khz(sim.tree, 4, "scaling_max_freq"));
        for (int64_t i = 0; i < n; ++i) sim.pass(0.002, 10);
      },
      "toy", o);
  EXPECT_THAT(seen, ElementsAre(2419200));
  ASSERT_EQ(m.device.pinned_clocks.size(), 1u);
  EXPECT_FALSE(m.device.pinned_clocks[0].restored);
  EXPECT_THAT(m.device.notes, Contains(HasSubstr("cluster big 4-6 pinned at 2419 MHz with "
                                                 "--pin-freq max")));
  EXPECT_TRUE(pin->restore().empty());
  m.device.pinned_clocks = pin->pinned();
  EXPECT_EQ(khz(sim.tree, 4, "scaling_max_freq"), 2419200);  // the tree's own ceiling
  EXPECT_EQ(khz(sim.tree, 4, "scaling_min_freq"), 710400);
  EXPECT_THAT(format_measurement(m),
              HasSubstr("clock pinned: big 4-6 at 2419 MHz (max; scaling_min_freq = "
                        "scaling_max_freq; restored)"));
  const auto back = measurement_from_json(to_json(m));
  ASSERT_EQ(back.device.pinned_clocks.size(), 1u);
  const PinnedClock& p = back.device.pinned_clocks[0];
  EXPECT_EQ(p.cluster, "big");
  EXPECT_THAT(p.cpus, ElementsAre(4, 5, 6));
  EXPECT_EQ(p.requested, "max");
  EXPECT_DOUBLE_EQ(p.mhz, 2419.2);
  EXPECT_EQ(p.method, kPinMethod);
  EXPECT_DOUBLE_EQ(*p.saved_min_mhz, 710.4);
  EXPECT_EQ(p.governor, "schedutil");
  EXPECT_TRUE(p.restored);
  // A record of a version before --pin-freq reads as not pinned.
  auto old = to_json(m);
  old["device"].erase("pinned_clocks");
  EXPECT_TRUE(measurement_from_json(old).device.pinned_clocks.empty());
}

TEST(Pinning, RestoredWhenTheMeasurementThrows) {
  FakeTree t;
  pixel4_like(t);
  try {
    ClockPin pin(t.fs(), "min", {4, 5, 6});
    EXPECT_EQ(khz(t, 4, "scaling_max_freq"), 710400);
    fail("the workload failed");
  } catch (const Error& e) {
    EXPECT_STREQ(e.what(), "the workload failed");
  }
  EXPECT_EQ(khz(t, 4, "scaling_min_freq"), 710400);
  EXPECT_EQ(khz(t, 4, "scaling_max_freq"), 2419200);
}

TEST(Pinning, OutOfRangeAndMalformedTargetsAreErrors) {
  FakeTree t;
  pixel4_like(t);
  const std::string root = t.root().string();
  EXPECT_EQ(error_of([&] { ClockPin(t.fs(), "3000", {4}); }),
            "--pin-freq 3000: 3000 MHz is outside cluster big's 710.4-2419 MHz "
            "(cpuinfo_min_freq..cpuinfo_max_freq of " +
                root + "/sys/devices/system/cpu/cpu4/cpufreq)");
  // Every cluster of the affinity must admit it: 2000 MHz is past the little cores' top.
  EXPECT_THAT(error_of([&] { ClockPin(t.fs(), "2000", {}); }),
              HasSubstr("2000 MHz is outside cluster little's 300.0-1786 MHz"));
  EXPECT_EQ(error_of([&] { check_pin_spec("fast"); }),
            "--pin-freq fast: expected max, min or a clock in MHz (a positive number)");
  EXPECT_EQ(error_of([&] { check_pin_spec("-5"); }),
            "--pin-freq -5: expected max, min or a clock in MHz (a positive number)");
  EXPECT_EQ(khz(t, 0, "scaling_max_freq"), 1785600);  // nothing was written
}

TEST(Pinning, NoCpufreqIsAnErrorNamingTheDirectory) {
  FakeTree t;  // a virtual machine: CPUs, no clock control
  t.write("/sys/devices/system/cpu/online", "0-1\n");
  t.write("/proc/cpuinfo", "processor\t: 0\nprocessor\t: 1\n");
  EXPECT_EQ(error_of([&] { ClockPin(t.fs(), "max", {}); }),
            "--pin-freq: " + t.root().string() +
                "/sys/devices/system/cpu/cpu0/cpufreq: not present (this kernel exposes no clock "
                "control for cluster all)");
}

TEST(Pinning, PermissionDeniedNamesTheFileAndPutsBackWhatWasWritten) {
  FakeTree t;
  pixel4_like(t);
  // The prime core's limits refuse writes: the big cluster, pinned just before, is restored.
  const std::string denied = kCpu + "7/cpufreq/scaling_min_freq";
  auto fs = std::make_shared<KernelLikeSysFs>(t.root(), std::set<std::string>{denied});
  EXPECT_EQ(error_of([&] {
              ClockPin(fs, "max", {4, 5, 6, 7});
            }),
            "--pin-freq: " + fs->show(denied) +
                ": cannot write 2841600 (Permission denied; pinning the clock needs root)");
  EXPECT_EQ(khz(t, 4, "scaling_min_freq"), 710400);
  EXPECT_EQ(khz(t, 4, "scaling_max_freq"), 2419200);
}

TEST(Pinning, ReadOnlyFileOnDisk) {
  if (geteuid() == 0) GTEST_SKIP() << "root writes a 0444 file; the EACCES case is covered above";
  FakeTree t;
  pixel4_like(t);
  ASSERT_EQ(::chmod(t.path(kCpu + "4/cpufreq/scaling_max_freq").c_str(), 0444), 0);
  EXPECT_THAT(error_of([&] { ClockPin(t.fs(), "max", {4}); }),
              HasSubstr("cpu4/cpufreq/scaling_max_freq: cannot write 2419200 (Permission "
                        "denied; pinning the clock needs root)"));
}

TEST(Pinning, AKernelThatDoesNotKeepTheValueIsNoted) {
  FakeTree t;
  pixel4_like(t);
  // A thermal cap: whatever is written to the maximum, it reads 1.8 GHz.
  class Capped : public meter::SysFs {
   public:
    using SysFs::SysFs;
    int write(std::string_view rel, std::string_view text) const override {
      if (std::string(rel).ends_with("scaling_max_freq") && *meter::parse_int(text) > 1804800)
        return SysFs::write(rel, "1804800");
      return SysFs::write(rel, text);
    }
  };
  t.write(kCpu + "4/cpufreq/scaling_max_freq", 1401600);  // so the maximum is written
  ClockPin pin(std::make_shared<Capped>(t.root()), "max", {4});
  ASSERT_EQ(pin.notes().size(), 1u);
  EXPECT_THAT(pin.notes()[0],
              HasSubstr("cpu4/cpufreq/scaling_max_freq reads 1804800 kHz after writing 2419200 "
                        "(a thermal or QoS limit of the kernel): cluster big does not run at the "
                        "pinned clock"));
}
