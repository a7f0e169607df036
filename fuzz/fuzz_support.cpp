#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <stdexcept>

#include "fuzz.hpp"

namespace nnjoule::fuzz {

const std::string& scratch_dir() {
  static const std::string dir = [] {
    std::string tmpl = (std::filesystem::temp_directory_path() / "nnjoule-fuzz-XXXXXX").string();
    if (!mkdtemp(tmpl.data())) throw std::runtime_error("fuzz: cannot make a scratch directory");
    // Removed at exit, so replaying the corpus in every test run leaves nothing in /tmp.
    // (A leaked copy: the handler runs after function-local statics are destroyed.)
    static const std::string* const leaked = new std::string(tmpl);
    std::atexit([] {
      std::error_code ec;
      std::filesystem::remove_all(*leaked, ec);
    });
    return tmpl;
  }();
  return dir;
}

}  // namespace nnjoule::fuzz
