#pragma once
// Headless Chromium as the reader of a report: the page's script writes its health into
// #nnjoule-status once every chart has rendered (or failed).
#include <cstdlib>
#include <filesystem>
#include <regex>
#include <string>

#include "support/test_support.hpp"

namespace nnjoule::report::testing {

// Loads the page in headless Chromium and returns the status the page's script wrote.
inline std::string chromium_status(const std::filesystem::path& html) {
  nnjoule::testing::TempDir profile;
  const auto dom = profile / "dom.html";
  const std::string cmd =
      "chromium --headless --no-sandbox --disable-gpu --disable-background-networking "
      "--disable-component-update --disable-sync --no-first-run --user-data-dir='" +
      (profile / "p").string() + "' --virtual-time-budget=15000 --dump-dom 'file://" +
      html.string() + "' > '" + dom.string() + "' 2> '" + (profile / "err").string() + "'";
  if (std::system(cmd.c_str()) != 0) {
    return "chromium failed: " + nnjoule::testing::read_text(profile / "err");
  }
  const auto text = nnjoule::testing::read_text(dom);
  std::smatch m;
  if (!std::regex_search(text, m, std::regex("id=\"nnjoule-status\" data-status=\"([^\"]*)\""))) {
    return "no status element in the DOM";
  }
  return m[1];
}

inline bool have_chromium() {
  return std::system("command -v chromium > /dev/null 2>&1") == 0;
}

}  // namespace nnjoule::report::testing
