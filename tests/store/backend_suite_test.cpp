// The store's behaviour on both back ends (backend_suite.hpp): every test here runs on an SQLite
// file (test_store) and on a PostgreSQL server (test_store_pg).
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmath>
#include <csignal>
#include <limits>
#include <set>

#include "nnjoule/common/error.hpp"
#include "nnjoule/store/store.hpp"
#include "store/backend_suite.hpp"
#include "store/rows.hpp"

using namespace nnjoule;
using namespace nnjoule::store;
using nnjoule::testing::error_of;
using nnjoule::testing::kernel_row;
using nnjoule::testing::make_run;
using nnjoule::testing::run_cli;
using nnjoule::testing::StoreBackend;
using nnjoule::testing::test_device;
using ::testing::HasSubstr;

TEST_P(StoreBackend, CreatesSchemaAndRoundTripsKernelRows) {
  const std::string file = target();
  int64_t dev = 0, run = 0;
  {
    Store s(file);
    EXPECT_EQ(s.schema_version(), kSchemaVersion);
    dev = s.ensure_device(test_device());
    EXPECT_EQ(s.ensure_device(test_device()), dev);  // same description, same row
    run = s.begin_run(make_run(dev, "kernels", Origin::kEstimated, "estimate:cpu-time"));
    s.add_kernel(kernel_row(run, dev, 32));
    s.add_kernel(kernel_row(run, dev, 48));
    s.end_run(run, "complete");
  }
  Store s(file, Store::Options{.read_only = true});
  auto rows = s.kernels();
  ASSERT_EQ(rows.size(), 2u);
  const auto& r = rows[1];
  EXPECT_EQ(r.kernel_type, "conv-bn-relu");
  ASSERT_TRUE(r.config);
  EXPECT_EQ(r.config->get("CIN"), 48);
  EXPECT_EQ(r.config->items().front().first, "HW");  // catalogue order survives
  EXPECT_EQ(r.input_shapes, std::vector<graph::Shape>({{1, 48, 56, 56}}));
  EXPECT_DOUBLE_EQ(*r.m.latency_ms, 2.5);
  EXPECT_FALSE(r.m.dynamic_energy_mj.has_value());  // unknown stays unknown
  EXPECT_EQ(r.m.provenance.label(), "estimated (estimate:cpu-time)");
  EXPECT_EQ(r.m.n, 30);
  EXPECT_EQ(s.kernel_keys(dev).size(), 2u);
  EXPECT_EQ(s.kernel_keys(dev).count(kernel_row(run, dev, 32).key), 1u);
  auto runs = s.runs();
  ASSERT_EQ(runs.size(), 1u);
  EXPECT_EQ(runs[0].status, "complete");
  EXPECT_FALSE(runs[0].finished_at.empty());
  EXPECT_EQ(runs[0].settings["threads"], 1);
}

TEST_P(StoreBackend, DuplicateKeyIsRefusedAndNothingIsWritten) {
  Store s(target());
  const int64_t dev = s.ensure_device(test_device());
  const int64_t run = s.begin_run(make_run(dev, "kernels", Origin::kMeasured, "rapl"));
  s.add_kernel(kernel_row(run, dev, 32));
  EXPECT_THAT(error_of([&] { s.add_kernel(kernel_row(run, dev, 32)); }),
              HasSubstr("is already stored"));
  // A batch with one duplicate stores nothing of the batch.
  std::vector<KernelRow> batch = {kernel_row(run, dev, 8), kernel_row(run, dev, 32)};
  EXPECT_THROW(s.add_kernels(batch), Error);
  EXPECT_EQ(s.kernels().size(), 1u);
}

TEST_P(StoreBackend, RefusesRowsWithoutProvenance) {
  Store s(target());
  const int64_t dev = s.ensure_device(test_device());
  const int64_t run = s.begin_run(make_run(dev, "kernels", Origin::kMeasured, "rapl"));
  auto r = kernel_row(run, dev, 32);
  r.m.provenance = {Origin::kPredicted, "bundle"};
  EXPECT_THAT(error_of([&] { s.add_kernel(r); }), HasSubstr("not a measurement"));
  r.m.provenance = {Origin::kMeasured, ""};
  EXPECT_THAT(error_of([&] { s.add_kernel(r); }), HasSubstr("names no meter"));
  EXPECT_TRUE(s.kernels().empty());
}

