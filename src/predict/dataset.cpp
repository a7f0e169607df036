#include "nnjoule/predict/dataset.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cctype>
#include <charconv>
#include <map>
#include <nlohmann/json.hpp>
#include <set>

#include "nnjoule/common/error.hpp"
#include "nnjoule/common/io.hpp"

namespace nnjoule::predict {

namespace fs = std::filesystem;
using nlohmann::json;

std::string_view target_name(Target t) {
  switch (t) {
    case Target::kEnergy:
      return "energy_mj";
    case Target::kLatency:
      return "latency_ms";
    case Target::kPower:
      return "power_mw";
  }
  return "energy_mj";
}

std::string_view target_unit(Target t) {
  switch (t) {
    case Target::kEnergy:
      return "mJ";
    case Target::kLatency:
      return "ms";
    case Target::kPower:
      return "mW";
  }
  return "mJ";
}

Target parse_target(std::string_view name) {
  if (name == "energy_mj" || name == "energy") return Target::kEnergy;
  if (name == "latency_ms" || name == "latency") return Target::kLatency;
  if (name == "power_mw" || name == "power") return Target::kPower;
  fail("unknown target '{}' (expected energy_mj, latency_ms or power_mw)", name);
}

std::optional<double> Targets::get(Target t) const {
  switch (t) {
    case Target::kEnergy:
      return energy_mj;
    case Target::kLatency:
      return latency_ms;
    case Target::kPower:
      return power_mw;
  }
  return std::nullopt;
}

void Targets::set(Target t, double v) {
  switch (t) {
    case Target::kEnergy:
      energy_mj = v;
      break;
    case Target::kLatency:
      latency_ms = v;
      break;
    case Target::kPower:
      power_mw = v;
      break;
  }
}

std::vector<std::string> KernelDataset::types() const {
  std::set<std::string> s;
  for (const auto& k : samples) s.insert(k.type);
  return {s.begin(), s.end()};
}

std::string KernelDataset::hash() const {
  std::vector<std::string> rows;
  rows.reserve(samples.size());
  for (const auto& k : samples) {
    std::string r = k.type + "|" + k.config.str();
    for (Target t : kAllTargets) {
      const auto v = k.targets.get(t);
      r += v ? fmt::format("|{:.9g}", *v) : "|-";
    }
    rows.push_back(std::move(r));
  }
  std::sort(rows.begin(), rows.end());
  std::string all;
  for (const auto& r : rows) all += r + "\n";
  return content_hash(all);
}

namespace {

std::vector<std::string> split_csv_line(std::string_view line, const std::string& source,
                                        size_t lineno) {
  std::vector<std::string> cells;
  std::string cur;
  bool quoted = false;
  for (size_t i = 0; i < line.size(); ++i) {
    const char ch = line[i];
    if (quoted) {
      if (ch == '"' && i + 1 < line.size() && line[i + 1] == '"') {
        cur += '"';
        ++i;
      } else if (ch == '"') {
        quoted = false;
      } else {
        cur += ch;
      }
    } else if (ch == '"') {
      quoted = true;
    } else if (ch == ',') {
      cells.push_back(cur);
      cur.clear();
    } else {
      cur += ch;
    }
  }
  if (quoted) fail("{}:{}: unterminated quote", source, lineno);
  cells.push_back(cur);
  for (auto& c : cells) {
    const auto b = c.find_first_not_of(" \t\r");
    const auto e = c.find_last_not_of(" \t\r");
    c = b == std::string::npos ? "" : c.substr(b, e - b + 1);
  }
  return cells;
}

}  // namespace

std::vector<KernelRow> parse_kernel_csv(std::string_view text, const std::string& source) {
  std::vector<std::string> lines;
  size_t pos = 0;
  while (pos <= text.size()) {
    const size_t nl = text.find('\n', pos);
    lines.emplace_back(text.substr(pos, nl == std::string_view::npos ? nl : nl - pos));
    if (nl == std::string_view::npos) break;
    pos = nl + 1;
  }
  size_t first = 0;
  while (first < lines.size() && lines[first].find_first_not_of(" \t\r") == std::string::npos) {
    ++first;
  }
  if (first == lines.size()) fail("{}: empty CSV (expected a header row)", source);
  const auto header = split_csv_line(lines[first], source, first + 1);
  long type_col = -1, name_col = -1;
  std::set<std::string> seen;
  for (size_t i = 0; i < header.size(); ++i) {
    const std::string& h = header[i];
    if (h.empty()) fail("{}:{}: column {} has an empty name", source, first + 1, i + 1);
    if (!seen.insert(h).second) fail("{}:{}: column '{}' appears twice", source, first + 1, h);
    if (h == "type" || h == "kernel") {
      if (type_col >= 0) fail("{}:{}: both 'type' and 'kernel' columns", source, first + 1);
      type_col = static_cast<long>(i);
    } else if (h == "name" || h == "id") {
      if (name_col >= 0) fail("{}:{}: both 'name' and 'id' columns", source, first + 1);
      name_col = static_cast<long>(i);
    }
  }
  if (type_col < 0) fail("{}:{}: no 'type' column (the kernel type)", source, first + 1);
  std::vector<KernelRow> rows;
  for (size_t li = first + 1; li < lines.size(); ++li) {
    if (lines[li].find_first_not_of(" \t\r") == std::string::npos) continue;
    const auto cells = split_csv_line(lines[li], source, li + 1);
    if (cells.size() != header.size()) {
      fail("{}:{}: {} cells, header has {}", source, li + 1, cells.size(), header.size());
    }
    KernelRow r;
    r.type = kernels::canonical_kernel_type(cells[static_cast<size_t>(type_col)]);
    if (r.type.empty()) fail("{}:{}: empty kernel type", source, li + 1);
    r.name = name_col >= 0 ? cells[static_cast<size_t>(name_col)]
                           : fmt::format("row{}", rows.size() + 1);
    for (size_t i = 0; i < cells.size(); ++i) {
      if (static_cast<long>(i) == type_col || static_cast<long>(i) == name_col) continue;
      if (cells[i].empty()) continue;
      int64_t v = 0;
      const char* b = cells[i].data();
      const char* e = b + cells[i].size();
      auto [ptr, ec] = std::from_chars(b, e, v);
      if (ec != std::errc() || ptr != e) {
        fail("{}:{}: column {} = '{}' is not an integer", source, li + 1, header[i], cells[i]);
      }
      r.config.set(header[i], v);
    }
    rows.push_back(std::move(r));
  }
  if (rows.empty()) fail("{}: no kernel rows after the header", source);
  return rows;
}

std::vector<KernelRow> read_kernel_csv(const fs::path& path) {
  return parse_kernel_csv(read_file(path), path.string());
}

}  // namespace nnjoule::predict
