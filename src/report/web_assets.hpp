#pragma once
// The minified JavaScript libraries the report inlines.
#include <string_view>

namespace nnjoule::report::detail {

std::string_view vega_js();
std::string_view vega_lite_js();
std::string_view vega_embed_js();

}  // namespace nnjoule::report::detail
