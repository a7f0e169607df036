#pragma once
// Helpers shared by the store's source files.
#include <string>
#include <vector>

#include "nnjoule/common/provenance.hpp"
#include "nnjoule/graph/graph.hpp"
#include "nnjoule/store/store.hpp"
#include "sqlite.hpp"

namespace nnjoule::store::detail {

std::string now_utc();  // "2026-01-02T03:04:05Z"
std::string shapes_text(const std::vector<graph::Shape>& shapes);
std::vector<graph::Shape> shapes_from_text(const std::string& text);
std::string flags_text(const std::vector<std::string>& flags);
std::vector<std::string> flags_from_text(const std::string& text);
// Throws unless the provenance is measured, estimated or imported and names its source.
void check_storable(const Provenance& p, const std::string& what);

}  // namespace nnjoule::store::detail

namespace nnjoule::store {
struct Store::Impl {
  std::filesystem::path path;
  Options options;
  std::unique_ptr<sql::Db> db;
  sql::Open mode = sql::Open::kReadWrite;
  int version = 0;
};
}  // namespace nnjoule::store
