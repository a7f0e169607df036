#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <sqlite3.h>

#include <filesystem>
#include <fstream>

#include "nnjoule/common/error.hpp"
#include "nnjoule/store/store.hpp"
#include "store/raw_sql.hpp"
#include "store/rows.hpp"
#include "support/test_support.hpp"

using namespace nnjoule;
using namespace nnjoule::store;
using nnjoule::testing::error_of;
using nnjoule::testing::TempDir;
using ::testing::HasSubstr;
namespace fs = std::filesystem;

namespace {

using nnjoule::testing::kernel_row;
using nnjoule::testing::make_run;
using nnjoule::testing::raw_exec;
using nnjoule::testing::test_device;

}  // namespace

TEST(Store, MigratesVersion1) {
  TempDir tmp;
  const auto file = tmp / "v1.db";
  raw_exec(file, R"sql(
CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
INSERT INTO meta VALUES ('created_by', 'nnjoule 0.0.9');
CREATE TABLE devices (id INTEGER PRIMARY KEY, fingerprint TEXT NOT NULL UNIQUE, name TEXT NOT NULL,
  soc TEXT, cpu TEXT, arch TEXT, cores INTEGER, os TEXT, runtime TEXT, details TEXT NOT NULL DEFAULT '{}');
CREATE TABLE runs (id INTEGER PRIMARY KEY, device_id INTEGER NOT NULL REFERENCES devices(id),
  kind TEXT NOT NULL, origin TEXT NOT NULL, source TEXT NOT NULL, nnjoule_version TEXT NOT NULL,
  started_at TEXT NOT NULL, finished_at TEXT, status TEXT NOT NULL DEFAULT 'running',
  settings TEXT NOT NULL DEFAULT '{}', command TEXT);
CREATE TABLE kernel_measurements (id INTEGER PRIMARY KEY, run_id INTEGER NOT NULL, device_id INTEGER NOT NULL,
  key TEXT NOT NULL, source_id TEXT, kernel_type TEXT NOT NULL, config TEXT, source_config TEXT,
  flops REAL, params INTEGER, bytes INTEGER, input_shapes TEXT, output_shapes TEXT, threads INTEGER,
  latency_ms REAL, latency_ci_ms REAL, energy_mj REAL, dynamic_energy_mj REAL, energy_ci_mj REAL,
  power_mw REAL, idle_power_mw REAL, n INTEGER, origin TEXT NOT NULL, source TEXT NOT NULL,
  device_state TEXT, created_at TEXT NOT NULL, UNIQUE (device_id, key));
CREATE TABLE models (id INTEGER PRIMARY KEY, hash TEXT NOT NULL UNIQUE, hash_kind TEXT NOT NULL,
  name TEXT NOT NULL, family TEXT, variant INTEGER, resolution INTEGER, seed INTEGER, source_id TEXT,
  flops REAL, params INTEGER, bytes INTEGER, unknown_ops TEXT);
CREATE TABLE model_kernels (model_id INTEGER NOT NULL, idx INTEGER NOT NULL, kernel_type TEXT NOT NULL,
  name TEXT, config TEXT, flops REAL, params INTEGER, bytes INTEGER, PRIMARY KEY (model_id, idx));
CREATE TABLE model_measurements (id INTEGER PRIMARY KEY, run_id INTEGER NOT NULL, device_id INTEGER NOT NULL,
  model_id INTEGER NOT NULL, key TEXT NOT NULL, threads INTEGER, latency_ms REAL, latency_ci_ms REAL,
  energy_mj REAL, dynamic_energy_mj REAL, energy_ci_mj REAL, power_mw REAL, idle_power_mw REAL,
  n INTEGER, origin TEXT NOT NULL, source TEXT NOT NULL, device_state TEXT, created_at TEXT NOT NULL,
  UNIQUE (device_id, key));
CREATE TABLE model_kernel_latency (measurement_id INTEGER NOT NULL, idx INTEGER NOT NULL,
  latency_ms REAL, PRIMARY KEY (measurement_id, idx));
INSERT INTO devices (id, fingerprint, name) VALUES (1, 'fp', 'old-phone');
INSERT INTO runs (id, device_id, kind, origin, source, nnjoule_version, started_at)
  VALUES (1, 1, 'import', 'imported', 'DeepEn2023', '0.0.9', '2025-01-01T00:00:00Z');
INSERT INTO kernel_measurements (run_id, device_id, key, kernel_type, config, latency_ms, energy_mj,
  power_mw, origin, source, created_at)
  VALUES (1, 1, 'k1', 'fc', '{"CIN":1280,"COUT":1000}', 1.5, 3.0, 2000, 'imported', 'DeepEn2023',
  '2025-01-01T00:00:00Z');
PRAGMA application_id = 1313753676;
PRAGMA user_version = 1;
)sql");
  // Read-only use of an old file names the command that upgrades it.
  EXPECT_THAT(error_of([&] { Store(file, Store::Options{.read_only = true}); }),
              HasSubstr("run `nnjoule db migrate"));
  {
    Store s(file);
    EXPECT_EQ(s.schema_version(), kSchemaVersion);
    auto rows = s.kernels();
    ASSERT_EQ(rows.size(), 1u);
    EXPECT_EQ(rows[0].config->get("COUT"), 1000);
    EXPECT_TRUE(rows[0].m.flags.empty());
    EXPECT_EQ(rows[0].m.provenance.label(), "imported (DeepEn2023)");
    // Version 2's table works on the migrated file.
    AppRow a;
    a.run_id = 1;
    a.device_id = 1;
    a.key = "a";
    a.app = "x";
    a.model = "m";
    a.delegate = "cpu";
    a.m.power_mw = 1;
    a.m.provenance = {Origin::kMeasured, "rapl"};
    s.add_application(a);
  }
  Store again(file, Store::Options{.read_only = true});
  EXPECT_EQ(again.info().created_by, "nnjoule 0.0.9");
  EXPECT_EQ(again.applications().size(), 1u);
}

