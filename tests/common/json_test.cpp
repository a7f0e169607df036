// Untrusted JSON: every failure is one Error line naming the source and, where it can, the
// byte and the field; a number no double holds (nlohmann's out_of_range, not parse_error) too.
#include "nnjoule/common/json.hpp"

#include <gtest/gtest.h>

#include <functional>

#include "nnjoule/common/error.hpp"
#include "support/test_support.hpp"

namespace nnjoule {
namespace {

using nnjoule::testing::error_of;

TEST(ParseJson, OverflowingNumberNamesTheFieldInBothFlavours) {
  const std::string text = R"({"a": {"b": [1, 2, 1e999]}})";
  EXPECT_EQ(error_of([&] { parse_json(text, "f.json"); }),
            "f.json: number 1e999 at byte 24 in field a.b[2] is out of range");
  EXPECT_EQ(error_of([&] { parse_ordered_json(text, "f.json"); }),
            "f.json: number 1e999 at byte 24 in field a.b[2] is out of range");
  EXPECT_EQ(error_of([&] { parse_json("[-1e400]", "g"); }),
            "g: number -1e400 at byte 7 in field [0] is out of range");
}

TEST(ParseJson, TruncatedAndEmptyInputAndTheHint) {
  EXPECT_EQ(error_of([] { parse_json(R"({"k": [1, )", "t.json", "do this"); }),
            "t.json: invalid JSON at byte 11 in field k[1] (truncated or corrupt): do this");
  EXPECT_NE(error_of([] { parse_json("", "e.json"); }).find("e.json: invalid JSON"),
            std::string::npos);
}

TEST(ParseJson, ValidDocumentsParseAndOrderedKeepsOrder) {
  EXPECT_EQ(parse_json(R"({"x": 1e300})", "v")["x"].get<double>(), 1e300);
  const auto o = parse_ordered_json(R"({"z": 1, "a": 2})", "v");
  EXPECT_EQ(o.begin().key(), "z");
}

}  // namespace
}  // namespace nnjoule