TEST_P(StoreBackend, ModelsAreStoredOnceWithTheirBreakdown) {
  Store s(target());
  const int64_t dev = s.ensure_device(test_device());
  const int64_t run = s.begin_run(make_run(dev, "models", Origin::kMeasured, "rapl"));
  Model m;
  m.hash = "abc123";
  m.hash_kind = "onnx";
  m.name = "resnet18-v1-0";
  m.family = "resnet18";
  m.variant = 0;
  m.resolution = 224;
  m.seed = 1;
  m.flops = 3.6e9;
  m.params = 11000000;
  m.kernels = {{"conv-bn-relu", "conv1", {{"HW", 224}, {"CIN", 3}}, 1e8, 9408, 100},
               {"fc", "fc", {{"CIN", 512}, {"COUT", 1000}}, 1e6, 513000, 2000}};
  ModelRow row;
  row.run_id = run;
  row.device_id = dev;
  row.key = model_key(m.hash, {{"threads", 2}});
  row.threads = 2;
  row.m.latency_ms = 30;
  row.m.energy_mj = 60;
  row.m.provenance = {Origin::kMeasured, "rapl"};
  row.kernel_latency_ms = {25.0, std::nullopt};
  s.add_model_measurement(m, row);
  // The same model measured with other settings reuses the model row.
  row.key = model_key(m.hash, {{"threads", 1}});
  row.threads = 1;
  s.add_model_measurement(m, row);
  EXPECT_EQ(s.models().size(), 1u);
  auto rows = s.model_measurements();
  ASSERT_EQ(rows.size(), 2u);
  ASSERT_EQ(rows[0].kernel_latency_ms.size(), 2u);
  EXPECT_DOUBLE_EQ(*rows[0].kernel_latency_ms[0], 25.0);
  EXPECT_FALSE(rows[0].kernel_latency_ms[1].has_value());
  const Model back = s.model(rows[0].model_id);
  ASSERT_EQ(back.kernels.size(), 2u);
  EXPECT_EQ(back.kernels[1].config.get("COUT"), 1000);
  EXPECT_EQ(back.family, "resnet18");
  // A breakdown that does not match the kernel list is refused.
  row.key = "other";
  row.kernel_latency_ms = {1.0};
  EXPECT_THAT(error_of([&] { s.add_model_measurement(m, row); }), HasSubstr("1 kernel latencies"));
}

TEST_P(StoreBackend, ApplicationRows) {
  Store s(target());
  const int64_t dev = s.ensure_device(test_device());
  const int64_t run = s.begin_run(make_run(dev, "applications", Origin::kMeasured, "rapl"));
  AppRow a;
  a.run_id = run;
  a.device_id = dev;
  a.key = "image-classification/mobilenetv2/xnnpack/4";
  a.app = "image-classification";
  a.model = "mobilenetv2";
  a.configuration = "fp32 224";
  a.delegate = "xnnpack";
  a.threads = 4;
  a.m.power_mw = 1500;   // APC 1.5 W
  a.m.energy_mj = 12.0;  // ECI 0.012 J
  a.m.latency_ms = 8;
  a.m.provenance = {Origin::kMeasured, "rapl"};
  a.details = {{"batch", 1}};
  s.add_application(a);
  EXPECT_THAT(error_of([&] { s.add_application(a); }), HasSubstr("already stored"));
  auto rows = s.applications({.device_id = dev});
  ASSERT_EQ(rows.size(), 1u);
  EXPECT_EQ(rows[0].delegate, "xnnpack");
  EXPECT_EQ(rows[0].threads, 4);
  EXPECT_DOUBLE_EQ(*rows[0].m.power_mw, 1500);
  EXPECT_EQ(rows[0].details["batch"], 1);
  EXPECT_EQ(s.application_keys(dev).count(a.key), 1u);
}

// Numbers and text come back exactly as stored: PostgreSQL gets them as text, so doubles must
// keep every bit and the integer columns must be 64-bit.
TEST_P(StoreBackend, NumbersAndTextRoundTripExactly) {
  Store s(target());
  Device d = test_device();
  d.name = "b\u00f6rd \u2014 'quoted' \"name\" ? ?1 $1";  // placeholders inside text stay text
  const int64_t dev = s.ensure_device(d);
  const int64_t run = s.begin_run(make_run(dev, "kernels", Origin::kMeasured, "rapl"));
  auto r = kernel_row(run, dev, 16);
  r.m.latency_ms = 0.1 + 0.2;
  r.m.energy_mj = 1e-300;
  r.m.power_mw = 123456789.123456789;
  r.m.idle_power_mw = -0.0;
  r.flops = 9.007199254740993e15;
  r.params = std::numeric_limits<int64_t>::max();
  r.bytes = int64_t{1} << 40;
  r.m.flags = {"implausible_power", "disturbed"};
  r.m.device_state = {{"governor", "schedutil"}, {"mhz", 1800}};
  s.add_kernel(r);
  const auto back = s.kernels().at(0);
  EXPECT_EQ(*back.m.latency_ms, 0.1 + 0.2);
  EXPECT_EQ(*back.m.energy_mj, 1e-300);
  EXPECT_EQ(*back.m.power_mw, 123456789.123456789);
  EXPECT_EQ(*back.flops, 9.007199254740993e15);
  EXPECT_EQ(*back.params, std::numeric_limits<int64_t>::max());
  EXPECT_EQ(*back.bytes, int64_t{1} << 40);
  EXPECT_FALSE(back.m.dynamic_energy_mj.has_value());
  EXPECT_EQ(back.m.flags, (std::vector<std::string>{"implausible_power", "disturbed"}));
  EXPECT_EQ(back.m.device_state["mhz"], 1800);
  EXPECT_EQ(s.device(dev).name, d.name);
  EXPECT_EQ(s.ensure_device(d), dev);
}

