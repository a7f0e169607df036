#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <map>

#include "meter/fake_tree.hpp"
#include "nnjoule/common/error.hpp"
#include "nnjoule/meter/discovery.hpp"
#include "nnjoule/meter/meters.hpp"
#include "nnjoule/meter/sampler.hpp"
#include "support/test_support.hpp"

using namespace nnjoule;
using namespace nnjoule::meter;
using nnjoule::testing::DenyingSysFs;
using nnjoule::testing::FakeTree;

namespace {

const std::string kPc = "/sys/class/powercap/";

void rapl_zone(const FakeTree& t, const std::string& zone, const std::string& name,
               long long energy_uj, long long max_uj) {
  t.write(kPc + zone + "/name", name + "\n");
  t.write(kPc + zone + "/energy_uj", energy_uj);
  if (max_uj > 0) t.write(kPc + zone + "/max_energy_range_uj", max_uj);
}

Finding only(std::vector<Finding> f) {
  EXPECT_EQ(f.size(), 1u);
  return f.at(0);
}

using nnjoule::testing::contains;

// Runs a RAPL package counter at `power_w` through a window of `window_ms` on a fake tree,
// rewriting energy_uj (mod the range) before every 1 ms step offered to the sampler.
EnergyWindow run_wrapping(long long max_uj, long long start_uj, long long uj_per_ms,
                          int window_ms) {
  FakeTree t;
  rapl_zone(t, "intel-rapl:0", "package-0", start_uj, max_uj);
  auto f = only(find_rapl(t.fs()));
  EXPECT_EQ(f.status, Finding::Status::kFound) << f.reason;
  ManualClock clock;
  Sampler s({f.meter}, clock);
  s.begin_window("w", 0);
  for (int k = 1; k <= window_ms; ++k) {
    t.write(kPc + "intel-rapl:0/energy_uj", (start_uj + uj_per_ms * k) % max_uj);
    s.step(k / 1000.0);
  }
  return s.end_window("w", window_ms / 1000.0);
}

}  // namespace

TEST(Rapl, FindsDomainsAndTotalsPackagesAndDram) {
  FakeTree t;
  rapl_zone(t, "intel-rapl:0", "package-0", 1000, 262143328850);
  rapl_zone(t, "intel-rapl:0:0", "core", 500, 262143328850);
  rapl_zone(t, "intel-rapl:0:1", "dram", 300, 65712999613);
  rapl_zone(t, "intel-rapl:1", "package-1", 2000, 262143328850);
  rapl_zone(t, "intel-rapl-mmio:0", "package-0", 1000, 262143328850);
  t.mkdir(kPc + "intel-rapl");  // the control type directory, no energy
  auto f = only(find_rapl(t.fs()));
  ASSERT_EQ(f.status, Finding::Status::kFound) << f.reason;
  const auto& d = f.meter->domains();
  ASSERT_EQ(d.size(), 5u);
  EXPECT_EQ(d[0].name, "package-0");
  EXPECT_TRUE(d[0].in_total);
  EXPECT_EQ(d[1].name, "package-0:core");
  EXPECT_FALSE(d[1].in_total);
  EXPECT_EQ(d[2].name, "package-0:dram");
  EXPECT_TRUE(d[2].in_total);
  EXPECT_EQ(d[3].name, "package-1");
  EXPECT_TRUE(d[3].in_total);
  EXPECT_EQ(d[4].name, "mmio:package-0");
  EXPECT_FALSE(d[4].in_total);  // the same counter through MMIO: never counted twice
  EXPECT_NEAR(d[0].wrap_mj, 262143328.850, 1e-6);
  std::vector<double> v(5);
  f.meter->read(0, v);
  EXPECT_DOUBLE_EQ(v[0], 1.0);  // uJ -> mJ
  EXPECT_EQ(f.meter->provenance().label(), "measured (rapl)");
}

TEST(Rapl, PsysAloneIsTheTotal) {
  FakeTree t;
  rapl_zone(t, "intel-rapl:0", "package-0", 1000, 1000000);
  rapl_zone(t, "intel-rapl:1", "psys", 5000, 1000000);
  auto f = only(find_rapl(t.fs()));
  ASSERT_EQ(f.status, Finding::Status::kFound) << f.reason;
  EXPECT_FALSE(f.meter->domains()[0].in_total);
  EXPECT_TRUE(f.meter->domains()[1].in_total);
}

