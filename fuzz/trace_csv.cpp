// External power-monitor traces (Monsoon and time,power CSV).
#include "fuzz.hpp"
#include "nnjoule/meter/meters.hpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  return nnjoule::fuzz::guarded([&] {
    (void)nnjoule::meter::parse_trace_csv(std::string(nnjoule::fuzz::bytes(data, size)),
                                          "fuzz.csv");
  });
}
