#pragma once
// The minified JavaScript libraries the report inlines.
#include <string_view>

namespace nnjoule::report::detail {

// False in a build without them (NNJOULE_HTML_REPORT=OFF): the views below are then empty.
bool web_assets_built();
std::string_view vega_js();
std::string_view vega_lite_js();
std::string_view vega_embed_js();

}  // namespace nnjoule::report::detail
