#include "nnjoule/store/export.hpp"

#include <fmt/format.h>

#include "nnjoule/common/csv.hpp"

namespace nnjoule::store {
using nlohmann::json;
using nlohmann::ordered_json;

namespace {
std::string csv_field(const json& v) {
  if (v.is_null()) return "";  // an empty bare field; the empty string is written as ""
  if (v.is_number_integer()) return std::to_string(v.get<int64_t>());
  if (v.is_number_float()) return fmt::format("{}", v.get<double>());  // shortest round-trip
  return csv::escape(v.is_string() ? v.get<std::string>() : v.dump());
}
}  // namespace

std::string to_csv(const TableDump& table) {
  std::string out;
  for (size_t i = 0; i < table.columns.size(); ++i) {
    if (i) out += ',';
    out += csv_field(table.columns[i]);
  }
  out += "\r\n";
  for (const auto& row : table.rows) {
    for (size_t i = 0; i < row.size(); ++i) {
      if (i) out += ',';
      out += csv_field(row[i]);
    }
    out += "\r\n";
  }
  return out;
}

ordered_json to_json(const Store& store, const std::vector<TableDump>& tables) {
  ordered_json j;
  j["path"] = store.path().string();
  j["schema_version"] = store.schema_version();
  j["tables"] = ordered_json::object();
  for (const auto& t : tables) {
    ordered_json rows = ordered_json::array();
    for (const auto& r : t.rows) {
      ordered_json o = ordered_json::object();
      for (size_t i = 0; i < t.columns.size(); ++i) o[t.columns[i]] = r[i];
      rows.push_back(std::move(o));
    }
    j["tables"][t.name] = std::move(rows);
  }
  return j;
}

std::vector<std::vector<std::optional<std::string>>> parse_csv(const std::string& text,
                                                               const std::string& context) {
  std::vector<std::vector<std::optional<std::string>>> rows;
  csv::Reader reader(text, context);
  csv::Row row;
  while (reader.next(row)) {
    auto& out = rows.emplace_back();
    out.reserve(row.fields.size());
    for (auto& f : row.fields) {
      if (f.text.empty() && !f.quoted) {
        out.emplace_back(std::nullopt);
      } else {
        out.emplace_back(std::move(f.text));
      }
    }
  }
  return rows;
}

}  // namespace nnjoule::store
