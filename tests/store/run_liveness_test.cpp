// Runs whose process is gone: the liveness columns (schema 3), how a reader tells a killed
// collection from a running one, closing such runs, and the heartbeat thread.
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <sqlite3.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <thread>

#include "nnjoule/common/error.hpp"
#include "nnjoule/store/store.hpp"
#include "store/dead_run.hpp"
#include "store/raw_sql.hpp"
#include "support/test_support.hpp"

using namespace nnjoule;
using namespace nnjoule::store;
using nnjoule::testing::board;
using nnjoule::testing::error_of;
using nnjoule::testing::kernels_run;
using nnjoule::testing::run_of_a_dead_process;
using nnjoule::testing::TempDir;
using ::testing::HasSubstr;
namespace fs = std::filesystem;
using std::chrono::system_clock;

namespace {

using nnjoule::testing::raw_exec;

system_clock::time_point at(int y, int mo, int d, int h, int mi, int s) {
  std::tm tm{};
  tm.tm_year = y - 1900;
  tm.tm_mon = mo - 1;
  tm.tm_mday = d;
  tm.tm_hour = h;
  tm.tm_min = mi;
  tm.tm_sec = s;
  return system_clock::from_time_t(timegm(&tm));
}

store::Run running_run() {
  store::Run r;
  r.id = 4;
  r.status = "running";
  r.started_at = "2026-01-02T10:00:00Z";
  r.heartbeat_at = "2026-01-02T11:00:00Z";
  r.host = "board";
  r.boot_id = "boot-a";
  r.pid = 4242;
  r.pid_start = 777;
  return r;
}

// This host as the tests describe it: `alive` maps a pid to its start time.
ProcessHost host(const std::string& name, const std::string& boot,
                 std::map<int64_t, int64_t> alive) {
  ProcessHost h;
  h.host = name;
  h.boot_id = boot;
  h.process_start = [alive](int64_t pid) -> std::optional<int64_t> {
    auto it = alive.find(pid);
    if (it == alive.end()) return std::nullopt;
    return it->second;
  };
  return h;
}

const auto kSoonAfter = at(2026, 1, 2, 11, 1, 0);  // a minute after the last heartbeat
const auto kLongAfter = at(2026, 1, 2, 12, 0, 0);  // an hour after it

}  // namespace

TEST(RunLiveness, SameHostAndBootAsksWhetherTheProcessRuns) {
  const store::Run r = running_run();
  EXPECT_EQ(interrupted_reason(r, host("board", "boot-a", {{4242, 777}}), kLongAfter), "");
  EXPECT_EQ(interrupted_reason(r, host("board", "boot-a", {}), kSoonAfter),
            "its process (pid 4242 on board) is gone");
  EXPECT_THAT(interrupted_reason(r, host("board", "boot-a", {{4242, 999}}), kSoonAfter),
              HasSubstr("the pid is another process's now"));
  // A process whose start time cannot be read (hidden by /proc) counts as alive.
  EXPECT_EQ(interrupted_reason(r, host("board", "boot-a", {{4242, 0}}), kLongAfter), "");
}

TEST(RunLiveness, SameHostOtherBootMeansRebooted) {
  EXPECT_THAT(interrupted_reason(running_run(), host("board", "boot-b", {{4242, 777}}), kSoonAfter),
              HasSubstr("its host board has rebooted since"));
}

TEST(RunLiveness, OtherHostGoesByTheHeartbeat) {
  const store::Run r = running_run();
  const ProcessHost elsewhere = host("laptop", "boot-z", {});
  EXPECT_EQ(interrupted_reason(r, elsewhere, kSoonAfter), "");
  const std::string why = interrupted_reason(r, elsewhere, kLongAfter);
  EXPECT_THAT(why, HasSubstr("no heartbeat since 2026-01-02T11:00:00Z"));
  EXPECT_THAT(why, HasSubstr(fmt::format("over {} minutes", kHeartbeatStaleAfter.count())));
  EXPECT_THAT(why, HasSubstr("board cannot be checked from here"));
  // No /proc here: the heartbeat decides even on the same host.
  ProcessHost blind = host("board", "boot-a", {});
  blind.process_start = nullptr;
  EXPECT_EQ(interrupted_reason(r, blind, kSoonAfter), "");
  EXPECT_THAT(interrupted_reason(r, blind, kLongAfter), HasSubstr("no heartbeat since"));
}