TEST(Rapl, OneWrapInAWindow) {
  // 10 W = 10000 uJ per ms into a 1 J range, starting 0.15 J below the wrap, for 50 ms.
  auto w = run_wrapping(1000000, 850000, 10000, 50);
  EXPECT_NEAR(w.primary().energy_mj, 500.0, 1e-9);
  EXPECT_EQ(w.primary().domains[0].wraps, 1);
}

TEST(Rapl, SeveralWrapsInAWindow) {
  // 50 W into a 1 J range wraps every 20 ms: 5 wraps in 100 ms, each seen because the sampler
  // polls faster than the wrap period once it has seen the power.
  auto w = run_wrapping(1000000, 123456, 50000, 100);
  EXPECT_NEAR(w.primary().energy_mj, 5000.0, 1e-9);
  EXPECT_EQ(w.primary().domains[0].wraps, 5);
  EXPECT_NEAR(w.primary().avg_power_mw, 50000.0, 1e-6);
}

TEST(Rapl, MissingMaxEnergyRangeRefuses) {
  FakeTree t;
  rapl_zone(t, "intel-rapl:0", "package-0", 1000, 0);
  auto f = only(find_rapl(t.fs()));
  EXPECT_EQ(f.status, Finding::Status::kRefused);
  EXPECT_TRUE(contains(f.reason, "max_energy_range_uj")) << f.reason;
  EXPECT_TRUE(contains(f.reason, "wrap-around cannot be corrected")) << f.reason;
  EXPECT_FALSE(f.meter);
}

TEST(Rapl, UnreadableMaxEnergyRangeRefuses) {
  FakeTree t;
  rapl_zone(t, "intel-rapl:0", "package-0", 1000, 1000000);
  auto fs = std::make_shared<DenyingSysFs>(
      t.root(), std::set<std::string>{kPc + "intel-rapl:0/max_energy_range_uj"});
  auto f = only(find_rapl(fs));
  EXPECT_EQ(f.status, Finding::Status::kRefused);
  EXPECT_TRUE(contains(f.reason, "max_energy_range_uj: Permission denied")) << f.reason;
}

TEST(Rapl, RootOnlyEnergyGivesTheFixes) {
  // Injected through the file layer, so it holds when the tests run as root.
  FakeTree t;
  rapl_zone(t, "intel-rapl:0", "package-0", 1000, 1000000);
  rapl_zone(t, "intel-rapl:0:0", "core", 1000, 1000000);
  auto fs = std::make_shared<DenyingSysFs>(
      t.root(),
      std::set<std::string>{kPc + "intel-rapl:0/energy_uj", kPc + "intel-rapl:0:0/energy_uj"});
  auto f = only(find_rapl(fs));
  EXPECT_EQ(f.status, Finding::Status::kRefused);
  for (const char* part : {"permission denied", "CVE-2020-8694", "as root", "chmod a+r", "udev",
                           "perf_event_paranoid", "--meter perf", "and 1 more zones"})
    EXPECT_TRUE(contains(f.reason, part)) << part << " missing in: " << f.reason;
}

TEST(Rapl, PermissionMessageNamesThePath) {
  const std::string m = rapl_permission_message("/sys/class/powercap/intel-rapl:0/energy_uj");
  EXPECT_EQ(m.rfind("/sys/class/powercap/intel-rapl:0/energy_uj: permission denied", 0), 0u);
  EXPECT_EQ(m.find('\n'), std::string::npos);  // one line
}

TEST(Rapl, RealPermissionDenied) {
  if (geteuid() == 0)
    GTEST_SKIP() << "running as root: chmod 000 does not deny root reads "
                    "(RootOnlyEnergyGivesTheFixes covers this path)";
  FakeTree t;
  rapl_zone(t, "intel-rapl:0", "package-0", 1000, 1000000);
  chmod(t.path(kPc + "intel-rapl:0/energy_uj").c_str(), 0);
  auto f = only(find_rapl(t.fs()));
  EXPECT_EQ(f.status, Finding::Status::kRefused);
  EXPECT_TRUE(contains(f.reason, "CVE-2020-8694")) << f.reason;
}

TEST(Rapl, AbsentPowercapSaysWhy) {
  FakeTree t;
  auto f = only(find_rapl(t.fs()));
  EXPECT_EQ(f.status, Finding::Status::kNotFound);
  EXPECT_TRUE(contains(f.reason, "/sys/class/powercap: not present")) << f.reason;
}

// ---- perf power PMU ----

