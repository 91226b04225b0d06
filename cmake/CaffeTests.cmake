# Upstream's gtest suite and ours build into one binary, as upstream's does;
# every suite is a CTest test, run from the merged tree's root, where
# upstream's tests find their data (src/caffe/test/test_data, examples/).
# Each Python test file is a CTest test run by pytest.

# Debian's googletest, not the 1.7 copy upstream bundles: a case that
# cannot run where it is says so with GTEST_SKIP() and counts as skipped,
# never as passed.
find_package(GTest 1.10 REQUIRED)

file(GLOB test_srcs "${merged}/src/caffe/test/test_*.cpp")
if(NOT CPU_ONLY)
  file(GLOB test_cuda_srcs "${merged}/src/caffe/test/test_*.cu")
  list(APPEND test_srcs ${test_cuda_srcs})
endif()
if(NOT USE_HDF5)
  # Upstream's solver tests read their data through HDF5Data layers.
  list(FILTER test_srcs EXCLUDE REGEX "/test_gradient_based_solver\\.cpp$")
  message(STATUS "USE_HDF5=OFF: leaving out test_gradient_based_solver.cpp (HDF5Data)")
endif()
add_executable(test.testbin ${test_srcs})
target_link_libraries(test.testbin PRIVATE caffe GTest::gtest)
# Upstream's suites use gtest's old "test case" names (TYPED_TEST_CASE),
# which 1.10 and later keep as deprecated aliases.
target_compile_options(test.testbin PRIVATE
  "$<$<COMPILE_LANGUAGE:CXX>:-Wno-deprecated-declarations>")
# The suite's own code is glue around libcaffe's, which keeps the build
# type's flags: at -O1 it compiles in 60% of the time at -O3 and its cases
# run as fast. (Later flags win; the build type's come first.)
target_compile_options(test.testbin PRIVATE
  "$<$<AND:$<COMPILE_LANGUAGE:CXX>,$<CONFIG:Release>>:-O1>")
set_target_properties(test.testbin PROPERTIES
  RUNTIME_OUTPUT_DIRECTORY "${CMAKE_BINARY_DIR}/test")
caffe_precompile_headers(test.testbin gtest/gtest.h ${caffe_common_headers}
  caffe/test/test_caffe_main.hpp caffe/test/test_gradient_check_util.hpp)
set_source_files_properties("${merged}/src/caffe/test/test_python_layer.cpp"
  PROPERTIES SKIP_PRECOMPILE_HEADERS ON)
caffe_unity_build(test.testbin)
# A CTest test per gtest suite (Suite, or Suite/N for each type of a typed
# suite), listed when CTest reads the tests, so a rebuilt binary's new cases
# are in: a process per case would spend more time starting than the cases
# take (0.3 s each, 1,296 of them). A suite with a case that called
# GTEST_SKIP() and none that failed counts as skipped (the driver says so),
# never as passed. One BLAS thread per test: CTest already runs one test per
# core. Python layers in C++ tests import pycaffe from the build tree.
function(caffe_add_gtest_suites target workdir environment)
  configure_file("${PROJECT_SOURCE_DIR}/cmake/GTestSuites.cmake.in"
    ${target}_suites.cmake.in @ONLY)
  file(GENERATE OUTPUT "${CMAKE_BINARY_DIR}/${target}_suites.cmake"
    INPUT "${CMAKE_BINARY_DIR}/${target}_suites.cmake.in")
  set_property(DIRECTORY APPEND PROPERTY TEST_INCLUDE_FILES
    "${CMAKE_BINARY_DIR}/${target}_suites.cmake")
endfunction()
caffe_add_gtest_suites(test.testbin "${merged}"
  "OPENBLAS_NUM_THREADS=1;PYTHONPATH=${CMAKE_BINARY_DIR}/python")

# A deliberately broken layer the port-check test must catch (a plugin that
# registers itself in libcaffe's layer registry when loaded).
add_library(caffe_broken_layers MODULE "${merged}/src/caffe/test/broken_layers.cpp")
target_link_libraries(caffe_broken_layers PRIVATE caffe)
set_target_properties(caffe_broken_layers PROPERTIES
  LIBRARY_OUTPUT_DIRECTORY "${CMAKE_BINARY_DIR}/test")

