#pragma once
// The score tables on top of the common CSV tokenizer: a header row, columns found by name, and
// field accessors whose errors name the file, the line and the column.
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include "nnjoule/common/csv.hpp"
#include "nnjoule/score/scores.hpp"

namespace nnjoule::score::detail {

using CsvRow = csv::Row;

class CsvTable {
 public:
  // Reads a file whose first row is the header (values trimmed, blank lines skipped); throws
  // Error naming the file on malformed CSV, an empty file or a row whose field count differs
  // from the header's.
  static CsvTable read(const std::filesystem::path& path);
  static CsvTable parse(const std::string& text, const std::string& source);

  const std::string& source() const { return source_; }
  const std::vector<std::string>& header() const { return header_; }
  const std::vector<CsvRow>& rows() const { return rows_; }
  // Index of the first of `names` present in the header.
  std::optional<size_t> column(std::initializer_list<const char*> names) const;
  // As column() but throws Error naming the file and the expected names when none is present.
  size_t require(std::initializer_list<const char*> names) const;

  // Field accessors: errors read "<file>:<line>: column <n> (<name>): ...".
  std::string text(const CsvRow& row, size_t col) const;  // non-empty, trimmed
  // The whole field as one number within `range` (see check_plausible).
  double number(const CsvRow& row, size_t col, const Plausible& range) const;
  // As number(); an empty field: none.
  std::optional<double> optional_number(const CsvRow& row, size_t col,
                                        const Plausible& range) const;

 private:
  std::string where(const CsvRow& row, size_t col) const;
  std::string source_;
  std::vector<std::string> header_;
  std::vector<CsvRow> rows_;
};

}  // namespace nnjoule::score::detail
