// The back-end suite on SQLite files.
#include "store/backend_suite.hpp"

using nnjoule::testing::StoreBackend;

namespace {
std::string sqlite_file(const std::filesystem::path& tmp, const std::string& test, std::string*) {
  return (tmp / (test + ".db")).string();
}
}  // namespace

INSTANTIATE_TEST_SUITE_P(SQLite, StoreBackend,
                         ::testing::Values(nnjoule::testing::Backend{"SQLite", sqlite_file}),
                         nnjoule::testing::backend_name);
