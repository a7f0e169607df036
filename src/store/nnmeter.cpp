// nn-Meter benchmark dataset: jsonl records {"id", "graph" (nn-Meter IR), one latency field per
// device}. Every record becomes a model (graph -> kernels) and every latency a model-level row.
#include <fmt/format.h>

#include <cmath>
#include <fstream>
#include <set>
#include <unordered_set>

#include "nnjoule/common/error.hpp"
#include "nnjoule/common/io.hpp"
#include "nnjoule/common/json.hpp"
#include "nnjoule/common/table.hpp"
#include "nnjoule/graph/nnmeter_ir.hpp"
#include "nnjoule/kernels/detect.hpp"
#include "nnjoule/store/importers.hpp"

namespace nnjoule::store {
namespace fs = std::filesystem;
using nlohmann::json;

namespace {
constexpr const char* kDataset = "nn-Meter";
// Records per transaction: each batch is stored whole or not at all, and a re-run skips what
// is stored, so an interrupted import of a 5 000-model file resumes.
constexpr size_t kBatch = 500;
}  // namespace

Device nnmeter_device(const std::string& field) {
  struct Known {
    const char* field;
    const char* name;
    const char* processor;
    const char* runtime;
  };
  static const Known known[] = {
      {"cortexA76cpu_tflite21", "Google Pixel 4", "Cortex-A76 CPU", "TFLite 2.1 (CPU)"},
      {"adreno640gpu_tflite21", "Xiaomi Mi 9", "Adreno 640 GPU", "TFLite 2.1 (GPU delegate)"},
      {"adreno630gpu_tflite21", "Google Pixel 3 XL", "Adreno 630 GPU", "TFLite 2.1 (GPU delegate)"},
      {"myriadvpu_openvino2019r2", "Intel Movidius NCS2", "Myriad VPU", "OpenVINO 2019 R2"},
  };
  Device d;
  d.details = {{"dataset", kDataset}, {"latency_field", field}};
  for (const auto& k : known) {
    if (field == k.field) {
      d.name = k.name;
      d.cpu = k.processor;
      d.runtime = k.runtime;
      return d;
    }
  }
  d.name = field;  // a field nnjoule has no description of: named after itself
  return d;
}

NnMeterReport import_nnmeter(Store& store, const fs::path& jsonl, const NnMeterOptions& options) {
  require_regular_file(jsonl);
  std::ifstream in(jsonl, std::ios::binary);
  if (!in) fail("{}: cannot open", jsonl.string());
  const std::string family = jsonl.stem().string();

  NnMeterReport report;
  std::map<std::string, int64_t> device_ids, run_ids;
  std::map<int64_t, std::unordered_set<std::string>> stored_keys;
  std::vector<std::pair<Model, std::vector<ModelRow>>> batch;
  std::set<std::string> ignored_keys;
  std::set<std::pair<int64_t, std::string>> queued;  // keys of this import

  auto device_for = [&](const std::string& field) {
    auto it = device_ids.find(field);
    if (it != device_ids.end()) return it->second;
    const int64_t id = store.ensure_device(nnmeter_device(field));
    device_ids[field] = id;
    stored_keys[id] = store.model_keys(id);
    return id;
  };
  auto run_for = [&](const std::string& field, int64_t device_id) {
    auto it = run_ids.find(field);
    if (it != run_ids.end()) return it->second;
    Run run;
    run.device_id = device_id;
    run.kind = "import";
    run.provenance = {Origin::kImported, kDataset};
    run.settings = {{"file", fs::absolute(jsonl).string()}, {"latency_field", field}};
    run.command = options.command;
    const int64_t id = store.begin_run(run);
    run_ids[field] = id;
    return id;
  };
  auto flush = [&] {
    if (batch.empty()) return;
    store.add_model_measurements(batch);
    for (const auto& [m, rows] : batch) {
      for (const auto& r : rows) stored_keys[r.device_id].insert(r.key);
      report.measurements += static_cast<int64_t>(rows.size());
    }
    batch.clear();
  };

  try {
    std::string line;
    int64_t line_no = 0;
    while (std::getline(in, line)) {
      ++line_no;
      if (line.find_first_not_of(" \t\r") == std::string::npos) continue;
      ++report.records;
      const std::string where = fmt::format("{}:{}", jsonl.string(), line_no);
      try {
        const json rec = parse_json(line, where);
        if (!rec.is_object()) fail("{}: a record must be an object", where);
        if (!rec.contains("id")) fail("{}: missing key 'id'", where);
        if (!rec.contains("graph")) fail("{}: missing key 'graph'", where);
        const std::string id =
            rec.at("id").is_string() ? rec.at("id").get<std::string>() : rec.at("id").dump();
        std::vector<std::pair<std::string, double>> latencies;
        for (const auto& [key, value] : rec.items()) {
          if (key == "id" || key == "graph") continue;
          if (value.is_null()) continue;  // not measured on that device
          if (!value.is_number()) {
            ignored_keys.insert(key);
            continue;
          }
          const double ms = value.get<double>();
          if (!(ms > 0) || !std::isfinite(ms)) {
            fail("{}: '{}' must be a positive latency in ms, got {}", where, key, value.dump());
          }
          latencies.emplace_back(key, ms);
        }
        const graph::Graph g = graph::from_nnmeter_ir(rec.at("graph"), where + ": graph");
        const auto ks = kernels::detect_kernels(g);
        const auto totals = kernels::summarize(g, ks);
        Model m;
        m.hash = content_hash(rec.at("graph").dump());  // keys sorted: a stable text
        m.hash_kind = "nnmeter-ir";
        m.name = id;
        m.family = family;
        m.source_id = id;
        m.flops = totals.flops;
        m.params = totals.params;
        m.bytes = totals.bytes;
        const auto in_shape = g.shape(g.inputs.at(0));
        if (in_shape.size() == 4) m.resolution = in_shape[2];
        for (const auto& k : ks) {
          m.kernels.push_back({k.type, k.name, k.config, k.flops, k.params, k.bytes});
        }
        for (const auto& [op, node] : totals.unknown_ops) {
          m.unknown_ops.push_back(op + " " + node);
          report.unknown_ops[op]++;
        }
        if (!totals.unknown_ops.empty()) ++report.unknown_op_models;
        ++report.models;
        std::vector<ModelRow> rows;
        for (const auto& [field, ms] : latencies) {
          const int64_t device_id = device_for(field);
          ModelRow r;
          r.device_id = device_id;
          r.key = fmt::format("nnmeter/{}/{}", family, id);
          if (queued.count({device_id, r.key})) {
            fail("{}: record id '{}' appears twice in the file", where, id);
          }
          if (stored_keys[device_id].count(r.key)) {
            ++report.already_stored;
            continue;
          }
          queued.insert({device_id, r.key});
          r.run_id = run_for(field, device_id);
          r.m.latency_ms = ms;
          r.m.provenance = {Origin::kImported, kDataset};
          rows.push_back(std::move(r));
          report.by_device[field]++;
        }
        if (!rows.empty()) batch.emplace_back(std::move(m), std::move(rows));
        if (batch.size() >= kBatch) flush();
      } catch (const Error& e) {
        report.errors.push_back(e.what());
      }
    }
    if (in.bad()) fail("{}: read error", jsonl.string());
    flush();
  } catch (...) {
    for (const auto& [field, id] : run_ids) store.end_run(id, "failed");
    throw;
  }
  for (const auto& [field, id] : run_ids) store.end_run(id, "complete");
  for (const auto& k : ignored_keys) {
    report.errors.push_back(
        fmt::format("{}: key '{}' is not a latency (not a number); ignored", jsonl.string(), k));
  }
  if (report.records == 0) fail("{}: no records", jsonl.string());
  return report;
}

std::string NnMeterReport::to_text() const {
  std::string s = fmt::format(
      "imported (nn-Meter): {} records, {} models converted, {} latency rows stored, {} already "
      "stored\n",
      records, models, measurements, already_stored);
  if (!by_device.empty()) {
    TextTable t({"latency field", "device", "rows"},
                {TextTable::Align::kLeft, TextTable::Align::kLeft, TextTable::Align::kRight});
    for (const auto& [field, n] : by_device) {
      const Device d = nnmeter_device(field);
      t.add_row({field, d.name + (d.cpu.empty() ? "" : ", " + d.cpu), std::to_string(n)});
    }
    s += t.render();
  }
  if (!unknown_ops.empty()) {
    s += fmt::format("{} models have ops no kernel type covers (kept as unknown:<op> kernels):",
                     unknown_op_models);
    for (const auto& [op, n] : unknown_ops) s += fmt::format(" {} ({})", op, n);
    s += "\n";
  }
  return s;
}

json NnMeterReport::to_json() const {
  return {{"origin", "imported (nn-Meter)"},
          {"records", records},
          {"models", models},
          {"measurements", measurements},
          {"already_stored", already_stored},
          {"by_device", by_device},
          {"unknown_op_models", unknown_op_models},
          {"unknown_ops", unknown_ops},
          {"errors", errors}};
}

}  // namespace nnjoule::store
