#include "nnjoule/store/export.hpp"

#include <fmt/format.h>

#include "nnjoule/common/error.hpp"

namespace nnjoule::store {
using nlohmann::json;
using nlohmann::ordered_json;

namespace {
std::string csv_field(const json& v) {
  if (v.is_null()) return "";
  if (v.is_number_integer()) return std::to_string(v.get<int64_t>());
  if (v.is_number_float()) return fmt::format("{}", v.get<double>());  // shortest round-trip
  const std::string s = v.is_string() ? v.get<std::string>() : v.dump();
  if (!s.empty() && s.find_first_of(",\"\r\n") == std::string::npos) return s;
  std::string q = "\"";
  for (char c : s) {
    if (c == '"') q += '"';
    q += c;
  }
  return q + "\"";
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
  std::vector<std::optional<std::string>> row;
  std::string field;
  bool quoted = false, in_quotes = false, any = false;
  int64_t line = 1;
  auto end_field = [&] {
    if (field.empty() && !quoted) {
      row.push_back(std::nullopt);
    } else {
      row.push_back(field);
    }
    field.clear();
    quoted = false;
  };
  for (size_t i = 0; i < text.size(); ++i) {
    const char c = text[i];
    any = true;
    if (in_quotes) {
      if (c == '"') {
        if (i + 1 < text.size() && text[i + 1] == '"') {
          field += '"';
          ++i;
        } else {
          in_quotes = false;
        }
      } else {
        if (c == '\n') ++line;
        field += c;
      }
      continue;
    }
    if (c == '"') {
      if (!field.empty() || quoted) fail("{}:{}: stray quote inside a field", context, line);
      in_quotes = quoted = true;
    } else if (c == ',') {
      end_field();
    } else if (c == '\r' || c == '\n') {
      if (c == '\r' && i + 1 < text.size() && text[i + 1] == '\n') ++i;
      end_field();
      rows.push_back(std::move(row));
      row.clear();
      any = false;
      ++line;
    } else {
      if (quoted) fail("{}:{}: text after a closing quote", context, line);
      field += c;
    }
  }
  if (in_quotes) fail("{}:{}: unterminated quoted field", context, line);
  if (any) {
    end_field();
    rows.push_back(std::move(row));
  }
  return rows;
}

}  // namespace nnjoule::store