namespace {

class FakePerf : public PerfBackend {
 public:
  int open(uint32_t type, uint64_t config, int cpu) override {
    opened.push_back({type, config, cpu});
    if (deny) return -EACCES;
    const int fd = 100 + static_cast<int>(opened.size());
    counts[fd] = 0;
    configs[fd] = config;
    return fd;
  }
  bool read(int fd, uint64_t& value) override {
    value = counts.at(fd);
    return true;
  }
  void close(int fd) override { closed.push_back(fd); }
  struct Open {
    uint32_t type;
    uint64_t config;
    int cpu;
  };
  std::vector<Open> opened;
  std::vector<int> closed;
  std::map<int, uint64_t> counts, configs;
  bool deny = false;
};

void perf_pmu(const FakeTree& t, const std::string& cpumask) {
  const std::string pmu = "/sys/bus/event_source/devices/power/";
  t.write(pmu + "type", 9);
  t.write(pmu + "cpumask", cpumask + "\n");
  for (auto [name, code] : {std::pair{"pkg", "0x02"}, {"ram", "0x03"}, {"cores", "0x01"}}) {
    t.write(pmu + "events/energy-" + name, std::string("event=") + code + "\n");
    t.write(pmu + "events/energy-" + name + ".scale", "2.3283064365386962890625e-10\n");
    t.write(pmu + "events/energy-" + name + ".unit", "Joules\n");
  }
  t.write("/proc/sys/kernel/perf_event_paranoid", 2);
}

}  // namespace

TEST(Perf, OpensEveryEventOnEveryPackageAndScalesToMillijoules) {
  FakeTree t;
  perf_pmu(t, "0,18");
  auto perf = std::make_shared<FakePerf>();
  auto f = only(find_perf(t.fs(), perf));
  ASSERT_EQ(f.status, Finding::Status::kFound) << f.reason;
  ASSERT_EQ(perf->opened.size(), 6u);
  EXPECT_EQ(perf->opened[0].type, 9u);
  EXPECT_EQ(perf->opened[3].cpu, 18);
  const auto& d = f.meter->domains();
  EXPECT_EQ(d[0].name, "cores@cpu0");
  EXPECT_FALSE(d[0].in_total);
  EXPECT_EQ(d[1].name, "pkg@cpu0");
  EXPECT_TRUE(d[1].in_total);
  EXPECT_TRUE(d[2].in_total);  // ram
  // 2^32 counts of 2^-32 J are 1 J.
  for (auto& [fd, c] : perf->counts) c = 1ull << 32;
  std::vector<double> v(6);
  f.meter->read(0, v);
  EXPECT_DOUBLE_EQ(v[1], 1000.0);
  f.meter.reset();
  EXPECT_EQ(perf->closed.size(), 6u);
}

TEST(Perf, ParanoidDenialSaysHowToAllowIt) {
  FakeTree t;
  perf_pmu(t, "0");
  auto perf = std::make_shared<FakePerf>();
  perf->deny = true;
  auto f = only(find_perf(t.fs(), perf));
  EXPECT_EQ(f.status, Finding::Status::kRefused);
  EXPECT_TRUE(contains(f.reason, "perf_event_paranoid is 2")) << f.reason;
  EXPECT_TRUE(contains(f.reason, "kernel.perf_event_paranoid=0")) << f.reason;
}

TEST(Perf, WrongUnitRefuses) {
  FakeTree t;
  perf_pmu(t, "0");
  t.write("/sys/bus/event_source/devices/power/events/energy-pkg.unit", "Watts\n");
  auto f = only(find_perf(t.fs(), std::make_shared<FakePerf>()));
  EXPECT_EQ(f.status, Finding::Status::kRefused);
  EXPECT_TRUE(contains(f.reason, "expected 'Joules'")) << f.reason;
}

TEST(Perf, StaticCounterIsNotLive) {
  // A virtual machine's PMU opens but its counter never moves.
  FakeTree t;
  perf_pmu(t, "0");
  auto f = only(find_perf(t.fs(), std::make_shared<FakePerf>()));
  ASSERT_EQ(f.status, Finding::Status::kFound);
  ManualClock clock;
  Sampler s({f.meter}, clock);
  for (int k = 0; k < 20; ++k) s.step(k * 0.001);
  std::string why;
  EXPECT_FALSE(probe_says_live(*f.meter, s.stats(0), &why));
  EXPECT_TRUE(contains(why, "did not advance")) << why;
}
