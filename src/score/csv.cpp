#include "csv.hpp"

#include <cmath>
#include <cstdlib>

#include "nnjoule/common/error.hpp"
#include "nnjoule/common/io.hpp"

namespace nnjoule::score::detail {
namespace {

std::string trim(const std::string& s) {
  const auto b = s.find_first_not_of(" \t\r");
  if (b == std::string::npos) return "";
  const auto e = s.find_last_not_of(" \t\r");
  return s.substr(b, e - b + 1);
}

}  // namespace

CsvTable CsvTable::read(const std::filesystem::path& path) {
  return parse(read_file(path), path.string());
}

CsvTable CsvTable::parse(const std::string& text, const std::string& source) {
  CsvTable t;
  t.source_ = source;
  std::vector<CsvRow> rows;
  CsvRow row;
  std::string field;
  bool in_quotes = false, field_started = false;
  int line = 1;
  row.line = 1;
  size_t i = 0;
  // UTF-8 byte-order mark, as spreadsheet exports write it.
  if (text.rfind("\xEF\xBB\xBF", 0) == 0) i = 3;
  auto end_row = [&] {
    row.fields.push_back(field);
    field.clear();
    field_started = false;
    bool blank = row.fields.size() == 1 && trim(row.fields[0]).empty();
    if (!blank) rows.push_back(std::move(row));
    row = CsvRow{};
    row.line = line;
  };
  int quote_line = 0;
  for (; i < text.size(); ++i) {
    const char c = text[i];
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
    if (c == '"' && trim(field).empty()) {
      in_quotes = true;
      quote_line = line;
      field.clear();
      field_started = true;
    } else if (c == ',') {
      row.fields.push_back(field);
      field.clear();
      field_started = false;
    } else if (c == '\n') {
      ++line;
      end_row();
    } else {
      field += c;
      field_started = true;
    }
  }
  if (in_quotes) fail("{}:{}: unclosed quote", source, quote_line);
  if (field_started || !field.empty() || !row.fields.empty()) end_row();
  if (rows.empty()) fail("{}: empty file (expected a header row)", source);

  for (auto& f : rows[0].fields) t.header_.push_back(trim(f));
  for (size_t r = 1; r < rows.size(); ++r) {
    if (rows[r].fields.size() != t.header_.size()) {
      fail("{}:{}: {} fields, the header has {}", source, rows[r].line, rows[r].fields.size(),
           t.header_.size());
    }
    for (auto& f : rows[r].fields) f = trim(f);
    t.rows_.push_back(std::move(rows[r]));
  }
  return t;
}

std::optional<size_t> CsvTable::column(std::initializer_list<const char*> names) const {
  for (const char* n : names)
    for (size_t c = 0; c < header_.size(); ++c)
      if (header_[c] == n) return c;
  return std::nullopt;
}

size_t CsvTable::require(std::initializer_list<const char*> names) const {
  if (auto c = column(names)) return *c;
  std::string expected;
  for (const char* n : names) expected += (expected.empty() ? "'" : " or '") + std::string(n) + "'";
  fail("{}:1: missing column {} in the header", source_, expected);
}

std::string CsvTable::where(const CsvRow& row, size_t col) const {
  return source_ + ":" + std::to_string(row.line) + ": column " + std::to_string(col + 1) + " (" +
         header_[col] + ")";
}

std::string CsvTable::text(const CsvRow& row, size_t col) const {
  if (row.fields[col].empty()) fail("{}: empty", where(row, col));
  return row.fields[col];
}

double CsvTable::number(const CsvRow& row, size_t col, bool positive) const {
  const std::string& s = row.fields[col];
  if (s.empty()) fail("{}: empty (expected a number)", where(row, col));
  char* end = nullptr;
  const double v = std::strtod(s.c_str(), &end);
  if (end != s.c_str() + s.size() || !std::isfinite(v)) {
    fail("{}: '{}' is not a number", where(row, col), s);
  }
  if (positive && !(v > 0)) fail("{}: {} must be positive", where(row, col), s);
  return v;
}

std::optional<double> CsvTable::optional_number(const CsvRow& row, size_t col) const {
  if (row.fields[col].empty()) return std::nullopt;
  return number(row, col, false);
}

}  // namespace nnjoule::score::detail
