#include "nnjoule/common/json.hpp"

#include <fmt/format.h>

#include <vector>

#include "nnjoule/common/error.hpp"

namespace nnjoule {

using nlohmann::json;

namespace {

// Follows the keys and array indices of a document as it is parsed, to say which field a
// parse failure happened in (nlohmann's exceptions give a byte offset only).
class PathSax : public nlohmann::json_sax<json> {
 public:
  bool null() override { return value(); }
  bool boolean(bool) override { return value(); }
  bool number_integer(number_integer_t) override { return value(); }
  bool number_unsigned(number_unsigned_t) override { return value(); }
  bool number_float(number_float_t, const string_t&) override { return value(); }
  bool string(string_t&) override { return value(); }
  bool binary(binary_t&) override { return value(); }
  bool start_object(std::size_t) override {
    frames_.push_back({false, 0, ""});
    return true;
  }
  bool key(string_t& k) override {
    frames_.back().key = k;
    return true;
  }
  bool end_object() override {
    frames_.pop_back();
    return value();
  }
  bool start_array(std::size_t) override {
    frames_.push_back({true, 0, ""});
    return true;
  }
  bool end_array() override {
    frames_.pop_back();
    return value();
  }
  bool parse_error(std::size_t position, const std::string& last_token,
                   const nlohmann::detail::exception& ex) override {
    position_ = position;
    token_ = last_token;
    id_ = ex.id;
    for (const auto& f : frames_) {
      if (f.array) {
        path_ += fmt::format("[{}]", f.index);
      } else if (!f.key.empty()) {
        path_ += (path_.empty() ? "" : ".") + f.key;
      }
    }
    return false;
  }

  std::size_t position_ = 0;
  std::string token_, path_;
  int id_ = 0;

 private:
  struct Frame {
    bool array;
    size_t index;
    std::string key;
  };
  // A value ended: the next element of an enclosing array.
  bool value() {
    if (!frames_.empty() && frames_.back().array) ++frames_.back().index;
    return true;
  }
  std::vector<Frame> frames_;
};

}  // namespace

std::string json_reason(const std::exception& e) {
  std::string s = e.what();
  if (s.rfind("[json.exception.", 0) == 0) {
    const auto at = s.find("] ");
    if (at != std::string::npos) s = s.substr(at + 2);
  }
  return s;
}

namespace {

[[noreturn]] void json_failed(std::string_view text, const std::string& source,
                              std::string_view hint, const std::exception& e) {
  PathSax sax;
  json::sax_parse(text, &sax);
  const std::string in = sax.path_.empty() ? std::string() : " in field " + sax.path_;
  const std::string end = hint.empty() ? std::string() : fmt::format(": {}", hint);
  if (sax.id_ == 406) {  // a number overflowing a double
    fail("{}: number {} at byte {}{} is out of range{}", source, sax.token_, sax.position_, in,
         end);
  }
  if (sax.position_ > 0) {
    fail("{}: invalid JSON at byte {}{} (truncated or corrupt){}", source, sax.position_, in, end);
  }
  fail("{}: invalid JSON: {}{}", source, json_reason(e), end);
}

}  // namespace

json parse_json(std::string_view text, const std::string& source, std::string_view hint) {
  try {
    return json::parse(text);
  } catch (const json::exception& e) {
    json_failed(text, source, hint, e);
  }
}

nlohmann::ordered_json parse_ordered_json(std::string_view text, const std::string& source,
                                          std::string_view hint) {
  try {
    return nlohmann::ordered_json::parse(text);
  } catch (const json::exception& e) {
    json_failed(text, source, hint, e);
  }
}

}  // namespace nnjoule
