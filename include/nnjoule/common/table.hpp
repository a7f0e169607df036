#pragma once
// Plain-text tables for the command line: columns padded to their widest cell.
#include <string>
#include <vector>

namespace nnjoule {

class TextTable {
 public:
  enum class Align { kLeft, kRight };
  explicit TextTable(std::vector<std::string> header, std::vector<Align> align = {});
  void add_row(std::vector<std::string> row);
  void add_separator();
  std::string render() const;
  size_t rows() const { return rows_.size(); }

 private:
  std::vector<std::string> header_;
  std::vector<Align> align_;
  std::vector<std::vector<std::string>> rows_;  // an empty row is a separator
};

// Number formatting shared by every table: fixed decimals chosen by magnitude.
std::string format_number(double v, int significant = 4);
// "12.3M", "4.56G": counts with an SI suffix.
std::string format_count(double v);

}  // namespace nnjoule
