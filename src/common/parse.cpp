#include "nnjoule/common/parse.hpp"

#include <charconv>
#include <cmath>
#include <system_error>

#include "nnjoule/common/error.hpp"
#include "nnjoule/common/text.hpp"

namespace nnjoule {
namespace {

bool is_space(char c) {
  return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

std::string_view strip(std::string_view s) {
  while (!s.empty() && is_space(s.front())) s.remove_prefix(1);
  while (!s.empty() && is_space(s.back())) s.remove_suffix(1);
  return s;
}

// Drops one leading '+' (from_chars takes '-' only), unless a sign follows it.
bool strip_plus(std::string_view& s) {
  if (s.empty() || s.front() != '+') return true;
  s.remove_prefix(1);
  return !s.empty() && s.front() != '-' && s.front() != '+';
}

}  // namespace

std::optional<int64_t> parse_integer(std::string_view text, int base) {
  std::string_view s = strip(text);
  if (s.empty() || !strip_plus(s)) return std::nullopt;
  int64_t v = 0;
  const auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), v, base);
  if (ec != std::errc() || end != s.data() + s.size()) return std::nullopt;
  return v;
}

std::optional<double> parse_number(std::string_view text) {
  std::string_view s = strip(text);
  if (s.empty() || !strip_plus(s)) return std::nullopt;
  // from_chars also reads "inf", "nan" and "infinity": refused below, as non-finite.
  double v = 0;
  const auto [end, ec] =
      std::from_chars(s.data(), s.data() + s.size(), v, std::chars_format::general);
  if (ec != std::errc() || end != s.data() + s.size() || !std::isfinite(v)) return std::nullopt;
  return v;
}

std::string quoted_field(std::string_view text) {
  constexpr size_t kMax = 40;
  const std::string_view s = strip(text);
  if (s.size() <= kMax) return printable(s);
  return printable(s.substr(0, kMax)) + "...";
}

int64_t integer_field(std::string_view text, std::string_view what) {
  if (auto v = parse_integer(text)) return *v;
  fail("{}: expected an integer, got '{}'", what, quoted_field(text));
}

double number_field(std::string_view text, std::string_view what) {
  if (auto v = parse_number(text)) return *v;
  fail("{}: expected a number, got '{}'", what, quoted_field(text));
}

}  // namespace nnjoule
