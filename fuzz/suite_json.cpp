// Application suite files (`nnjoule apps --suite FILE`).
#include "fuzz.hpp"
#include "nnjoule/zoo/suite.hpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  return nnjoule::fuzz::guarded([&] {
    (void)nnjoule::zoo::parse_suite_json(std::string(nnjoule::fuzz::bytes(data, size)),
                                         "fuzz.json");
  });
}
