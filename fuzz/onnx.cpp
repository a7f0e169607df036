// The ONNX importer, then kernel detection on whatever it accepts.
#include "nnjoule/graph/onnx.hpp"
#include "fuzz.hpp"
#include "nnjoule/kernels/detect.hpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  return nnjoule::fuzz::guarded([&] {
    const auto g =
        nnjoule::graph::load_onnx_bytes(std::string(nnjoule::fuzz::bytes(data, size)), "fuzz.onnx");
    (void)nnjoule::kernels::detect_kernels(g);
  });
}
