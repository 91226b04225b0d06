# pycaffe as a package of the build tree: build/python/caffe holds the merged
# package's modules (copied at configure time, like the merge itself), and
# the build writes caffe_pb2.py and _caffe.so there. PYTHONPATH=build/python
# (env.sh, CTest) imports it; the merged sources hold no build output.
#
# Installed, it goes to <prefix>/python/caffe (upstream's place); as a wheel
# (target pycaffe_wheel, build/dist/caffe-*.whl) it carries libcaffe beside
# _caffe.so, so that `pip install` puts a working pycaffe in any virtual
# environment of the same Python.

set(pycaffe_source "${CAFFE_MERGED_DIR}/python/caffe")
set(pycaffe_root "${CMAKE_BINARY_DIR}/python")

# Upstream's notebooks and examples put $CAFFE_ROOT/python (the merged
# tree's) first on sys.path (`sys.path.insert(0, caffe_root + 'python')`):
# links from the merged package lead to its built parts, as upstream's CMake
# linked _caffe.so into its source tree. (Builds before this layout wrote
# the parts themselves there.)
foreach(part IN ITEMS _caffe.so proto)
  if(EXISTS "${pycaffe_source}/${part}" OR IS_SYMLINK "${pycaffe_source}/${part}")
    file(REMOVE_RECURSE "${pycaffe_source}/${part}")
  endif()
  file(RELATIVE_PATH target "${pycaffe_source}" "${pycaffe_dir}/${part}")
  file(CREATE_LINK "${target}" "${pycaffe_source}/${part}" SYMBOLIC)
endforeach()

file(GLOB_RECURSE pycaffe_modules RELATIVE "${pycaffe_source}" "${pycaffe_source}/*")
list(FILTER pycaffe_modules EXCLUDE REGEX "^test/|__pycache__|\\.cpp$|\\.pyc$|^_caffe\\.so$|^proto(/|$)")
foreach(rel IN LISTS pycaffe_modules)
  get_filename_component(parent "${pycaffe_dir}/${rel}" DIRECTORY)
  file(MAKE_DIRECTORY "${parent}")
  file(COPY_FILE "${pycaffe_source}/${rel}" "${pycaffe_dir}/${rel}" ONLY_IF_DIFFERENT)
endforeach()
# Drop modules an earlier configure copied that are gone from the sources.
caffe_drop_stale_files("${pycaffe_dir}" "${pycaffe_root}/copied-modules.txt"
                       "${pycaffe_modules}")

# Upstream's scripts (classify.py, detect.py, draw_net.py, train.py) beside
# the package, as upstream has them: run from there (python
# build/python/draw_net.py, or <prefix>/python/ installed), their
# `import caffe` finds the built package, where from the merged sources it
# found one without _caffe.so.
file(GLOB pycaffe_scripts RELATIVE "${CAFFE_MERGED_DIR}/python"
     "${CAFFE_MERGED_DIR}/python/*.py")
foreach(script IN LISTS pycaffe_scripts)
  file(COPY_FILE "${CAFFE_MERGED_DIR}/python/${script}" "${pycaffe_root}/${script}"
       ONLY_IF_DIFFERENT)
endforeach()
caffe_drop_stale_files("${pycaffe_root}" "${pycaffe_root}/copied-scripts.txt"
                       "${pycaffe_scripts}")
list(TRANSFORM pycaffe_scripts PREPEND "${pycaffe_root}/")
install(PROGRAMS ${pycaffe_scripts} DESTINATION python COMPONENT python)

# ---[ Install: <prefix>/python/caffe; _caffe.so finds libcaffe beside
# itself (in the wheel) or in <prefix>/lib.
file(RELATIVE_PATH python_to_lib "/prefix/python/caffe" "/prefix/${CMAKE_INSTALL_LIBDIR}")
set_target_properties(pycaffe PROPERTIES INSTALL_RPATH "$ORIGIN:$ORIGIN/${python_to_lib}")
install(DIRECTORY "${pycaffe_dir}" DESTINATION python COMPONENT python
  PATTERN "_caffe*.so" EXCLUDE PATTERN "__pycache__" EXCLUDE)
install(TARGETS pycaffe LIBRARY DESTINATION python/caffe COMPONENT python)

# ---[ Wheel: build/dist/caffe-<version>-<python tag>-<platform>.whl, made
# by cmake/MakeWheel.cmake from a staged install (so that _caffe.so carries
# its install RPATH)
set(make_wheel_script "${CMAKE_BINARY_DIR}/cmake/MakePycaffeWheel.cmake")
file(CONFIGURE OUTPUT "${make_wheel_script}" CONTENT [=[
# Generated: cmake -DSTAGE_DIR=... -DOUT_DIR=... -P this file
set(BUILD_DIR "@CMAKE_BINARY_DIR@")
set(PYTHON "@Python3_EXECUTABLE@")
set(LIBDIR "@CMAKE_INSTALL_LIBDIR@")
set(MAKE_WHEEL "@PROJECT_SOURCE_DIR@/cmake/make_wheel.py")
set(VERSION "@PROJECT_VERSION@")
include("@PROJECT_SOURCE_DIR@/cmake/MakeWheel.cmake")
]=] @ONLY)
add_custom_target(pycaffe_wheel
  COMMAND "${CMAKE_COMMAND}" "-DSTAGE_DIR=${CMAKE_BINARY_DIR}/wheel-stage"
          "-DOUT_DIR=${CMAKE_BINARY_DIR}/dist" -P "${make_wheel_script}"
  DEPENDS pycaffe caffe
  COMMENT "Building the pycaffe wheel in ${CMAKE_BINARY_DIR}/dist"
  VERBATIM)

# ---[ Test: the wheel installs into a fresh virtual environment, where
# pycaffe imports and runs a net from outside the source and build trees,
# and the caffe tool's embedded Python follows the active environment.
if(BUILD_TESTING)
  add_test(NAME install.pycaffe
    COMMAND "${Python3_EXECUTABLE}" "${PROJECT_SOURCE_DIR}/cmake/test_pycaffe_install.py"
      --cmake "${CMAKE_COMMAND}" --make-wheel "${make_wheel_script}"
      --caffe "$<TARGET_FILE:caffe.bin>"
      --python-layer "$<BOOL:${BUILD_python_layer}>")
  set_tests_properties(install.pycaffe PROPERTIES LABELS install TIMEOUT 600
    ENVIRONMENT "OPENBLAS_NUM_THREADS=1" SKIP_RETURN_CODE 77)
endif()
