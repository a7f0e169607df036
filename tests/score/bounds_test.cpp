// Every number scoring reads is positive, finite and plausible for its unit, wherever it comes
// from (tables, --tdp, a database); no score comes out infinite, NaN or negative without a word.
#include <gtest/gtest.h>

#include <cmath>

#include "nnjoule/common/error.hpp"
#include "nnjoule/score/input.hpp"
#include "nnjoule/score/scores.hpp"
#include "nnjoule/store/store.hpp"
#include "nnjoule/zoo/suite.hpp"
#include "support/test_support.hpp"

namespace nnjoule::score {
namespace {
using namespace nnjoule::zoo;
using nnjoule::testing::error_of;
using nnjoule::testing::TempDir;
using nnjoule::testing::write_text;

using nnjoule::testing::contains;

AppResult result(const std::string& device, double apc, double eci,
                 std::optional<double> latency = std::nullopt) {
  return {device, {"m", "CPU1"}, apc, eci, latency, {Origin::kImported, "test"}};
}

std::string measurements_error(const std::string& row,
                               const std::string& header = "device,dnn,delegate,apc_w,eci_j") {
  TempDir tmp;
  write_text(tmp / "m.csv", header + "\n" + row + "\n");
  return error_of([&] { read_measurements_csv(tmp / "m.csv"); });
}

std::string devices_error(const std::string& header, const std::string& row) {
  TempDir tmp;
  write_text(tmp / "d.csv", header + "\n" + row + "\n");
  return error_of([&] { read_devices_csv(tmp / "d.csv"); });
}

}  // namespace

TEST(ScoreBounds, TinyEciIsRefusedNotAnInfiniteIecs) {
  // 4.9e-324 J is a denormal: 1/ECI overflowed to inf and every other device's performance
  // came out 0.
  ScoreInput in;
  in.results = {result("A", 2, 4.9e-324), result("B", 2, 0.5)};
  const std::string err = error_of([&] { compute_scores(in); });
  EXPECT_TRUE(contains(err, "'m/CPU1' on 'A'")) << err;
  // The denormal prints as its shortest form, 5e-324.
  EXPECT_TRUE(contains(err, "ECI 5e-324 J is outside the plausible range 1e-09 to 1000000 J"))
      << err;
  EXPECT_TRUE(contains(measurements_error("A,DNN1,CPU1,2,4.9e-324"),
                       "m.csv:2: column 5 (eci_j): 4.9e-324 J is outside the plausible range"))
      << measurements_error("A,DNN1,CPU1,2,4.9e-324");
}

TEST(ScoreBounds, TinyTdpIsRefusedNotAHugeNegativePcs) {
  // TDP 0.001 W against an APC of 3.69 W gave PCS -369088.
  std::vector<DeviceInfo> devices;
  const std::string err = error_of([&] { apply_tdp_override(devices, "A=0.001"); });
  EXPECT_EQ(err, "--tdp 'A=0.001': TDP 0.001 W is outside the plausible range 0.01 to 100000 W");
  EXPECT_TRUE(devices.empty());
  EXPECT_TRUE(contains(devices_error("device,tdp_w", "A,0.001"),
                       "d.csv:2: column 2 (tdp_w): 0.001 W is outside the plausible range 0.01 to "
                       "100000 W"));
  ScoreInput in;
  in.devices = {{.name = "A", .tdp_w = 0.001}};
  in.results = {result("A", 3.69, 1)};
  EXPECT_TRUE(contains(error_of([&] { compute_scores(in); }),
                       "device 'A': TDP 0.001 W is outside the plausible range"));
}

TEST(ScoreBounds, EveryInputRangeIsChecked) {
  EXPECT_TRUE(contains(measurements_error("A,DNN1,CPU1,1e-9,0.3"),
                       "column 4 (apc_w): 1e-9 W is outside the plausible range 1e-06 to 100000 "
                       "W"));
  EXPECT_TRUE(contains(measurements_error("A,DNN1,CPU1,2e5,0.3"), "column 4 (apc_w): 2e5 W"));
  EXPECT_TRUE(contains(measurements_error("A,DNN1,CPU1,2,2e6"), "column 5 (eci_j): 2e6 J"));
  EXPECT_TRUE(contains(measurements_error("A,DNN1,CPU1,2,0.3,1e12",
                                          "device,dnn,delegate,apc_w,eci_j,"
                                          "latency_ms"),
                       "column 6 (latency_ms): 1e12 ms is outside the plausible range 1e-06 to "
                       "86400000 ms"));
  EXPECT_TRUE(contains(measurements_error("A,DNN1,CPU1,2,0,1",
                                          "device,dnn,delegate,apc_w,eci_j,"
                                          "latency_ms"),
                       "column 5 (eci_j): 0 must be positive"));
  // strtod took hexadecimal floats and leading signs silently; a field is one decimal number.
  EXPECT_TRUE(contains(measurements_error("A,DNN1,CPU1,0x1p2,0.3"),
                       "column 4 (apc_w): '0x1p2' is not a number"));
  EXPECT_TRUE(contains(devices_error("device,price", "A,-5"),
                       "column 2 (price): -5 must be "
                       "positive"));
  EXPECT_TRUE(contains(devices_error("device,pcs_published", "A,175"),
                       "column 2 (pcs_published): 175 is outside the plausible range 0 to 100"));
  EXPECT_TRUE(contains(devices_error("device,iecs_published", "A,0"),
                       "column 2 (iecs_published): 0 must be positive"));
  std::vector<DeviceInfo> devices;
  EXPECT_TRUE(contains(error_of([&] { apply_tdp_override(devices, "A=0x10"); }),
                       "--tdp 'A=0x10': '0x10' is not a number of watts"));
  EXPECT_TRUE(contains(error_of([&] { apply_tdp_override(devices, "A=2e5"); }),
                       "TDP 2e5 W is outside the plausible range"));
  apply_tdp_override(devices, "A= 15 ");
  EXPECT_EQ(devices.at(0).tdp_w, 15.0);
}

TEST(ScoreBounds, ResultsBuiltInCodeAreCheckedToo) {
  for (const auto& r : {result("A", 0, 1), result("A", NAN, 1), result("A", INFINITY, 1),
                        result("A", 2, 1, 1e-9), result("A", 2, -1), result("A", 2e5, 1)}) {
    ScoreInput in;
    in.results = {r};
    const std::string err = error_of([&] { compute_scores(in); });
    EXPECT_TRUE(contains(err, "result of 'm/CPU1' on 'A'")) << err;
  }
  ScoreInput in;
  in.devices = {{.name = "A", .price = -1}};
  in.results = {result("A", 2, 1)};
  EXPECT_TRUE(contains(error_of([&] { compute_scores(in); }), "device 'A': price -1"));
}

TEST(ScoreBounds, DerivedLatencyMustBePlausible) {
  // 1 kJ per inference at 1 uW is 31 years per inference: no latency to rank or score.
  ScoreInput in;
  in.results = {result("A", 1e-6, 1000)};
  const std::string err = error_of([&] { compute_scores(in); });
  EXPECT_TRUE(contains(err, "latency derived from ECI / APC (1000 * 1000 J / 1e-06 W)")) << err;
  EXPECT_TRUE(contains(err, "give latency_ms")) << err;
}

TEST(ScoreBounds, PcsNeverComesOutNegativeSilently) {
  // Mean APC above the TDP: PCS would be -150. It is not printed as a score; a note says why.
  ScoreInput in;
  in.devices = {{.name = "A", .tdp_w = 2, .tdp_source = "--tdp"}, {.name = "B", .tdp_w = 10}};
  in.results = {result("A", 5, 1), result("B", 5, 1)};
  const auto rep = compute_scores(in);
  const auto& a = rep.devices[0];
  EXPECT_FALSE(a.pcs.has_value());
  EXPECT_FALSE(a.pcs_common.has_value());
  ASSERT_FALSE(a.notes.empty());
  EXPECT_TRUE(contains(a.notes.back(), "mean APC 5 W is above the TDP 2 W (from --tdp)"))
      << a.notes.back();
  EXPECT_TRUE(contains(a.notes.back(), "-150")) << a.notes.back();
  EXPECT_DOUBLE_EQ(*rep.devices[1].pcs, 50);
  EXPECT_TRUE(contains(render_text(rep), "above the TDP"));
  EXPECT_EQ(to_json(rep)["devices"][0]["pcs"], nullptr);
}

TEST(ScoreBounds, ApcAboveTheTdpOnSomeConfigurationsIsNoted) {
  ScoreInput in;
  in.devices = {{.name = "A", .tdp_w = 4}};
  in.results = {{"A", {"m1", "CPU1"}, 5, 1, std::nullopt, {Origin::kImported, "t"}},
                {"A", {"m2", "CPU1"}, 1, 1, std::nullopt, {Origin::kImported, "t"}}};
  const auto rep = compute_scores(in);
  ASSERT_TRUE(rep.devices[0].pcs.has_value());
  EXPECT_DOUBLE_EQ(*rep.devices[0].pcs, 100 * ((1 - 1.25) + (1 - 0.25)) / 2);
  bool noted = false;
  for (const auto& n : rep.devices[0].notes) noted = noted || contains(n, "m1/CPU1 (5 W)");
  EXPECT_TRUE(noted);
}

TEST(ScoreBounds, EveryComputedScoreIsFinite) {
  // The extremes of every range together still give finite, non-negative scores.
  ScoreInput in;
  in.devices = {{.name = "A", .tdp_w = 1e5}, {.name = "B", .tdp_w = 0.01}};
  in.results = {result("A", 1e5, 1e-9, 1e-6), result("B", 1e-6, 1e6, 8.64e7)};
  const auto rep = compute_scores(in);
  for (const auto& d : rep.devices) {
    for (double v :
         {d.mean_apc_w, d.iecs, d.iecs_common, d.ips_geomean, d.perf_score, d.perf_score_common}) {
      EXPECT_TRUE(std::isfinite(v)) << d.info.name;
      EXPECT_GE(v, 0) << d.info.name;
    }
    if (d.pcs) {
      EXPECT_TRUE(std::isfinite(*d.pcs) && *d.pcs >= 0) << d.info.name;
    }
  }
}

// ---- application measurements stored in a database ----

namespace {

// A database with one application row of device "dev", written through the store as a bench
// run would, with the values given (mW, mJ, ms) and the run's settings.
void stored(const std::filesystem::path& path, std::optional<double> power_mw,
            std::optional<double> energy_mj, std::optional<double> latency_ms,
            nlohmann::json settings = nlohmann::json::object()) {
  store::Store db(path);
  store::Device dev;
  dev.name = "dev";
  const int64_t device_id = db.ensure_device(dev);
  store::Run run;
  run.device_id = device_id;
  run.kind = "applications";
  run.provenance = {Origin::kMeasured, "rapl"};
  run.settings = std::move(settings);
  const int64_t run_id = db.begin_run(run);
  store::AppRow row;
  row.run_id = run_id;
  row.device_id = device_id;
  row.key = "k";
  row.app = "classification";
  row.model = "DNN7";
  row.delegate = "CPU1";
  row.m.power_mw = power_mw;
  row.m.energy_mj = energy_mj;
  row.m.latency_ms = latency_ms;
  row.m.provenance = {Origin::kMeasured, "rapl"};
  db.add_application(row);
  db.end_run(run_id, "complete");
}

std::string load_error(const std::filesystem::path& path) {
  return error_of([&] { load_score_input(store::Store(path, {.read_only = true})); });
}

}  // namespace

TEST(ScoreBounds, StoredValuesAreCheckedNamingTheRowAndField) {
  TempDir tmp;
  stored(tmp / "ok.db", 4000, 400, 100, {{"tdp_w", 15.0}});
  const auto ok = load_score_input(store::Store(tmp / "ok.db", {.read_only = true}));
  ASSERT_EQ(ok.results.size(), 1u);
  EXPECT_DOUBLE_EQ(ok.results[0].eci_j, 0.4);

  stored(tmp / "eci.db", 4000, 4.9e-321, 100);
  std::string err = load_error(tmp / "eci.db");
  EXPECT_TRUE(contains(err, "eci.db: application measurement 1 (DNN7/CPU1 on 'dev'): energy_mj "))
      << err;
  EXPECT_TRUE(contains(err, "outside the plausible range")) << err;

  // (SQLite keeps an infinity; it stores NaN as NULL, a row without power, which is skipped.)
  stored(tmp / "inf.db", INFINITY, 400, 100);
  err = load_error(tmp / "inf.db");
  EXPECT_TRUE(contains(err,
                       "inf.db: application measurement 1 (DNN7/CPU1 on 'dev'): power_mw inf "
                       "is not a finite number"))
      << err;

  stored(tmp / "lat.db", 4000, 400, -3);
  EXPECT_TRUE(contains(load_error(tmp / "lat.db"), "latency_ms -3 must be positive"))
      << load_error(tmp / "lat.db");
}

TEST(ScoreBounds, StoredTdpIsChecked) {
  TempDir tmp;
  stored(tmp / "tiny.db", 4000, 400, 100, {{"tdp_w", 0.001}, {"tdp_source", "nnjoule apps --tdp"}});
  std::string err = load_error(tmp / "tiny.db");
  EXPECT_TRUE(contains(err,
                       "tiny.db: run 1: settings.tdp_w (nnjoule apps --tdp): TDP 0.001 W is "
                       "outside the plausible range"))
      << err;
  // A TDP stored as text was a JSON type error: an internal error.
  stored(tmp / "text.db", 4000, 400, 100, {{"tdp_w", "15"}});
  err = load_error(tmp / "text.db");
  EXPECT_TRUE(contains(err, "text.db: run 1: settings.tdp_w: expected a number")) << err;
  stored(tmp / "cfg.db", 4000, 400, 100, {{"configs", {{{"model", 7}}}}});
  err = load_error(tmp / "cfg.db");
  EXPECT_TRUE(contains(err, "cfg.db: run 1: settings.configs")) << err;
}

TEST(ScoreBounds, BenchRefusesAnImplausibleTdpBeforeRunning) {
  EXPECT_EQ(error_of([] { check_tdp_w(0.001, "nnjoule apps --tdp"); }),
            "nnjoule apps --tdp: TDP 0.001 W is outside the plausible range 0.01 to 100000 W");
  EXPECT_NO_THROW(check_tdp_w(15, "x"));
}

TEST(ScoreBounds, CliRefusesWithOneLine) {
  TempDir tmp;
  write_text(tmp / "m.csv", "device,dnn,delegate,apc_w,eci_j\nA,DNN1,CPU1,3.69,0.3\n");
  auto r = nnjoule::testing::run_cli(
      {"score", "--measurements", (tmp / "m.csv").string(), "--tdp", "A=0.001"});
  EXPECT_TRUE(nnjoule::testing::one_error_line(r, "--tdp 'A=0.001': TDP 0.001 W")) << r.err;
  EXPECT_EQ(r.out, "");
  write_text(tmp / "m.csv", "device,dnn,delegate,apc_w,eci_j\nA,DNN1,CPU1,3.69,4.9e-324\n");
  r = nnjoule::testing::run_cli({"score", "--measurements", (tmp / "m.csv").string()});
  EXPECT_TRUE(nnjoule::testing::one_error_line(r, "m.csv:2: column 5 (eci_j)")) << r.err;
}

}  // namespace nnjoule::score

namespace nnjoule::score {
namespace {
using namespace nnjoule::zoo;

TEST(ScoreBounds, SuiteFileWithAnOverflowingNumberIsBadInput) {
  // nlohmann throws out_of_range (not parse_error) for 1e400: it escaped as an internal error.
  TempDir tmp;
  write_text(tmp / "s.json", R"({"name": "t", "delegates": ["CPU1"], "models": [
      {"id": "a", "builtin": "mobilenetv1", "post": {"score_threshold": 1e400}}]})");
  const std::string err = error_of([&] { parse_suite_file(tmp / "s.json"); });
  EXPECT_TRUE(contains(err, "in field models[0].post.score_threshold is out of range")) << err;
  EXPECT_TRUE(contains(err, "1e400")) << err;
}

}  // namespace
}  // namespace nnjoule::score
