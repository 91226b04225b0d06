# Makes the pycaffe wheel (cmake -P, through the generated
# build/cmake/MakePycaffeWheel.cmake): installs the library and python
# components into STAGE_DIR, then cmake/make_wheel.py packs
# STAGE_DIR/python/caffe with libcaffe beside _caffe.so into OUT_DIR.
file(REMOVE_RECURSE "${STAGE_DIR}")
foreach(component library python)
  execute_process(
    COMMAND "${CMAKE_COMMAND}" --install "${BUILD_DIR}" --prefix "${STAGE_DIR}"
            --component ${component}
    OUTPUT_QUIET RESULT_VARIABLE rc)
  if(NOT rc EQUAL 0)
    message(FATAL_ERROR "installing the ${component} component into ${STAGE_DIR} failed")
  endif()
endforeach()
# The file named by libcaffe's soname (the others are links to it).
file(GLOB libraries "${STAGE_DIR}/${LIBDIR}/libcaffe.so.*")
set(library)
foreach(candidate IN LISTS libraries)
  if(NOT IS_SYMLINK "${candidate}")
    set(library "${candidate}")
  endif()
endforeach()
if(NOT library)
  message(FATAL_ERROR "no libcaffe.so.* in ${STAGE_DIR}/${LIBDIR}")
endif()
execute_process(
  COMMAND "${PYTHON}" "${MAKE_WHEEL}" --package "${STAGE_DIR}/python/caffe"
          --library "${library}" --version "${VERSION}" --out-dir "${OUT_DIR}"
  RESULT_VARIABLE rc)
if(NOT rc EQUAL 0)
  message(FATAL_ERROR "cmake/make_wheel.py failed")
endif()
file(REMOVE_RECURSE "${STAGE_DIR}")
