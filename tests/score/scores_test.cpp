#include "nnjoule/score/scores.hpp"

#include <gtest/gtest.h>

#include <cmath>

#include "nnjoule/common/error.hpp"
#include "support/test_support.hpp"

namespace nnjoule::score {
namespace {
using nnjoule::testing::error_of;
using nnjoule::testing::TempDir;
using nnjoule::testing::write_text;

std::filesystem::path scores_dir() {
  const auto root = nnjoule::testing::shared_data();
  if (root.empty()) return {};
  const auto dir = root / "deepen2023-scores";
  return std::filesystem::is_directory(dir) ? dir : std::filesystem::path{};
}

AppResult result(const std::string& device, const std::string& model, const std::string& del,
                 double apc, double eci) {
  return {device, {model, del}, apc, eci, std::nullopt, {Origin::kImported, "test"}};
}

TEST(Scores, PublishedPcsOfAllEightPhonesWithTheReadmeTdps) {
  const auto dir = scores_dir();
  if (dir.empty()) GTEST_SKIP() << "shared data deepen2023-scores not present on this machine";
  ScoreInput in;
  in.results = read_measurements_csv(dir / "measurements.csv");
  in.devices = read_devices_csv(dir / "devices.csv");
  ASSERT_EQ(in.devices.size(), 8u);
  // The README's TDP assignment, in the order of devices.csv (the printed row is permuted).
  const double tdp[] = {15, 12, 8, 15, 8, 10, 10, 6};
  for (size_t i = 0; i < 8; ++i) in.devices[i].tdp_w = tdp[i];
  const auto rep = compute_scores(in);
  ASSERT_EQ(rep.devices.size(), 8u);
  EXPECT_EQ(rep.configs.size(), 35u);
  EXPECT_EQ(rep.common.size(), 33u);
  for (const auto& d : rep.devices) {
    ASSERT_TRUE(d.pcs && d.info.published_pcs) << d.info.name;
    EXPECT_EQ(std::lround(*d.pcs), std::lround(*d.info.published_pcs)) << d.info.name;
    EXPECT_LT(std::fabs(*d.pcs_delta), 0.5) << d.info.name;
    // IECS = sum(1/ECI) lands near, not on, the published values (no formula was published).
    ASSERT_TRUE(d.iecs_ratio) << d.info.name;
    EXPECT_GT(*d.iecs_ratio, 0.7) << d.info.name;
    EXPECT_LT(*d.iecs_ratio, 1.3) << d.info.name;
  }
  // The Redmi Note8 lacks two entries; they are listed and their effect stated.
  const auto& redmi = rep.devices[1];
  EXPECT_EQ(redmi.configs_run, 33);
  ASSERT_EQ(redmi.missing.size(), 2u);
  EXPECT_EQ(redmi.missing[0].label(), "DNN2/CPU4");
  EXPECT_EQ(redmi.missing[1].label(), "DNN11/NNAPI");
  EXPECT_NE(redmi.notes.back().find("2 without a result (DNN2/CPU4, DNN11/NNAPI)"),
            std::string::npos);
  ASSERT_FALSE(redmi.notes.empty());
  EXPECT_NE(redmi.notes.back().find("lower bound"), std::string::npos);
  EXPECT_TRUE(rep.devices[0].missing.empty());
}

TEST(Scores, PrintedTdpRowDoesNotReproduceThePublishedPcs) {
  const auto dir = scores_dir();
  if (dir.empty()) GTEST_SKIP() << "shared data deepen2023-scores not present on this machine";
  ScoreInput in;
  in.results = read_measurements_csv(dir / "measurements.csv");
  in.devices = read_devices_csv(dir / "devices.csv");  // tdp_w_as_printed
  const auto rep = compute_scores(in);
  int matches = 0;
  for (const auto& d : rep.devices) {
    ASSERT_TRUE(d.pcs);
    if (std::lround(*d.pcs) == std::lround(*d.info.published_pcs)) ++matches;
    // The implied TDP recovers the README's assignment within the rounding of PCS.
    ASSERT_TRUE(d.implied_tdp_w);
  }
  EXPECT_LT(matches, 8);
  EXPECT_NEAR(*rep.devices[0].implied_tdp_w, 15, 0.5);
  EXPECT_NEAR(*rep.devices[7].implied_tdp_w, 6, 0.5);
}

TEST(Scores, FormulasOnAHandMadeTable) {
  ScoreInput in;
  in.devices = {{.name = "A", .tdp_w = 10}, {.name = "B", .tdp_w = 5}};
  in.results = {result("A", "m1", "CPU1", 2, 0.5), result("A", "m2", "CPU1", 4, 0.25),
                result("B", "m1", "CPU1", 1, 1.0)};
  const auto rep = compute_scores(in);
  ASSERT_EQ(rep.devices.size(), 2u);
  const auto& a = rep.devices[0];
  const auto& b = rep.devices[1];
  EXPECT_DOUBLE_EQ(*a.pcs, 100 * ((1 - 0.2) + (1 - 0.4)) / 2);  // 70
  EXPECT_DOUBLE_EQ(*b.pcs, 80);
  EXPECT_DOUBLE_EQ(a.iecs, 2 + 4);
  EXPECT_DOUBLE_EQ(a.iecs_common, 2);
  EXPECT_DOUBLE_EQ(b.iecs, 1);
  EXPECT_DOUBLE_EQ(*a.pcs_common, 80);
  // Latency derived from ECI/APC: A m1 250 ms (4 ips), B m1 1000 ms (1 ips).
  EXPECT_DOUBLE_EQ(latency_ms(rep.ranks[0].results[1].value()), 1000);
  EXPECT_NEAR(b.perf_score, 25, 1e-9);
  EXPECT_NEAR(a.perf_score, 100, 1e-9);  // best on m1, only device on m2
  EXPECT_NEAR(a.ips_geomean, std::sqrt(4.0 * 16.0), 1e-9);
  ASSERT_EQ(b.missing.size(), 1u);
  EXPECT_EQ(b.missing[0].label(), "m2/CPU1");
  // Ranks: B uses less power on m1, A less energy.
  EXPECT_EQ(rep.ranks[0].apc_rank[0], 2);
  EXPECT_EQ(rep.ranks[0].apc_rank[1], 1);
  EXPECT_EQ(rep.ranks[0].eci_rank[0], 1);
  EXPECT_FALSE(rep.ranks[1].apc_rank[1].has_value());
  const auto text = render_text(rep);
  EXPECT_NE(text.find("missing"), std::string::npos);
  EXPECT_NE(text.find("imported (test)"), std::string::npos);
}

TEST(Scores, TiesShareARankAndNoTdpMeansNoPcs) {
  ScoreInput in;
  in.results = {result("A", "m", "CPU1", 2, 1), result("B", "m", "CPU1", 2, 1),
                result("C", "m", "CPU1", 3, 1)};
  const auto rep = compute_scores(in);
  EXPECT_EQ(rep.ranks[0].apc_rank[0], 1);
  EXPECT_EQ(rep.ranks[0].apc_rank[1], 1);
  EXPECT_EQ(rep.ranks[0].apc_rank[2], 3);
  EXPECT_FALSE(rep.devices[0].pcs.has_value());
  EXPECT_NE(rep.devices[0].notes[0].find("no TDP"), std::string::npos);
  EXPECT_EQ(to_json(rep)["devices"][0]["pcs"], nullptr);
}

TEST(Scores, RejectsBadValues) {
  ScoreInput in;
  in.results = {result("A", "m", "CPU1", 0, 1)};
  EXPECT_THROW(compute_scores(in), Error);
  in.results = {result("A", "m", "CPU1", 1, 1), result("A", "m", "CPU1", 1, 1)};
  EXPECT_THROW(compute_scores(in), Error);
  in.results = {result("A", "m", "CPU1", 1, 1)};
  in.configs = {{"other", "CPU1"}};
  EXPECT_THROW(compute_scores(in), Error);
}

TEST(ScoreCsv, ErrorsNameFileLineAndColumn) {
  TempDir tmp;
  const auto m = tmp / "m.csv";
  write_text(m, "device,dnn,delegate,apc_w,eci_j\nA,DNN1,CPU1,4.5,0.3\nA,DNN2,CPU1,x,0.3\n");
  auto err = error_of([&] { read_measurements_csv(m); });
  EXPECT_NE(err.find("m.csv:3: column 4 (apc_w): 'x' is not a number"), std::string::npos) << err;

  write_text(m, "device,dnn,delegate,apc_w\nA,DNN1,CPU1,4.5\n");
  err = error_of([&] { read_measurements_csv(m); });
  EXPECT_NE(err.find("m.csv:1: missing column 'eci_j'"), std::string::npos) << err;

  write_text(m, "device,dnn,delegate,apc_w,eci_j\nA,DNN1,CPU1,4.5\n");
  err = error_of([&] { read_measurements_csv(m); });
  EXPECT_NE(err.find("m.csv:2: 4 fields, the header has 5"), std::string::npos) << err;

  write_text(m, "device,dnn,delegate,apc_w,eci_j\nA,DNN1,CPU1,-1,0.3\n");
  err = error_of([&] { read_measurements_csv(m); });
  EXPECT_NE(err.find("column 4 (apc_w): -1 must be positive"), std::string::npos) << err;

  write_text(m, "device,dnn,delegate,apc_w,eci_j\nA,DNN1,CPU1,1,0.3\n\nA,DNN1,CPU1,2,0.3\n");
  err = error_of([&] { read_measurements_csv(m); });
  EXPECT_NE(err.find("m.csv:4: second row for DNN1/CPU1 on 'A' (first on line 2)"),
            std::string::npos)
      << err;

  write_text(m, "device,dnn,delegate,apc_w,eci_j\n\"A, \"\"x\"\"\",DNN1,CPU1,1,0.3\n\"B\n");
  err = error_of([&] { read_measurements_csv(m); });
  EXPECT_NE(err.find("m.csv:3: unclosed quote"), std::string::npos) << err;

  const auto d = tmp / "d.csv";
  write_text(d, "device,tdp_w\nA,abc\n");
  err = error_of([&] { read_devices_csv(d); });
  EXPECT_NE(err.find("d.csv:2: column 2 (tdp_w): 'abc' is not a number"), std::string::npos) << err;
  EXPECT_NE(error_of([&] { read_devices_csv(tmp / "absent.csv"); }).find("absent.csv"),
            std::string::npos);
}

TEST(ScoreCsv, QuotedFieldsAndOptionalLatency) {
  TempDir tmp;
  const auto m = tmp / "m.csv";
  write_text(m,
             "device,model,delegate,apc_w,eci_j,latency_ms\r\n\"Dev, \"\"X\"\"\",a,CPU4,2,0.5,"
             "\r\nB,a,CPU4,2,0.5,100\r\n");
  const auto rs = read_measurements_csv(m);
  ASSERT_EQ(rs.size(), 2u);
  EXPECT_EQ(rs[0].device, "Dev, \"X\"");
  EXPECT_FALSE(rs[0].latency_ms.has_value());
  EXPECT_DOUBLE_EQ(latency_ms(rs[0]), 250);
  EXPECT_DOUBLE_EQ(*rs[1].latency_ms, 100);
  EXPECT_EQ(rs[0].provenance.label(), "imported (m.csv)");
}

TEST(ScoreCli, PrintsTheDeviceTableWithRanks) {
  const auto dir = scores_dir();
  if (dir.empty()) GTEST_SKIP() << "shared data deepen2023-scores not present on this machine";
  auto r = nnjoule::testing::run_cli({"score", "--measurements",
                                      (dir / "measurements.csv").string(), "--devices",
                                      (dir / "devices.csv").string(), "--tdp", "OnePlus 8 Pro=15"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.out.find("OnePlus 8 Pro"), std::string::npos);
  EXPECT_NE(r.out.find("TDP 15 W from --tdp"), std::string::npos);
  EXPECT_NE(r.out.find("DNN11/NNAPI"), std::string::npos);
  EXPECT_NE(r.out.find("imported (measurements.csv)"), std::string::npos);
  r = nnjoule::testing::run_cli({"score", "--measurements", (dir / "nope.csv").string()});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.err.find("nnjoule: error:"), std::string::npos);
  EXPECT_NE(r.err.find("nope.csv"), std::string::npos);
}

}  // namespace
}  // namespace nnjoule::score
