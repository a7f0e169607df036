#pragma once
// Schema versions and the migrations between them (docs/datasets.md describes each version).
#include "sql.hpp"

namespace nnjoule::store::detail {

// nnjoule datasets carry this in PRAGMA application_id ("NNJL").
inline constexpr int32_t kApplicationId = 0x4E4E4A4C;

// Brings a database at `from` (0 = empty) to kSchemaVersion in one transaction: a failure
// leaves it at `from`. On PostgreSQL, workers opening one server at once migrate it once: the
// first takes a lock, the others find the schema made when they get it.
void migrate(const sql::Db& db, int from);

// A PostgreSQL database's schema version (meta.schema_version), 0 when it has no tables;
// refuses a database with other tables, naming them.
int postgres_schema_version(const sql::Db& db);

}  // namespace nnjoule::store::detail
