#include <unistd.h>

#include <filesystem>
#include <stdexcept>

#include "fuzz.hpp"

namespace nnjoule::fuzz {

const std::string& scratch_dir() {
  static const std::string dir = [] {
    std::string tmpl = (std::filesystem::temp_directory_path() / "nnjoule-fuzz-XXXXXX").string();
    if (!mkdtemp(tmpl.data())) throw std::runtime_error("fuzz: cannot make a scratch directory");
    return tmpl;
  }();
  return dir;
}

}  // namespace nnjoule::fuzz
