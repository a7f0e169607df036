// Export round trip: every cell of every table comes back from CSV and JSON exactly.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cmath>

#include "nnjoule/common/error.hpp"
#include "nnjoule/store/export.hpp"
#include "nnjoule/store/store.hpp"
#include "support/test_support.hpp"

using namespace nnjoule;
using namespace nnjoule::store;
using nlohmann::json;
using nnjoule::testing::run_cli;
using nnjoule::testing::TempDir;
using ::testing::HasSubstr;
namespace fs = std::filesystem;

namespace {

// A dataset with awkward values: commas, quotes, newlines, empty strings, NULLs, tiny and huge
// floats, unicode.
void fill(const fs::path& file) {
  Store s(file);
  Device d;
  d.name = "board, \"rev B\"\nsecond line";
  d.cpu = "Cortex-A76 ✓";
  d.details = {{"note", ""}};
  const int64_t dev = s.ensure_device(d);
  store::Run run;
  run.device_id = dev;
  run.kind = "kernels";
  run.provenance = {Origin::kMeasured, "rapl:package-0"};
  run.settings = {{"threads", 2}, {"label", "a,b"}};
  const int64_t run_id = s.begin_run(run);
  for (int i = 0; i < 5; ++i) {
    KernelRow r;
    r.run_id = run_id;
    r.device_id = dev;
    r.kernel_type = "conv-bn-relu";
    r.config = kernels::KernelConfig{{"HW", 7 + i}, {"CIN", 3}};
    r.key = kernel_key(r.kernel_type, *r.config, run.settings);
    r.m.latency_ms = 0.1 + i / 3.0;
    r.m.energy_mj = i == 2 ? std::optional<double>{} : std::optional<double>{1e-300 * (i + 1)};
    r.m.power_mw = 123456789.123456789 * (i + 1);
    r.m.provenance = run.provenance;
    if (i == 3) r.m.flags = {"implausible_power", "energy_mismatch"};
    s.add_kernel(r);
  }
  Model m;
  m.hash = "h1";
  m.hash_kind = "onnx";
  m.name = "tiny";
  m.kernels = {{"fc", "fc", {{"CIN", 4}, {"COUT", 2}}, 16, 10, 64}};
  ModelRow mr;
  mr.run_id = run_id;
  mr.device_id = dev;
  mr.key = "m";
  mr.m.latency_ms = 1.0 / 7.0;
  mr.m.provenance = run.provenance;
  mr.kernel_latency_ms = {1.0 / 9.0};
  s.add_model_measurement(m, mr);
  s.end_run(run_id, "complete");
}

// The cell as CSV carries it, for comparison.
std::optional<std::string> expected_cell(const json& v) {
  if (v.is_null()) return std::nullopt;
  if (v.is_number_integer()) return std::to_string(v.get<int64_t>());
  if (v.is_number_float()) return fmt::format("{}", v.get<double>());
  return v.get<std::string>();
}

}  // namespace

TEST(Export, CsvRoundTripsEveryCell) {
  TempDir tmp;
  fill(tmp / "d.db");
  Store s(tmp / "d.db", Store::Options{.read_only = true});
  for (const auto& name : Store::table_names()) {
    const TableDump t = s.dump(name);
    const auto rows = parse_csv(to_csv(t), name);
    ASSERT_EQ(rows.size(), t.rows.size() + 1) << name;
    ASSERT_EQ(rows[0].size(), t.columns.size());
    for (size_t c = 0; c < t.columns.size(); ++c) EXPECT_EQ(*rows[0][c], t.columns[c]);
    for (size_t r = 0; r < t.rows.size(); ++r) {
      for (size_t c = 0; c < t.columns.size(); ++c) {
        EXPECT_EQ(rows[r + 1][c], expected_cell(t.rows[r][c])) << name << " " << t.columns[c];
        // Floats survive the text form bit for bit.
        if (t.rows[r][c].is_number_float()) {
          EXPECT_EQ(std::stod(*rows[r + 1][c]), t.rows[r][c].get<double>());
        }
      }
    }
  }
  // NULL and the empty string stay distinct.
  const TableDump dev = s.dump("devices");
  const auto parsed = parse_csv(to_csv(dev), "devices");
  const size_t soc = std::find(dev.columns.begin(), dev.columns.end(), "soc") - dev.columns.begin();
  EXPECT_FALSE(parsed[1][soc].has_value());
  const size_t name =
      std::find(dev.columns.begin(), dev.columns.end(), "name") - dev.columns.begin();
  EXPECT_EQ(*parsed[1][name], "board, \"rev B\"\nsecond line");
}