TEST_P(StoreBackend, QueriesFilterByDeviceTypeOriginAndFlags) {
  Store s(target());
  const int64_t a = s.ensure_device(test_device());
  Device other = test_device();
  other.name = "other-board";
  const int64_t b = s.ensure_device(other);
  const int64_t ra = s.begin_run(make_run(a, "kernels", Origin::kMeasured, "rapl"));
  const int64_t rb = s.begin_run(make_run(b, "kernels", Origin::kMeasured, "rapl"));
  auto k1 = kernel_row(ra, a, 8);
  k1.m.provenance = {Origin::kMeasured, "rapl"};
  auto k2 = kernel_row(ra, a, 16);
  k2.kernel_type = "dwconv-bn-relu";
  k2.m.flags = {"disturbed"};
  auto k3 = kernel_row(rb, b, 8);
  k3.config.reset();
  s.add_kernels({k1, k2, k3});
  EXPECT_EQ(s.kernels({.device_id = a}).size(), 2u);
  EXPECT_EQ(s.kernels({.kernel_type = "dwconv-bn-relu"}).size(), 1u);
  // Only the third filter: PostgreSQL numbers the placeholders densely.
  EXPECT_EQ(s.kernels({.origin = Origin::kMeasured}).size(), 1u);
  EXPECT_EQ(s.kernels({.require_config = true}).size(), 2u);
  EXPECT_EQ(s.kernels({.device_id = a, .exclude_flagged = true}).size(), 1u);
  EXPECT_EQ(s.kernels({.device_id = b, .origin = Origin::kEstimated}).size(), 1u);
}

TEST_P(StoreBackend, RunsHeartbeatsAndInfo) {
  int64_t dev = 0, run = 0;
  {
    Store s(target());
    dev = s.ensure_device(test_device());
    run = s.begin_run(make_run(dev, "kernels", Origin::kEstimated, "estimate:cpu-time"));
    s.heartbeat(run);
    s.add_kernel(kernel_row(run, dev, 8));
    EXPECT_EQ(s.run_rows(run), 1);
    EXPECT_EQ(s.runs().at(0).status, "running");  // this process is alive
    s.end_run(run, "complete");
    EXPECT_THAT(error_of([&] { s.end_run(run + 100, "complete"); }),
                HasSubstr(fmt::format("no run with id {}", run + 100)));
  }
  const Store s(target(), {.read_only = true});
  EXPECT_EQ(s.schema_version(), kSchemaVersion);
  const Info info = s.info();
  EXPECT_EQ(info.table_rows.at("kernel_measurements"), 1);
  EXPECT_EQ(info.table_rows.at("devices"), 1);
  ASSERT_EQ(info.devices.size(), 1u);
  EXPECT_EQ(info.devices[0].kernels_by_type.at("conv-bn-relu"), 1);
  EXPECT_EQ(info.devices[0].rows_by_origin.at("estimated (estimate:cpu-time)"), 1);
  EXPECT_EQ(info.runs.at(0).status, "complete");
  const TableDump d = s.dump("kernel_measurements");
  ASSERT_EQ(d.rows.size(), 1u);
  const auto col = [&](const std::string& name) {
    return static_cast<size_t>(std::find(d.columns.begin(), d.columns.end(), name) -
                               d.columns.begin());
  };
  EXPECT_EQ(d.rows[0].at(col("latency_ms")), 2.5);
  EXPECT_EQ(d.rows[0].at(col("threads")), 1);
  EXPECT_TRUE(d.rows[0].at(col("dynamic_energy_mj")).is_null());
  EXPECT_EQ(d.rows[0].at(col("kernel_type")), "conv-bn-relu");
}

TEST_P(StoreBackend, ReadOnlyOpenWritesNothing) {
  {
    Store s(target());
    s.ensure_device(test_device());
  }
  Store ro(target(), {.read_only = true});
  Device d = test_device();
  d.name = "new";
  EXPECT_THAT(error_of([&] { ro.ensure_device(d); }), HasSubstr("read"));
  EXPECT_EQ(Store(target()).devices().size(), 1u);
}

TEST_P(StoreBackend, ReopeningKeepsTheSchemaAndRows) {
  {
    Store s(target());
    const int64_t dev = s.ensure_device(test_device());
    s.add_kernel(
        kernel_row(s.begin_run(make_run(dev, "kernels", Origin::kMeasured, "rapl")), dev, 8));
  }
  Store again(target());  // no second migration
  EXPECT_EQ(again.schema_version(), kSchemaVersion);
  EXPECT_EQ(again.kernels().size(), 1u);
}

// ---- the work queue ---------------------------------------------------------------------------

