#pragma once
// Names in models and CSV files are bytes: what the program prints must stay valid text on
// one line, whatever they hold.
#include <nlohmann/json.hpp>

#include <string>
#include <string_view>

namespace nnjoule {

// True when `s` is well-formed UTF-8 (no overlongs, surrogates or code points past U+10FFFF).
bool is_valid_utf8(std::string_view s);

// `s` with control characters and every byte that is not part of well-formed UTF-8 written as
// \xNN (a backslash stays a backslash): one printable line, valid UTF-8.
std::string printable(std::string_view s);

// JSON text in which any string that is not valid UTF-8 has its bad bytes replaced by U+FFFD
// (nlohmann's strict default throws); indent < 0 gives one line.
std::string json_text(const nlohmann::json& j, int indent = -1);

}  // namespace nnjoule
