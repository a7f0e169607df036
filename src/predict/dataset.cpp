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
    case Target::kEnergy: return "energy_mj";
    case Target::kLatency: return "latency_ms";
    case Target::kPower: return "power_mw";
  }
  return "energy_mj";
}

std::string_view target_unit(Target t) {
  switch (t) {
    case Target::kEnergy: return "mJ";
    case Target::kLatency: return "ms";
    case Target::kPower: return "mW";
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
    case Target::kEnergy: return energy_mj;
    case Target::kLatency: return latency_ms;
    case Target::kPower: return power_mw;
  }
  return std::nullopt;
}

void Targets::set(Target t, double v) {
  switch (t) {
    case Target::kEnergy: energy_mj = v; break;
    case Target::kLatency: latency_ms = v; break;
    case Target::kPower: power_mw = v; break;
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

// Ordered: config keys keep the file's order (HW, CIN, COUT, ...).
nlohmann::ordered_json parse_json_file(const fs::path& p) {
  const std::string text = read_file(p);
  try {
    return nlohmann::ordered_json::parse(text);
  } catch (const nlohmann::ordered_json::parse_error& e) {
    fail("{}: invalid JSON at byte {}", p.string(), e.byte);
  }
}

// DeepEn2023 writes numbers as strings ("2.981"); nn-Meter's profiler as "42.0 +- 1.0".
double parse_value(const nlohmann::ordered_json& v, const fs::path& file, const std::string& id,
                   const std::string& field) {
  if (v.is_number()) return v.get<double>();
  if (!v.is_string()) fail("{}: {}.{} is not a number", file.string(), id, field);
  const std::string s = v.get<std::string>();
  double out = 0;
  const char* b = s.data();
  while (b < s.data() + s.size() && std::isspace(static_cast<unsigned char>(*b))) ++b;
  auto [ptr, ec] = std::from_chars(b, s.data() + s.size(), out);
  if (ec != std::errc() || ptr == b) {
    fail("{}: {}.{} = '{}' is not a number", file.string(), id, field, s);
  }
  return out;
}

}  // namespace

KernelDataset read_deepen2023(const fs::path& dir) {
  if (!fs::is_directory(dir)) fail("{}: not a DeepEn2023 release directory", dir.string());
  for (const char* sub : {"Kernel_energy", "Kernel_latency", "Kernel_power", "kernel_config"}) {
    if (!fs::is_directory(dir / sub)) {
      fail("{}: not a DeepEn2023 release directory (no {}/)", dir.string(), sub);
    }
  }
  // kernel -> id -> config
  std::map<std::string, std::map<std::string, kernels::KernelConfig>> configs;
  std::vector<fs::path> config_files;
  for (const auto& e : fs::recursive_directory_iterator(dir / "kernel_config")) {
    if (e.is_regular_file() && e.path().extension() == ".json") config_files.push_back(e.path());
  }
  std::sort(config_files.begin(), config_files.end());
  for (const auto& f : config_files) {
    const auto j = parse_json_file(f);
    if (!j.is_object()) fail("{}: expected an object of kernels", f.string());
    for (const auto& [kernel, ids] : j.items()) {
      if (!ids.is_object()) fail("{}: {} is not an object of ids", f.string(), kernel);
      for (const auto& [id, entry] : ids.items()) {
        if (!entry.is_object() || !entry.contains("config") || !entry["config"].is_object()) {
          fail("{}: {}.{} has no config object", f.string(), kernel, id);
        }
        kernels::KernelConfig c;
        for (const auto& [key, v] : entry["config"].items()) {
          if (!v.is_number_integer()) {
            fail("{}: {}.{}.config.{} is not an integer", f.string(), kernel, id, key);
          }
          c.set(key, v.get<int64_t>());
        }
        configs[kernel][id] = std::move(c);
      }
    }
  }
  // kernel -> id -> targets
  std::map<std::string, std::map<std::string, Targets>> values;
  const std::pair<const char*, Target> files[] = {{"Kernel_energy", Target::kEnergy},
                                                  {"Kernel_latency", Target::kLatency},
                                                  {"Kernel_power", Target::kPower}};
  for (const auto& [sub, target] : files) {
    const std::string field = sub == std::string("Kernel_energy")    ? "energy"
                              : sub == std::string("Kernel_latency") ? "latency"
                                                                     : "power";
    std::vector<fs::path> paths;
    for (const auto& e : fs::directory_iterator(dir / sub)) {
      if (e.is_regular_file() && e.path().extension() == ".json") paths.push_back(e.path());
    }
    std::sort(paths.begin(), paths.end());
    for (const auto& f : paths) {
      const auto j = parse_json_file(f);
      if (!j.is_object()) fail("{}: expected an object of kernels", f.string());
      for (const auto& [kernel, ids] : j.items()) {
        if (!ids.is_object()) fail("{}: {} is not an object of ids", f.string(), kernel);
        for (const auto& [id, entry] : ids.items()) {
          if (!entry.is_object() || !entry.contains(field)) {
            fail("{}: {}.{} has no '{}'", f.string(), kernel, id, field);
          }
          const double v = parse_value(entry[field], f, kernel + "." + id, field);
          if (!(v > 0)) continue;  // nn-Meter drops zero labels too
          values[kernel][id].set(target, v);
        }
      }
    }
  }
  KernelDataset ds;
  ds.device = DeviceInfo{"Huawei P40 Pro (Kirin 990 5G, DeepEn2023)", "tflite-cpu", 1,
                         "deepen2023 (imported)"};
  ds.source = dir.string();
  const Provenance origin{Origin::kImported, "deepen2023"};
  for (const auto& [kernel, ids] : values) {
    auto cit = configs.find(kernel);
    if (cit == configs.end()) continue;
    const std::string type = kernels::canonical_kernel_type(kernel);
    for (const auto& [id, t] : ids) {
      auto it = cit->second.find(id);
      if (it == cit->second.end()) continue;  // measured but unconfigured: unusable
      KernelSample s;
      s.id = id;
      s.type = type;
      s.config = it->second;
      s.targets = t;
      s.energy_origin = origin;
      s.latency_origin = origin;
      ds.samples.push_back(std::move(s));
    }
  }
  if (ds.samples.empty()) fail("{}: no kernel has both a config and a measurement", dir.string());
  return ds;
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
