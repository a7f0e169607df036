// One nn-Meter dataset record's graph (its IR, JSON) converted to nnjoule's graph.
#include <nlohmann/json.hpp>

#include "fuzz.hpp"
#include "nnjoule/graph/nnmeter_ir.hpp"
#include "nnjoule/kernels/detect.hpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const auto ir = nlohmann::json::parse(nnjoule::fuzz::bytes(data, size), nullptr, false);
  if (ir.is_discarded()) return 0;  // not JSON: the importer's JSON reader says so
  return nnjoule::fuzz::guarded([&] {
    const auto g = nnjoule::graph::from_nnmeter_ir(ir, "fuzz.jsonl:1");
    (void)nnjoule::kernels::detect_kernels(g);
  });
}
