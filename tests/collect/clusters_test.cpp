// CPU clusters from sysfs trees written by hand after the layouts public kernel sources and
// vendor documents describe: a Snapdragon 855 phone (Pixel 4 class: 4 Cortex-A55 + 3 A76 + 1
// A76 prime, one cpufreq policy per cluster), a Raspberry Pi 5 (4 A76, one policy, no
// cpu_capacity) and a Jetson Orin Nano (6 A78AE in two clusters of one kind). Frequencies are
// the SoCs' published ranges; the capacities are illustrative (only their order matters here).
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "collect/cpu_trees.hpp"
#include "meter/fake_tree.hpp"
#include "nnjoule/collect/clusters.hpp"
#include "nnjoule/collect/measurement.hpp"
#include "nnjoule/collect/protocol.hpp"
#include "support/test_support.hpp"

using namespace nnjoule;
using namespace nnjoule::collect;
using nnjoule::testing::error_of;
using nnjoule::testing::FakeTree;
using nnjoule::testing::pixel4_like;
using nnjoule::testing::write_cpus;
using ::testing::ElementsAre;
using ::testing::HasSubstr;

TEST(Clusters, PhoneWithLittleBigAndPrime) {
  FakeTree t;
  pixel4_like(t);
  const auto cs = discover_clusters(*t.fs());
  ASSERT_EQ(cs.size(), 3u);
  EXPECT_EQ(cs[0].name, "little");
  EXPECT_THAT(cs[0].cpus, ElementsAre(0, 1, 2, 3));
  EXPECT_EQ(cs[1].name, "big");
  EXPECT_THAT(cs[1].cpus, ElementsAre(4, 5, 6));
  EXPECT_EQ(cs[2].name, "prime");
  EXPECT_THAT(cs[2].cpus, ElementsAre(7));
  EXPECT_EQ(*cs[0].capacity, 404);
  EXPECT_DOUBLE_EQ(*cs[1].max_mhz, 2419.2);
  EXPECT_DOUBLE_EQ(*cs[2].cur_mhz, 2841.6);
  EXPECT_EQ(describe(cs[0]), "little 0-3 (capacity 404, 300.0-1786 MHz, schedutil at 1210 MHz)");

  // DeepEn2023's CPU4 is 4 threads on the big cores: every core outside the little cluster.
  EXPECT_THAT(resolve_cpus(*t.fs(), "big"), ElementsAre(4, 5, 6, 7));
  EXPECT_THAT(resolve_cpus(*t.fs(), "little"), ElementsAre(0, 1, 2, 3));
  EXPECT_THAT(resolve_cpus(*t.fs(), "prime"), ElementsAre(7));
  EXPECT_THAT(resolve_cpus(*t.fs(), "7,4"), ElementsAre(7, 4));  // a list keeps its order
  EXPECT_EQ(error_of([&] { resolve_cpus(*t.fs(), "medium"); }),
            "--cpus medium: expected big, little, prime or a CPU list like 0,2-3");

  // Every measurement records them, in JSON and in the text report.
  const auto d = read_device_state(*t.fs(), 4, {});
  ASSERT_EQ(d.clusters.size(), 3u);
  Measurement m;
  m.device = d;
  const auto j = to_json(m.device);
  EXPECT_EQ(j["clusters"][1]["name"], "big");
  EXPECT_EQ(j["clusters"][1]["cpus"], nlohmann::json({4, 5, 6}));
  EXPECT_EQ(j["clusters"][2]["capacity"], 1024);
  EXPECT_THAT(format_measurement(m), HasSubstr("clusters: little 0-3 (capacity 404"));
  EXPECT_THAT(format_measurement(m), HasSubstr("; prime 7 (capacity 1024, 825.6-2842 MHz"));
}

TEST(Clusters, RaspberryPi5IsOneClusterWithoutCapacity) {
  FakeTree t;
  write_cpus(t, "0-3",
             {{{0, 1, 2, 3}, "0 1 2 3", 1500000, 2400000, 2400000, std::nullopt, "ondemand"}});
  const auto cs = discover_clusters(*t.fs());
  ASSERT_EQ(cs.size(), 1u);
  EXPECT_EQ(cs[0].name, "all");
  EXPECT_FALSE(cs[0].capacity.has_value());
  EXPECT_EQ(describe(cs[0]), "all 0-3 (1500-2400 MHz, ondemand at 2400 MHz)");
  // One kind of core: big and little both mean all of them.
  EXPECT_THAT(resolve_cpus(*t.fs(), "big"), ElementsAre(0, 1, 2, 3));
  EXPECT_THAT(resolve_cpus(*t.fs(), "little"), ElementsAre(0, 1, 2, 3));
}

TEST(Clusters, JetsonOrinNanoTwoClustersOfOneKind) {
  FakeTree t;
  write_cpus(t, "0-5",
             {{{0, 1, 2, 3}, "0 1 2 3", 115200, 1510400, 1510400, std::nullopt},
              {{4, 5}, "4 5", 115200, 1510400, 729600, std::nullopt}});
  const auto cs = discover_clusters(*t.fs());
  ASSERT_EQ(cs.size(), 2u);
  EXPECT_EQ(cs[0].name, "all0");
  EXPECT_EQ(cs[1].name, "all1");
  EXPECT_THAT(cs[1].cpus, ElementsAre(4, 5));
  EXPECT_DOUBLE_EQ(*cs[1].cur_mhz, 729.6);  // each cluster clocks on its own
  EXPECT_THAT(resolve_cpus(*t.fs(), "big"), ElementsAre(0, 1, 2, 3, 4, 5));
  EXPECT_THAT(resolve_cpus(*t.fs(), "all1"), ElementsAre(4, 5));
}

TEST(Clusters, NoCpufreqGroupsByTopologyAndCapacity) {
  FakeTree t;
  t.write("/sys/devices/system/cpu/online", "0-3\n");
  for (int c = 0; c < 4; ++c) {
    const std::string d = "/sys/devices/system/cpu/cpu" + std::to_string(c);
    t.write(d + "/topology/cluster_id", c < 2 ? 0 : 1);
    t.write(d + "/cpu_capacity", c < 2 ? 512 : 1024);
  }
  const auto cs = discover_clusters(*t.fs());
  ASSERT_EQ(cs.size(), 2u);
  EXPECT_EQ(cs[0].name, "little");
  EXPECT_THAT(cs[1].cpus, ElementsAre(2, 3));
  EXPECT_FALSE(cs[1].max_mhz.has_value());
  EXPECT_EQ(describe(cs[1]), "big 2-3 (capacity 1024)");
}
