#include "csv.hpp"

#include "nnjoule/common/error.hpp"
#include "nnjoule/common/io.hpp"
#include "nnjoule/common/parse.hpp"

namespace nnjoule::score::detail {

CsvTable CsvTable::read(const std::filesystem::path& path) {
  return parse(read_file(path), path.string());
}

CsvTable CsvTable::parse(const std::string& text, const std::string& source) {
  CsvTable t;
  t.source_ = source;
  csv::Reader reader(text, source, {.trim = true, .skip_blank = true});
  CsvRow row;
  if (!reader.next(row)) fail("{}: empty file (expected a header row)", source);
  for (auto& f : row.fields) t.header_.push_back(std::move(f.text));
  while (reader.next(row)) {
    if (row.fields.size() != t.header_.size()) {
      fail("{}:{}: {} fields, the header has {}", source, row.line, row.fields.size(),
           t.header_.size());
    }
    t.rows_.push_back(row);
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
  if (row.fields[col].text.empty()) fail("{}: empty", where(row, col));
  return row.fields[col].text;
}

double CsvTable::number(const CsvRow& row, size_t col, const Plausible& range) const {
  const std::string& s = row.fields[col].text;
  if (s.empty()) fail("{}: empty (expected a number)", where(row, col));
  // The whole field: no unit after it, no hexadecimal float, nothing strtod would skip.
  const auto v = parse_number(s);
  if (!v) fail("{}: '{}' is not a number", where(row, col), quoted_field(s));
  check_plausible(*v, range, where(row, col), "", s);
  return *v;
}

std::optional<double> CsvTable::optional_number(const CsvRow& row, size_t col,
                                                const Plausible& range) const {
  if (row.fields[col].text.empty()) return std::nullopt;
  return number(row, col, range);
}

}  // namespace nnjoule::score::detail