namespace {
std::vector<std::pair<std::string, nlohmann::json>> plan_items(int n) {
  std::vector<std::pair<std::string, nlohmann::json>> items;
  for (int i = 1; i <= n; ++i)
    items.emplace_back(fmt::format("item-{:03}", i), nlohmann::json{{"cin", i}});
  return items;
}
}  // namespace

TEST_P(StoreBackend, WorkQueueAddsOnceClaimsInOrderAndCompletesWithResults) {
  Store s(target());
  const int64_t dev = s.ensure_device(test_device());
  const int64_t run = s.begin_run(make_run(dev, "kernels", Origin::kMeasured, "rapl"));
  EXPECT_EQ(s.add_work("p", plan_items(3)), 3);
  EXPECT_EQ(s.add_work("p", plan_items(4)), 1);  // keys already there are left alone
  EXPECT_EQ(s.add_work("other-plan", plan_items(1)), 1);
  const auto a = s.claim_work("p", "w1", std::chrono::minutes(5));
  const auto b = s.claim_work("p", "w2", std::chrono::minutes(5));
  ASSERT_TRUE(a && b);
  EXPECT_EQ(a->key, "item-001");
  EXPECT_EQ(b->key, "item-002");
  EXPECT_EQ(a->payload["cin"], 1);
  EXPECT_EQ(a->attempts, 1);
  auto row = kernel_row(run, dev, a->payload["cin"].get<int>());
  s.complete_work(*a, {row});
  EXPECT_EQ(s.kernels().size(), 1u);
  // Done once: completing it again stores nothing.
  EXPECT_THAT(error_of([&] { s.complete_work(*a, {kernel_row(run, dev, 99)}); }),
              HasSubstr("lost its lease"));
  // A failing result (a duplicate row) leaves the item claimed and stores nothing.
  EXPECT_THROW(s.complete_work(*b, {row}), Error);
  const PlanStatus st = s.work_status("p");
  EXPECT_EQ(st.done, 1);
  EXPECT_EQ(st.claimed, 1);
  EXPECT_EQ(st.pending, 2);
  EXPECT_EQ(st.expired, 0);
  s.complete_work(*b, {kernel_row(run, dev, 2)});
  EXPECT_EQ(s.work_status("p").done, 2);
  EXPECT_EQ(s.kernels().size(), 2u);
}

TEST_P(StoreBackend, ExpiredLeaseIsReclaimedAndTheOldHolderIsFenced) {
  Store s(target());
  const int64_t dev = s.ensure_device(test_device());
  const int64_t run = s.begin_run(make_run(dev, "kernels", Origin::kMeasured, "rapl"));
  s.add_work("p", plan_items(1));
  const auto first = s.claim_work("p", "dead-worker", std::chrono::milliseconds(-1));
  ASSERT_TRUE(first);
  EXPECT_EQ(s.work_status("p").expired, 1);
  const auto second = s.claim_work("p", "live-worker", std::chrono::minutes(5));
  ASSERT_TRUE(second);
  EXPECT_EQ(second->id, first->id);
  EXPECT_EQ(second->attempts, 2);
  EXPECT_FALSE(s.claim_work("p", "third", std::chrono::minutes(5)));  // nothing claimable
  EXPECT_THAT(error_of([&] { s.complete_work(*first, {kernel_row(run, dev, 1)}); }),
              HasSubstr("dead-worker lost its lease"));
  s.complete_work(*second, {kernel_row(run, dev, 1)});
  EXPECT_EQ(s.kernels().size(), 1u);
  EXPECT_EQ(s.work_status("p").done, 1);
}

TEST_P(StoreBackend, WorkItemsForADeviceGoToItsWorkersAndItemsForAnyToAll) {
  Store s(target());
  EXPECT_EQ(s.add_work("p", plan_items(2), "pixel4"), 2);
  EXPECT_EQ(s.add_work("p", plan_items(2), "rpi5"), 2);  // the same keys for another device
  EXPECT_EQ(s.add_work("p", plan_items(3)), 3);          // and for any device
  EXPECT_EQ(s.add_work("p", plan_items(2), "pixel4"), 0);
  std::vector<std::string> rpi;
  while (const auto w = s.claim_work("p", "rpi-worker", std::chrono::minutes(5), "rpi5"))
    rpi.push_back(w->device + "/" + w->key);
  EXPECT_THAT(rpi, ::testing::ElementsAre("rpi5/item-001", "rpi5/item-002", "/item-001",
                                          "/item-002", "/item-003"));
  const auto px = s.claim_work("p", "pixel-worker", std::chrono::minutes(5), "pixel4");
  ASSERT_TRUE(px);
  EXPECT_EQ(px->device, "pixel4");
  // A worker without a label takes only items for any device: none is left.
  EXPECT_FALSE(s.claim_work("p", "anon", std::chrono::minutes(5)));
  const PlanStatus pixel = s.work_status("p", "pixel4");  // its items and those for any
  EXPECT_EQ(pixel.total(), 5);
  EXPECT_EQ(pixel.pending, 1);
  EXPECT_EQ(pixel.claimed, 4);
  const WorkSummary w = s.work_summary("p");
  ASSERT_EQ(w.devices.size(), 3u);
  EXPECT_EQ(w.devices[0].device, "");
  EXPECT_EQ(w.devices[0].status.claimed, 3);
  EXPECT_EQ(w.devices[1].device, "pixel4");
  EXPECT_EQ(w.devices[1].status.pending, 1);
  EXPECT_EQ(w.devices[2].device, "rpi5");
  EXPECT_EQ(w.devices[2].status.claimed, 2);
  EXPECT_EQ(w.leases.size(), 6u);
  EXPECT_THAT(w.to_text(), HasSubstr("(any device)"));
}

