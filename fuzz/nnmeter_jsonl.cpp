// The nn-Meter dataset importer: a jsonl file of {"id", "graph", "<device>": latency} records.
#include <fstream>

#include "importer_support.hpp"
#include "nnjoule/store/importers.hpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string path = nnjoule::fuzz::scratch_dir() + "/records.jsonl";
  std::ofstream(path, std::ios::binary | std::ios::trunc) << nnjoule::fuzz::bytes(data, size);
  return nnjoule::fuzz::guarded([&] {
    auto store = nnjoule::fuzz::fresh_store();
    const auto report = nnjoule::store::import_nnmeter(store, path);
    nnjoule::fuzz::check_listed(report.errors);
    (void)report.to_json();
  });
}
