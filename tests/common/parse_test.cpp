// The shared whole-field number parser: a field is one number and nothing else, whitespace
// around it aside; a prefix that happens to be a number is refused, never taken.
#include "nnjoule/common/parse.hpp"

#include <gtest/gtest.h>

#include <functional>
#include <limits>

#include "nnjoule/common/error.hpp"
#include "support/test_support.hpp"

namespace nnjoule {
namespace {

using nnjoule::testing::error_of;

TEST(ParseInteger, WholeFieldWithSurroundingWhitespace) {
  EXPECT_EQ(parse_integer("262143328850\n"), 262143328850);
  EXPECT_EQ(parse_integer("  -42\t"), -42);
  EXPECT_EQ(parse_integer("+7"), 7);
  EXPECT_EQ(parse_integer("0\r\n"), 0);
  EXPECT_EQ(parse_integer("9223372036854775807"), std::numeric_limits<int64_t>::max());
  EXPECT_EQ(parse_integer("ff", 16), 255);
}

TEST(ParseInteger, RefusesPrefixesAndGarbage) {
  // "1e6" used to read as 1 (the digits before the 'e').
  for (const char* bad : {"1e6", "12abc", "1.5", "0x10", "1 2", "", " \n", "-", "+", "+-1", "abc",
                          "9223372036854775808"})
    EXPECT_FALSE(parse_integer(bad).has_value()) << bad;
  EXPECT_FALSE(parse_integer(std::string_view("7\0", 2)).has_value());
}

TEST(ParseNumber, WholeFieldFiniteNumbers) {
  EXPECT_DOUBLE_EQ(*parse_number("1e6\n"), 1e6);
  EXPECT_DOUBLE_EQ(*parse_number(" -2.5e-3 "), -2.5e-3);
  EXPECT_DOUBLE_EQ(*parse_number("+.5"), 0.5);
  EXPECT_DOUBLE_EQ(*parse_number("7"), 7);
  EXPECT_DOUBLE_EQ(*parse_number("2.3283064365386962890625e-10"), 2.3283064365386962890625e-10);
}

TEST(ParseNumber, RefusesPrefixesNonFiniteAndOutOfRange) {
  for (const char* bad : {"1.5W", "1,5", "3 4", "", "inf", "-inf", "nan", "NaN", "infinity",
                          "1e999", "-1e999", "0x1p3", "1e", "e5", "--1", "+-1", "1.2.3"})
    EXPECT_FALSE(parse_number(bad).has_value()) << bad;
}

TEST(NumberField, ErrorsNameTheFieldAndQuoteTheText) {
  EXPECT_EQ(integer_field(" 1000000\n", "x"), 1000000);
  EXPECT_DOUBLE_EQ(number_field("0.25", "x"), 0.25);
  EXPECT_EQ(error_of([] { integer_field("1e6\n", "/sys/x/max_energy_range_uj"); }),
            "/sys/x/max_energy_range_uj: expected an integer, got '1e6'");
  EXPECT_EQ(error_of([] { number_field("12 W", "m.csv:3: column 4 (apc_w)"); }),
            "m.csv:3: column 4 (apc_w): expected a number, got '12 W'");
  EXPECT_EQ(error_of([] { number_field("1e999", "f"); }), "f: expected a number, got '1e999'");
  EXPECT_EQ(error_of([] { number_field("", "f"); }), "f: expected a number, got ''");
  // The message stays one printable line, however long or odd the field.
  const std::string msg = error_of([] { number_field("1\n2" + std::string(200, 'x'), "f"); });
  EXPECT_EQ(msg.find('\n'), std::string::npos) << msg;
  EXPECT_LT(msg.size(), 120u) << msg;
}

}  // namespace
}  // namespace nnjoule