TEST(Store, RefusesNewerSchemaNamingBothVersions) {
  TempDir tmp;
  const auto file = tmp / "new.db";
  { Store s(file); }
  raw_exec(file,
           "PRAGMA user_version = 7; UPDATE meta SET value = 'nnjoule 9.1.0' WHERE key = "
           "'schema_written_by';");
  const std::string err = error_of([&] { Store s(file); });
  EXPECT_THAT(err, HasSubstr("schema version 7"));
  EXPECT_THAT(err, HasSubstr("nnjoule 9.1.0"));
  EXPECT_THAT(err, HasSubstr(fmt::format("up to {}", kSchemaVersion)));
  EXPECT_THAT(err, HasSubstr(file.string()));
}

TEST(Store, RefusesGarbageAndForeignDatabases) {
  TempDir tmp;
  const auto garbage = tmp / "garbage.db";
  std::string bytes(8192, '\0');
  for (size_t i = 0; i < bytes.size(); ++i) bytes[i] = static_cast<char>((i * 7919) % 251);
  nnjoule::testing::write_text(garbage, bytes);
  const std::string err = error_of([&] { Store s(garbage); });
  EXPECT_THAT(err, HasSubstr(garbage.string()));
  EXPECT_THAT(err, HasSubstr("not an SQLite database"));
  EXPECT_EQ(nnjoule::testing::read_text(garbage), bytes);  // untouched

  const auto foreign = tmp / "foreign.db";
  raw_exec(foreign, "CREATE TABLE photos (id INTEGER); INSERT INTO photos VALUES (1);");
  EXPECT_THAT(error_of([&] { Store s(foreign); }),
              HasSubstr("not an nnjoule dataset (tables: photos)"));
}

TEST(Store, RefusesTruncatedFile) {
  TempDir tmp;
  const auto file = tmp / "t.db";
  {
    Store s(file);
    const int64_t dev = s.ensure_device(test_device());
    const int64_t run = s.begin_run(make_run(dev, "kernels", Origin::kMeasured, "rapl"));
    std::vector<KernelRow> rows;
    for (int c = 1; c <= 400; ++c) rows.push_back(kernel_row(run, dev, c));
    s.add_kernels(rows);
  }
  // Closing checkpointed the WAL into the main file; cut it in half.
  const auto size = fs::file_size(file);
  ASSERT_GT(size, 40000u);
  fs::resize_file(file, size / 2);
  const std::string err = error_of([&] { Store s(file); });
  EXPECT_THAT(err, HasSubstr(file.string()));
  EXPECT_THAT(err, HasSubstr("corrupt"));
  EXPECT_EQ(fs::file_size(file), size / 2);
}

