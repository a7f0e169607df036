#pragma once
// For the importer targets: a fresh dataset per input, and the rule that every problem an
// importer lists (and goes on past) is one line too.
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <string>
#include <vector>

#include "fuzz.hpp"
#include "nnjoule/store/store.hpp"

namespace nnjoule::fuzz {

inline store::Store fresh_store() {
  const std::filesystem::path db = std::filesystem::path(scratch_dir()) / "import.db";
  for (const char* end : {"", "-wal", "-shm", "-journal"})
    std::filesystem::remove(db.string() + end);
  return store::Store(db);
}

inline void check_listed(const std::vector<std::string>& problems) {
  for (const auto& p : problems) {
    if (p.empty() || p.find('\n') != std::string::npos) {
      std::fprintf(stderr, "fuzz: a listed problem that is not one line: '%s'\n", p.c_str());
      std::abort();
    }
  }
}

}  // namespace nnjoule::fuzz
