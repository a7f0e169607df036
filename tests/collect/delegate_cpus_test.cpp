// Where the suite's CPU delegates run: DeepEn2023's CPU1 and CPU4 on the big cores of a
// big.LITTLE phone, unpinned on a machine with one kind of core.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "collect/cpu_trees.hpp"
#include "meter/fake_tree.hpp"
#include "nnjoule/collect/apps.hpp"
#include "nnjoule/zoo/suite.hpp"

using namespace nnjoule;
using namespace nnjoule::collect;
using nnjoule::testing::FakeTree;
using nnjoule::testing::pixel4_like;
using nnjoule::testing::write_cpus;
using ::testing::ElementsAre;
using ::testing::IsEmpty;

TEST(DelegateCpus, BigCoresOfAPhone) {
  FakeTree t;
  pixel4_like(t);
  const auto fs = t.fs();
  const auto suite = zoo::load_suite("deepen2023");
  EXPECT_THAT(delegate_cpus(*fs, suite.delegate("CPU4").threads), ElementsAre(4, 5, 6, 7));
  // One thread: the big cluster's first core, not the prime one (same cluster as CPU4).
  EXPECT_THAT(delegate_cpus(*fs, suite.delegate("CPU1").threads), ElementsAre(4));
  // More threads than big cores: all of them, shared.
  EXPECT_THAT(delegate_cpus(*fs, 6), ElementsAre(4, 5, 6, 7));
  // GPU and NNAPI have no CPU threads: nothing to pin.
  EXPECT_THAT(delegate_cpus(*fs, suite.delegate("GPU").threads), IsEmpty());
}

TEST(DelegateCpus, OneKindOfCoreIsNotPinned) {
  FakeTree pi;  // Raspberry Pi 5: four A76 in one policy
  write_cpus(pi, "0-3", {{{0, 1, 2, 3}, "0 1 2 3", 1500000, 2400000, 2400000, std::nullopt}});
  EXPECT_THAT(delegate_cpus(*pi.fs(), 4), IsEmpty());
  FakeTree vm;  // this development VM: no cpufreq, no capacities
  vm.write("/sys/devices/system/cpu/online", "0-1\n");
  vm.write("/proc/cpuinfo", "processor\t: 0\nprocessor\t: 1\n");
  EXPECT_THAT(delegate_cpus(*vm.fs(), 1), IsEmpty());
}
