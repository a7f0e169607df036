#pragma once
// CSV and JSON export of dataset tables. CSV follows RFC 4180: a header row, NULL as an empty
// field, an empty string as "", numbers with full round-trip precision.
#include <nlohmann/json.hpp>

#include <optional>
#include <string>
#include <vector>

#include "nnjoule/store/store.hpp"

namespace nnjoule::store {

std::string to_csv(const TableDump& table);
// {"path", "schema_version", "tables": {"<table>": [{"<column>": value, ...}, ...]}}
nlohmann::ordered_json to_json(const Store& store, const std::vector<TableDump>& tables);
// Parses RFC 4180 CSV as to_csv writes it: an empty unquoted field is NULL (nullopt). Throws
// Error naming `context` and the line on malformed input.
std::vector<std::vector<std::optional<std::string>>> parse_csv(const std::string& text,
                                                               const std::string& context);

}  // namespace nnjoule::store
