#pragma once
// The store's behaviour on every back end: backend_suite_test.cpp holds the tests,
// test_store runs them on SQLite files and test_store_pg on a PostgreSQL server
// (tests/store_pg/), each instantiating StoreBackend with its own Backend.
#include <gtest/gtest.h>

#include <atomic>
#include <filesystem>
#include <ostream>
#include <string>

#include "support/test_support.hpp"

namespace nnjoule::testing {

struct Backend {
  const char* name;
  // A new empty dataset for one test (`tmp` is the test's own directory): the --db value that
  // names it; empty with `skip` set when the back end cannot run here.
  std::string (*make)(const std::filesystem::path& tmp, const std::string& test, std::string* skip);
};

inline void PrintTo(const Backend& b, std::ostream* os) {
  *os << b.name;
}

class StoreBackend : public ::testing::TestWithParam<Backend> {
 protected:
  void SetUp() override {
    std::string skip;
    const auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
    static std::atomic<int> n{0};
    std::string name = "nnj" + std::to_string(++n) + "_";
    for (const char c : std::string(info->name()).substr(0, 40)) {
      name += std::isalnum(static_cast<unsigned char>(c))
                  ? static_cast<char>(std::tolower(static_cast<unsigned char>(c)))
                  : '_';
    }
    target_ = GetParam().make(tmp_.path(), name, &skip);
    if (target_.empty()) GTEST_SKIP() << skip;
  }
  // A second dataset of the same back end (merges, pushes).
  std::string another(const std::string& suffix) {
    std::string skip;
    return GetParam().make(tmp_.path(), "other_" + suffix, &skip);
  }
  const std::string& target() const { return target_; }
  bool postgres() const { return std::string(GetParam().name) == "PostgreSQL"; }

  TempDir tmp_;
  std::string target_;
};

inline std::string backend_name(const ::testing::TestParamInfo<Backend>& info) {
  return info.param.name;
}

}  // namespace nnjoule::testing
