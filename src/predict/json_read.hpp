#pragma once
// Reading JSON that is untrusted input (predictor bundles, XGBoost models, manifests): every
// failure, a syntax error, a number no double holds (1e999), a wrong type or a value out of
// range, is one Error line naming the file and the field.
#include <cstdint>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "nnjoule/common/json.hpp"

namespace nnjoule::predict::detail {

// Parses `text`; any failure is one Error naming `source`, the byte and the field.
using nnjoule::parse_json;

// One value inside a parsed document, read with checks; errors read
// "<source>: field <path>: <why>" (path like "fallback_rates.all.rows" or "trees[3].left").
class Field {
 public:
  Field(const nlohmann::json& j, const std::string& source, std::string path = "");

  const nlohmann::json& value() const { return *j_; }
  const std::string& path() const { return path_; }
  const std::string& source() const { return *source_; }
  // "<source>: field <path>" (or the source alone at the root): context for other readers.
  std::string where() const;
  [[noreturn]] void bad(std::string_view why) const;

  bool is_null() const { return j_->is_null(); }
  bool has(const std::string& key) const;  // an object member, present and not null
  Field at(const std::string& key) const;  // a required object member
  std::vector<std::pair<std::string, Field>> members() const;  // of an object
  std::vector<Field> elements() const;                         // of an array

  std::string text() const;  // a string without control characters
  bool boolean() const;
  double number() const;        // finite
  double positive() const;      // finite, > 0
  double non_negative() const;  // finite, >= 0
  double share() const;         // 0..1
  size_t count() const;         // an integer >= 0
  int64_t integer(int64_t lo, int64_t hi) const;
  std::optional<double> optional_positive(const std::string& key) const;  // absent or null: none
  std::vector<std::string> strings() const;

 private:
  std::string child_path(const std::string& key) const;
  const nlohmann::json* j_;
  const std::string* source_;
  std::string path_;
};

}  // namespace nnjoule::predict::detail
