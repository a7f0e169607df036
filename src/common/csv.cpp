#include "nnjoule/common/csv.hpp"

#include "nnjoule/common/error.hpp"

// Hand-written, not Debian's libcsv: its callbacks carry no position, and every row and error
// here must name its line.
namespace nnjoule::csv {
namespace {

bool is_blank(char c, char separator) {
  return (c == ' ' || c == '\t') && c != separator;
}

void trim(std::string& s, char separator) {
  size_t e = s.size();
  while (e > 0 && is_blank(s[e - 1], separator)) --e;
  size_t b = 0;
  while (b < e && is_blank(s[b], separator)) ++b;
  s.erase(e);
  s.erase(0, b);
}

}  // namespace

Reader::Reader(std::string_view text, std::string source, Options options)
    : text_(text), source_(std::move(source)), options_(options) {
  if (text_.substr(0, 3) == "\xEF\xBB\xBF") pos_ = 3;
}

bool Reader::at_row_end() const {
  return pos_ >= text_.size() || text_[pos_] == '\n' || text_[pos_] == '\r';
}

void Reader::end_line() {
  if (pos_ >= text_.size()) return;
  if (text_[pos_] == '\r' && pos_ + 1 < text_.size() && text_[pos_ + 1] == '\n') ++pos_;
  ++pos_;
  ++line_;
}

bool Reader::blank_or_comment() const {
  size_t p = pos_;
  while (p < text_.size() && is_blank(text_[p], options_.separator)) ++p;
  if (p >= text_.size() || text_[p] == '\n' || text_[p] == '\r') return options_.skip_blank;
  return options_.comment != '\0' && text_[p] == options_.comment;
}

void Reader::skip_line() {
  while (!at_row_end()) ++pos_;
  end_line();
}

bool Reader::next(Row& row) {
  while (pos_ < text_.size() && blank_or_comment()) skip_line();
  if (pos_ >= text_.size()) return false;
  row.line = line_;
  size_t n = 0;
  for (;;) {
    if (n == row.fields.size()) row.fields.emplace_back();
    read_field(row.fields[n], n + 1);
    ++n;
    if (pos_ >= text_.size() || text_[pos_] != options_.separator) break;
    ++pos_;
  }
  row.fields.resize(n);
  end_line();
  return true;
}

void Reader::read_field(Field& field, size_t number) {
  const char sep = options_.separator;
  field.text.clear();
  field.quoted = false;
  if (options_.trim) {
    while (pos_ < text_.size() && is_blank(text_[pos_], sep)) ++pos_;
  }
  if (pos_ < text_.size() && text_[pos_] == '"') {
    field.quoted = true;
    const int open_line = line_;
    for (++pos_;; ++pos_) {
      if (pos_ >= text_.size()) {
        fail("{}:{}: unclosed quote (field {} runs to the end of the text)", source_, open_line,
             number);
      }
      const char c = text_[pos_];
      if (c == '"') {
        if (pos_ + 1 >= text_.size() || text_[pos_ + 1] != '"') break;
        ++pos_;  // "" stands for one quote
      } else if (c == '\n' ||
                 (c == '\r' && (pos_ + 1 >= text_.size() || text_[pos_ + 1] != '\n'))) {
        ++line_;
      }
      field.text += c;
    }
    ++pos_;
    if (options_.trim) {
      while (pos_ < text_.size() && is_blank(text_[pos_], sep)) ++pos_;
      trim(field.text, sep);
    }
    if (!at_row_end() && text_[pos_] != sep) {
      fail("{}:{}: field {}: text after the closing quote", source_, line_, number);
    }
    return;
  }
  const size_t start = pos_;
  for (; !at_row_end() && text_[pos_] != sep; ++pos_) {
    if (text_[pos_] == '"') {
      fail(
          "{}:{}: field {}: stray quote inside a field (quote the whole field, doubling inner "
          "quotes)",
          source_, line_, number);
    }
  }
  field.text.assign(text_.substr(start, pos_ - start));
  if (options_.trim) trim(field.text, sep);
}

std::vector<Row> parse(std::string_view text, const std::string& source, const Options& options) {
  Reader reader(text, source, options);
  std::vector<Row> rows;
  Row row;
  while (reader.next(row)) rows.push_back(row);
  return rows;
}

std::string escape(std::string_view value, char separator) {
  const char special[] = {separator, '"', '\r', '\n', '\0'};
  if (!value.empty() && value.find_first_of(special) == std::string_view::npos) {
    return std::string(value);
  }
  std::string out = "\"";
  for (char c : value) {
    if (c == '"') out += '"';
    out += c;
  }
  return out + "\"";
}

}  // namespace nnjoule::csv
