#include "nnjoule/common/table.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>

#include "nnjoule/common/error.hpp"
#include "nnjoule/common/text.hpp"

namespace nnjoule {

TextTable::TextTable(std::vector<std::string> header, std::vector<Align> align)
    : header_(std::move(header)), align_(std::move(align)) {
  align_.resize(header_.size(), Align::kLeft);
}

void TextTable::add_row(std::vector<std::string> row) {
  if (row.size() != header_.size()) {
    fail("table row has {} cells, header has {}", row.size(), header_.size());
  }
  for (auto& cell : row) cell = printable(cell);  // names from files are bytes
  rows_.push_back(std::move(row));
}

void TextTable::add_separator() {
  rows_.emplace_back();
}

std::string TextTable::render() const {
  std::vector<size_t> width(header_.size());
  for (size_t c = 0; c < header_.size(); ++c) width[c] = header_[c].size();
  for (const auto& r : rows_)
    for (size_t c = 0; c < r.size(); ++c) width[c] = std::max(width[c], r[c].size());
  auto line = [&](const std::vector<std::string>& r) {
    std::string s;
    for (size_t c = 0; c < r.size(); ++c) {
      if (c) s += "  ";
      const size_t pad = width[c] - r[c].size();
      if (align_[c] == Align::kRight)
        s += std::string(pad, ' ') + r[c];
      else if (c + 1 < r.size())
        s += r[c] + std::string(pad, ' ');
      else
        s += r[c];
    }
    return s + "\n";
  };
  size_t total = 0;
  for (size_t w : width) total += w + 2;
  const std::string rule(total > 2 ? total - 2 : 0, '-');
  std::string out = line(header_) + rule + "\n";
  for (const auto& r : rows_) out += r.empty() ? rule + "\n" : line(r);
  return out;
}

std::string format_number(double v, int significant) {
  if (!std::isfinite(v)) return std::isnan(v) ? "n/a" : (v > 0 ? "inf" : "-inf");
  if (v == 0) return "0";
  const int mag = static_cast<int>(std::floor(std::log10(std::fabs(v))));
  const int decimals = std::clamp(significant - 1 - mag, 0, 6);
  return fmt::format("{:.{}f}", v, decimals);
}

std::string format_count(double v) {
  const double a = std::fabs(v);
  if (a >= 1e9) return fmt::format("{:.2f}G", v / 1e9);
  if (a >= 1e6) return fmt::format("{:.2f}M", v / 1e6);
  if (a >= 1e3) return fmt::format("{:.1f}K", v / 1e3);
  return fmt::format("{:.0f}", v);
}

}  // namespace nnjoule
