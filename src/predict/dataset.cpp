#include "nnjoule/predict/dataset.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cctype>
#include <charconv>
#include <map>
#include <nlohmann/json.hpp>
#include <set>

#include "nnjoule/common/csv.hpp"
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

FeatureSet KernelDataset::resolve(FeatureSet set) const {
  if (set != FeatureSet::kAuto) return set;
  const bool in_models = std::any_of(samples.begin(), samples.end(),
                                     [](const KernelSample& s) { return !s.model.empty(); });
  // Clock features only where the rows ran at more than one (clock, capacity): on one clock
  // they are constant and would only tie every prediction to that clock being given.
  std::set<std::pair<double, double>> places;
  for (const auto& s : samples)
    if (s.context.cpu_mhz) places.emplace(*s.context.cpu_mhz, s.context.cpu_capacity.value_or(-1));
  if (places.size() > 1) return in_models ? FeatureSet::kFullModelClock : FeatureSet::kFullClock;
  return in_models ? FeatureSet::kFullModel : FeatureSet::kFull;
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

std::vector<KernelRow> parse_kernel_csv(std::string_view text, const std::string& source) {
  csv::Reader reader(text, source, {.trim = true, .skip_blank = true});
  csv::Row row;
  if (!reader.next(row)) fail("{}: empty CSV (expected a header row)", source);
  const int head_line = row.line;
  std::vector<std::string> header;
  for (auto& f : row.fields) header.push_back(std::move(f.text));
  long type_col = -1, name_col = -1, dtype_col = -1;
  std::set<std::string> seen;
  for (size_t i = 0; i < header.size(); ++i) {
    const std::string& h = header[i];
    if (h.empty()) fail("{}:{}: column {} has an empty name", source, head_line, i + 1);
    if (!seen.insert(h).second) fail("{}:{}: column '{}' appears twice", source, head_line, h);
    if (h == "type" || h == "kernel") {
      if (type_col >= 0) fail("{}:{}: both 'type' and 'kernel' columns", source, head_line);
      type_col = static_cast<long>(i);
    } else if (h == "dtype") {
      dtype_col = static_cast<long>(i);
    } else if (h == "name" || h == "id") {
      if (name_col >= 0) fail("{}:{}: both 'name' and 'id' columns", source, head_line);
      name_col = static_cast<long>(i);
    }
  }
  if (type_col < 0) fail("{}:{}: no 'type' column (the kernel type)", source, head_line);
  std::vector<KernelRow> rows;
  while (reader.next(row)) {
    const auto& cells = row.fields;
    if (cells.size() != header.size()) {
      fail("{}:{}: {} cells, header has {}", source, row.line, cells.size(), header.size());
    }
    KernelRow r;
    r.type = kernels::canonical_kernel_type(cells[static_cast<size_t>(type_col)].text);
    if (r.type.empty()) fail("{}:{}: empty kernel type", source, row.line);
    r.name = name_col >= 0 ? cells[static_cast<size_t>(name_col)].text
                           : fmt::format("row{}", rows.size() + 1);
    if (dtype_col >= 0) {
      const std::string& d = cells[static_cast<size_t>(dtype_col)].text;
      if (!d.empty() && d != kernels::kFp32 && d != kernels::kInt8)
        fail("{}:{}: column dtype = '{}' (expected fp32 or int8)", source, row.line, d);
      r.type = kernels::kernel_key(r.type, d);
    }
    for (size_t i = 0; i < cells.size(); ++i) {
      if (static_cast<long>(i) == type_col || static_cast<long>(i) == name_col ||
          static_cast<long>(i) == dtype_col) {
        continue;
      }
      const std::string& cell = cells[i].text;
      if (cell.empty()) continue;
      int64_t v = 0;
      const char* b = cell.data();
      const char* e = b + cell.size();
      auto [ptr, ec] = std::from_chars(b, e, v);
      if (ec != std::errc() || ptr != e) {
        fail("{}:{}: column {} = '{}' is not an integer", source, row.line, header[i], cell);
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
