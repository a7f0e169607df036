# The HTML report inlines Vega, Vega-Lite and vega-embed (UMD builds) so it works offline. They
# come from npm at the versions pinned in src/report/web/package-lock.json; nothing is committed.
# Without them (NNJOULE_HTML_REPORT=OFF, the default where npm is missing) everything builds and
# `nnjoule report` says how to get the HTML report.
find_program(NPM_EXECUTABLE npm)
if(NPM_EXECUTABLE)
  set(html_report_default ON)
else()
  set(html_report_default OFF)
endif()
option(NNJOULE_HTML_REPORT "Inline Vega from npm so that nnjoule report writes HTML"
       ${html_report_default})
if(NOT NNJOULE_HTML_REPORT)
  message(STATUS "HTML report left out (NNJOULE_HTML_REPORT=OFF): nnjoule report will say so")
  set_source_files_properties(${CMAKE_SOURCE_DIR}/src/report/web_assets.cpp PROPERTIES
                              COMPILE_DEFINITIONS NNJOULE_NO_WEB_ASSETS)
  return()
endif()
if(NOT NPM_EXECUTABLE)
  message(FATAL_ERROR "NNJOULE_HTML_REPORT=ON but npm was not found: it fetches Vega "
                      "(run ./scripts/install-deps.sh, which installs nodejs and npm)")
endif()
set(report_web_src ${CMAKE_SOURCE_DIR}/src/report/web)
set(report_web_dir ${CMAKE_BINARY_DIR}/report-web)
file(MAKE_DIRECTORY ${report_web_dir})
# npm extracts files with a fixed 1985 mtime, so a stamp file tracks the install instead.
set(report_web_stamp ${report_web_dir}/npm-ci.stamp)
add_custom_command(
  OUTPUT ${report_web_stamp}
  COMMAND ${CMAKE_COMMAND} -E copy ${report_web_src}/package.json ${report_web_src}/package-lock.json
          ${report_web_dir}/
  COMMAND ${NPM_EXECUTABLE} ci --ignore-scripts --no-audit --no-fund --loglevel=error
  COMMAND ${CMAKE_COMMAND} -E touch ${report_web_stamp}
  WORKING_DIRECTORY ${report_web_dir}
  DEPENDS ${report_web_src}/package.json ${report_web_src}/package-lock.json
  COMMENT "npm ci: Vega, Vega-Lite and vega-embed for the HTML report"
  VERBATIM)
add_custom_target(nnjoule_report_web DEPENDS ${report_web_stamp})
add_dependencies(nnjoule_report nnjoule_report_web)
set(report_web_modules ${report_web_dir}/node_modules)
set_source_files_properties(${CMAKE_SOURCE_DIR}/src/report/web_assets.cpp PROPERTIES
  OBJECT_DEPENDS ${report_web_stamp}
  COMPILE_DEFINITIONS
  "NNJOULE_VEGA_JS=\"${report_web_modules}/vega/build/vega.min.js\";NNJOULE_VEGA_LITE_JS=\"${report_web_modules}/vega-lite/build/vega-lite.min.js\";NNJOULE_VEGA_EMBED_JS=\"${report_web_modules}/vega-embed/build/vega-embed.min.js\"")
