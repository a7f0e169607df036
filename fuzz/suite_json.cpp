// Application suite files (`nnjoule bench --suite FILE`).
#include "fuzz.hpp"
#include "nnjoule/score/suite.hpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  return nnjoule::fuzz::guarded([&] {
    (void)nnjoule::score::parse_suite_json(std::string(nnjoule::fuzz::bytes(data, size)),
                                           "fuzz.json");
  });
}