TEST_P(StoreBackend, RenewedLeaseIsKeptAndALostOneIsNotRenewed) {
  Store s(target());
  s.add_work("p", plan_items(1));
  const auto mine = s.claim_work("p", "slow-worker", std::chrono::milliseconds(-1));
  ASSERT_TRUE(mine);
  EXPECT_EQ(s.work_status("p").expired, 1);
  EXPECT_TRUE(s.renew_work(*mine, std::chrono::minutes(5)));
  EXPECT_EQ(s.work_status("p").expired, 0);
  EXPECT_FALSE(s.claim_work("p", "other", std::chrono::minutes(5)));  // renewed: still mine
  ASSERT_TRUE(s.renew_work(*mine, std::chrono::milliseconds(-1)));
  const auto theirs = s.claim_work("p", "other", std::chrono::minutes(5));
  ASSERT_TRUE(theirs);
  EXPECT_FALSE(s.renew_work(*mine, std::chrono::minutes(5)));  // lost: fenced by attempts
  EXPECT_TRUE(s.renew_work(*theirs, std::chrono::minutes(5)));
}

TEST_P(StoreBackend, FailedItemKeepsItsErrorAndIsNotClaimedAgain) {
  Store s(target());
  s.add_work("p", plan_items(2));
  const auto a = s.claim_work("p", "w", std::chrono::milliseconds(-1));
  ASSERT_TRUE(a);
  s.fail_work(*a, "the single-kernel model does not build: CIN=0");
  EXPECT_THAT(error_of([&] { s.fail_work(*a, "again"); }), HasSubstr("lost its lease"));
  const auto b = s.claim_work("p", "w", std::chrono::minutes(5));
  ASSERT_TRUE(b);
  EXPECT_EQ(b->key, "item-002");  // the failed item, though its lease is past, stays failed
  EXPECT_FALSE(s.claim_work("p", "w", std::chrono::minutes(5)));
  const PlanStatus st = s.work_status("p");
  EXPECT_EQ(st.failed, 1);
  EXPECT_EQ(st.claimed, 1);
  const WorkSummary w = s.work_summary();
  ASSERT_EQ(w.failures.size(), 1u);
  EXPECT_EQ(w.failures[0].key, "item-001");
  EXPECT_EQ(w.failures[0].error, "the single-kernel model does not build: CIN=0");
  EXPECT_THAT(w.to_text(), HasSubstr("failed: p / (any device) / item-001 (w): the single"));
}

namespace {
// One worker process: claims until the plan is done, one kernel row per item. The victim stops
// after completing two items, holding its third claim, and says which item on `report`.
[[noreturn]] void worker(const std::string& target, int index, int64_t dev, int64_t run,
                         bool victim, int report) {
  int code = 0;
  try {
    Store s(target);
    const std::string name = fmt::format("worker-{}", index);
    const auto lease = victim ? std::chrono::milliseconds(300) : std::chrono::milliseconds(600000);
    int completed = 0;
    for (;;) {
      const auto item = s.claim_work("plan", name, lease);
      if (!item) {
        const PlanStatus st = s.work_status("plan");
        if (st.pending + st.claimed == 0) break;
        usleep(20000);  // the victim's lease has not expired yet
        continue;
      }
      if (victim && completed == 2) {
        const std::string msg = item->key + "\n";
        if (write(report, msg.data(), msg.size()) < 0) _exit(3);
        pause();  // killed here, holding the lease
      }
      auto row = kernel_row(run, dev, item->payload["cin"].get<int>());
      try {
        s.complete_work(*item, {row});
        ++completed;
      } catch (const LeaseLost&) {
        // presumed dead after a stall longer than its lease: another worker has the item
      }
    }
  } catch (const std::exception& e) {
    fprintf(stderr, "worker %d: %s\n", index, e.what());
    code = 2;
  }
  _exit(code);
}
}  // namespace

