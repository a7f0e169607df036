#pragma once
// The one CSV tokenizer and writer of nnjoule (score tables, kernel lists, power traces, dataset
// export): RFC 4180 quoting, the line each row starts on, and strict one-line errors that name
// the source and the line.
#include <string>
#include <string_view>
#include <vector>

namespace nnjoule::csv {

struct Field {
  std::string text;
  bool quoted = false;  // tells "" (empty text) from an empty bare field (the store's NULL)
};

struct Row {
  int line = 0;  // 1-based line the row starts on
  std::vector<Field> fields;
};

struct Options {
  char separator = ',';
  // Hand-written tables: spaces and tabs at both ends of a value are dropped, quoted or not,
  // and may stand around the quotes.
  bool trim = false;
  // Skip rows holding nothing but spaces and tabs instead of returning one empty field.
  bool skip_blank = false;
  // A row whose first character (after spaces and tabs) is this one is a comment line; 0: none.
  char comment = '\0';
};

// Rows one at a time, so a long power trace is never held twice; `text` must outlive the
// reader. Rows end at LF, CRLF or CR outside quotes; a leading UTF-8 byte-order mark
// (spreadsheet exports) is skipped.
class Reader {
 public:
  Reader(std::string_view text, std::string source, Options options = {});
  // Fills `row` with the next row, reusing its storage; false after the last. Throws Error
  // "<source>:<line>: ..." on an unclosed quote, a quote inside a bare field or text after a
  // closing quote.
  bool next(Row& row);
  const std::string& source() const { return source_; }

 private:
  bool blank_or_comment() const;
  void skip_line();
  void read_field(Field& field, size_t number);  // number: 1-based, for errors
  bool at_row_end() const;
  void end_line();

  std::string_view text_;
  std::string source_;
  Options options_;
  size_t pos_ = 0;
  int line_ = 1;
};

// Every row of `text` (see Reader).
std::vector<Row> parse(std::string_view text, const std::string& source,
                       const Options& options = {});

// `value` as one field: quoted, with quotes doubled, when it holds the separator, a quote, CR or
// LF, or is empty (so that a reader tells it from a missing value).
std::string escape(std::string_view value, char separator = ',');

}  // namespace nnjoule::csv
