// DeepEn2023 kernel release: energy, power and latency joined by kernel ID, with configs.
#include <fmt/format.h>

#include <algorithm>
#include <charconv>
#include <cmath>
#include <set>

#include "nnjoule/common/error.hpp"
#include "nnjoule/common/io.hpp"
#include "nnjoule/common/json.hpp"
#include "nnjoule/common/table.hpp"
#include "nnjoule/store/features.hpp"
#include "nnjoule/store/importers.hpp"

namespace nnjoule::store {
namespace fs = std::filesystem;
using nlohmann::json;
using nlohmann::ordered_json;

namespace {

constexpr const char* kDataset = "DeepEn2023";

struct Values {
  std::optional<double> energy_mj, power_mw, latency_ms;
};

struct ConfigEntry {
  kernels::KernelConfig raw;
  ordered_json raw_json;
  std::vector<graph::Shape> shapes;  // NCHW
};

// "2.981" or 2.981 -> 2.981; anything else is an error naming the file and the key.
double parse_value(const ordered_json& v, const std::string& where) {
  if (v.is_number()) return v.get<double>();
  if (!v.is_string()) fail("{}: expected a number as a string, got {}", where, v.dump());
  const std::string s = v.get<std::string>();
  double out = 0;
  const auto* end = s.data() + s.size();
  auto [p, ec] = std::from_chars(s.data(), end, out);
  if (ec != std::errc() || p != end || !std::isfinite(out)) {
    fail("{}: '{}' is not a number", where, s);
  }
  if (out < 0) fail("{}: negative value {}", where, s);
  return out;
}

ordered_json read_json(const fs::path& file) {
  const std::string text = read_file(file);
  return parse_ordered_json(text, file.string());
}

std::vector<fs::path> json_files(const fs::path& dir, bool recursive) {
  std::vector<fs::path> out;
  std::error_code ec;
  if (recursive) {
    for (auto it = fs::recursive_directory_iterator(dir, ec); !ec && it != fs::end(it);
         it.increment(ec))
      if (it->is_regular_file() && it->path().extension() == ".json") out.push_back(it->path());
  } else {
    for (auto it = fs::directory_iterator(dir, ec); !ec && it != fs::end(it); it.increment(ec))
      if (it->is_regular_file() && it->path().extension() == ".json") out.push_back(it->path());
  }
  if (ec) fail("{}: cannot list ({})", dir.string(), ec.message());
  std::sort(out.begin(), out.end());
  return out;
}

// [H, W, C] -> [1, C, H, W]; [C] -> [1, C]; other ranks kept with a leading batch.
graph::Shape nchw_from_hwc(const ordered_json& s, const std::string& where) {
  if (!s.is_array() || s.empty()) fail("{}: a shape must be a non-empty list", where);
  graph::Shape v;
  for (const auto& d : s) {
    if (!d.is_number_integer() || d.get<int64_t>() < 0)
      fail("{}: bad dimension {}", where, d.dump());
    v.push_back(d.get<int64_t>());
  }
  if (v.size() == 3) return {1, v[2], v[0], v[1]};
  v.insert(v.begin(), 1);
  return v;
}

const char* which_key(int kind) {
  static const char* keys[] = {"energy", "power", "latency"};
  return keys[kind];
}

}  // namespace

Device deepen2023_device() {
  Device d;
  d.name = "Huawei P40 Pro";
  d.soc = "Kirin 990 5G";
  d.cpu = "Cortex-A76";
  d.arch = "aarch64";
  d.os = "Android";
  d.runtime = "TFLite (CPU, 1 thread)";
  d.details = {{"dataset", kDataset},
               {"reference",
                "Tu et al., Unveiling Energy Efficiency in Deep Learning: Measurement, Prediction, "
                "and Scoring across Edge Devices, SEC 2023"},
               {"threads", 1}};
  return d;
}

kernels::KernelConfig normalize_deepen2023_config(const std::string& type,
                                                  const kernels::KernelConfig& raw) {
  kernels::KernelConfig c;
  if (type == "concat") {
    int64_t ns = 0;
    for (const auto& [k, v] : raw.items()) {
      if (k.rfind("CIN", 0) == 0 && v == 0) continue;  // absent inputs are written as 0
      c.set(k, v);
      if (k.rfind("CIN", 0) == 0) ++ns;
    }
    c.set("NS", ns);
    return c;
  }
  const bool pool = type == "maxpool" || type == "avgpool";
  for (const auto& [k, v] : raw.items()) {
    if (pool && k == "STRIDES" && raw.has("POOL_STRIDES")) continue;
    c.set(k, v);
  }
  return c;
}

DeepEnReport import_deepen2023(Store& store, const fs::path& dir, const DeepEnOptions& options) {
  std::error_code ec;
  if (!fs::is_directory(dir, ec)) fail("{}: no such directory", dir.string());
  const char* subdirs[] = {"Kernel_energy", "Kernel_power", "Kernel_latency"};
  for (const char* sub : subdirs) {
    if (!fs::is_directory(dir / sub, ec)) {
      fail(
          "{}: not a DeepEn2023 release (no {}/ directory; expected Kernel_energy/, "
          "Kernel_power/, Kernel_latency/ and kernel_config/)",
          dir.string(), sub);
    }
  }
  DeepEnReport report;

  // type -> ID -> values, in the order the files list them.
  std::map<std::string, std::map<std::string, Values>> measured;
  std::map<std::string, std::vector<std::string>> order;
  for (int kind = 0; kind < 3; ++kind) {
    for (const auto& file : json_files(dir / subdirs[kind], false)) {
      try {
        const ordered_json j = read_json(file);
        if (!j.is_object()) fail("{}: expected an object of kernels", file.string());
        for (const auto& [kernel, ids] : j.items()) {
          const std::string type = kernels::canonical_kernel_type(kernel);
          if (!kernels::find_kernel_type(type)) {
            report.errors.push_back(
                fmt::format("{}: kernel '{}' is not a kernel type nnjoule knows (skipped)",
                            file.string(), kernel));
            continue;
          }
          if (!ids.is_object()) {
            report.errors.push_back(
                fmt::format("{}: '{}' must map kernel IDs to values", file.string(), kernel));
            continue;
          }
          for (const auto& [id, entry] : ids.items()) {
            const std::string where = fmt::format("{}: {}/{}", file.string(), kernel, id);
            try {
              if (!entry.is_object() || !entry.contains(which_key(kind))) {
                fail("{}: missing key '{}'", where, which_key(kind));
              }
              const double v = parse_value(entry.at(which_key(kind)),
                                           fmt::format("{}: '{}'", where, which_key(kind)));
              auto& values = measured[type][id];
              auto& slot = kind == 0   ? values.energy_mj
                           : kind == 1 ? values.power_mw
                                       : values.latency_ms;
              if (!values.energy_mj && !values.power_mw && !values.latency_ms)
                order[type].push_back(id);
              if (slot) fail("{}: ID listed twice", where);
              slot = v;
            } catch (const Error& e) {
              report.errors.push_back(e.what());
            }
          }
        }
      } catch (const Error& e) {
        report.errors.push_back(e.what());
      }
    }
  }
  if (measured.empty() && report.errors.empty()) {
    fail("{}: no measurements found in Kernel_energy/, Kernel_power/ or Kernel_latency/",
         dir.string());
  }

  // Configs: (type, ID) -> config, from every file under kernel_config/.
  std::map<std::string, std::map<std::string, ConfigEntry>> configs;
  std::map<std::string, int64_t> config_counts;
  if (fs::is_directory(dir / "kernel_config", ec)) {
    for (const auto& file : json_files(dir / "kernel_config", true)) {
      try {
        const ordered_json j = read_json(file);
        if (!j.is_object()) fail("{}: expected an object of kernels", file.string());
        for (const auto& [kernel, ids] : j.items()) {
          const std::string type = kernels::canonical_kernel_type(kernel);
          if (!ids.is_object()) {
            report.errors.push_back(
                fmt::format("{}: '{}' must map kernel IDs to entries", file.string(), kernel));
            continue;
          }
          config_counts[kernel] += static_cast<int64_t>(ids.size());
          for (const auto& [id, entry] : ids.items()) {
            const std::string where = fmt::format("{}: {}/{}", file.string(), kernel, id);
            try {
              if (!entry.is_object() || !entry.contains("config")) {
                fail("{}: missing key 'config'", where);
              }
              ConfigEntry ce;
              ce.raw_json = entry.at("config");
              ce.raw = config_from_json(ce.raw_json, where);
              if (entry.contains("shapes")) {
                const auto& shapes = entry.at("shapes");
                if (!shapes.is_array()) fail("{}: 'shapes' must be a list", where);
                for (const auto& s : shapes)
                  ce.shapes.push_back(nchw_from_hwc(s, where + ": 'shapes'"));
              }
              configs[type][id] = std::move(ce);
            } catch (const Error& e) {
              report.errors.push_back(e.what());
            }
          }
        }
      } catch (const Error& e) {
        report.errors.push_back(e.what());
      }
    }
  } else {
    report.errors.push_back(
        fmt::format("{}: no kernel_config/ directory: every row is imported without a config",
                    (dir / "kernel_config").string()));
  }
  for (const auto& [kernel, n] : config_counts) {
    if (!measured.count(kernels::canonical_kernel_type(kernel)))
      report.unmeasured_configs[kernel] = n;
  }

  const int64_t device_id = store.ensure_device(deepen2023_device());
  const auto stored_keys = store.kernel_keys(device_id);
  std::vector<KernelRow> rows;
  for (const auto& [type, ids] : measured) {
    auto& tc = report.by_type[type];
    for (const auto& id : order[type]) {
      const Values& v = ids.at(id);
      if (!v.energy_mj || !v.power_mw || !v.latency_ms) {
        std::string missing;
        for (int kind = 0; kind < 3; ++kind) {
          const auto& slot = kind == 0 ? v.energy_mj : kind == 1 ? v.power_mw : v.latency_ms;
          if (!slot) missing += (missing.empty() ? "" : ", ") + std::string(which_key(kind));
        }
        report.incomplete.push_back(fmt::format("{} {}: no {}", type, id, missing));
        continue;
      }
      KernelRow r;
      r.device_id = device_id;
      r.key = fmt::format("deepen2023/{}/{}", type, id);
      r.source_id = id;
      r.kernel_type = type;
      r.threads = 1;
      r.m.energy_mj = v.energy_mj;
      r.m.power_mw = v.power_mw;
      r.m.latency_ms = v.latency_ms;
      r.m.provenance = {Origin::kImported, kDataset};
      ++tc.rows;
      ++report.rows;
      auto cit = configs.find(type);
      if (cit != configs.end() && cit->second.count(id)) {
        const ConfigEntry& ce = cit->second.at(id);
        r.config = normalize_deepen2023_config(type, ce.raw);
        r.source_config = ce.raw_json;
        r.input_shapes = ce.shapes;
        // Counted features from nnjoule's model of the config; a config the zoo cannot build
        // keeps its measurement and simply has no counted features.
        try {
          const kernels::Kernel k = describe_config(type, *r.config);
          r.flops = k.flops;
          r.params = k.params;
          r.bytes = k.bytes;
          r.output_shapes = k.output_shapes;
          if (r.input_shapes.empty()) r.input_shapes = k.input_shapes;
        } catch (const Error& e) {
          report.unfeatured.push_back(fmt::format("{} {}: {}", type, id, e.what()));
        }
        ++tc.with_config;
        ++report.with_config;
      } else {
        ++report.without_config;
      }
      // Quality checks: flag, keep.
      const double p = *v.power_mw, l = *v.latency_ms, e = *v.energy_mj;
      if (p < options.min_power_mw || p > options.max_power_mw) {
        r.m.flags.push_back("implausible_power");
        report.flags.push_back(
            fmt::format("{} {}: power {} mW outside {}..{} mW (implausible_power)", type, id, p,
                        options.min_power_mw, options.max_power_mw));
      }
      // The release rounds to 3 decimals; a mismatch beyond rounding is a broken row.
      const double expect = p * l / 1000.0;
      const double tolerance = std::max(0.001 + 0.0005 * p / 1000.0, 0.005 * e);
      if (std::abs(e - expect) > tolerance) {
        r.m.flags.push_back("energy_mismatch");
        const bool seconds = std::abs(e - p * l) <= std::max(1.0 * p / 1000.0, 0.01 * e);
        report.flags.push_back(
            fmt::format("{} {}: energy {} mJ != power {} mW x latency {} ms / 1000 = {} mJ{} "
                        "(energy_mismatch)",
                        type, id, e, p, l, format_number(expect),
                        seconds ? "; the latency looks like seconds" : ""));
      }
      if (!r.m.flags.empty()) {
        ++tc.flagged;
        ++report.flagged;
      }
      if (stored_keys.count(r.key)) {
        ++report.already_stored;
        continue;
      }
      ++tc.stored;
      rows.push_back(std::move(r));
    }
  }
  report.device_id = device_id;
  if (!rows.empty()) {
    Run run;
    run.device_id = device_id;
    run.kind = "import";
    run.provenance = {Origin::kImported, kDataset};
    run.settings = {{"directory", fs::absolute(dir).string()}, {"threads", 1}};
    run.command = options.command;
    report.run_id = store.begin_run(run);
    for (auto& r : rows) r.run_id = report.run_id;
    try {
      store.add_kernels(rows);
    } catch (...) {
      store.end_run(report.run_id, "failed");
      throw;
    }
    store.end_run(report.run_id, "complete");
    report.stored = static_cast<int64_t>(rows.size());
  }
  return report;
}

std::string DeepEnReport::to_text() const {
  std::string s;
  TextTable t({"kernel type", "rows", "with config", "flagged", "stored"},
              {TextTable::Align::kLeft, TextTable::Align::kRight, TextTable::Align::kRight,
               TextTable::Align::kRight, TextTable::Align::kRight});
  for (const auto& [type, c] : by_type) {
    t.add_row({type, std::to_string(c.rows), std::to_string(c.with_config),
               std::to_string(c.flagged), std::to_string(c.stored)});
  }
  t.add_separator();
  t.add_row({"total", std::to_string(rows), std::to_string(with_config), std::to_string(flagged),
             std::to_string(stored)});
  s += t.render();
  s += fmt::format(
      "imported (DeepEn2023): {} rows stored for device {} (Huawei P40 Pro, Cortex-A76, TFLite, 1 "
      "thread); {} already stored\n",
      stored, device_id, already_stored);
  s += fmt::format(
      "{} rows have no config: stored with their energy, power and latency but without features "
      "(not usable for training)\n",
      without_config);
  if (!flags.empty()) {
    s += fmt::format("{} rows flagged (kept, marked in the flags column):\n", flags.size());
    for (const auto& f : flags) s += "  " + f + "\n";
  }
  if (!incomplete.empty()) {
    s += fmt::format("{} IDs not in all three of energy/power/latency (not stored):\n",
                     incomplete.size());
    for (const auto& f : incomplete) s += "  " + f + "\n";
  }
  if (!unfeatured.empty()) {
    s += fmt::format("{} rows with a config have no counted features:\n", unfeatured.size());
    for (const auto& f : unfeatured) s += "  " + f + "\n";
  }
  if (!unmeasured_configs.empty()) {
    s += "config files without measurements (ignored):";
    for (const auto& [k, n] : unmeasured_configs) s += fmt::format(" {} ({})", k, n);
    s += "\n";
  }
  return s;
}

json DeepEnReport::to_json() const {
  json types = json::object();
  for (const auto& [type, c] : by_type) {
    types[type] = {{"rows", c.rows},
                   {"with_config", c.with_config},
                   {"flagged", c.flagged},
                   {"stored", c.stored}};
  }
  return {{"origin", "imported (DeepEn2023)"},
          {"device_id", device_id},
          {"run_id", run_id},
          {"rows", rows},
          {"with_config", with_config},
          {"without_config", without_config},
          {"flagged", flagged},
          {"stored", stored},
          {"already_stored", already_stored},
          {"by_type", types},
          {"flags", flags},
          {"incomplete", incomplete},
          {"unmeasured_configs", unmeasured_configs},
          {"unfeatured", unfeatured},
          {"errors", errors}};
}

}  // namespace nnjoule::store