TEST(Export, CliJsonAndCsvMatchTheDatabase) {
  TempDir tmp;
  const auto db = tmp / "d.db";
  fill(db);
  const auto j = run_cli({"db", "export", db.string(), "--json"});
  ASSERT_EQ(j.exit_code, 0) << j.err;
  const json doc = json::parse(j.out);
  Store s(db, Store::Options{.read_only = true});
  EXPECT_EQ(doc["schema_version"], kSchemaVersion);
  for (const auto& name : Store::table_names()) {
    const TableDump t = s.dump(name);
    ASSERT_EQ(doc["tables"][name].size(), t.rows.size()) << name;
    for (size_t r = 0; r < t.rows.size(); ++r)
      for (size_t c = 0; c < t.columns.size(); ++c)
        EXPECT_EQ(doc["tables"][name][r][t.columns[c]], t.rows[r][c])
            << name << " " << t.columns[c];
  }
  const auto kernels_json =
      json::parse(doc["tables"]["kernel_measurements"][3]["config"].get<std::string>());
  EXPECT_EQ(kernels_json["HW"], 10);

  // Several CSV tables go to a directory, one file each.
  const auto out = tmp / "csv";
  const auto c = run_cli({"db", "export", db.string(), "--csv", "--out", out.string()});
  ASSERT_EQ(c.exit_code, 0) << c.err;
  for (const auto& name : Store::table_names()) {
    const auto rows = parse_csv(nnjoule::testing::read_text(out / (name + ".csv")), name);
    EXPECT_EQ(rows.size(), s.dump(name).rows.size() + 1) << name;
  }
  // One table to stdout.
  const auto one = run_cli({"db", "export", db.string(), "--csv", "--table", "runs"});
  ASSERT_EQ(one.exit_code, 0) << one.err;
  EXPECT_THAT(one.out, HasSubstr("rapl:package-0"));
  EXPECT_EQ(parse_csv(one.out, "stdout").size(), 2u);
}

TEST(Export, BadArguments) {
  TempDir tmp;
  const auto db = tmp / "d.db";
  fill(db);
  const auto both = run_cli({"db", "export", db.string(), "--csv", "--json"});
  EXPECT_EQ(both.exit_code, 1);
  EXPECT_THAT(both.err, HasSubstr("exactly one of --csv and --json"));
  const auto table = run_cli({"db", "export", db.string(), "--json", "--table", "nope"});
  EXPECT_EQ(table.exit_code, 1);
  EXPECT_THAT(table.err, HasSubstr("no table 'nope'"));
  const auto many = run_cli({"db", "export", db.string(), "--csv"});
  EXPECT_EQ(many.exit_code, 1);
  EXPECT_THAT(many.err, HasSubstr("need --out DIR"));
  const auto missing = run_cli({"db", "info", (tmp / "none.db").string()});
  EXPECT_EQ(missing.exit_code, 1);
  EXPECT_THAT(missing.err, HasSubstr("none.db: no such dataset file"));
  nnjoule::testing::write_text(tmp / "junk.db", std::string(5000, 'j'));
  const auto junk = run_cli({"db", "info", (tmp / "junk.db").string()});
  EXPECT_EQ(junk.exit_code, 1);
  EXPECT_THAT(junk.err, HasSubstr("nnjoule: error: " + (tmp / "junk.db").string()));
  EXPECT_THAT(junk.err, HasSubstr("not an SQLite database"));
}

TEST(Export, ParseCsvRejectsMalformedText) {
  EXPECT_THROW(parse_csv("a,\"b\nc", "x.csv"), Error);
  EXPECT_THROW(parse_csv("a,b\"c\n", "x.csv"), Error);
  const auto rows = parse_csv("a,\"\",\n", "x.csv");
  ASSERT_EQ(rows.size(), 1u);
  ASSERT_EQ(rows[0].size(), 3u);
  EXPECT_EQ(rows[0][1], std::optional<std::string>(""));
  EXPECT_FALSE(rows[0][2].has_value());
}

TEST(DbCli, InfoTextAndMigrate) {
  TempDir tmp;
  const auto db = tmp / "d.db";
  fill(db);
  const auto info = run_cli({"db", "info", db.string()});
  ASSERT_EQ(info.exit_code, 0) << info.err;
  EXPECT_THAT(info.out, HasSubstr(fmt::format("schema version {}", kSchemaVersion)));
  EXPECT_THAT(info.out, HasSubstr("kernel measurements: 5 (5 with a config, 1 flagged)"));
  EXPECT_THAT(info.out, HasSubstr("measured (rapl:package-0) rows: 6"));
  const auto mig = run_cli({"db", "migrate", db.string()});
  EXPECT_EQ(mig.exit_code, 0) << mig.err;
  EXPECT_THAT(mig.out, HasSubstr(fmt::format("schema version {}", kSchemaVersion)));
}
