// Device files (`--device-file FILE`: estimate coefficients, battery, INA and trace settings).
#include <fstream>

#include "fuzz.hpp"
#include "nnjoule/meter/meters.hpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string path = nnjoule::fuzz::scratch_dir() + "/device.json";
  std::ofstream(path, std::ios::binary | std::ios::trunc) << nnjoule::fuzz::bytes(data, size);
  return nnjoule::fuzz::guarded([&] { (void)nnjoule::meter::load_device_file(path); });
}
