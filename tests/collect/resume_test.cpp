// A collection that starts closes the run a killed collection left "running", and says so.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <atomic>
#include <sstream>

#include <fmt/format.h>

#include "nnjoule/collect/collection.hpp"
#include "nnjoule/store/store.hpp"
#include "store/dead_run.hpp"
#include "support/test_support.hpp"

using namespace nnjoule;
using namespace nnjoule::collect;
using nnjoule::store::Device;
using nnjoule::store::ProcessHost;
using nnjoule::store::Store;
using nnjoule::testing::board;
using nnjoule::testing::run_of_a_dead_process;
using nnjoule::testing::TempDir;
using ::testing::HasSubstr;
namespace fs = std::filesystem;

// The collection loop closes the interrupted run of its kind and says so first.
TEST(Resume, CollectionSaysItResumesAnInterruptedRun) {
  TempDir tmp;
  const fs::path file = tmp / "d.db";
  if (!ProcessHost::current().process_start) GTEST_SKIP() << "no /proc to look processes up";
  class Runner1 : public Runner {
   public:
    Device device() override { return board(); }
    nlohmann::json key_settings() override { return {{"threads", 1}}; }
    nlohmann::json run_settings() override { return {{"threads", 1}}; }
    Provenance provenance() override { return {Origin::kEstimated, "estimate:cpu-time"}; }
    int threads() override { return 1; }
    RunResult measure(const graph::Graph&, const std::vector<kernels::Kernel>&, bool) override {
      RunResult r;
      r.m.latency_ms = 1;
      r.m.energy_mj = 1;
      r.m.provenance = provenance();
      return r;
    }
  } runner;
  int64_t dev = 0;
  {
    Store s(file);
    dev = s.ensure_device(board());
  }
  pid_t child = 0;
  const int64_t dead = run_of_a_dead_process(file, dev, child);
  Store s(file);
  std::vector<Progress> seen;
  KernelCollectOptions o;
  o.kernel_types = {"fc"};
  o.count = 2;
  o.floor = 1;
  o.prior_variants = 0;
  std::atomic<bool> stop{false};
  const auto report =
      collect_kernels(s, runner, o, stop, [&](const Progress& p) { seen.push_back(p); });
  ASSERT_FALSE(seen.empty());
  EXPECT_EQ(seen[0].status, "resumed");
  EXPECT_THAT(seen[0].label,
              HasSubstr(fmt::format("resuming interrupted run {} (kernels, started {}, 0 "
                                    "measurements stored): its process (pid {} on {}) is gone",
                                    dead, s.runs().at(0).started_at, child, s.runs().at(0).host)));
  EXPECT_THAT(seen[0].label, ::testing::EndsWith("; what is stored is skipped"));
  EXPECT_EQ(seen[0].label.find('\n'), std::string::npos);
  EXPECT_EQ(report.resumed_runs, std::vector<int64_t>({dead}));
  EXPECT_EQ(report.measured, 2);
  EXPECT_EQ(s.runs().at(1).status, "complete");
  EXPECT_FALSE(s.runs().at(1).heartbeat_at.empty());
  // The printer shows the line as it is.
  std::ostringstream out;
  ProgressPrinter printer(out, false);
  printer(seen[0]);
  EXPECT_EQ(out.str(), seen[0].label + "\n");
}