// 8 worker processes on one dataset, one killed with SIGKILL while it holds a lease: every item
// is done exactly once, the killed worker's item by another worker after its lease expired.
TEST_P(StoreBackend, EightWorkersOneKilledEveryItemDoneExactlyOnce) {
  constexpr int kItems = 120;
  int64_t dev = 0, run = 0;
  int held_cin = 0;
  {
    Store s(target());
    dev = s.ensure_device(test_device());
    run = s.begin_run(make_run(dev, "kernels", Origin::kMeasured, "rapl"));
    ASSERT_EQ(s.add_work("plan", plan_items(kItems)), kItems);
  }
  // The victim starts alone so that it surely gets its three items; the others start while it
  // holds the third, and it is killed while they run.
  int fds[2];
  ASSERT_EQ(pipe(fds), 0);
  std::vector<pid_t> pids;
  for (int i = 0; i < 8; ++i) {
    const pid_t pid = fork();
    ASSERT_GE(pid, 0);
    if (pid == 0) {
      if (i == 0) close(fds[0]);
      worker(target(), i, dev, run, i == 0, fds[1]);
    }
    pids.push_back(pid);
    if (i > 0) continue;
    close(fds[1]);
    std::string held;
    char c;
    while (read(fds[0], &c, 1) == 1 && c != '\n') held += c;
    close(fds[0]);
    ASSERT_FALSE(held.empty()) << "the victim never reported its claim";
    held_cin = std::stoi(held.substr(held.find('-') + 1));
  }
  kill(pids[0], SIGKILL);
  for (size_t i = 0; i < pids.size(); ++i) {
    int status = 0;
    ASSERT_EQ(waitpid(pids[i], &status, 0), pids[i]);
    if (i == 0) {
      EXPECT_TRUE(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL);
    } else {
      EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << "worker " << i;
    }
  }
  const Store s(target(), {.read_only = true});
  const PlanStatus st = s.work_status("plan");
  EXPECT_EQ(st.done, kItems);
  EXPECT_EQ(st.pending + st.claimed, 0);
  const auto rows = s.kernels();
  EXPECT_EQ(rows.size(), static_cast<size_t>(kItems));
  std::set<int64_t> cins;
  for (const auto& r : rows) cins.insert(r.config->get("CIN"));
  EXPECT_EQ(cins.size(), static_cast<size_t>(kItems));  // no item twice, none missing
  EXPECT_EQ(*cins.begin(), 1);
  EXPECT_EQ(*cins.rbegin(), kItems);
  EXPECT_EQ(cins.count(held_cin), 1u) << "the killed worker's item";
}

// ---- merging --------------------------------------------------------------------------------

namespace {
Model tiny_model() {
  Model m;
  m.hash = "hash-tiny";
  m.hash_kind = "onnx";
  m.name = "tiny";
  m.kernels = {{"conv-bn-relu", "conv", {{"HW", 8}, {"CIN", 3}}, 1e5, 100, 400}};
  return m;
}

// tiny_model's measurement: 4 ms, its one kernel 3.5 ms.
ModelRow tiny_model_row(int64_t run, int64_t dev) {
  ModelRow r;
  r.run_id = run;
  r.device_id = dev;
  r.key = "m-1";
  r.m.latency_ms = 4;
  r.m.provenance = {Origin::kMeasured, "rapl"};
  r.kernel_latency_ms = {3.5};
  return r;
}

// A device with a run, kernel rows of the given CINs, one model row and one application row.
void fill(Store& s, const std::vector<int>& cins, double latency, int threads = 1) {
  const int64_t dev = s.ensure_device(test_device());
  auto settings = make_run(dev, "kernels", Origin::kMeasured, "rapl");
  settings.settings["threads"] = threads;  // tells this run from another begun in the same second
  const int64_t run = s.begin_run(settings);
  for (const int cin : cins) {
    auto k = kernel_row(run, dev, cin);
    k.m.latency_ms = latency;
    s.add_kernel(k);
  }
  s.add_model_measurement(tiny_model(), tiny_model_row(run, dev));
  AppRow a;
  a.run_id = run;
  a.device_id = dev;
  a.key = "app-1";
  a.app = "image-classification";
  a.model = "tiny";
  a.delegate = "cpu";
  a.m.energy_mj = 7;
  a.m.provenance = {Origin::kMeasured, "rapl"};
  s.add_application(a);
}
}  // namespace

