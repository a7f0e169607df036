#pragma once
// Importers of published datasets: DeepEn2023's kernel energy release and nn-Meter's benchmark
// dataset (jsonl records of nn-Meter IR graphs with per-device latencies). Rows are stored as
// `imported (<dataset>)`. Formats: docs/datasets.md.
#include <nlohmann/json.hpp>

#include <cstdint>
#include <filesystem>
#include <map>
#include <string>
#include <vector>

#include "nnjoule/graph/graph.hpp"
#include "nnjoule/store/store.hpp"

namespace nnjoule::store {

// ---- DeepEn2023 ---------------------------------------------------------------------------

struct DeepEnOptions {
  // Power outside this range is flagged "implausible_power" (kept, never dropped).
  double min_power_mw = 300;
  double max_power_mw = 4000;
  std::string command;  // recorded with the run
};

struct DeepEnReport {
  struct TypeCount {
    int64_t rows = 0;         // IDs with energy, power and latency
    int64_t with_config = 0;  // of those, IDs with a configuration
    int64_t flagged = 0;
    int64_t stored = 0;  // new rows written (re-imports skip what is stored)
  };
  std::map<std::string, TypeCount> by_type;  // canonical type -> counts
  int64_t rows = 0, with_config = 0, without_config = 0, flagged = 0, stored = 0;
  int64_t already_stored = 0;
  int64_t device_id = 0, run_id = 0;
  // "concat JAWP59: power 2141324.31 mW outside 300..4000 mW (implausible_power)"
  std::vector<std::string> flags;
  // IDs measured in only one or two of the energy/power/latency files.
  std::vector<std::string> incomplete;
  // Config files whose kernels have no measurements (conv-bn-relu6, ...), with their row counts.
  std::map<std::string, int64_t> unmeasured_configs;
  // Rows with a config whose FLOPs/params/bytes nnjoule could not count (kept, no features).
  std::vector<std::string> unfeatured;
  // Malformed files or entries: "<file>: <key>: <problem>"; the rest was imported.
  std::vector<std::string> errors;

  std::string to_text() const;
  nlohmann::json to_json() const;
};

// The device DeepEn2023 describes: Huawei P40 Pro, Kirin 990 5G, Cortex-A76 CPU, TFLite,
// one thread.
Device deepen2023_device();

// DeepEn2023's config keys in nnjoule's form: CIN1..CIN4 zeros dropped and NS added for concat,
// pooling's STRIDES (always equal to POOL_STRIDES) dropped.
kernels::KernelConfig normalize_deepen2023_config(const std::string& type,
                                                  const kernels::KernelConfig& raw);

// Reads DIR (Kernel_energy/, Kernel_power/, Kernel_latency/, kernel_config/) and stores every
// ID measured in all three files, in one transaction. Throws Error when DIR is not a DeepEn2023
// release; a malformed file or entry is reported in `errors` and the rest imported.
DeepEnReport import_deepen2023(Store& store, const std::filesystem::path& dir,
                               const DeepEnOptions& options = {});

// ---- nn-Meter -----------------------------------------------------------------------------

struct NnMeterOptions {
  std::string command;
};

struct NnMeterReport {
  int64_t records = 0;       // lines read
  int64_t models = 0;        // records converted
  int64_t measurements = 0;  // model-level latency rows stored
  int64_t already_stored = 0;
  int64_t unknown_op_models = 0;               // models with ops no kernel type covers
  std::map<std::string, int64_t> by_device;    // latency field -> rows
  std::map<std::string, int64_t> unknown_ops;  // op type -> occurrences
  std::vector<std::string> errors;             // "<file>:<line>: <problem>" (record skipped)
  std::string to_text() const;
  nlohmann::json to_json() const;
};

// The device behind one of nn-Meter's latency fields ("cortexA76cpu_tflite21" -> Pixel 4,
// Cortex-A76 CPU, TFLite 2.1); unknown fields become a device named after the field.
Device nnmeter_device(const std::string& field);

// Reads a jsonl file of {"id", "graph", "<device field>": latency_ms or null, ...} records;
// every record becomes a model (kernels detected with the default fusion rules) and every
// non-null latency a model-level row. Stored in one transaction. A malformed line is reported
// and skipped.
NnMeterReport import_nnmeter(Store& store, const std::filesystem::path& jsonl,
                             const NnMeterOptions& options = {});

}  // namespace nnjoule::store