TEST(RunLiveness, RunWithoutLivenessColumnsGoesByItsLatestRow) {
  store::Run r = running_run();
  r.heartbeat_at.clear();
  r.host.clear();
  r.boot_id.clear();
  r.pid = 0;
  const ProcessHost here = host("board", "boot-a", {});
  // Started two hours before, but a row stored a minute ago: still collecting.
  EXPECT_EQ(interrupted_reason(r, here, kSoonAfter, "2026-01-02T11:00:00Z"), "");
  EXPECT_THAT(interrupted_reason(r, here, kSoonAfter),
              HasSubstr("no heartbeat since 2026-01-02T10:00:00Z"));
}

TEST(RunLiveness, OnlyRunningRunsAreJudged) {
  for (const char* status : {"complete", "interrupted", "failed"}) {
    store::Run r = running_run();
    r.status = status;
    EXPECT_EQ(interrupted_reason(r, host("board", "boot-a", {}), kLongAfter), "") << status;
  }
}

TEST(RunLiveness, BeginRunRecordsTheProcess) {
  TempDir tmp;
  Store s(tmp / "d.db");
  const int64_t dev = s.ensure_device(board());
  s.begin_run(kernels_run(dev));
  const store::Run r = s.runs().at(0);
  const ProcessHost here = ProcessHost::current();
  EXPECT_EQ(r.status, "running");  // this process is alive
  EXPECT_EQ(r.status_note, "");
  EXPECT_EQ(r.pid, getpid());
  EXPECT_EQ(r.host, here.host);
  EXPECT_EQ(r.boot_id, here.boot_id);
  EXPECT_EQ(r.heartbeat_at, r.started_at);
  if (here.process_start) {
    EXPECT_GT(r.pid_start, 0);
    EXPECT_EQ(here.process_start(getpid()), r.pid_start);
  }
}

TEST(RunLiveness, RunOfADeadProcessReadsInterruptedAndIsClosedOnce) {
  TempDir tmp;
  const fs::path file = tmp / "d.db";
  int64_t dev = 0;
  {
    Store s(file);
    dev = s.ensure_device(board());
  }
  if (!ProcessHost::current().process_start) GTEST_SKIP() << "no /proc to look processes up";
  pid_t child = 0;
  const int64_t dead = run_of_a_dead_process(file, dev, child);
  ASSERT_GT(dead, 0);
  Store s(file);
  s.begin_run(kernels_run(dev));  // this process's: alive
  pid_t other_child = 0;
  const int64_t other_kind = run_of_a_dead_process(file, dev, other_child);
  raw_exec(file, fmt::format("UPDATE runs SET kind = 'models' WHERE id = {}", other_kind));
  {
    // Readers see it as interrupted, read-only included; nothing is written.
    Store reader(file, Store::Options{.read_only = true});
    const auto runs = reader.runs();
    EXPECT_EQ(runs.at(0).status, "interrupted");
    // (" (the pid is another process's now)" follows when the pid was reused meanwhile.)
    EXPECT_THAT(runs.at(0).status_note, HasSubstr(fmt::format("its process (pid {} on {}) is gone",
                                                              child, runs.at(0).host)));
    EXPECT_EQ(runs.at(1).status, "running");
    const auto info = reader.info();
    EXPECT_THAT(info.to_text(), HasSubstr(fmt::format("run {}: interrupted: its process", dead)));
    EXPECT_EQ(info.to_json()["runs"][0]["status"], "interrupted");
    EXPECT_EQ(info.to_json()["runs"][0]["pid"], child);
  }
  const auto closed = s.close_interrupted_runs(dev, "kernels");
  ASSERT_EQ(closed.size(), 1u);
  EXPECT_EQ(closed[0].id, dead);
  EXPECT_THAT(closed[0].status_note, HasSubstr("is gone"));
  EXPECT_TRUE(s.close_interrupted_runs(dev, "kernels").empty());  // closed once
  const auto table = s.dump("runs");
  const auto col = std::find(table.columns.begin(), table.columns.end(), "status");
  const auto status = static_cast<size_t>(col - table.columns.begin());
  EXPECT_EQ(table.rows.at(0).at(status), "interrupted");
  EXPECT_EQ(table.rows.at(1).at(status), "running");  // this process's run stays open
  EXPECT_EQ(table.rows.at(2).at(status), "running");  // another kind is not resumed here
  EXPECT_EQ(s.runs().at(2).status, "interrupted");    // but reads as what it is
}

