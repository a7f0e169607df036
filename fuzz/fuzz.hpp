#pragma once
// Shared by the fuzz targets: an input may be refused only with nnjoule::Error, one line and
// not empty; any other exception escapes and aborts (libFuzzer reports it, the replay test
// fails), as do the sanitizers' findings.
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>

#include "nnjoule/common/error.hpp"

namespace nnjoule::fuzz {

inline std::string_view bytes(const uint8_t* data, size_t size) {
  return {reinterpret_cast<const char*>(data), size};
}

template <typename F>
int guarded(F&& f) {
  try {
    f();
  } catch (const Error& e) {
    const std::string m = e.what();
    if (m.empty() || m.find('\n') != std::string::npos) {
      std::fprintf(stderr, "fuzz: an error that is not one line: '%s'\n", m.c_str());
      std::abort();
    }
    // NNJOULE_FUZZ_VERBOSE=1: say why an input was refused (does a seed reach deep?).
    if (std::getenv("NNJOULE_FUZZ_VERBOSE")) std::fprintf(stderr, "refused: %s\n", m.c_str());
  }
  return 0;
}

// A temporary directory for targets that read files, made once per process.
const std::string& scratch_dir();

}  // namespace nnjoule::fuzz
