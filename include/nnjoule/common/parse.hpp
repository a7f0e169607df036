#pragma once
// The one number parser for text nnjoule reads (sysfs and procfs files, CSV fields, command-line
// values): a field is one number and nothing else. Spaces, tabs, CR and LF around it are
// allowed (sysfs values end with a newline); anything else, a unit, a second number, a prefix
// that happens to be a number ("1e6" is not the integer 1), is refused, never taken in part.
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace nnjoule {

// One integer in `base` (2..36; digits only, no "0x" prefix) with an optional sign: "42\n",
// " -7", "+3". nullopt for anything else, and for values past int64.
std::optional<int64_t> parse_integer(std::string_view text, int base = 10);
// One finite decimal number with an optional sign, fraction and exponent: "1.5", "-2e-3",
// ".5". nullopt for anything else: "inf", "nan", hexadecimal floats, values past double.
std::optional<double> parse_number(std::string_view text);

// As above, throwing Error "<what>: expected an integer, got '<text>'" (or "a number"); `what`
// names the file, line or field.
int64_t integer_field(std::string_view text, std::string_view what);
double number_field(std::string_view text, std::string_view what);

// `text` as an error message quotes it: trimmed, one printable line, at most 40 characters.
std::string quoted_field(std::string_view text);

}  // namespace nnjoule
