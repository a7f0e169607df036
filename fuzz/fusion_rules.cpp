// Fusion rules in nn-Meter's JSON format.
#include "fuzz.hpp"
#include "nnjoule/kernels/fusion.hpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  return nnjoule::fuzz::guarded([&] {
    (void)nnjoule::kernels::FusionRules::from_json(nnjoule::fuzz::bytes(data, size), "fuzz.json");
  });
}
