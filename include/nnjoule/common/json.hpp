#pragma once
// Parsing JSON that is untrusted input (device files, suites, fusion rules, bundles, imports):
// every failure, a syntax error or a number no double holds (1e999, which nlohmann reports as
// out_of_range rather than parse_error), is one Error naming the source, the byte and the field.
#include <exception>
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>

namespace nnjoule {

// `hint`, when given, ends the error line (what the file should be, what to do).
nlohmann::json parse_json(std::string_view text, const std::string& source,
                          std::string_view hint = {});
nlohmann::ordered_json parse_ordered_json(std::string_view text, const std::string& source,
                                          std::string_view hint = {});

// nlohmann's message without its "[json.exception.type_error.302] " prefix.
std::string json_reason(const std::exception& e);

}  // namespace nnjoule