TEST_P(StoreBackend, MergeMatchesByContentKeysIsIdempotentAndReportsConflicts) {
  const std::string other = (tmp_ / "other.db").string();
  {
    Store b(other);
    Device first = test_device();
    first.name = "only-in-b";  // shifts B's row ids away from the destination's
    b.ensure_device(first);
    fill(b, {8, 16, 32}, 3.0, 4);
  }
  Store a(target());
  // CIN 8 and 16 are in both with other latencies (conflicts), CIN 32 only in B.
  fill(a, {8, 16}, 2.5);
  const Store b(other, {.read_only = true});
  const MergeReport first = a.merge_from(b);
  EXPECT_EQ(first.devices_added, 1);  // only-in-b; test-board is found by fingerprint
  EXPECT_EQ(first.runs_added, 1);
  EXPECT_EQ(first.kernels_added, 1);
  EXPECT_EQ(first.models_added, 0);  // by content hash
  EXPECT_EQ(first.model_rows_same, 1);
  EXPECT_EQ(first.app_rows_same, 1);
  ASSERT_EQ(first.conflicts.size(), 2u);
  EXPECT_THAT(first.conflicts[0], HasSubstr("kernel_measurements of device 'test-board'"));
  EXPECT_THAT(first.conflicts[0], HasSubstr("latency_ms 2.5 here, 3 there"));
  EXPECT_EQ(a.kernels().size(), 3u);
  EXPECT_EQ(*a.kernels().at(0).m.latency_ms, 2.5);  // kept
  const MergeReport again = a.merge_from(b);
  EXPECT_EQ(again.devices_added + again.runs_added + again.kernels_added + again.models_added +
                again.model_rows_added + again.app_rows_added,
            0);
  EXPECT_EQ(again.kernels_same, 1);
  EXPECT_EQ(again.conflicts.size(), 2u);
  EXPECT_EQ(a.runs().size(), 2u);
  EXPECT_EQ(a.devices().size(), 2u);
  // The model row came with its breakdown once; the run rows point at this dataset's ids.
  const auto models = a.model_measurements();
  ASSERT_EQ(models.size(), 1u);
  EXPECT_EQ(*models[0].kernel_latency_ms.at(0), 3.5);
}

TEST_P(StoreBackend, DbPushCopiesAFileAndCanBeRepeated) {
  const std::string file = (tmp_ / "device.db").string();
  {
    Store s(file);
    fill(s, {8, 16}, 2.5);
  }
  const auto r = nnjoule::testing::run_cli({"db", "push", file, "--to", target()});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_THAT(r.out, HasSubstr("added 1 devices, 1 runs, 1 models, 2 kernel rows, 1 model rows, "
                               "1 application rows"));
  const auto again = nnjoule::testing::run_cli({"db", "push", file, "--to", target()});
  ASSERT_EQ(again.exit_code, 0) << again.err;
  EXPECT_THAT(again.out, HasSubstr("added 0 devices, 0 runs, 0 models, 0 kernel rows"));
  EXPECT_THAT(again.out, HasSubstr("already there: 2 kernel rows, 1 model rows, 1 application "
                                   "rows; 0 conflicts"));
  EXPECT_EQ(Store(target(), {.read_only = true}).kernels().size(), 2u);
  const auto merged = nnjoule::testing::run_cli(
      {"db", "merge", file, target(), "-o", (tmp_ / "merged.db").string()});
  ASSERT_EQ(merged.exit_code, 0) << merged.err;
  EXPECT_EQ(Store((tmp_ / "merged.db").string()).kernels().size(), 2u);
}

TEST_P(StoreBackend, WorkCompletesWithAModelMeasurementInItsTransaction) {
  Store s(target());
  const int64_t dev = s.ensure_device(test_device());
  const int64_t run = s.begin_run(make_run(dev, "models", Origin::kMeasured, "rapl"));
  s.add_work("m", {{"tiny", nlohmann::json{{"kind", "model"}}}});
  const auto w = s.claim_work("m", "w", std::chrono::minutes(5));
  ASSERT_TRUE(w);
  ModelRow r = tiny_model_row(run, dev);
  r.kernel_latency_ms = {3.5, 1.0};  // two latencies for one kernel: refused, nothing stored
  EXPECT_THAT(error_of([&] {
                s.complete_work(*w, {.kernels = {}, .models = {{tiny_model(), r}}});
              }),
              HasSubstr("2 kernel latencies for 1 kernels"));
  EXPECT_EQ(s.work_status("m").claimed, 1);
  r.kernel_latency_ms = {3.5};
  s.complete_work(*w, {.kernels = {}, .models = {{tiny_model(), r}}});
  EXPECT_EQ(s.work_status("m").done, 1);
  const auto rows = s.model_measurements();
  ASSERT_EQ(rows.size(), 1u);
  EXPECT_DOUBLE_EQ(*rows[0].m.latency_ms, 4);
}

// ---- nnjoule farm: the work queue from the command line ----------------------------------------

namespace {
// Starts `nnjoule args...` with stdout and stderr into `log`.
pid_t spawn_cli(const std::vector<std::string>& args, const std::filesystem::path& log) {
  const pid_t pid = fork();
  if (pid == 0) {
    FILE* f = freopen(log.c_str(), "w", stdout);
    if (!f || dup2(fileno(stdout), STDERR_FILENO) < 0) _exit(126);
    nnjoule::testing::exec_cli(args);
  }
  return pid;
}

std::vector<std::string> worker_args(const std::string& db, const std::string& label,
                                     const std::string& name, std::vector<std::string> extra) {
  std::vector<std::string> a = {"farm",
                                "collect",
                                "--db",
                                db,
                                "--plan",
                                "farm",
                                "--device-label",
                                label,
                                "--worker",
                                name,
                                "--meter",
                                "estimate",
                                "--profile",
                                "quick",
                                "--idle",
                                "0",
                                "--no-host-reference"};
  a.insert(a.end(), extra.begin(), extra.end());
  return a;
}

int exit_code(pid_t pid) {
  int status = 0;
  if (waitpid(pid, &status, 0) != pid) return -1;
  return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}
}  // namespace

