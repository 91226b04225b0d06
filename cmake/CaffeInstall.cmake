# cmake --install: libcaffe, its headers (generated caffe.pb.h included), the
# command-line tools, and a relocatable CMake package, so that another
# project can do
#
#   find_package(Caffe REQUIRED)
#   target_link_libraries(app PRIVATE Caffe::caffe)
#
# Layout under the prefix: lib/libcaffe.so*, bin/<tools>, include/caffe/,
# lib/cmake/Caffe/, python/caffe/ (pycaffe, as upstream's CMake installs it).
# Nothing in the install names the build machine: binaries find libcaffe
# through RPATHs relative to themselves ($ORIGIN), CaffeConfig.cmake finds
# the prefix relative to itself and finds Caffe's dependencies again where it
# is used (Caffe::dependencies).

include(CMakePackageConfigHelpers)

set(CAFFE_INSTALL_CMAKEDIR "${CMAKE_INSTALL_LIBDIR}/cmake/Caffe" CACHE STRING
    "Where CaffeConfig.cmake is installed, relative to the prefix")

# ---[ Library and tools
set_target_properties(caffe PROPERTIES INSTALL_RPATH "$ORIGIN")
install(TARGETS caffe EXPORT CaffeTargets
  LIBRARY DESTINATION "${CMAKE_INSTALL_LIBDIR}" COMPONENT library
          NAMELINK_COMPONENT development)

get_target_property(caffe_tool_targets tools MANUALLY_ADDED_DEPENDENCIES)
file(RELATIVE_PATH bin_to_lib "/prefix/${CMAKE_INSTALL_BINDIR}"
     "/prefix/${CMAKE_INSTALL_LIBDIR}")
set_target_properties(${caffe_tool_targets} PROPERTIES
  INSTALL_RPATH "$ORIGIN/${bin_to_lib}")
install(TARGETS ${caffe_tool_targets}
  RUNTIME DESTINATION "${CMAKE_INSTALL_BINDIR}" COMPONENT tools)

# ---[ Headers: ours and upstream's from the merged tree, and caffe.pb.h
install(DIRECTORY "${CAFFE_MERGED_DIR}/include/caffe"
  DESTINATION "${CMAKE_INSTALL_INCLUDEDIR}" COMPONENT development)
install(FILES "${CMAKE_BINARY_DIR}/include/caffe/proto/caffe.pb.h"
  DESTINATION "${CMAKE_INSTALL_INCLUDEDIR}/caffe/proto" COMPONENT development)

# ---[ CMake package
# The definitions upstream's headers test (CPU_ONLY, USE_*, WITH_PYTHON_LAYER)
# are the ones this build was compiled with; a user must compile with the
# same, or class layouts differ.
get_target_property(CAFFE_EXPORT_DEFINITIONS caffe_dependencies
                    INTERFACE_COMPILE_DEFINITIONS)
if(NOT CAFFE_EXPORT_DEFINITIONS)
  set(CAFFE_EXPORT_DEFINITIONS "")
endif()
set(CAFFE_EXPORT_BOOST_COMPONENTS thread filesystem)
install(EXPORT CaffeTargets NAMESPACE Caffe::
  DESTINATION "${CAFFE_INSTALL_CMAKEDIR}" COMPONENT development)
configure_package_config_file(cmake/CaffeConfig.cmake.in
  "${CMAKE_BINARY_DIR}/cmake/CaffeConfig.cmake"
  INSTALL_DESTINATION "${CAFFE_INSTALL_CMAKEDIR}"
  PATH_VARS CMAKE_INSTALL_INCLUDEDIR)
write_basic_package_version_file("${CMAKE_BINARY_DIR}/cmake/CaffeConfigVersion.cmake"
  VERSION ${PROJECT_VERSION} COMPATIBILITY SameMajorVersion)
install(FILES "${CMAKE_BINARY_DIR}/cmake/CaffeConfig.cmake"
              "${CMAKE_BINARY_DIR}/cmake/CaffeConfigVersion.cmake"
  DESTINATION "${CAFFE_INSTALL_CMAKEDIR}" COMPONENT development)

# ---[ Test: a small project builds against a moved install tree and runs a
# net (cmake/consumer, driven by cmake/TestInstall.cmake)
if(BUILD_TESTING)
  add_test(NAME install.consumer
    COMMAND "${CMAKE_COMMAND}"
      "-DBUILD_DIR=${CMAKE_BINARY_DIR}"
      "-DCONSUMER_DIR=${PROJECT_SOURCE_DIR}/cmake/consumer"
      "-DGENERATOR=${CMAKE_GENERATOR}"
      "-DCXX_COMPILER=${CMAKE_CXX_COMPILER}"
      "-DCXX_LAUNCHER=${CMAKE_CXX_COMPILER_LAUNCHER}"
      -P "${PROJECT_SOURCE_DIR}/cmake/TestInstall.cmake")
  set_tests_properties(install.consumer PROPERTIES LABELS install TIMEOUT 600
    ENVIRONMENT OPENBLAS_NUM_THREADS=1)
endif()