TEST(Store, DiskFullKeepsEveryStoredRow) {
  TempDir tmp;
  const auto file = tmp / "full.db";
  { Store s(file); }
  Store::Options o;
  o.max_pages = 14;  // the empty schema takes a few pages; leave room for a handful of rows
  Store s(file, o);
  const int64_t dev = s.ensure_device(test_device());
  const int64_t run = s.begin_run(make_run(dev, "kernels", Origin::kMeasured, "rapl"));
  int stored = 0;
  std::string err;
  for (int c = 1; c <= 5000 && err.empty(); ++c) {
    auto r = kernel_row(run, dev, c);
    r.source_config = std::string(300, 'x');  // fill pages quickly
    try {
      s.add_kernel(r);
      ++stored;
    } catch (const Error& e) {
      err = e.what();
    }
  }
  ASSERT_FALSE(err.empty()) << "the page cap never filled";
  EXPECT_THAT(err, HasSubstr("full"));
  EXPECT_THAT(err, HasSubstr("every row stored before it is intact"));
  EXPECT_GT(stored, 0);
  EXPECT_EQ(static_cast<int>(s.kernels().size()), stored);
  // Reopened without the cap, everything is there and writable.
  Store again(file);
  EXPECT_EQ(static_cast<int>(again.kernels().size()), stored);
}

TEST(Store, ReadOnlyFile) {
  TempDir tmp;
  const auto file = tmp / "ro.db";
  {
    Store s(file);
    s.ensure_device(test_device());
  }
  fs::permissions(file, fs::perms::owner_read | fs::perms::group_read | fs::perms::others_read);
  const std::string err = error_of([&] { Store s(file); });
  EXPECT_THAT(err, HasSubstr("read-only"));
  EXPECT_THAT(err, HasSubstr(file.string()));
  Store reader(file, Store::Options{.read_only = true});
  EXPECT_EQ(reader.devices().size(), 1u);
}

TEST(Store, MissingFileOrDirectory) {
  TempDir tmp;
  EXPECT_THAT(error_of([&] { Store s(tmp / "nope.db", Store::Options{.read_only = true}); }),
              HasSubstr("no such dataset file"));
  EXPECT_THAT(error_of([&] { Store s(tmp / "no" / "dir.db"); }), HasSubstr("does not exist"));
}

// WAL: a reader holding a read transaction does not block the writer, and sees a consistent
// snapshot.
TEST(Store, ReadersDoNotBlockTheCollector) {
  TempDir tmp;
  const auto file = tmp / "wal.db";
  Store writer(file);
  const int64_t dev = writer.ensure_device(test_device());
  const int64_t run = writer.begin_run(make_run(dev, "kernels", Origin::kMeasured, "rapl"));
  writer.add_kernel(kernel_row(run, dev, 1));

  sqlite3* reader = nullptr;
  ASSERT_EQ(sqlite3_open_v2(file.c_str(), &reader, SQLITE_OPEN_READONLY, nullptr), SQLITE_OK);
  sqlite3_exec(reader, "BEGIN", nullptr, nullptr, nullptr);
  sqlite3_stmt* st = nullptr;
  ASSERT_EQ(
      sqlite3_prepare_v2(reader, "SELECT COUNT(*) FROM kernel_measurements", -1, &st, nullptr),
      SQLITE_OK);
  ASSERT_EQ(sqlite3_step(st), SQLITE_ROW);
  EXPECT_EQ(sqlite3_column_int(st, 0), 1);
  sqlite3_reset(st);

  Store::Options fast;
  fast.busy_timeout_ms = 0;  // any blocking would fail at once
  Store writer2(file, fast);
  writer2.add_kernel(kernel_row(run, dev, 2));

  ASSERT_EQ(sqlite3_step(st), SQLITE_ROW);
  EXPECT_EQ(sqlite3_column_int(st, 0), 1);  // the reader's snapshot
  sqlite3_finalize(st);
  sqlite3_exec(reader, "COMMIT", nullptr, nullptr, nullptr);
  sqlite3_close(reader);
  EXPECT_EQ(writer.kernels().size(), 2u);
}

TEST(Store, ConfigJsonRejectsNonIntegers) {
  EXPECT_THAT(error_of([] {
                config_from_json(nlohmann::ordered_json{{"HW", "a"}}, "f.json");
              }),
              HasSubstr("f.json: config key 'HW' must be an integer"));
  EXPECT_EQ(config_from_json(nlohmann::ordered_json{{"HW", 7.0}}, "x").get("HW"), 7);
}
