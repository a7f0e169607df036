#pragma once
// Schema versions and the migrations between them (docs/datasets.md describes each version).
#include "sqlite.hpp"

namespace nnjoule::store::detail {

// nnjoule datasets carry this in PRAGMA application_id ("NNJL").
inline constexpr int32_t kApplicationId = 0x4E4E4A4C;

// Brings a database at `from` (0 = empty) to kSchemaVersion in one transaction: a failure
// leaves it at `from`.
void migrate(const sql::Db& db, int from);

}  // namespace nnjoule::store::detail
