// `nnjoule collect` end to end on this machine (the estimate meter works everywhere): rows,
// resume, Ctrl-C and a hard kill in the middle of a collection.
#include <fcntl.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <thread>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "collect/cpu_trees.hpp"
#include "nnjoule/common/error.hpp"
#include "nnjoule/store/store.hpp"
#include "support/test_support.hpp"

using namespace nnjoule;
using namespace nnjoule::store;
using nnjoule::testing::read_text;
using nnjoule::testing::run_cli;
using nnjoule::testing::TempDir;
using ::testing::HasSubstr;
namespace fs = std::filesystem;

namespace {

std::vector<std::string> collect_args(const fs::path& db, int count) {
  return {"collect",
          "kernels",
          "--db",
          db.string(),
          "--kernels",
          "fc,maxpool,add",
          "--count",
          std::to_string(count),
          "--floor",
          "1",
          "--profile",
          "quick",
          "--idle",
          "0",
          "--meter",
          "estimate",
          "--prior-variants",
          "0"};
}

int64_t stored_rows(const fs::path& db) {
  if (!fs::exists(db)) return 0;
  try {
    Store s(db, Store::Options{.read_only = true, .check_integrity = false});
    return static_cast<int64_t>(s.kernels().size());
  } catch (const Error&) {
    return 0;  // not created yet
  }
}

struct Child {
  pid_t pid = -1;
  fs::path out, err;
};

Child spawn(const std::vector<std::string>& args, const TempDir& tmp) {
  Child c;
  c.out = tmp / "child.out";
  c.err = tmp / "child.err";
  c.pid = fork();
  if (c.pid == 0) {
    const int fo = open(c.out.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    const int fe = open(c.err.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    dup2(fo, 1);
    dup2(fe, 2);
    nnjoule::testing::exec_cli(args);
  }
  return c;
}

// Waits (up to two minutes; no assertion depends on how long) until the dataset holds `n` rows;
// false when the child exits first or time runs out.
bool wait_for_rows(const Child& c, const fs::path& db, int64_t n) {
  for (int i = 0; i < 2400; ++i) {
    if (stored_rows(db) >= n) return true;
    if (waitpid(c.pid, nullptr, WNOHANG) == c.pid) {
      ADD_FAILURE() << "the collection ended early: " << read_text(c.err);
      return false;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  kill(c.pid, SIGKILL);
  waitpid(c.pid, nullptr, 0);
  return false;
}

int wait_exit(pid_t pid) {
  int status = 0;
  waitpid(pid, &status, 0);
  return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

}  // namespace

TEST(CollectCli, StoresEstimatedRowsAndResumes) {
  TempDir tmp;
  const auto db = tmp / "d.db";
  const auto r = run_cli(collect_args(db, 3));
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_THAT(r.out, HasSubstr("3 planned, 3 measured, 0 already stored, 0 failed"));
  EXPECT_THAT(r.out, HasSubstr("numbers: estimated (cpu-time model)"));
  EXPECT_THAT(r.err, HasSubstr("[1/3] add HW="));
  EXPECT_THAT(r.err, HasSubstr("[3/3] maxpool HW="));  // plain lines: stderr is not a terminal
  EXPECT_THAT(r.err, HasSubstr("(estimated (cpu-time model))"));
  {
    Store s(db, Store::Options{.read_only = true});
    const auto rows = s.kernels();
    ASSERT_EQ(rows.size(), 3u);
    for (const auto& row : rows) {
      EXPECT_EQ(row.m.provenance.origin, Origin::kEstimated);  // never "measured" without a sensor
      EXPECT_GT(*row.m.energy_mj, 0);
      EXPECT_GT(*row.m.latency_ms, 0);
      EXPECT_FALSE(row.m.dynamic_energy_mj.has_value());  // --idle 0: no baseline, no dynamic
      EXPECT_EQ(row.m.device_state["meter"], "estimate");
    }
  }
  const auto again = run_cli(collect_args(db, 3));
  ASSERT_EQ(again.exit_code, 0) << again.err;
  EXPECT_THAT(again.out, HasSubstr("3 planned, 0 measured, 3 already stored"));
  EXPECT_EQ(stored_rows(db), 3);

  auto plan = collect_args(db, 3);
  plan.push_back("--plan");
  const auto p = run_cli(plan);
  ASSERT_EQ(p.exit_code, 0) << p.err;
  EXPECT_THAT(p.out, HasSubstr("3 kernels planned"));
  EXPECT_THAT(p.out, ::testing::ContainsRegex("maxpool +1 +1"));
}

// The kernels of a measured model are timed inside the measured windows' own runs: every
// computing kernel has a latency, and they sum to no more than the model's (their steps are
// parts of those very inferences); repeats are rows of their own.
TEST(CollectCli, ModelKernelsAreTimedInsideTheModelsOwnWindows) {
  TempDir tmp;
  const auto db = tmp / "m.db";
  const auto r =
      run_cli({"collect", "models", "--db", db.string(), "--families", "squeezenet", "--variants",
               "0", "--repeat", "2", "--profile", "quick", "--idle", "0", "--meter", "estimate"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_THAT(r.out, HasSubstr("2 planned, 2 measured"));
  EXPECT_THAT(r.err, HasSubstr("squeezenet (repeat 2)"));
  Store s(db, Store::Options{.read_only = true});
  const auto rows = s.model_measurements();
  ASSERT_EQ(rows.size(), 2u);
  for (const auto& row : rows) {
    const auto model = s.model(row.model_id);
    ASSERT_EQ(row.kernel_latency_ms.size(), model.kernels.size());
    double sum = 0;
    size_t timed = 0;
    for (const auto& k : row.kernel_latency_ms)
      if (k) sum += *k, ++timed;
    EXPECT_GE(timed + 1, model.kernels.size());  // the flatten is a view: no step of its own
    EXPECT_GT(sum, 0);
    EXPECT_LE(sum, *row.m.latency_ms * (1 + 1e-9));
    // The host reference timed around the measurement, for evaluate --host-speed.
    const auto& ref = row.m.device_state.at("host_reference");
    EXPECT_GT(ref.at("before_ms").get<double>(), 0);
    EXPECT_GT(ref.at("after_ms").get<double>(), 0);
    EXPECT_DOUBLE_EQ(ref.at("ms").get<double>(), std::sqrt(ref.at("before_ms").get<double>() *
                                                           ref.at("after_ms").get<double>()));
    EXPECT_THAT(ref.at("workload").get<std::string>(), HasSubstr("conv-bn-relu HW=28"));
  }
  EXPECT_NE(s.runs().back().settings.dump().find("measured windows' own runs"), std::string::npos);
}

TEST(CollectCli, RefusesABadDatasetBeforeMeasuring) {
  TempDir tmp;
  nnjoule::testing::write_text(tmp / "bad.db", std::string(4096, 'x'));
  const auto r = run_cli(collect_args(tmp / "bad.db", 3));
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_THAT(r.err, HasSubstr("nnjoule: error: " + (tmp / "bad.db").string()));
  EXPECT_THAT(r.err, ::testing::Not(HasSubstr("[1/")));
  const auto k = run_cli({"collect", "kernels", "--db", (tmp / "x.db").string(), "--kernels",
                          "teleport", "--meter", "estimate", "--prior-variants", "0"});
  EXPECT_EQ(k.exit_code, 1);
  EXPECT_THAT(k.err, HasSubstr("unknown kernel type 'teleport'"));
}

TEST(CollectCli, CtrlCStopsAfterTheMeasurementInFlight) {
  TempDir tmp;
  const auto db = tmp / "d.db";
  Child c = spawn(collect_args(db, 60), tmp);
  ASSERT_TRUE(wait_for_rows(c, db, 1));
  kill(c.pid, SIGINT);
  const int code = wait_exit(c.pid);
  EXPECT_EQ(code, 130) << read_text(c.err);
  EXPECT_THAT(read_text(c.err), HasSubstr("stopping after the measurement in flight"));
  EXPECT_THAT(read_text(c.out), HasSubstr("kernels collection interrupted"));
  const int64_t n = stored_rows(db);
  EXPECT_GE(n, 1);
  EXPECT_LT(n, 60);
  Store s(db, Store::Options{.read_only = true});
  EXPECT_EQ(s.runs().at(0).status, "interrupted");
  EXPECT_THAT(read_text(c.out), HasSubstr(fmt::format("{} measured", n)));
}

// Ctrl-C while `measure --pin-freq` holds the clock: the measurement in flight finishes, the
// previous limits are written back, and the result is printed.
TEST(CollectCli, CtrlCDuringAPinnedMeasureRestoresTheClock) {
  TempDir tmp;
  nnjoule::testing::FakeTree t;
  nnjoule::testing::pixel4_like(t);
  t.write("/proc/stat", "cpu  100 0 50 5000 0 0 0 0 0 0\n");
  t.write("/proc/cpuinfo", "processor\t: 0\nmodel name\t: Test CPU\n");
  const auto khz = [&](int cpu, const char* file) {
    return std::stoll(read_text(
        t.root() / ("sys/devices/system/cpu/cpu" + std::to_string(cpu) + "/cpufreq/" + file)));
  };
  // The command waits for the test's go-ahead, so the signal lands while the clock is held.
  const auto go = tmp / "go";
  Child c = spawn({"measure", "--root", t.root().string(), "--pin-freq", "max", "--idle", "0.05",
                   "--", "sh", "-c", "while [ ! -e '" + go.string() + "' ]; do sleep 0.05; done"},
                  tmp);
  bool pinned = false;
  for (int i = 0; i < 2400 && !pinned; ++i) {
    pinned = khz(4, "scaling_min_freq") == 2419200;
    if (!pinned) std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  ASSERT_TRUE(pinned) << read_text(c.err);
  EXPECT_EQ(khz(0, "scaling_min_freq"), 1785600);  // no --cpus: every cluster at its maximum
  kill(c.pid, SIGINT);
  nnjoule::testing::write_text(go, "");
  EXPECT_EQ(wait_exit(c.pid), 0) << read_text(c.err);
  EXPECT_THAT(read_text(c.err), HasSubstr("stopping after the measurement in flight"));
  EXPECT_THAT(read_text(c.out), HasSubstr("clock pinned: big 4-6 at 2419 MHz (max;"));
  EXPECT_THAT(read_text(c.out), HasSubstr("restored)"));
  EXPECT_EQ(khz(4, "scaling_min_freq"), 710400);
  EXPECT_EQ(khz(4, "scaling_max_freq"), 2419200);
  EXPECT_EQ(khz(0, "scaling_min_freq"), 300000);
  EXPECT_EQ(khz(7, "scaling_min_freq"), 825600);
}

TEST(CollectCli, HardKillLosesAtMostTheMeasurementInFlight) {
  TempDir tmp;
  const auto db = tmp / "d.db";
  Child c = spawn(collect_args(db, 60), tmp);
  ASSERT_TRUE(wait_for_rows(c, db, 2));
  kill(c.pid, SIGKILL);
  EXPECT_EQ(wait_exit(c.pid), 128 + SIGKILL);
  int64_t stored = 0;
  {
    // The file opens (integrity checked), every committed row is there and whole.
    Store s(db);
    const auto rows = s.kernels();
    EXPECT_GE(rows.size(), 2u);
    for (const auto& r : rows) {
      EXPECT_TRUE(r.config.has_value());
      EXPECT_TRUE(r.m.energy_mj.has_value());
    }
    stored = static_cast<int64_t>(rows.size());
    // Nobody was left to close the run, but its process is gone: it reads as interrupted.
    EXPECT_EQ(s.runs().at(0).status, "interrupted");
  }
  const auto info = run_cli({"db", "info", db.string(), "--json"});
  ASSERT_EQ(info.exit_code, 0) << info.err;
  const auto j = nlohmann::json::parse(info.out);
  EXPECT_EQ(j["runs"][0]["status"], "interrupted");
  EXPECT_THAT(j["runs"][0].dump(), HasSubstr(fmt::format("pid {}", c.pid)));
  const auto text = run_cli({"db", "info", db.string()});
  EXPECT_THAT(text.out, ::testing::ContainsRegex("kernels .* interrupted"));
  EXPECT_THAT(text.out, HasSubstr(fmt::format("run 1: interrupted: its process (pid {}", c.pid)));

  // The same command again resumes, says so in one line and closes the old run.
  const auto again = run_cli(collect_args(db, 3));
  ASSERT_EQ(again.exit_code, 0) << again.err;
  EXPECT_THAT(again.err, HasSubstr("resuming interrupted run 1 (kernels, started "));
  EXPECT_THAT(again.err, HasSubstr(fmt::format("{} measurements stored", stored)));
  EXPECT_THAT(again.err, HasSubstr(fmt::format("its process (pid {}", c.pid)));
  Store s(db, Store::Options{.read_only = true});
  const auto runs = s.dump("runs");  // as stored, not as read
  const auto status = std::find(runs.columns.begin(), runs.columns.end(), "status");
  ASSERT_NE(status, runs.columns.end());
  EXPECT_EQ(runs.rows.at(0).at(static_cast<size_t>(status - runs.columns.begin())), "interrupted");
  // Resuming again finds nothing left to close.
  const auto third = run_cli(collect_args(db, 3));
  ASSERT_EQ(third.exit_code, 0) << third.err;
  EXPECT_THAT(third.err, ::testing::Not(HasSubstr("resuming")));
}

// A typo in a kernel type or family is one error line and creates no dataset file.
TEST(CollectCli, UnknownKernelTypeOrFamilyCreatesNoFile) {
  TempDir tmp;
  const fs::path db = tmp / "typo.db";
  const auto k = run_cli(
      {"collect", "kernels", "--db", db.string(), "--kernels", "fc,convv", "--meter", "estimate"});
  EXPECT_TRUE(nnjoule::testing::one_error_line(k, "unknown kernel type 'convv'")) << k.err;
  EXPECT_FALSE(fs::exists(db));
  const auto m = run_cli(
      {"collect", "models", "--db", db.string(), "--families", "resnet99", "--meter", "estimate"});
  EXPECT_TRUE(nnjoule::testing::one_error_line(m, "unknown model family 'resnet99'")) << m.err;
  EXPECT_FALSE(fs::exists(db));
}
