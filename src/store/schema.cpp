#include "schema.hpp"

#include <fmt/format.h>

#include <functional>
#include <vector>

#include "nnjoule/common/error.hpp"
#include "nnjoule/store/store.hpp"
#include "nnjoule/version.hpp"

namespace nnjoule::store::detail {
namespace {

// Migration steps are frozen once released: each spells out its SQL in full, so the repeated
// measurement columns are on purpose (a shared fragment, once edited, would change old steps).

// Version 1: devices, runs, kernel and model measurements.
void to_v1(const sql::Db& db) {
  db.exec(R"sql(
CREATE TABLE meta (
  key   TEXT PRIMARY KEY,
  value TEXT NOT NULL
);
CREATE TABLE devices (
  id          INTEGER PRIMARY KEY,
  fingerprint TEXT NOT NULL UNIQUE,
  name        TEXT NOT NULL,
  soc         TEXT,
  cpu         TEXT,
  arch        TEXT,
  cores       INTEGER,
  os          TEXT,
  runtime     TEXT,
  details     TEXT NOT NULL DEFAULT '{}'
);
CREATE TABLE runs (
  id              INTEGER PRIMARY KEY,
  device_id       INTEGER NOT NULL REFERENCES devices(id),
  kind            TEXT NOT NULL,
  origin          TEXT NOT NULL CHECK (origin IN ('measured', 'estimated', 'imported')),
  source          TEXT NOT NULL,
  nnjoule_version TEXT NOT NULL,
  started_at      TEXT NOT NULL,
  finished_at     TEXT,
  status          TEXT NOT NULL DEFAULT 'running',
  settings        TEXT NOT NULL DEFAULT '{}',
  command         TEXT
);
CREATE TABLE kernel_measurements (
  id                INTEGER PRIMARY KEY,
  run_id            INTEGER NOT NULL REFERENCES runs(id),
  device_id         INTEGER NOT NULL REFERENCES devices(id),
  key               TEXT NOT NULL,
  source_id         TEXT,
  kernel_type       TEXT NOT NULL,
  config            TEXT,
  source_config     TEXT,
  flops             REAL,
  params            INTEGER,
  bytes             INTEGER,
  input_shapes      TEXT,
  output_shapes     TEXT,
  threads           INTEGER,
  latency_ms        REAL,
  latency_ci_ms     REAL,
  energy_mj         REAL,
  dynamic_energy_mj REAL,
  energy_ci_mj      REAL,
  power_mw          REAL,
  idle_power_mw     REAL,
  n                 INTEGER,
  origin            TEXT NOT NULL CHECK (origin IN ('measured', 'estimated', 'imported')),
  source            TEXT NOT NULL,
  device_state      TEXT,
  created_at        TEXT NOT NULL,
  UNIQUE (device_id, key)
);
CREATE INDEX kernel_measurements_type ON kernel_measurements (kernel_type);
CREATE TABLE models (
  id          INTEGER PRIMARY KEY,
  hash        TEXT NOT NULL UNIQUE,
  hash_kind   TEXT NOT NULL,
  name        TEXT NOT NULL,
  family      TEXT,
  variant     INTEGER,
  resolution  INTEGER,
  seed        INTEGER,
  source_id   TEXT,
  flops       REAL,
  params      INTEGER,
  bytes       INTEGER,
  unknown_ops TEXT
);
CREATE TABLE model_kernels (
  model_id    INTEGER NOT NULL REFERENCES models(id) ON DELETE CASCADE,
  idx         INTEGER NOT NULL,
  kernel_type TEXT NOT NULL,
  name        TEXT,
  config      TEXT,
  flops       REAL,
  params      INTEGER,
  bytes       INTEGER,
  PRIMARY KEY (model_id, idx)
);
CREATE TABLE model_measurements (
  id                INTEGER PRIMARY KEY,
  run_id            INTEGER NOT NULL REFERENCES runs(id),
  device_id         INTEGER NOT NULL REFERENCES devices(id),
  model_id          INTEGER NOT NULL REFERENCES models(id),
  key               TEXT NOT NULL,
  threads           INTEGER,
  latency_ms        REAL,
  latency_ci_ms     REAL,
  energy_mj         REAL,
  dynamic_energy_mj REAL,
  energy_ci_mj      REAL,
  power_mw          REAL,
  idle_power_mw     REAL,
  n                 INTEGER,
  origin            TEXT NOT NULL CHECK (origin IN ('measured', 'estimated', 'imported')),
  source            TEXT NOT NULL,
  device_state      TEXT,
  created_at        TEXT NOT NULL,
  UNIQUE (device_id, key)
);
CREATE TABLE model_kernel_latency (
  measurement_id INTEGER NOT NULL REFERENCES model_measurements(id) ON DELETE CASCADE,
  idx            INTEGER NOT NULL,
  latency_ms     REAL,
  PRIMARY KEY (measurement_id, idx)
);
)sql");
  sql::Stmt st(db, "INSERT INTO meta (key, value) VALUES ('created_by', ?)");
  st.bind(1, std::string("nnjoule ") + kVersion).run();
}

// Version 2: application measurements (APC / ECI per configuration), and quality flags on every
// measurement row so implausible imported values are kept and marked instead of dropped.
void to_v2(const sql::Db& db) {
  db.exec(R"sql(
ALTER TABLE kernel_measurements ADD COLUMN flags TEXT;
ALTER TABLE model_measurements ADD COLUMN flags TEXT;
CREATE TABLE application_measurements (
  id                INTEGER PRIMARY KEY,
  run_id            INTEGER NOT NULL REFERENCES runs(id),
  device_id         INTEGER NOT NULL REFERENCES devices(id),
  key               TEXT NOT NULL,
  app               TEXT NOT NULL,
  model             TEXT NOT NULL,
  configuration     TEXT NOT NULL DEFAULT '',
  delegate          TEXT NOT NULL,
  threads           INTEGER,
  latency_ms        REAL,
  latency_ci_ms     REAL,
  energy_mj         REAL,
  dynamic_energy_mj REAL,
  energy_ci_mj      REAL,
  power_mw          REAL,
  idle_power_mw     REAL,
  n                 INTEGER,
  origin            TEXT NOT NULL CHECK (origin IN ('measured', 'estimated', 'imported')),
  source            TEXT NOT NULL,
  device_state      TEXT,
  flags             TEXT,
  details           TEXT NOT NULL DEFAULT '{}',
  created_at        TEXT NOT NULL,
  UNIQUE (device_id, key)
);
CREATE INDEX application_measurements_app ON application_measurements (app, delegate, threads);
CREATE INDEX model_measurements_model ON model_measurements (model_id);
)sql");
}

// Version 3: run liveness. A collection killed with SIGKILL leaves its run "running"; the
// heartbeat and the process that wrote the run (host, boot id, pid and its start time) tell a
// reader that its process is gone.
void to_v3(const sql::Db& db) {
  db.exec(R"sql(
ALTER TABLE runs ADD COLUMN heartbeat_at TEXT;
ALTER TABLE runs ADD COLUMN host TEXT;
ALTER TABLE runs ADD COLUMN boot_id TEXT;
ALTER TABLE runs ADD COLUMN pid INTEGER;
ALTER TABLE runs ADD COLUMN pid_start INTEGER;
)sql");
}

}  // namespace

void migrate(const sql::Db& db, int from) {
  static const std::vector<std::function<void(const sql::Db&)>> steps = {to_v1, to_v2, to_v3};
  static_assert(kSchemaVersion == 3, "add the migration step for the new schema version");
  if (from < 0 || from > kSchemaVersion)
    fail("{}: no migration from schema version {}", db.path(), from);
  if (from == kSchemaVersion) return;
  sql::Transaction tx(db);
  for (int v = from; v < kSchemaVersion; ++v) {
    with_context(fmt::format("{}: migrating schema version {} to {}", db.path(), v, v + 1),
                 [&] { steps[static_cast<size_t>(v)](db); });
  }
  db.exec(fmt::format("PRAGMA application_id = {}; PRAGMA user_version = {};", kApplicationId,
                      kSchemaVersion));
  sql::Stmt st(db, "INSERT OR REPLACE INTO meta (key, value) VALUES ('schema_written_by', ?)");
  st.bind(1, std::string("nnjoule ") + kVersion).run();
  tx.commit();
}

}  // namespace nnjoule::store::detail
