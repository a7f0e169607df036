#pragma once
// Helpers shared by the store's source files.
#include <string>
#include <vector>

#include "nnjoule/common/provenance.hpp"
#include "nnjoule/graph/graph.hpp"
#include "nnjoule/store/store.hpp"
#include "sql.hpp"

namespace nnjoule::store::detail {

std::string now_utc();  // "2026-01-02T03:04:05Z"
std::string shapes_text(const std::vector<graph::Shape>& shapes);
std::vector<graph::Shape> shapes_from_text(const std::string& text);
std::string flags_text(const std::vector<std::string>& flags);
std::vector<std::string> flags_from_text(const std::string& text);
// Throws unless the provenance is measured, estimated or imported and names its source.
void check_storable(const Provenance& p, const std::string& what);
// Inside the caller's transaction: store one row and return its id (a row's created_at is kept
// when set: merged rows keep when they were first stored).
int64_t insert_kernel_row(const sql::Db& db, const KernelRow& row);
int64_t insert_model(const sql::Db& db, const Model& m);  // the stored id when the hash is known
int64_t insert_model_row(const sql::Db& db, const ModelRow& r);
// insert_model and insert_model_row, after checking the breakdown has one latency per kernel.
int64_t insert_model_measurement(const sql::Db& db, const Model& model, ModelRow row);
int64_t insert_application(const sql::Db& db, const AppRow& r);
int64_t find_or_add_device(const sql::Db& db, const Device& d);

}  // namespace nnjoule::store::detail

namespace nnjoule::store {
struct Store::Impl {
  std::filesystem::path path;    // a server's URL without its password
  std::filesystem::path target;  // as given: what another connection opens
  Options options;
  std::unique_ptr<sql::Db> db;  // SQLite or PostgreSQL
  sql::Open mode = sql::Open::kReadWrite;
  int version = 0;
};
}  // namespace nnjoule::store
