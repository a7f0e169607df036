// Vega, Vega-Lite and vega-embed, linked into the binary from the npm install the build made
// (cmake/report_web.cmake), so a report needs no network and no files beside the binary.
#include "web_assets.hpp"

#ifdef NNJOULE_NO_WEB_ASSETS

namespace nnjoule::report::detail {

bool web_assets_built() {
  return false;
}
std::string_view vega_js() {
  return {};
}
std::string_view vega_lite_js() {
  return {};
}
std::string_view vega_embed_js() {
  return {};
}

}  // namespace nnjoule::report::detail

#else

#define NNJOULE_STR2(x) #x
#define NNJOULE_STR(x) NNJOULE_STR2(x)
// .incbin keeps a megabyte of JavaScript out of the C++ front end; a NUL ends each blob.
#define NNJOULE_INCBIN(sym, file)                                                      \
  __asm__(".section .rodata\n.global " #sym "\n.balign 16\n" #sym ":\n.incbin \"" file \
          "\"\n.byte 0\n.previous\n")

NNJOULE_INCBIN(nnjoule_vega_js, NNJOULE_VEGA_JS);
NNJOULE_INCBIN(nnjoule_vega_lite_js, NNJOULE_VEGA_LITE_JS);
NNJOULE_INCBIN(nnjoule_vega_embed_js, NNJOULE_VEGA_EMBED_JS);

extern "C" const char nnjoule_vega_js[];
extern "C" const char nnjoule_vega_lite_js[];
extern "C" const char nnjoule_vega_embed_js[];

namespace nnjoule::report::detail {

bool web_assets_built() {
  return true;
}
std::string_view vega_js() {
  return nnjoule_vega_js;
}
std::string_view vega_lite_js() {
  return nnjoule_vega_lite_js;
}
std::string_view vega_embed_js() {
  return nnjoule_vega_embed_js;
}

}  // namespace nnjoule::report::detail

#endif  // NNJOULE_NO_WEB_ASSETS
