// /proc/stat as the estimate meter and the busy-host check read it.
#include "fuzz.hpp"
#include "nnjoule/meter/meters.hpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  return nnjoule::fuzz::guarded([&] {
    (void)nnjoule::meter::parse_cpu_ticks(nnjoule::fuzz::bytes(data, size), "fuzz/stat");
  });
}
