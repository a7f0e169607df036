# `cmake --install`: headers, the stage libraries, the CLI, a CMake package (find_package(nnjoule):
# nnjoule::nnjoule and nnjoule::<stage> with their dependencies) and a pkg-config file.
include(CMakePackageConfigHelpers)
set(nnjoule_cmake_dir ${CMAKE_INSTALL_LIBDIR}/cmake/nnjoule)
get_property(nnjoule_stages GLOBAL PROPERTY NNJOULE_STAGES)
install(TARGETS ${nnjoule_stages} nnjoule_xnnpack nnjoule_all EXPORT nnjouleTargets
        ARCHIVE DESTINATION ${CMAKE_INSTALL_LIBDIR}
        INCLUDES DESTINATION ${CMAKE_INSTALL_INCLUDEDIR})
install(TARGETS nnjoule RUNTIME DESTINATION ${CMAKE_INSTALL_BINDIR})
install(DIRECTORY ${CMAKE_SOURCE_DIR}/include/ DESTINATION ${CMAKE_INSTALL_INCLUDEDIR})
install(FILES ${CMAKE_BINARY_DIR}/generated/nnjoule/version.hpp
        DESTINATION ${CMAKE_INSTALL_INCLUDEDIR}/nnjoule)
install(EXPORT nnjouleTargets NAMESPACE nnjoule:: DESTINATION ${nnjoule_cmake_dir})
configure_package_config_file(cmake/nnjouleConfig.cmake.in
                              ${CMAKE_BINARY_DIR}/nnjouleConfig.cmake
                              INSTALL_DESTINATION ${nnjoule_cmake_dir})
write_basic_package_version_file(${CMAKE_BINARY_DIR}/nnjouleConfigVersion.cmake
                                 COMPATIBILITY SameMinorVersion)
install(FILES ${CMAKE_BINARY_DIR}/nnjouleConfig.cmake ${CMAKE_BINARY_DIR}/nnjouleConfigVersion.cmake
        DESTINATION ${nnjoule_cmake_dir})

# pkg-config: static libraries, so every stage in link order and every dependency. The
# dependencies with .pc files are Requires; XNNPACK, ONNX and XGBoost ship none.
set(nnjoule_pc_libs "")
foreach(stage report score collect predict store meter exec zoo kernels graph common)
  if(TARGET nnjoule_${stage})
    get_target_property(type nnjoule_${stage} TYPE)
    if(type STREQUAL "STATIC_LIBRARY")
      string(APPEND nnjoule_pc_libs " -lnnjoule_${stage}")
    endif()
  endif()
endforeach()
foreach(stage ${nnjoule_stages})
  get_target_property(type ${stage} TYPE)
  string(REPLACE "nnjoule_" "" short ${stage})
  if(type STREQUAL "STATIC_LIBRARY" AND NOT nnjoule_pc_libs MATCHES " -l${stage}( |$)")
    message(FATAL_ERROR "cmake/install.cmake: add stage '${short}' to the pkg-config link order")
  endif()
endforeach()
# Relocatable: the prefix is found from where the .pc file lies.
file(RELATIVE_PATH nnjoule_pc_up /${CMAKE_INSTALL_LIBDIR}/pkgconfig /)
string(REGEX REPLACE "/$" "" nnjoule_pc_up "${nnjoule_pc_up}")
configure_file(cmake/nnjoule.pc.in ${CMAKE_BINARY_DIR}/nnjoule.pc @ONLY)
install(FILES ${CMAKE_BINARY_DIR}/nnjoule.pc DESTINATION ${CMAKE_INSTALL_LIBDIR}/pkgconfig)
