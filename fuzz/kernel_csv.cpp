// The kernel list `nnjoule predict --kernels` reads.
#include "fuzz.hpp"
#include "nnjoule/predict/dataset.hpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  return nnjoule::fuzz::guarded([&] {
    (void)nnjoule::predict::parse_kernel_csv(nnjoule::fuzz::bytes(data, size), "fuzz.csv");
  });
}
