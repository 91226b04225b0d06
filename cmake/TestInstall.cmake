# CTest install.consumer (cmake -P): installs the build into a temporary
# prefix, moves the prefix elsewhere (an install must not depend on where it
# was made), then builds cmake/consumer against it with find_package(Caffe)
# and runs it, and runs the installed caffe tool. Checks that installed
# binaries load the installed libcaffe, not the build tree's.
#
# Variables: BUILD_DIR, CONSUMER_DIR, GENERATOR, CXX_COMPILER, CXX_LAUNCHER.

string(RANDOM LENGTH 10 ALPHABET abcdefghijklmnopqrstuvwxyz0123456789 tag)
if(DEFINED ENV{TMPDIR} AND IS_DIRECTORY "$ENV{TMPDIR}")
  set(work "$ENV{TMPDIR}/caffe-install-test-${tag}")
else()
  set(work "/tmp/caffe-install-test-${tag}")
endif()

function(fail what)
  file(REMOVE_RECURSE "${work}")
  message(FATAL_ERROR "install test: ${what}")
endfunction()

function(run what)
  execute_process(COMMAND ${ARGN} RESULT_VARIABLE rc
                  OUTPUT_VARIABLE out ERROR_VARIABLE out)
  if(NOT rc EQUAL 0)
    fail("${what} failed (${rc}):\n${out}")
  endif()
  set(output "${out}" PARENT_SCOPE)
endfunction()

run("cmake --install" "${CMAKE_COMMAND}" --install "${BUILD_DIR}" --prefix "${work}/made-here")
file(RENAME "${work}/made-here" "${work}/prefix")
set(prefix "${work}/prefix")
foreach(file lib/cmake/Caffe/CaffeConfig.cmake lib/cmake/Caffe/CaffeTargets.cmake
             lib/cmake/Caffe/CaffeConfigVersion.cmake include/caffe/caffe.hpp
             include/caffe/proto/caffe.pb.h bin/caffe)
  if(NOT EXISTS "${prefix}/${file}")
    fail("${file} is not installed")
  endif()
endforeach()

# The installed tool finds the installed library through its RPATH.
run("ldd bin/caffe" ldd "${prefix}/bin/caffe")
if(NOT output MATCHES "libcaffe[^\n]*=> ${prefix}/bin/\\.\\./lib/libcaffe")
  fail("bin/caffe does not load ${prefix}/lib/libcaffe:\n${output}")
endif()
run("bin/caffe --version" "${prefix}/bin/caffe" --version)
message(STATUS "installed bin/caffe: ${output}")

set(configure_args -S "${CONSUMER_DIR}" -B "${work}/consumer" -G "${GENERATOR}"
    -DCMAKE_BUILD_TYPE=Release "-DCMAKE_PREFIX_PATH=${prefix}"
    "-DCMAKE_CXX_COMPILER=${CXX_COMPILER}")
if(CXX_LAUNCHER)
  list(APPEND configure_args "-DCMAKE_CXX_COMPILER_LAUNCHER=${CXX_LAUNCHER}")
endif()
run("configuring cmake/consumer" "${CMAKE_COMMAND}" ${configure_args})
run("building cmake/consumer" "${CMAKE_COMMAND}" --build "${work}/consumer")
run("ldd consumer" ldd "${work}/consumer/consumer")
if(NOT output MATCHES "libcaffe[^\n]*=> ${prefix}/lib/libcaffe")
  fail("the consumer does not load ${prefix}/lib/libcaffe:\n${output}")
endif()
run("running the consumer" "${work}/consumer/consumer")
message(STATUS "${output}")
file(REMOVE_RECURSE "${work}")