# Started as one of several ranks, a build without MPI stops with a message
# rather than have each rank train alone (with MPI, test_mpi_training.py).
find_program(MPIEXEC_EXECUTABLE NAMES mpirun mpiexec)
if(NOT USE_MPI AND MPIEXEC_EXECUTABLE)
  add_test(NAME mpi.refused_without_mpi
    COMMAND "${MPIEXEC_EXECUTABLE}" --oversubscribe -np 2 $<TARGET_FILE:caffe.bin> train
            --solver examples/mnist/lenet_solver.prototxt
    WORKING_DIRECTORY "${merged}")
  set_tests_properties(mpi.refused_without_mpi PROPERTIES
    LABELS mpi TIMEOUT 120
    PASS_REGULAR_EXPRESSION "one of 2 ranks started by an MPI launcher, but Caffe was built without USE_MPI"
    ENVIRONMENT "OMPI_ALLOW_RUN_AS_ROOT=1;OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1")
endif()

# Slow tests: whole trainings through the caffe CLI, several ranks under
# mpirun, upstream's tutorials and the occlusion study run as users run
# them. Each has a fixed time budget (its CTest timeout, two to three times
# what it takes on a 2-core machine) and CTest label "slow", so that CI runs
# them once, in one stage (.ci/run), and `ctest -LE slow` leaves them out.
# Their budget is also their COST, so CTest starts the longest first rather
# than leaving upstream's examples (two minutes) to run alone at the end.
set(caffe_slow_python_tests test_mpi_training=120 test_upstream_tutorials=90
    test_upstream_examples=400 test_occlusion_example=120)

if(BUILD_python)
  file(GLOB python_tests CONFIGURE_DEPENDS "${merged}/python/caffe/test/test_*.py")
  foreach(file IN LISTS python_tests)
    get_filename_component(name "${file}" NAME_WE)
    set(labels python)
    set(timeout 600)
    set(cost 0)
    foreach(slow IN LISTS caffe_slow_python_tests)
      if(slow MATCHES "^${name}=([0-9]+)$")
        set(labels "python;slow")
        set(timeout ${CMAKE_MATCH_1})
        set(cost ${CMAKE_MATCH_1})
      endif()
    endforeach()
    add_test(NAME python.${name}
      COMMAND "${Python3_EXECUTABLE}" -m pytest -q -p no:cacheprovider "${file}"
      WORKING_DIRECTORY "${merged}/python/caffe/test")
    set_tests_properties(python.${name} PROPERTIES
      LABELS "${labels}" TIMEOUT ${timeout} COST ${cost}
      # A file whose every test skipped (pytest's summary names no pass)
      # is a skipped CTest test, not a passed one.
      SKIP_REGULAR_EXPRESSION "(^|\n)[0-9]+ skipped in [0-9.]+s"
      ENVIRONMENT "OPENBLAS_NUM_THREADS=1;PYTHONPATH=${CMAKE_BINARY_DIR}/python;CAFFE_BIN=$<TARGET_FILE:caffe.bin>;CAFFE_ROOT=${merged};CAFFE_BUILD=${CMAKE_BINARY_DIR};CAFFE_BROKEN_LAYERS=$<TARGET_FILE:caffe_broken_layers>"
      ENVIRONMENT_MODIFICATION "PATH=path_list_prepend:${CMAKE_BINARY_DIR}/tools")
  endforeach()
  # gpu/check, the one command a GPU machine runs, against a fake of
  # gpu/run (no GPU needed): it must fail wherever the GPU went untested.
  add_test(NAME gpu.check
    COMMAND "${Python3_EXECUTABLE}" -m pytest -q -p no:cacheprovider
            "${PROJECT_SOURCE_DIR}/gpu/tests/test_check.py")
  set_tests_properties(gpu.check PROPERTIES LABELS "python;slow" TIMEOUT 60)
  # Patches and files that code and docs name exist; patches are named by file.
  add_test(NAME repo.references
    COMMAND "${Python3_EXECUTABLE}" -m pytest -q -p no:cacheprovider
            "${PROJECT_SOURCE_DIR}/scripts/tests/test_references.py")
  set_tests_properties(repo.references PROPERTIES LABELS python TIMEOUT 120
    ENVIRONMENT "CAFFE_ROOT=${merged}")
endif()