// Two device labels share a plan of kernels; a worker is SIGKILLed while it holds an item with
// a 2 s lease; three workers then finish the plan, one of them waiting to take over the dead
// worker's item. Every item ends done once per label, and this host (one device for the store)
// has each kernel stored once: the second label's worker finds it stored by the first.
TEST_P(StoreBackend, FarmWorkersFinishAPlanAfterOneIsKilledHoldingAnItem) {
  const std::string db = target();
  const auto plan =
      run_cli({"farm", "plan", "kernels", "--db", db, "--plan", "farm", "--kernels", "add,maxpool",
               "--count", "4", "--floor", "2", "--device-labels", "a,b"});
  ASSERT_EQ(plan.exit_code, 0) << plan.err;
  EXPECT_THAT(plan.out, HasSubstr("plan 'farm', device 'a': 4 items added, 0 already there"));
  const auto again =
      run_cli({"farm", "plan", "kernels", "--db", db, "--plan", "farm", "--kernels", "add,maxpool",
               "--count", "4", "--floor", "2", "--device-labels", "a"});
  EXPECT_THAT(again.out, HasSubstr("device 'a': 0 items added, 4 already there"));

  // The victim is frozen (SIGSTOP) until it is caught holding a lease, then killed.
  const pid_t victim =
      spawn_cli(worker_args(db, "a", "victim", {"--lease", "2"}), tmp_ / "victim.log");
  std::string held;
  for (int i = 0; i < 3000 && held.empty(); ++i) {
    usleep(10000);
    kill(victim, SIGSTOP);
    const Store s(db, {.read_only = true});
    for (const auto& l : s.work_summary("farm").leases)
      if (l.worker == "victim") held = l.key;
    if (held.empty()) kill(victim, SIGCONT);
  }
  kill(victim, SIGKILL);
  EXPECT_EQ(exit_code(victim), 128 + SIGKILL);
  ASSERT_FALSE(held.empty()) << "the victim never held an item";

  const std::vector<pid_t> workers = {
      spawn_cli(worker_args(db, "a", "a-waits", {"--wait", "--poll", "0.2"}), tmp_ / "a1.log"),
      spawn_cli(worker_args(db, "a", "a-quick", {}), tmp_ / "a2.log"),
      spawn_cli(worker_args(db, "b", "b-only", {"--json"}), tmp_ / "b.log")};
  for (const pid_t p : workers) EXPECT_EQ(exit_code(p), 0);

  const Store s(db, {.read_only = true});
  for (const char* label : {"a", "b"}) {
    const PlanStatus st = s.work_status("farm", label);
    EXPECT_EQ(st.done, 4) << label;
    EXPECT_EQ(st.pending + st.claimed + st.failed, 0) << label;
  }
  const auto rows = s.kernels();
  EXPECT_EQ(rows.size(), 4u);  // each kernel once on this device, though two labels planned it
  std::set<std::string> keys;
  for (const auto& r : rows) keys.insert(r.key);
  EXPECT_EQ(keys.size(), 4u);
  const auto status = run_cli({"farm", "status", "--db", db, "--plan", "farm"});
  ASSERT_EQ(status.exit_code, 0) << status.err;
  EXPECT_THAT(status.out, ::testing::ContainsRegex(R"(farm +a +4 +0 +0 +0 +4 +0)"));
  EXPECT_THAT(status.out, ::testing::ContainsRegex(R"(farm +b +4 +0 +0 +0 +4 +0)"));
  EXPECT_THAT(status.out, ::testing::Not(HasSubstr("leases held")));
  const auto info = run_cli({"db", "info", db});
  EXPECT_THAT(info.out, HasSubstr("work plans (nnjoule farm status"));
  EXPECT_THAT(info.out, ::testing::ContainsRegex(R"(farm +b +4 +0 +0 +0 +4 +0)"));
  // The victim's item was measured by a worker of its label after the lease expired.
  EXPECT_THAT(
      nnjoule::testing::read_text(tmp_ / "a1.log") + nnjoule::testing::read_text(tmp_ / "a2.log"),
      HasSubstr(held + ":"));
  // Bad input: one line naming what is wrong.
  EXPECT_TRUE(nnjoule::testing::one_error_line(
      run_cli({"farm", "collect", "--db", db, "--plan", "nope", "--meter", "estimate"}),
      "no plan named 'nope'"));
  EXPECT_TRUE(nnjoule::testing::one_error_line(
      run_cli({"farm", "status", "--db", db, "--plan", "nope"}), "no plan named 'nope'"));
  if (!postgres()) {
    const auto missing = (tmp_ / "missing.db").string();
    EXPECT_TRUE(nnjoule::testing::one_error_line(
        run_cli({"farm", "collect", "--db", missing, "--plan", "farm", "--meter", "estimate"}),
        "missing.db: no such dataset file"));
    EXPECT_FALSE(std::filesystem::exists(missing));
  }
}
