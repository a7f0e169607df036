// The common CSV tokenizer and writer: quoting, the line each row starts on, the options the
// readers use, and errors that name the source and the line.
#include "nnjoule/common/csv.hpp"

#include <gtest/gtest.h>

#include "nnjoule/common/error.hpp"

namespace nnjoule::csv {
namespace {

std::vector<std::string> texts(const Row& row) {
  std::vector<std::string> out;
  for (const auto& f : row.fields) out.push_back(f.text);
  return out;
}

std::string error_of(std::string_view text, const Options& options = {}) {
  try {
    parse(text, "t.csv", options);
  } catch (const Error& e) {
    return e.what();
  }
  return "(no error)";
}

using Strings = std::vector<std::string>;

TEST(Csv, QuotingAndLineOfEachRow) {
  const auto rows = parse("a,\"b,c\",\"say \"\"hi\"\"\"\r\n\"two\nlines\",x\ny\n", "t.csv");
  ASSERT_EQ(rows.size(), 3u);
  EXPECT_EQ(rows[0].line, 1);
  EXPECT_EQ(texts(rows[0]), (Strings{"a", "b,c", "say \"hi\""}));
  EXPECT_FALSE(rows[0].fields[0].quoted);
  EXPECT_TRUE(rows[0].fields[1].quoted);
  EXPECT_EQ(rows[1].line, 2);
  EXPECT_EQ(texts(rows[1]), (Strings{"two\nlines", "x"}));
  EXPECT_EQ(rows[2].line, 4);  // the quoted line break counts
  EXPECT_EQ(texts(rows[2]), Strings{"y"});
}

TEST(Csv, EmptyQuotedAndBareFieldsDiffer) {
  const auto rows = parse("a,\"\",\n,", "t.csv");
  ASSERT_EQ(rows.size(), 2u);
  ASSERT_EQ(rows[0].fields.size(), 3u);
  EXPECT_TRUE(rows[0].fields[1].quoted);
  EXPECT_EQ(rows[0].fields[1].text, "");
  EXPECT_FALSE(rows[0].fields[2].quoted);
  EXPECT_EQ(rows[1].fields.size(), 2u);  // no line break at the end: still a row
}

TEST(Csv, LineEndsAndByteOrderMark) {
  const auto rows = parse("\xEF\xBB\xBFh1,h2\r\n1,2\r3,4\n", "t.csv");
  ASSERT_EQ(rows.size(), 3u);
  EXPECT_EQ(texts(rows[0]), (Strings{"h1", "h2"}));
  EXPECT_EQ(rows[1].line, 2);
  EXPECT_EQ(rows[2].line, 3);
  EXPECT_EQ(texts(rows[2]), (Strings{"3", "4"}));
  EXPECT_TRUE(parse("", "t.csv").empty());
}

TEST(Csv, StrictByDefault) {
  // Spaces are data, blank lines are rows of one empty field.
  const auto rows = parse(" a , b\n\nc\n", "t.csv");
  ASSERT_EQ(rows.size(), 3u);
  EXPECT_EQ(texts(rows[0]), (Strings{" a ", " b"}));
  EXPECT_EQ(texts(rows[1]), Strings{""});
  EXPECT_EQ(rows[2].line, 3);
  EXPECT_NE(error_of("a, \"b\"\n").find("t.csv:1: field 2: stray quote"), std::string::npos)
      << error_of("a, \"b\"\n");
}

TEST(Csv, TrimSkipBlankAndComments) {
  const Options o{.trim = true, .skip_blank = true, .comment = '#'};
  const auto rows = parse("# exported by a tool\n x , \" y \" ,z\n  \n\t# note\n1,2,3", "t.csv", o);
  ASSERT_EQ(rows.size(), 2u);
  EXPECT_EQ(rows[0].line, 2);
  EXPECT_EQ(texts(rows[0]), (Strings{"x", "y", "z"}));
  EXPECT_TRUE(rows[0].fields[1].quoted);
  EXPECT_EQ(rows[1].line, 5);
  // Only a comment at the start of a row: elsewhere '#' is data.
  EXPECT_EQ(texts(parse("a#b,#\n", "t.csv", o)[0]), (Strings{"a#b", "#"}));
}

TEST(Csv, OtherSeparators) {
  const auto tabs = parse("a b\t c\n", "t.csv", {.separator = '\t', .trim = true});
  EXPECT_EQ(texts(tabs[0]), (Strings{"a b", "c"}));
  const auto empty_tab = parse("a\t\tb\n", "t.csv", {.separator = '\t', .trim = true});
  EXPECT_EQ(texts(empty_tab[0]), (Strings{"a", "", "b"}));  // a tab separates, never trims
  EXPECT_EQ(texts(parse("1;\"2;3\"\n", "t.csv", {.separator = ';'})[0]), (Strings{"1", "2;3"}));
}

TEST(Csv, ErrorsNameSourceLineAndField) {
  EXPECT_EQ(error_of("a,b\n\"c\nd,e\n"),
            "t.csv:2: unclosed quote (field 1 runs to the end of the text)");
  EXPECT_EQ(error_of("a,b\nc,d\"e\n"),
            "t.csv:2: field 2: stray quote inside a field (quote the whole field, doubling inner "
            "quotes)");
  EXPECT_EQ(error_of("x\n\"a\nb\"c\n"), "t.csv:3: field 1: text after the closing quote");
  // Trimming allows spaces after a closing quote, nothing else.
  EXPECT_EQ(error_of("\"a\"  ,b\n", {.trim = true}), "(no error)");
  EXPECT_EQ(error_of("\"a\" x,b\n", {.trim = true}),
            "t.csv:1: field 1: text after the closing quote");
}

TEST(Csv, ReaderReusesItsRow) {
  Reader r("a,b,c\nd\n", "t.csv");
  Row row;
  ASSERT_TRUE(r.next(row));
  EXPECT_EQ(row.fields.size(), 3u);
  ASSERT_TRUE(r.next(row));
  EXPECT_EQ(texts(row), Strings{"d"});
  EXPECT_EQ(row.line, 2);
  EXPECT_FALSE(r.next(row));
}

TEST(Csv, EscapeRoundTrips) {
  EXPECT_EQ(escape("plain"), "plain");
  EXPECT_EQ(escape(""), "\"\"");
  EXPECT_EQ(escape("a,b"), "\"a,b\"");
  EXPECT_EQ(escape("say \"hi\""), "\"say \"\"hi\"\"\"");
  EXPECT_EQ(escape("a;b"), "a;b");
  EXPECT_EQ(escape("a;b", ';'), "\"a;b\"");
  const std::vector<std::string> values = {"", " padded ", "a,b", "q\"q", "cr\rlf\n", "✓"};
  std::string line;
  for (const auto& v : values) line += (line.empty() ? "" : ",") + escape(v);
  const auto rows = parse(line + "\r\n", "t.csv");
  ASSERT_EQ(rows.size(), 1u);
  EXPECT_EQ(texts(rows[0]), values);
  EXPECT_TRUE(rows[0].fields[0].quoted);
}

}  // namespace
}  // namespace nnjoule::csv