TEST(RunLiveness, HeartbeatThreadKeepsTheRunFresh) {
  TempDir tmp;
  const fs::path file = tmp / "d.db";
  Store s(file);
  const int64_t dev = s.ensure_device(board());
  const int64_t run = s.begin_run(kernels_run(dev));
  raw_exec(file,
           fmt::format("UPDATE runs SET heartbeat_at = '2000-01-01T00:00:00Z' WHERE id = {}", run));
  ASSERT_EQ(s.runs().at(0).heartbeat_at, "2000-01-01T00:00:00Z");
  {
    Heartbeat beat(file, run, std::chrono::milliseconds(5));
    EXPECT_NE(s.runs().at(0).heartbeat_at, "2000-01-01T00:00:00Z");  // beats when it starts
    raw_exec(file, fmt::format(
                       "UPDATE runs SET heartbeat_at = '2000-01-01T00:00:00Z' WHERE id = {}", run));
    // Then from its thread (waits for it; nothing depends on how long it takes).
    for (int i = 0; i < 6000 && s.runs().at(0).heartbeat_at == "2000-01-01T00:00:00Z"; ++i)
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    EXPECT_NE(s.runs().at(0).heartbeat_at, "2000-01-01T00:00:00Z");
    EXPECT_GE(beat.beats(), 2);
  }
  EXPECT_THAT(error_of([&] { Heartbeat bad(file, 99); }), HasSubstr("no run with id 99"));
}

// Version 2 files: read-only opens read them (a read-only dataset cannot be migrated), a
// read-write open migrates them to the current version keeping every run.
TEST(RunLiveness, Version2IsReadAndMigrated) {
  TempDir tmp;
  const fs::path file = tmp / "v2.db";
  {
    Store s(file);
    const int64_t dev = s.ensure_device(board());
    const int64_t run = s.begin_run(kernels_run(dev));
    s.end_run(run, "complete");
  }
  raw_exec(
      file,
      "ALTER TABLE runs DROP COLUMN heartbeat_at; ALTER TABLE runs DROP COLUMN host; "
      "ALTER TABLE runs DROP COLUMN boot_id; ALTER TABLE runs DROP COLUMN pid; ALTER TABLE "
      "runs DROP COLUMN pid_start; DROP TABLE work_items; ALTER TABLE kernel_measurements DROP "
      "COLUMN dtype; ALTER TABLE model_kernels DROP COLUMN dtype; PRAGMA user_version = 2;");
  {
    Store reader(file, Store::Options{.read_only = true});
    EXPECT_EQ(reader.schema_version(), 2);
    const auto runs = reader.runs();
    ASSERT_EQ(runs.size(), 1u);
    EXPECT_EQ(runs[0].status, "complete");
    EXPECT_EQ(runs[0].pid, 0);
  }
  Store s(file);
  EXPECT_EQ(s.schema_version(), kSchemaVersion);
  EXPECT_EQ(s.runs().at(0).status, "complete");
  EXPECT_EQ(s.runs().at(0).heartbeat_at, "");
}

// A collection killed with SIGKILL stays a zombie until its parent reaps it (a container's
// init may take its time): it is gone all the same.
TEST(RunLiveness, AZombieProcessIsGone) {
  const pid_t child = fork();
  ASSERT_GE(child, 0);
  if (child == 0) _exit(0);
  // Wait until the child has exited but is not reaped (waitid with WNOWAIT leaves it a zombie).
  siginfo_t info{};
  ASSERT_EQ(waitid(P_PID, static_cast<id_t>(child), &info, WEXITED | WNOWAIT), 0);
  const ProcessHost here = ProcessHost::current();
  ASSERT_TRUE(here.process_start);
  EXPECT_FALSE(here.process_start(child).has_value());
  waitpid(child, nullptr, 0);
}
