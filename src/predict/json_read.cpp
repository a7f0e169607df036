#include "json_read.hpp"

#include <fmt/format.h>

#include <cmath>
#include <limits>

#include "nnjoule/common/error.hpp"
#include "nnjoule/common/json.hpp"

namespace nnjoule::predict::detail {

using nlohmann::json;

namespace {

bool printable(std::string_view s) {
  for (unsigned char c : s)
    if (c < 0x20 || c == 0x7f) return false;
  return true;
}

}  // namespace

Field::Field(const json& j, const std::string& source, std::string path)
    : j_(&j), source_(&source), path_(std::move(path)) {}

std::string Field::where() const {
  return path_.empty() ? *source_ : fmt::format("{}: field {}", *source_, path_);
}

void Field::bad(std::string_view why) const {
  fail("{}: {}", where(), why);
}

std::string Field::child_path(const std::string& key) const {
  return path_.empty() ? key : path_ + "." + key;
}

bool Field::has(const std::string& key) const {
  if (!j_->is_object()) return false;
  const auto it = j_->find(key);
  return it != j_->end() && !it->is_null();
}

Field Field::at(const std::string& key) const {
  if (!j_->is_object()) bad(fmt::format("expected an object, got {}", j_->type_name()));
  const auto it = j_->find(key);
  if (it == j_->end()) fail("{}: missing field {}", *source_, child_path(key));
  return Field(*it, *source_, child_path(key));
}

std::vector<std::pair<std::string, Field>> Field::members() const {
  if (!j_->is_object()) bad(fmt::format("expected an object, got {}", j_->type_name()));
  std::vector<std::pair<std::string, Field>> out;
  for (const auto& [k, v] : j_->items()) {
    if (!printable(k)) bad("a key holds control characters");
    out.emplace_back(k, Field(v, *source_, child_path(k)));
  }
  return out;
}

std::vector<Field> Field::elements() const {
  if (!j_->is_array()) bad(fmt::format("expected an array, got {}", j_->type_name()));
  std::vector<Field> out;
  for (size_t i = 0; i < j_->size(); ++i) {
    out.emplace_back((*j_)[i], *source_, fmt::format("{}[{}]", path_, i));
  }
  return out;
}

std::string Field::text() const {
  if (!j_->is_string()) bad(fmt::format("expected a string, got {}", j_->type_name()));
  const auto& s = j_->get_ref<const std::string&>();
  if (!printable(s)) bad("the string holds control characters");
  return s;
}

bool Field::boolean() const {
  if (!j_->is_boolean()) bad(fmt::format("expected true or false, got {}", j_->dump()));
  return j_->get<bool>();
}

double Field::number() const {
  if (!j_->is_number()) bad(fmt::format("expected a number, got {}", j_->type_name()));
  const double v = j_->get<double>();
  if (!std::isfinite(v)) bad(fmt::format("{} is not a finite number", j_->dump()));
  return v;
}

double Field::positive() const {
  const double v = number();
  if (!(v > 0)) bad(fmt::format("expected a positive number, got {}", j_->dump()));
  return v;
}

double Field::non_negative() const {
  const double v = number();
  if (v < 0) bad(fmt::format("expected a number >= 0, got {}", j_->dump()));
  return v;
}

double Field::share() const {
  const double v = number();
  if (v < 0 || v > 1) bad(fmt::format("expected a share between 0 and 1, got {}", j_->dump()));
  return v;
}

size_t Field::count() const {
  if (!j_->is_number_unsigned()) {
    bad(fmt::format("expected an integer >= 0, got {}", j_->is_string() ? "a string" : j_->dump()));
  }
  return static_cast<size_t>(j_->get<uint64_t>());
}

int64_t Field::integer(int64_t lo, int64_t hi) const {
  if (!j_->is_number_integer()) {
    bad(fmt::format("expected an integer, got {}", j_->is_string() ? "a string" : j_->dump()));
  }
  if (j_->is_number_unsigned() &&
      j_->get<uint64_t>() > static_cast<uint64_t>(std::numeric_limits<int64_t>::max())) {
    bad(fmt::format("expected an integer from {} to {}, got {}", lo, hi, j_->dump()));
  }
  const int64_t v = j_->get<int64_t>();
  if (v < lo || v > hi) bad(fmt::format("expected an integer from {} to {}, got {}", lo, hi, v));
  return v;
}

std::optional<double> Field::optional_positive(const std::string& key) const {
  if (!has(key)) return std::nullopt;
  return at(key).positive();
}

std::vector<std::string> Field::strings() const {
  std::vector<std::string> out;
  for (const Field& f : elements()) out.push_back(f.text());
  return out;
}

}  // namespace nnjoule::predict::detail
